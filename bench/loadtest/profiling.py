"""py-spy during each of Sayso's phases, when --profile DIR is given."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from . import log
from .processes import stop_process


def make_profiler(directory: Path | None, pid_of: Callable[[], int | None]):
    """`py-spy record` on one Sayso worker process (pid_of, looked up at each phase) during a
    phase, when --profile DIR is given."""

    @contextlib.contextmanager
    def profile(label: str) -> Iterator[None]:
        pid = pid_of()
        if directory is None or pid is None or not label.startswith("sayso"):
            yield
            return
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        out = directory / f"{label}.txt"
        process = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(pid),
                "--rate",
                "100",
                "--format",
                "raw",
                "--output",
                str(out),
                "--threads",
                # Wall clock by default (waiting counts too); BENCH_SPY_CPU=1: CPU only.
                *([] if os.environ.get("BENCH_SPY_CPU") else ["--idle"]),
                "--nonblocking",  # never pause the server to sample (it skews the timing)
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            yield
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                stop_process(process)
            log(f"  profile of worker {pid} written to {out}")

    return profile
