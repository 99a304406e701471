"""Test doubles and helpers shared by the suites."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any
from unittest import mock

from click.testing import CliRunner, Result
from sqlalchemy import Engine, text

from bot.cli import cli, common
from bot.db import make_engine


class ManualClock:
    """A clock that only moves when a test moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now


def clean_env(**overrides: str) -> dict[str, str]:
    """The environment for a `sayso` subprocess, without the developer's own Slack settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "SAYSO_")) and k not in ("DATABASE_URL", "PORT")
    }
    env.update(overrides)
    return env


def sayso(database_url: str | None, *args: str, cwd: Path | None = None, **env: str) -> Result:
    """`sayso *args`, run in this process as from `cwd`, on `database_url`, with `env` and none
    of the developer's own Slack settings. The entry point as a real process has its own test."""
    unset: dict[str, str | None] = {name: None for name in os.environ if name not in clean_env()}
    overrides = {**unset, **env}
    if database_url is not None:
        overrides["DATABASE_URL"] = database_url
    # A command's process ends with it, and its database connections with it; here they
    # would stay open, on PostgreSQL up to the server's limit. So its engines are disposed.
    made: list[Engine] = []

    def making(url: str, **options: Any) -> Engine:
        made.append(make_engine(url, **options))
        return made[-1]

    try:
        with (
            mock.patch.object(common, "make_engine", making),
            contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext(),
        ):
            return CliRunner().invoke(cli, list(args), env=overrides, catch_exceptions=False)
    finally:
        for engine in made:
            engine.dispose()


def other_processes() -> ForkServerContext:
    """Processes for tests that play replicas or concurrent writers: fresh ones, as with
    "spawn" (no thread, lock or database connection of this process is carried over), but
    forked from one server process that has imported the project once for the whole run,
    where each spawned process imported it all again (about a CPU second each)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.conftest", "tests.support", "bot.app", "bot.cli"])
    return context


def start_other_processes() -> None:
    """Starts the server of other_processes() now, so that it imports the project while
    other tests run rather than when the first test needs it."""
    other_processes()
    forkserver.ensure_running()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServeProcess:
    """`sayso serve` as a real process on a free port, against the emulator."""

    def __init__(
        self, cwd: Path, emulator: Any, database_url: str, prelude: str = "", **env: str
    ) -> None:
        """`prelude`: Python run in the server's process before `sayso serve` starts."""
        self.port = free_port()
        self.secret = "s3cret"
        self._terminated = False
        entry = ["-c", f"{prelude}\nfrom bot.cli import main\nmain()"] if prelude else ["-m", "bot"]
        self.process = subprocess.Popen(
            [sys.executable, *entry, "serve", "--host", "127.0.0.1"],
            cwd=cwd,
            env=clean_env(
                SLACK_BOT_TOKEN=emulator.bot_token,
                SLACK_SIGNING_SECRET=self.secret,
                SLACK_API_URL=emulator.api_url,
                DATABASE_URL=database_url,
                PORT=str(self.port),
                # Its temporary files (gunicorn's shared directory) stay in the test's own.
                TMPDIR=str(cwd),
                **env,
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Its own process group: gunicorn's master and workers, killed together.
            start_new_session=True,
        )

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def wait_until_healthy(self) -> Any:
        """Poll until the process listens: readiness of another process, not timing logic."""
        for _ in range(600):
            if self.process.poll() is not None:
                raise AssertionError(f"sayso serve exited with {self.process.returncode}")
            try:
                url = f"http://127.0.0.1:{self.port}/healthz"
                with urllib.request.urlopen(url, timeout=2) as response:
                    return json.loads(response.read())
            except OSError:
                time.sleep(0.05)
        raise AssertionError("sayso serve never answered /healthz")

    def kill(self) -> None:
        """As a power cut would: no shutdown code runs, in the master or in any worker."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(15)

    def terminate(self) -> None:
        """SIGTERM, once, without waiting: several servers then stop side by side."""
        if self.process.poll() is None and not self._terminated:
            self.process.terminate()
            self._terminated = True

    def stop(self) -> str:
        self.terminate()
        output, _ = self.process.communicate(timeout=15)
        return output or ""


@contextlib.contextmanager
def postgres_schema(url: str, prefix: str) -> Iterator[str]:
    """A PostgreSQL schema of its own on `url`'s database, dropped afterwards: the URL whose
    connections use it. pg_trgm's operators live in public, so public stays on the path.
    Their commits do not wait for the disk (synchronous_commit=off): what a test reads back
    is the same, only a crash of the PostgreSQL server itself could lose the last ones, and
    those waits made up much of the suite's time."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    options = urllib.parse.quote(f"-csearch_path={schema},public -csynchronous_commit=off")
    try:
        yield f"{url}{'&' if '?' in url else '?'}options={options}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
