"""Every module imports on its own, whichever is imported first: an import cycle shows up
only in the order that meets it (once: `sayso demo` imported bot.delivery first)."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
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


# The layers, lowest first. A module may import its own layer and those below it, never one
# above: the folders of bot/ are its layers, and the modules at bot/'s top are the ground
# every layer stands on, or the composition that wires the layers together.
LAYERS: list[tuple[str, ...]] = [
    (
        "bot.clock",
        "bot.localtime",
        "bot.errors",
        "bot.config",
        "bot.models",
        "bot.logs",
        "bot.migrate",
        "bot.db",
    ),
    ("bot.ledger",),
    ("bot.records",),
    ("bot.slack",),
    ("bot.outbox",),
    ("bot.evidence", "bot.metrics", "bot.seen_requests"),
    ("bot.usecases",),
    ("bot.workspaces", "bot.installs", "bot.web"),
    ("handlers",),
    ("bot.app",),
    ("bot.emulator", "bot.demo", "bot.serve", "bot.cli", "bot.__main__"),
]
# The core, up to the use cases, knows nothing of Bolt: it runs, and is tested, without it.
CORE_UP_TO = "bot.usecases"


def _layer_of(module: str) -> int:
    for index, layer in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in layer):
            return index
    raise LookupError(module)


def _project_imports(path: Path) -> Iterator[tuple[str, int]]:
    """The modules this file imports, the project's and Bolt, with their line."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, node.lineno
            for alias in node.names:  # `from bot.ledger import hashchain` imports a module
                yield f"{node.module}.{alias.name}", node.lineno


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _modules() -> list[Path]:
    """The project's modules, but for its two packages' own (empty) __init__.py."""
    return [
        path
        for package in ("bot", "handlers")
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
        if path != ROOT / package / "__init__.py"
    ]


def test_every_module_has_a_layer() -> None:
    unplaced = []
    for path in _modules():
        try:
            _layer_of(_module_name(path))
        except LookupError:
            unplaced.append(_module_name(path))
    assert unplaced == [], "add each to a layer in LAYERS"


def test_no_module_imports_a_higher_layer() -> None:
    known = {_module_name(path) for path in _modules()} | {"bot", "handlers"}
    upward = []
    for path in _modules():
        module = _module_name(path)
        layer = _layer_of(module)
        for imported, line in _project_imports(path):
            if imported.split(".")[0] not in ("bot", "handlers") or imported not in known:
                continue  # a library, or a name imported from a module
            if imported in ("bot", "handlers"):
                continue
            if _layer_of(imported) > layer:
                upward.append(f"{module}:{line} imports {imported}")
    assert upward == []


def test_the_core_never_imports_bolt() -> None:
    core = _layer_of(CORE_UP_TO)
    bolted = [
        f"{_module_name(path)}:{line}"
        for path in _modules()
        if _layer_of(_module_name(path)) <= core
        for imported, line in _project_imports(path)
        if imported.split(".")[0] == "slack_bolt"
    ]
    assert bolted == []
