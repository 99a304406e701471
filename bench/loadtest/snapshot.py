"""Which Sayso code a run serves, and the gunicorn defaults that code has."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import ROOT
from .processes import child_env


@dataclass(frozen=True)
class Code:
    """Which Sayso runs: a frozen copy of the working tree (default), or the tree itself."""

    command: list[str]  # `sayso`, as argv
    pythonpath: str
    fingerprint: str
    where: str


def snapshot_code(workdir: Path, live: bool) -> Code:
    """Others edit and commit in this tree while the benchmark runs; Jinja reloads edited
    templates in a running server, which then no longer match its already-imported Python.
    So by default the server runs a copy of bot/, handlers/ and templates/ taken at the
    start (the same code, `python -m bot` with PYTHONPATH on the copy)."""
    source = ROOT if live else workdir / "src"
    digest = hashlib.sha256()
    for package in ("bot", "handlers", "templates"):
        if not live:
            shutil.copytree(
                ROOT / package,
                source / package,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
        for path in sorted((source / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(source)).encode() + b"\0")
                digest.update(path.read_bytes())
    script = Path(sys.executable).parent / "sayso"
    command = [str(script)] if live and script.exists() else [sys.executable, "-m", "bot"]
    where = (
        "the working tree"
        if live
        else f"a copy of the working tree taken at {time.strftime('%H:%M:%S')}"
    )
    return Code(command, str(source), digest.hexdigest()[:12], where)


def serving_defaults(code: Code, database_url: str) -> tuple[int, int]:
    """(threads per worker, default workers) as the Sayso code under test has them
    (gunicorn_app.THREADS and default_workers), read in a child with its PYTHONPATH."""
    script = (
        "import json, os; from bot.serve.gunicorn_app import THREADS, default_workers; "
        "print(json.dumps([THREADS, default_workers(os.environ['BENCH_DATABASE_URL'])]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=str(ROOT),
        env=child_env(PYTHONPATH=code.pythonpath, BENCH_DATABASE_URL=database_url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"cannot read bot.serve.gunicorn_app's defaults: {done.stderr.strip()[-500:]}"
        )
    threads, workers = json.loads(done.stdout.strip().splitlines()[-1])
    return int(threads), int(workers)
