"""Every module imports on its own, whichever is imported first: an import cycle shows up
only in the order that meets it (once: `sayso demo` imported bot.delivery first)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter: loads what the project imports from elsewhere (SQLAlchemy,
# Bolt, the standard library...) once, then forks one child per module named, which imports
# that module first. A cycle is among the project's own modules, none of which the parent
# holds; an interpreter per module spent some 100 CPU seconds loading the libraries again.
FORKING = """
import ast, compileall, importlib, os, shutil, sys, tempfile
from pathlib import Path

PROJECT = ("bot", "handlers")
elsewhere = set()
for package in PROJECT:
    for path in Path(package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                elsewhere.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                elsewhere.add(node.module)
for name in sorted(elsewhere):
    if name.split(".")[0] not in PROJECT:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # optional, or a name imported from a module rather than a module
assert not [m for m in sys.modules if m.split(".")[0] in PROJECT], "a library imported the project"
# Compiled once here rather than in every child (bytecode may not be written beside them).
sys.pycache_prefix = tempfile.mkdtemp()
for package in PROJECT:
    compileall.compile_dir(package, quiet=2)

children = {}
for name in sys.argv[1:]:
    child = os.fork()
    if child == 0:
        try:
            importlib.import_module(name)
        except BaseException as error:
            print(f"{name}\\t{type(error).__name__}: {error}", flush=True)
            os._exit(1)
        os._exit(0)
    children[child] = name
for child, name in children.items():
    _, status = os.waitpid(child, 0)
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # 1: it said why
        print(f"{name}\\tended with {os.waitstatus_to_exitcode(status)}", flush=True)
shutil.rmtree(sys.pycache_prefix)
"""


def test_every_module_imports_first() -> None:
    modules = [
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for package in ("bot", "handlers")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name != "__main__.py" and "migrations" not in path.parts
    ]
    assert "bot.usecases.delivery" in modules and "bot.usecases.intake" in modules
    result = subprocess.run(
        [sys.executable, "-c", FORKING, *modules],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    failed = dict(line.split("\t", 1) for line in result.stdout.splitlines())
    assert failed == {}
