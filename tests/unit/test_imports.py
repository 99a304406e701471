"""Every module imports on its own, whichever is imported first: an import cycle shows up
only in the order that meets it (once: `sayso demo` imported bot.delivery first)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_module_imports_first() -> None:
    modules = [
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for package in ("bot", "handlers")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name != "__main__.py" and "migrations" not in path.parts
    ]
    assert "bot.delivery" in modules and "bot.intake" in modules
    # One fresh interpreter per module, all at once.
    running = {
        name: subprocess.Popen(
            [sys.executable, "-c", f"import {name}"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in modules
    }
    failed = {}
    for name, process in running.items():
        _, errors = process.communicate(timeout=120)
        if process.returncode != 0:
            failed[name] = errors.strip().splitlines()[-1]
    assert failed == {}
