"""The processes a run starts: servers, the emulator; started, waited for, stopped."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import BENCH, HOST, ROOT, log
from .cpu import cpu_seconds, workers_of


class Cleanup:
    """Everything started or created, undone in reverse order however the run ends."""

    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], None]]] = []

    def add(self, what: str, undo: Callable[[], None]) -> None:
        self._undo.append((what, undo))

    def process(self, what: str, process: subprocess.Popen[Any]) -> subprocess.Popen[Any]:
        self.add(what, lambda: stop_process(process))
        return process

    def run(self) -> None:
        while self._undo:
            what, undo = self._undo.pop()
            try:
                undo()
            except Exception as error:  # keep undoing the rest
                log(f"cleanup of {what} failed: {error!r}")


def stop_process(process: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    """SIGTERM the process we started (by its pid), then SIGKILL it if it lingers.

    Every process here is started in a session of its own, so its process group is its pid:
    what is left of that group afterwards (a gunicorn worker whose master was killed) is
    killed too, by that group id, once. 30 s: gunicorn lets workers finish for 20 s
    (gunicorn_app.GRACEFUL_TIMEOUT)."""
    if process.pid in _groups_done:
        return
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait(5)
    _groups_done.add(process.pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


_groups_done: set[int] = set()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def child_env(**overrides: str) -> dict[str, str]:
    """The environment less anything Sayso would read, plus loopback never proxied."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "SAYSO_")) and k not in ("DATABASE_URL", "PORT")
    }
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    env.update(overrides)
    return env


def wait_for_health(
    port: int, process: subprocess.Popen[Any], log_path: Path, timeout: float = 60.0
) -> Any:
    deadline = time.monotonic() + timeout
    url = f"http://{HOST}:{port}/healthz"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
            raise RuntimeError(
                f"the server exited with status {process.returncode} at start; its log ends:\n"
                + "\n".join(tail)
            )
        try:
            with opener.open(url, timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"no answer on {url} within {timeout:.0f}s")


def wait_for_workers(
    master: int, workers: int, process: subprocess.Popen[Any], timeout: float = 90.0
) -> None:
    """Until the master has its workers and they have settled: a gunicorn worker takes
    connections only once it has built its app, but that takes a second or two of CPU, which
    should not land in the first measured phase."""
    deadline = time.monotonic() + timeout
    while len(workers_of(master)) < workers:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"the server (pid {master}) has {len(workers_of(master))} of its {workers} "
                f"workers after {timeout:.0f}s (exit status {process.poll()})"
            )
        time.sleep(0.1)
    # Settled: the whole tree used less than a tenth of a CPU over half a second.
    before = cpu_seconds([master])
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds([master])
        if now - before < 0.05:
            return
        before = now
    log(f"warning: the server (pid {master}) was still busy {timeout:.0f}s after it started")


def start_server(
    what: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    workers: int,
    log_path: Path,
    cwd: Path,
    cleanup: Cleanup,
) -> tuple[subprocess.Popen[Any], Any]:
    """A gunicorn server (bare app or `sayso serve`): started, answering, workers settled."""
    server_log = log_path.open("w")
    cleanup.add(f"{what} log", server_log.close)
    process = cleanup.process(
        what,
        subprocess.Popen(
            command,
            cwd=str(cwd),
            env=env,
            stdout=server_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
    )
    health = wait_for_health(port, process, log_path)
    wait_for_workers(process.pid, workers, process)
    return process, health


class EmulatorProcess:
    """The Slack emulator (emulator_proc.main) in a process of its own, spoken to over its
    stdin/stdout."""

    def __init__(self, cleanup: Cleanup, log_path: Path, pythonpath: str) -> None:
        self._log = log_path.open("w")
        cleanup.add("emulator log", self._log.close)
        self.process: subprocess.Popen[str] = cleanup.process(
            "emulator",
            subprocess.Popen(
                [sys.executable, str(BENCH / "emulator_proc.py")],
                cwd=str(ROOT),
                env=child_env(PYTHONPATH=pythonpath),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
                text=True,
                start_new_session=True,
            ),
        )
        cleanup.add("emulator stdin", self._close_stdin)
        hello = self._read_line(timeout=30)
        self.api_url: str = hello["api_url"]
        self.base_url: str = hello["base_url"]
        self.bot_token: str = hello["bot_token"]

    def stats(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write("stats\n")
        self.process.stdin.flush()
        return self._read_line(timeout=60)

    def _read_line(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            raise RuntimeError(f"the emulator did not answer within {timeout:.0f}s")
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the emulator exited ({self.process.poll()})")
        return dict(json.loads(line))

    def _close_stdin(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(OSError):
                self.process.stdin.write("quit\n")
                self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
