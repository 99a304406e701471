"""Load benchmark: Sayso (`sayso serve`) against a bare Bolt app, on loopback, in one run.

    python bench/load.py [--database-url URL] [--commands 2000] [--clicks 2000] [--rate 50]
                         [--sat-requests 2000] [--workers N] [--replicas N] [--rounds N] [--quick]
                         [--profile DIR] [--live] [--keep]

See bench/README.md for what each figure means and the figures measured so far.

Both servers run under gunicorn with `gthread` workers, as `sayso serve` does
(bot/serving.py): --workers per server (default: what `sayso serve` picks for the database),
bot.serving.THREADS threads each. --replicas starts that many `sayso serve` on the one
database and spreads the requests over them round-robin; the bare app stays one server.
The server CPU figures are those of each server's whole process tree (master and workers).

For each server (the bare app of bench/bare_app.py first, then the real `sayso serve`):

1. warm-up: a few commands and clicks, not measured;
2. fixed rate: --commands signed `/confirm` commands at exactly --rate per second (open loop:
   a scheduler hands each request at its due time to one of several sender threads, each
   with its own persistent connection, so a slow answer never delays the next send); the
   ack latency is counted from the due time, so any queueing in the generator counts too;
3. fixed rate: --clicks clicks on "Confirm" by the requester, on the records just created;
4. saturation: closed loop, K connections each sending the next request as soon as the
   previous one is answered, --sat-requests commands for K=8 and K=16, then as many clicks
   with K=16 on the records those commands created; requests per second.

For Sayso, the outbox is let drain after each phase (its delivery rate is reported), then
the run checks that every acked "Recorded #N" is stored with its text, that nothing was
stored twice or posted twice (one card and one confirmation request per record), that every
acked click confirmed its record, that no outbox message failed, and that `sayso verify`
exits 0. The Slack emulator runs in its own process (bench/emulator_proc.py).

SQLite (a temporary file) by default; with --database-url postgresql+psycopg://..., the run
uses its own schema `sayso_bench` in that database (dropped and re-created at the start,
dropped at the end), so the test suite's tables in `public` are never touched.

Every subprocess and temporary file is removed at the end, also on failure or Ctrl-C;
everything listens and is loaded on 127.0.0.1 only; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import hmac
import http.client
import itertools
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from emulator_proc import CAPTURERS, CHANNEL, CLIENT_TEAM, REQUESTER, TEAM  # noqa: E402

HOST = "127.0.0.1"
PG_SCHEMA = "sayso_bench"
SIGNING_SECRET = "bench-" + secrets.token_hex(16)
FORM = "application/x-www-form-urlencoded"
HTTP_TIMEOUT = 15.0  # per request; Slack itself gives up after 3 s
RECORDED = re.compile(r"Recorded #(\d+)\b")

TARGET_P99_MS = 30.0
TARGET_SATURATION_SHARE = 0.5


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- subprocesses and temporary things --------------------------------------------------------


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
    (bot.serving.GRACEFUL_TIMEOUT)."""
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


class EmulatorProcess:
    """bench/emulator_proc.py, spoken to over its stdin/stdout."""

    def __init__(self, cleanup: Cleanup, log_path: Path, pythonpath: str) -> None:
        self._log = log_path.open("w")
        cleanup.add("emulator log", self._log.close)
        self.process: subprocess.Popen[str] = cleanup.process(
            "emulator",
            subprocess.Popen(
                [sys.executable, str(HERE / "emulator_proc.py")],
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


# --- what Slack sends -------------------------------------------------------------------------


def signed_headers(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    base = b"v0:" + stamp.encode() + b":" + body
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": FORM,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }


@dataclass(frozen=True)
class Request:
    kind: str  # "command" | "click"
    body: bytes
    tag: str  # the unique word in a command's text, or the record number clicked
    number: int | None = None  # the record a click is for


def command_request(emulator_base: str, index: int, phase: str) -> Request:
    user_id, name = CAPTURERS[index % len(CAPTURERS)]
    tag = f"{phase}-{index:06d}"
    requester_id, requester_name = REQUESTER
    text = f"<@{requester_id}|{requester_name}> bench {tag}: reboot edge-{index % 7} after 22:00"
    fields = {
        "token": "bench-verification-token",
        "team_id": TEAM,
        "team_domain": "bench",
        "channel_id": CHANNEL,
        "channel_name": "bench-load",
        "user_id": user_id,
        "user_name": name,
        "command": "/confirm",
        "text": text,
        "api_app_id": "A0SAYSO01",
        "is_enterprise_install": "false",
        "response_url": f"{emulator_base}/response/bench-{tag}",
        "trigger_id": f"bench.{index}.{secrets.token_hex(8)}",
    }
    return Request("command", urlencode(fields).encode(), tag)


def click_request(emulator_base: str, number: int, message_ts: str | None) -> Request:
    """A block_actions payload as Slack sends it when the requester presses Confirm."""
    requester_id, requester_name = REQUESTER
    ts = message_ts or f"{int(time.time())}.{number:06d}"
    button = {
        "action_id": "sayso_confirm",
        "block_id": "answer",
        "text": {"type": "plain_text", "text": "Confirm", "emoji": True},
        "value": f"{TEAM}/{number}/1",
        "style": "primary",
        "type": "button",
        "action_ts": f"{time.time():.6f}",
    }
    payload: dict[str, Any] = {
        "type": "block_actions",
        "token": "bench-verification-token",
        "user": {
            "id": requester_id,
            "username": requester_name,
            "name": requester_name,
            "team_id": CLIENT_TEAM,
        },
        "api_app_id": "A0SAYSO01",
        "trigger_id": f"bench.click.{number}.{secrets.token_hex(8)}",
        "team": {"id": TEAM, "domain": "bench"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": CHANNEL, "name": "bench-load"},
        "container": {
            "type": "message",
            "message_ts": ts,
            "channel_id": CHANNEL,
            "is_ephemeral": False,
        },
        "state": {"values": {}},
        "actions": [button],
        "message": {"type": "message", "ts": ts, "user": "U0SAYSOBOT", "text": f"#{number}"},
        "response_url": f"{emulator_base}/response/bench-click-{number}",
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return Request("click", body, str(number), number)


# --- sending ----------------------------------------------------------------------------------


@dataclass
class Result:
    request: Request
    due: float  # perf_counter when it should have gone out
    sent: float = 0.0
    done: float = 0.0
    status: int = 0
    body: str = ""
    error: str = ""

    @property
    def latency(self) -> float:
        return self.done - self.due

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.error

    @property
    def number(self) -> int | None:
        found = RECORDED.search(self.body)
        return int(found.group(1)) if found else None


class Connection:
    """One persistent HTTP/1.1 connection to the server under test."""

    def __init__(self, port: int) -> None:
        self._http = http.client.HTTPConnection(HOST, port, timeout=HTTP_TIMEOUT)

    def send(self, result: Result) -> None:
        body = result.request.body
        result.sent = time.perf_counter()
        try:
            self._http.request("POST", "/slack/events", body=body, headers=signed_headers(body))
            response = self._http.getresponse()
            data = response.read()
            result.status = response.status
            result.body = data.decode("utf-8", errors="replace")
            if response.will_close:
                self._http.close()
        except (OSError, http.client.HTTPException) as error:
            # Never retried: a command that may have been received must not be sent twice.
            result.error = f"{type(error).__name__}: {error}"
            self._http.close()
        result.done = time.perf_counter()

    def close(self) -> None:
        self._http.close()


def run_fixed_rate(
    ports: Sequence[int], requests: Sequence[Request], rate: float, senders: int
) -> tuple[list[Result], float]:
    """Open loop: request i is due at start + i/rate whatever happened to the earlier ones.

    With several servers (replicas), request i goes to ports[i % N], and sender thread j
    keeps its connection to ports[j % N] (at least one sender per server).

    Returns the results and the achieved sending rate."""
    replicas = len(ports)
    senders = max(senders, replicas)
    # One queue and one condition per server, so a request wakes a sender of its server.
    jobs: list[deque[Result | None]] = [deque() for _ in ports]
    locks = [threading.Condition() for _ in ports]
    results: list[Result] = []

    def sender(replica: int) -> None:
        queue, lock = jobs[replica], locks[replica]
        connection = Connection(ports[replica])
        try:
            while True:
                with lock:
                    while not queue:
                        lock.wait(1.0)
                    job = queue.popleft()
                if job is None:
                    return
                connection.send(job)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=sender, args=(i % replicas,), name=f"sender-{i}", daemon=True)
        for i in range(senders)
    ]
    for thread in threads:
        thread.start()
    start = time.perf_counter() + 0.1
    for index, request in enumerate(requests):
        due = start + index / rate
        while (wait := due - time.perf_counter()) > 0:
            time.sleep(min(wait, 0.05) if wait > 0.002 else 0)  # sleep, then spin the last ms
        result = Result(request, due)
        results.append(result)
        with locks[index % replicas]:
            jobs[index % replicas].append(result)
            locks[index % replicas].notify()
    for i in range(senders):
        with locks[i % replicas]:
            jobs[i % replicas].append(None)
            locks[i % replicas].notify_all()
    deadline = time.monotonic() + HTTP_TIMEOUT + 30
    for thread in threads:
        thread.join(max(0.1, deadline - time.monotonic()))
    stuck = sum(thread.is_alive() for thread in threads)
    if stuck:
        log(f"warning: {stuck} sender threads still busy at the deadline")
    span = results[-1].sent - results[0].sent if len(results) > 1 else 0.0
    achieved = (len(results) - 1) / span if span > 0 else float("nan")
    return results, achieved


def run_closed_loop(
    ports: Sequence[int], requests: Sequence[Request], concurrency: int, max_seconds: float
) -> tuple[list[Result], float]:
    """K connections, each sending its next request when the previous one is answered;
    connection k goes to ports[k % N].

    Returns the results (in sending order) and the requests per second over the run."""
    counter = itertools.count()
    results: list[Result | None] = [None] * len(requests)
    barrier = threading.Barrier(concurrency + 1)
    deadline = [0.0]

    def worker(port: int) -> None:
        connection = Connection(port)
        try:
            barrier.wait(30)
            while time.perf_counter() < deadline[0]:
                index = next(counter)  # atomic under the GIL
                if index >= len(requests):
                    return
                result = Result(requests[index], time.perf_counter())
                connection.send(result)
                results[index] = result
        finally:
            connection.close()

    threads = [
        threading.Thread(
            target=worker, args=(ports[i % len(ports)],), name=f"closed-{i}", daemon=True
        )
        for i in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    deadline[0] = start + max_seconds
    barrier.wait(30)
    start = time.perf_counter()
    for thread in threads:
        thread.join(max_seconds + HTTP_TIMEOUT + 5)
    done = [r for r in results if r is not None]
    end = max((r.done for r in done), default=start)
    if len(done) < len(requests):
        log(f"warning: closed loop stopped at its time limit after {len(done)} requests")
    return done, (len(done) / (end - start) if end > start else float("nan"))


# --- figures ----------------------------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


@dataclass
class Phase:
    name: str
    results: list[Result]
    rate: float  # achieved sending rate (fixed rate) or requests/s (closed loop)
    cpu_seconds: float = float("nan")  # the server's CPU time while the requests ran
    drain_seconds: float | None = None
    drained_messages: int | None = None
    drain_cpu_seconds: float | None = None

    @property
    def ok(self) -> list[Result]:
        return [r for r in self.results if r.ok]

    def latencies_ms(self) -> list[float]:
        return [r.latency * 1000 for r in self.ok]

    def summary(self) -> dict[str, float]:
        values = self.latencies_ms()
        lags = [(r.sent - r.due) * 1000 for r in self.results]
        return {
            "sent": len(self.results),
            "ok": len(self.ok),
            "p50": percentile(values, 0.50),
            "p99": percentile(values, 0.99),
            "max": max(values, default=float("nan")),
            "rate": self.rate,
            "max_send_lag": max(lags, default=float("nan")),
            "cpu_ms_per_request": self.cpu_seconds * 1000 / len(self.results)
            if self.results
            else float("nan"),
        }

    def errors(self) -> Counter[str]:
        return Counter(
            r.error or f"HTTP {r.status}: {r.body[:80]}" for r in self.results if not r.ok
        )


@dataclass
class ServerRun:
    name: str
    phases: dict[str, Phase] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)

    def all_results(self) -> list[Result]:
        return [r for phase in self.phases.values() for r in phase.results]

    def commands(self) -> list[Result]:
        return [r for r in self.all_results() if r.request.kind == "command"]

    def clicks(self) -> list[Result]:
        return [r for r in self.all_results() if r.request.kind == "click"]


# --- the database (Sayso only) ----------------------------------------------------------------


class Database:
    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        self.url = url
        # Short connections: a reader must never hold SQLite's WAL back for long.
        self._engine = create_engine(url, poolclass=NullPool)

    def scalar(self, sql: str, **params: Any) -> Any:
        from sqlalchemy import text

        with self._engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        from sqlalchemy import text

        with self._engine.connect() as connection:
            return list(connection.execute(text(sql), params))

    def outbox_pending(self) -> int:
        return int(
            self.scalar(
                "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL"
            )
        )

    def outbox_delivered(self) -> int:
        return int(self.scalar("SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL"))

    def dispose(self) -> None:
        self._engine.dispose()


def prepare_postgres(url: str, cleanup: Cleanup, keep: bool) -> str:
    """A fresh schema of our own in that database; returns the URL that uses it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url)
    if base.get_backend_name() != "postgresql":
        raise SystemExit(f"--database-url must be postgresql+psycopg://..., not {base}")
    engine = create_engine(base)

    def drop() -> None:
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        engine.dispose()

    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
        # Alembic's own table, empty, made here: with `public` on the search path (below),
        # alembic would otherwise find the test suite's public.alembic_version and believe
        # the schema up to date.
        connection.execute(
            text(
                f"CREATE TABLE {PG_SCHEMA}.alembic_version (version_num VARCHAR(32) NOT NULL,"
                " CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
        )
    cleanup.add(f"schema {PG_SCHEMA}", engine.dispose if keep else drop)
    # `public` second: migration 0004 creates pg_trgm in schema public and names its
    # operator class unqualified. Tables are created in, and found first in, sayso_bench;
    # check_postgres_schema makes sure of it before any load.
    scoped = base.update_query_dict({"options": f"-csearch_path={PG_SCHEMA},public"})
    return scoped.render_as_string(hide_password=False)


def check_postgres_schema(db: Database) -> None:
    """Refuse to go on unless Sayso's migrations built their tables in our schema."""
    tables = {
        row.table_name
        for row in db.rows(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = :schema",
            schema=PG_SCHEMA,
        )
    }
    needed = {"alembic_version", "workspaces", "records", "audit_events", "outbox"}
    version = db.scalar(f"SELECT max(version_num) FROM {PG_SCHEMA}.alembic_version")
    if not needed <= tables or not version:
        raise RuntimeError(
            f"Sayso's tables are not in schema {PG_SCHEMA} (found {sorted(tables)}, "
            f"version {version}); stopping before touching anything else"
        )
    log(f"schema {PG_SCHEMA}: {len(tables)} tables, migrations at {version}")


def wait_for_drain(db: Database, timeout: float) -> tuple[float, int, bool]:
    """Until the outbox has nothing left to deliver: (seconds, messages delivered, drained)."""
    start = time.monotonic()
    before = db.outbox_delivered()
    deadline = start + timeout
    pending = db.outbox_pending()
    while pending and time.monotonic() < deadline:
        time.sleep(0.25)
        pending = db.outbox_pending()
    return time.monotonic() - start, db.outbox_delivered() - before, pending == 0


# --- one server -------------------------------------------------------------------------------


@dataclass
class Plan:
    commands: int
    clicks: int
    rate: float
    senders: int
    sat_requests: int
    sat_concurrency: tuple[int, ...]
    warmup: int
    drain_timeout: float
    phase_timeout: float
    workers: int = 1  # gunicorn workers per server, for the bare app and each Sayso replica
    threads: int = 4  # threads per worker (bot.serving.THREADS)
    replicas: int = 1  # `sayso serve` processes on the one database
    # The baseline writes one row to SQLite (WAL, FULL) per request before its ack.
    bare_durable: bool = False
    rounds: int = 1  # the saturation phases, run this many times by each server in turn


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    started: int  # clock ticks after boot
    ticks: int  # utime + stime + cutime + cstime: its own CPU and its reaped children's


def proc_stats() -> dict[int, ProcStat]:
    """Every process's /proc/<pid>/stat, as far as it can be read (processes come and go)."""
    found: dict[int, ProcStat] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()  # after the command name, which may hold ")"
        pid = int(entry.name)
        found[pid] = ProcStat(
            pid, int(fields[1]), int(fields[19]), sum(int(f) for f in fields[11:15])
        )
    return found


def process_tree(root: int, stats: dict[int, ProcStat] | None = None) -> list[ProcStat]:
    """The process and all its descendants (a gunicorn master and its workers)."""
    stats = proc_stats() if stats is None else stats
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    tree: list[ProcStat] = []
    todo, seen = [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        tree.append(stats[pid])
        todo.extend(children.get(pid, ()))
    return tree


def cpu_seconds(roots: Sequence[int]) -> float:
    """User + system CPU time so far of these processes and all their descendants (all their
    threads), from /proc: a gunicorn master and its workers, per server. A worker that exited
    and was reaped meanwhile still counts, in its parent's cutime/cstime; NaN only when a
    server itself is gone."""
    stats = proc_stats()
    if any(root not in stats for root in roots):
        return float("nan")
    ticks = sum(stat.ticks for root in roots for stat in process_tree(root, stats))
    return ticks / os.sysconf("SC_CLK_TCK")


def workers_of(master: int) -> list[int]:
    """A gunicorn master's worker processes, oldest first."""
    stats = proc_stats()
    workers = [stat for stat in stats.values() if stat.ppid == master]
    return [stat.pid for stat in sorted(workers, key=lambda stat: (stat.started, stat.pid))]


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


def exercise(
    name: str,
    ports: Sequence[int],
    pids: Sequence[int],
    plan: Plan,
    emulator: EmulatorProcess,
    db: Database | None,
    profiler: Callable[[str], contextlib.AbstractContextManager[None]],
) -> tuple[ServerRun, Callable[[int], None]]:
    """Every phase once; returns the run and its saturation phases, to run again as round
    2, 3... (`--rounds`)."""
    run = ServerRun(name)
    base = emulator.base_url

    def measure(key: str, title: str, send: Callable[[], tuple[list[Result], float]]) -> Phase:
        before = cpu_seconds(pids)
        with profiler(f"{name}-{key}"):
            results, rate = send()
        phase = run.phases[key] = Phase(title, results, rate, cpu_seconds(pids) - before)
        if not key.startswith("warm"):
            log(f"  {_line(phase)}")
        drain(phase)
        return phase

    def drain(phase: Phase) -> None:
        if db is None:
            return
        before = cpu_seconds(pids)
        seconds, messages, drained = wait_for_drain(db, plan.drain_timeout)
        phase.drain_seconds, phase.drained_messages = seconds, messages
        phase.drain_cpu_seconds = cpu_seconds(pids) - before
        log(f"  outbox: {messages} messages delivered in {seconds:.1f}s after the phase")
        if not drained:
            log(f"  outbox NOT drained after {plan.drain_timeout:.0f}s")
            run.checks["not_drained"] = True

    def numbers_of(results: list[Result]) -> list[int]:
        return [n for r in results if r.ok and (n := r.number) is not None]

    def clicks_for(numbers: list[int]) -> list[Request]:
        shown = dict(emulator.stats()["request_ts"]) if db is not None else {}
        return [click_request(base, n, shown.get(str(n))) for n in numbers]

    def commands(count: int, tag: str) -> list[Request]:
        return [command_request(base, i, tag) for i in range(count)]

    log(f"{name}: warm-up ({plan.warmup} commands, then clicks)")
    warm = commands(plan.warmup, "warm")
    warm_k = max(2, len(ports))  # at least one connection to each server
    phase = measure(
        "warm_commands",
        "warm-up commands",
        lambda: run_closed_loop(ports, warm, warm_k, plan.phase_timeout),
    )
    warm_clicks = clicks_for(numbers_of(phase.results))
    measure(
        "warm_clicks",
        "warm-up clicks",
        lambda: run_closed_loop(ports, warm_clicks, warm_k, plan.phase_timeout),
    )

    rate = f"{plan.rate:g}/s"
    log(f"{name}: {plan.commands} commands at {rate}")
    fixed = commands(plan.commands, "rate")
    phase = measure(
        "rate_commands",
        f"commands at {rate}",
        lambda: run_fixed_rate(ports, fixed, plan.rate, plan.senders),
    )
    clicks = clicks_for(numbers_of(phase.results)[: plan.clicks])
    log(f"{name}: {len(clicks)} clicks at {rate}")
    measure(
        "rate_clicks",
        f"clicks at {rate}",
        lambda: run_fixed_rate(ports, clicks, plan.rate, plan.senders),
    )

    def saturate(round_number: int) -> None:
        title = "" if round_number == 1 else f", round {round_number}"
        created: list[int] = []
        for k in plan.sat_concurrency:
            log(f"{name}: saturation{title}, {plan.sat_requests} commands on {k} connections")
            batch = commands(plan.sat_requests, f"sat{k}r{round_number}")
            phase = measure(
                round_key(f"sat_commands_{k}", round_number),
                f"commands, K={k}",
                functools.partial(run_closed_loop, ports, batch, k, plan.phase_timeout),
            )
            created += numbers_of(phase.results)
        k = max(plan.sat_concurrency)
        clicks = clicks_for(created[: plan.sat_requests])
        log(f"{name}: saturation{title}, {len(clicks)} clicks on {k} connections")
        measure(
            round_key(f"sat_clicks_{k}", round_number),
            f"clicks, K={k}",
            lambda: run_closed_loop(ports, clicks, k, plan.phase_timeout),
        )

    saturate(1)
    return run, saturate


def round_key(key: str, round_number: int) -> str:
    """A saturation phase's key in a round: round 1's is the plain key (the report's rows)."""
    return key if round_number == 1 else f"{key}@r{round_number}"


def _first_round(key: str) -> bool:
    return "@" not in key


def _line(phase: Phase) -> str:
    s = phase.summary()
    errors = phase.errors()
    shown = f", errors {dict(errors.most_common(3))}" if errors else ""
    return (
        f"{s['ok']}/{s['sent']} ok, {s['rate']:.1f} req/s, p50 {s['p50']:.1f} ms, "
        f"p99 {s['p99']:.1f} ms, max {s['max']:.1f} ms{shown}"
    )


def check_bare(run: ServerRun) -> None:
    commands = run.commands()
    acked = [r for r in commands if r.ok and r.number is not None]
    run.checks.update(
        sent=len(run.all_results()),
        commands_acked=len(acked),
        records_stored=None,
        duplicates=None,
        lost=len(commands) - len(acked),
        clicks_applied=sum(r.ok for r in run.clicks()),
        clicks_sent=len(run.clicks()),
    )


def check_sayso(
    run: ServerRun,
    db: Database,
    emulator: EmulatorProcess,
    code: Code,
    server_env: dict[str, str],
    cwd: Path,
) -> None:
    commands = run.commands()
    acked = {r.request.tag: r.number for r in commands if r.ok and r.number is not None}
    ack_numbers = Counter(acked.values())
    stored = {
        int(row.number): row
        for row in db.rows(
            "SELECT number, status, text, card_ts, request_ts FROM records WHERE team_id = :team",
            team=TEAM,
        )
    }
    total_records = int(db.scalar("SELECT count(*) FROM records"))
    lost = []
    for tag, number in acked.items():
        row = stored.get(number)
        if row is None or f" {tag}:" not in row.text:
            lost.append(tag)
    unacked_commands = [r.request.tag for r in commands if not (r.ok and r.number is not None)]
    stats = emulator.stats()
    cards = Counter({int(k): v for k, v in stats["cards"].items()})
    asks = Counter({int(k): v for k, v in stats["requests"].items()})
    posted_twice = sorted(n for n in stored if cards[n] > 1 or asks[n] > 1)
    never_posted = sorted(n for n in stored if cards[n] == 0 or asks[n] == 0)
    missing_ts = sorted(n for n, row in stored.items() if not row.card_ts or not row.request_ts)
    clicks = run.clicks()
    clicked = [r.request.number for r in clicks if r.ok]
    not_confirmed = [n for n in clicked if n not in stored or stored[n].status != "confirmed"]
    failed_outbox = int(db.scalar("SELECT count(*) FROM outbox WHERE failed_at IS NOT NULL"))
    pending_outbox = db.outbox_pending()
    verify = subprocess.run(
        [*code.command, "verify"],
        cwd=str(cwd),
        env=server_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    run.checks.update(
        sent=len(run.all_results()),
        commands_acked=len(acked),
        commands_not_acked=len(unacked_commands),
        records_stored=len(stored),
        records_other_teams=total_records - len(stored),
        ack_number_reused=sum(c - 1 for c in ack_numbers.values() if c > 1),
        stored_without_ack=len(set(stored) - set(acked.values())),
        posted_twice=len(posted_twice),
        unattributed_cards=stats["unattributed_cards"],
        other_posts=stats["other_posts"],
        duplicates=sum(c - 1 for c in ack_numbers.values() if c > 1)
        + len(set(stored) - set(acked.values()))
        + len(posted_twice)
        + stats["unattributed_cards"],
        lost=len(lost),
        never_posted=len(never_posted),
        missing_ts=len(missing_ts),
        clicks_sent=len(clicks),
        clicks_acked=len(clicked),
        clicks_applied=len(clicked) - len(not_confirmed),
        outbox_failed=failed_outbox,
        outbox_pending=pending_outbox,
        slack_calls=stats["methods"],
        slack_errors=stats["failed"],
        verify_status=verify.returncode,
        verify_output=(verify.stdout + verify.stderr).strip()[:300],
        examples={
            "lost": lost[:5],
            "posted_twice": posted_twice[:5],
            "never_posted": never_posted[:5],
            "not_confirmed": not_confirmed[:5],
        },
    )


def server_log_summary(outputs: Sequence[str], workers: int) -> dict[str, Any]:
    """Tracebacks, warnings and errors in the servers' logs (one per replica, or the bare
    app's), and gunicorn workers booted beyond the `workers` each server starts with (a
    worker that died or timed out and was replaced)."""
    benign = ("`token` will be unused",)
    problems = [
        line
        for output in outputs
        for line in output.splitlines()
        if any(level in line for level in (" ERROR ", " WARNING ", " CRITICAL "))
        or any(level in line for level in ("[ERROR]", "[WARNING]", "[CRITICAL]"))  # gunicorn's
    ]
    problems = [line for line in problems if not any(b in line for b in benign)]
    if problems:
        log("server log, first warnings/errors:\n  " + "\n  ".join(problems[:5]))
    boots = sum(output.count("Booting worker with pid") for output in outputs)
    return {
        "server_tracebacks": sum(output.count("Traceback") for output in outputs),
        "server_warnings_errors": len(problems),
        "worker_restarts": boots - workers * len(outputs),
    }


# --- the report -------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return "-" if value != value else f"{value:.1f} ms"


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "-" if value != value else f"{value:,.0f}"
    return f"{value:,}"


def _ratio(sayso: float | None, bare: float | None) -> str:
    if not sayso or not bare or sayso != sayso or bare != bare:
        return "-"
    return f"{sayso / bare:.2f}x"


def report(bare: ServerRun, sayso: ServerRun, plan: Plan, database: str) -> bool:
    b, s = bare.phases, sayso.phases
    rows: list[tuple[str, str, str, str, str, str]] = []
    verdicts: list[bool] = []

    def row(label: str, target: str, bv: str, sv: str, ratio: str = "", ok: bool | None = None):
        mark = "" if ok is None else ("PASS" if ok else "FAIL")
        if ok is not None:
            verdicts.append(ok)
        rows.append((label, target, bv, sv, ratio, mark))

    bc, sc = bare.checks, sayso.checks
    row("requests sent (all phases)", "", _num(bc["sent"]), _num(sc["sent"]))
    row("commands acked 'Recorded #N'", "", _num(bc["commands_acked"]), _num(sc["commands_acked"]))
    row(
        "records stored",
        "= acked",
        "n/a",
        _num(sc["records_stored"]),
        ok=sc["records_stored"] == sc["commands_acked"],
    )
    row("duplicates", "0", "n/a", _num(sc["duplicates"]), ok=sc["duplicates"] == 0)
    row("lost", "0", _num(bc["lost"]), _num(sc["lost"]), ok=sc["lost"] == 0 and bc["lost"] == 0)
    row(
        "clicks applied / acked",
        "all",
        f"{bc['clicks_applied']}/{bc['clicks_sent']}",
        f"{sc['clicks_applied']}/{sc['clicks_acked']}",
        ok=sc["clicks_applied"] == sc["clicks_acked"] == sc["clicks_sent"],
    )
    for key, label in (("rate_commands", "commands"), ("rate_clicks", "clicks")):
        bs, ss = b[key].summary(), s[key].summary()
        rate = f"{plan.rate:g}/s"
        row(
            f"{label} at {rate}: p50 ack",
            "",
            _ms(bs["p50"]),
            _ms(ss["p50"]),
            _ratio(ss["p50"], bs["p50"]),
        )
        row(
            f"{label} at {rate}: p99 ack",
            f"< {TARGET_P99_MS:g} ms",
            _ms(bs["p99"]),
            _ms(ss["p99"]),
            _ratio(ss["p99"], bs["p99"]),
            ok=ss["p99"] < TARGET_P99_MS,
        )
        row(
            f"{label} at {rate}: max ack",
            "",
            _ms(bs["max"]),
            _ms(ss["max"]),
            _ratio(ss["max"], bs["max"]),
        )
        row(
            f"{label} at {rate}: errors",
            "0",
            _num(bs["sent"] - bs["ok"]),
            _num(ss["sent"] - ss["ok"]),
        )
    for key in [k for k in s if k.startswith("sat_") and _first_round(k)]:
        rounds = [round_key(key, n) for n in range(1, plan.rounds + 1)]
        bare_rates = [b[k].summary()["rate"] for k in rounds]
        sayso_rates = [s[k].summary()["rate"] for k in rounds]
        pairs = zip(sayso_rates, bare_rates, strict=True)
        shares = [sv / bv if bv else float("nan") for sv, bv in pairs]
        share = statistics.median(shares)
        of_rounds = "" if plan.rounds == 1 else f" (median of {plan.rounds})"
        row(
            f"saturation {s[key].name}: req/s{of_rounds}",
            f">= {TARGET_SATURATION_SHARE:.0%} bare",
            f"{statistics.median(bare_rates):,.0f}",
            f"{statistics.median(sayso_rates):,.0f}",
            f"{share:.2f}x",
            ok=share >= TARGET_SATURATION_SHARE,
        )
        if plan.rounds > 1:
            row(
                f"saturation {s[key].name}: each round",
                "",
                " ".join(f"{rate:,.0f}" for rate in bare_rates),
                " ".join(f"{rate:,.0f}" for rate in sayso_rates),
                " ".join(f"{value:.2f}" for value in shares),
            )
        bs, ss = b[key].summary(), s[key].summary()
        row(
            f"saturation {s[key].name}: p99",
            "",
            _ms(bs["p99"]),
            _ms(ss["p99"]),
            _ratio(ss["p99"], bs["p99"]),
        )
    for key in [k for k in s if not k.startswith("warm") and _first_round(k)]:
        bs, ss = b[key].summary(), s[key].summary()
        row(
            f"server CPU per request, {s[key].name}",
            "",
            _ms(bs["cpu_ms_per_request"]),
            _ms(ss["cpu_ms_per_request"]),
            _ratio(ss["cpu_ms_per_request"], bs["cpu_ms_per_request"]),
        )
    for key, phase in s.items():
        if phase.drain_seconds is not None and not key.startswith("warm") and _first_round(key):
            per_second = (
                (phase.drained_messages or 0) / phase.drain_seconds
                if phase.drain_seconds > 0.5
                else None
            )
            extra = f" ({per_second:.0f} msg/s)" if per_second else ""
            row(
                f"outbox drain after {phase.name}",
                "",
                "n/a",
                f"{phase.drain_seconds:.1f} s, {phase.drained_messages} msgs{extra}",
            )
    row(
        "outbox failed / pending at end",
        "0 / 0",
        "n/a",
        f"{sc['outbox_failed']} / {sc['outbox_pending']}",
        ok=sc["outbox_failed"] == 0 and sc["outbox_pending"] == 0,
    )
    row(
        "`sayso verify` exit status",
        "0",
        "n/a",
        str(sc["verify_status"]),
        ok=sc["verify_status"] == 0,
    )
    row(
        "gunicorn workers replaced",
        "0",
        _num(bc.get("worker_restarts")),
        _num(sc.get("worker_restarts")),
    )

    header = ("", "target", "bare Bolt", "Sayso", "Sayso/bare", "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(6)]
    line = "  ".join("-" * w for w in widths)
    print()
    print(
        f"Sayso load benchmark: {database}; {plan.commands} commands and {plan.clicks} clicks "
        f"at {plan.rate:g}/s, saturation {plan.sat_requests} requests; {os.cpu_count()} CPUs"
    )
    replicas = f"{plan.replicas} replica{'s' if plan.replicas > 1 else ''}"
    print(
        f"gunicorn gthread, {plan.threads} threads per worker: Sayso {replicas} x "
        f"{plan.workers} worker{'s' if plan.workers > 1 else ''} (round-robin), bare Bolt "
        f"1 server x {plan.workers} worker{'s' if plan.workers > 1 else ''}"
        + (
            ", writing one row to SQLite (WAL, FULL) per request before its ack"
            if plan.bare_durable
            else ""
        )
        + (
            "; SQLite replicas share one file's lock"
            if plan.replicas > 1 and database.startswith("SQLite")
            else ""
        )
    )
    print(line)
    for r in [header, *rows]:
        print(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )
    print(line)
    pacing = max(
        p.summary()["max_send_lag"]
        for run in (bare, sayso)
        for p in run.phases.values()
        if p.name.startswith(("commands at", "clicks at"))
    )
    achieved = [
        f"{p.rate:.1f}/s"
        for run in (bare, sayso)
        for k, p in run.phases.items()
        if k.startswith("rate_")
    ]
    print(
        f"pacing: achieved send rates {', '.join(achieved)}; worst send lag {pacing:.1f} ms "
        "(latency is counted from each request's due time)"
    )
    details = {k: v for k, v in sc.items() if k not in ("verify_output",)}
    print(f"Sayso checks: {json.dumps(details, sort_keys=True)}")
    print(f"sayso verify: {sc['verify_output']}")
    ok = all(verdicts)
    print(f"RESULT: {'all targets met' if ok else 'some targets missed (FAIL above)'}")
    return ok


# --- profiling (optional) ---------------------------------------------------------------------


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


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL (a schema sayso_bench is used); default SQLite",
    )
    parser.add_argument("--commands", type=int, default=2000, help="commands at the fixed rate")
    parser.add_argument("--clicks", type=int, default=2000, help="clicks at the fixed rate")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument(
        "--sat-requests", type=int, default=2000, help="requests per saturation phase"
    )
    parser.add_argument("--senders", type=int, default=16, help="sender threads (fixed rate)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="gunicorn workers of the bare app and of each `sayso serve` (default: what "
        "`sayso serve` picks for the database, bot.serving.default_workers)",
    )
    parser.add_argument(
        "--bare-durable",
        action="store_true",
        help="the bare app commits one row per request to SQLite (WAL, synchronous=FULL) "
        "before its ack: the floor of any app that stores before it acks",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="`sayso serve` processes on the one database, requests spread round-robin "
        "(the bare app stays one server)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the saturation phases this many times, the bare app and Sayso in turn; the "
        "report gives the median of each (this machine's speed drifts over minutes)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="100 commands and 100 clicks at --rate, 100 per saturation phase (under a minute)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=900.0,
        help="seconds to wait for Sayso's outbox after each phase",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="write py-spy profiles of the Sayso server's phases here",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="run the working tree itself (the `sayso` script) instead of a copy taken at start",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary directory (logs, SQLite file) and PG schema",
    )
    args = parser.parse_args(argv)
    if args.quick:
        # Sayso's outbox (a few dozen messages/s) sets the pace: keep its work small.
        args.commands, args.clicks, args.sat_requests = 100, 100, 100
        args.drain_timeout = min(args.drain_timeout, 120.0)
    if args.rate <= 0 or args.commands < 1 or args.sat_requests < 1:
        parser.error("--rate, --commands and --sat-requests must be positive")
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds from 1 to 20")
    if args.replicas < 1 or (args.workers is not None and not 1 <= args.workers <= 64):
        parser.error("--replicas must be at least 1, --workers from 1 to 64")
    return args


def serving_defaults(code: Code, database_url: str) -> tuple[int, int]:
    """(threads per worker, default workers) as the Sayso code under test has them
    (bot.serving.THREADS and default_workers), read in a child with its PYTHONPATH."""
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
        raise RuntimeError(f"cannot read bot.serving's defaults: {done.stderr.strip()[-500:]}")
    threads, workers = json.loads(done.stdout.strip().splitlines()[-1])
    return int(threads), int(workers)


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


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan(
        commands=args.commands,
        clicks=min(args.clicks, args.commands),
        rate=args.rate,
        senders=args.senders,
        sat_requests=args.sat_requests,
        sat_concurrency=(8, 16),
        warmup=10 if args.quick else 20,
        drain_timeout=args.drain_timeout,
        phase_timeout=max(120.0, args.commands / args.rate * 3),
        replicas=args.replicas,
        bare_durable=args.bare_durable,
        rounds=args.rounds,
    )
    # Ctrl-C and SIGTERM both end in the finally below (SIGINT too when a shell started us
    # in the background with it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cleanup = Cleanup()
    workdir = Path(tempfile.mkdtemp(prefix="sayso-bench-"))
    cleanup.add("temporary directory", lambda: None if args.keep else shutil.rmtree(workdir, True))
    sayso_masters: list[int] = []
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)

    def first_worker() -> int | None:
        """py-spy's target: the oldest worker of the first replica (the master only
        forks and watches; the requests and the outbox run in the workers)."""
        workers = workers_of(sayso_masters[0]) if sayso_masters else []
        return workers[0] if workers else None

    profiler = make_profiler(args.profile, first_worker)
    try:
        log(f"work directory {workdir}")
        code = snapshot_code(workdir, args.live)
        log(f"Sayso code: {code.where}, fingerprint {code.fingerprint}")
        plan.threads, default = serving_defaults(code, args.database_url or "sqlite:///")
        plan.workers = args.workers or default
        log(
            f"gunicorn gthread: {plan.workers} worker(s) x {plan.threads} threads per server"
            + ("" if args.workers else " (what `sayso serve` picks for this database)")
            + f"; Sayso: {plan.replicas} replica(s), bare app: 1 server"
        )
        if plan.replicas > 1 and not args.database_url:
            log(
                f"note: {plan.replicas} Sayso replicas on one SQLite file share its lock: "
                "their writers poll it (bot/serving.py), expect them to slow each other down"
            )
        emulator = EmulatorProcess(cleanup, workdir / "emulator.log", code.pythonpath)
        log(f"emulator at {emulator.api_url} (own process {emulator.process.pid})")

        # 1. the bare Bolt app: one server, as many workers as each Sayso replica
        port = free_port()
        bare_log_path = workdir / "bare.log"
        bare_process, _ = start_server(
            "bare app",
            [sys.executable, str(HERE / "bare_app.py"), "--workers", str(plan.workers)]
            + (["--durable", str(workdir / "bare-durable.sqlite")] if plan.bare_durable else []),
            child_env(
                SLACK_SIGNING_SECRET=SIGNING_SECRET,
                SLACK_BOT_TOKEN=emulator.bot_token,
                SLACK_API_URL=emulator.api_url,
                PORT=str(port),
                PYTHONPATH=code.pythonpath,  # bot.serving.THREADS, from the same code
            ),
            port,
            plan.workers,
            bare_log_path,
            workdir,
            cleanup,
        )
        log(f"bare Bolt app on {HOST}:{port} (pid {bare_process.pid})")
        bare, bare_saturates = exercise(
            "bare", [port], [bare_process.pid], plan, emulator, None, profiler
        )
        # It stays up, idle, until Sayso's rounds are done (--rounds).

        # 2. Sayso: --replicas servers on the one database
        if args.database_url:
            database_url = prepare_postgres(args.database_url, cleanup, args.keep)
            where = f"PostgreSQL (schema {PG_SCHEMA})"
        else:
            database_url = f"sqlite:///{workdir / 'sayso.db'}"
            where = "SQLite (WAL, synchronous=FULL)"
        env = child_env(
            SLACK_BOT_TOKEN=emulator.bot_token,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=emulator.api_url,
            DATABASE_URL=database_url,
            PYTHONPATH=code.pythonpath,
        )
        ports: list[int] = []
        processes: list[subprocess.Popen[Any]] = []
        log_paths: list[Path] = []
        # One after the other: the first migrates the database, the others find it done.
        for replica in range(1, plan.replicas + 1):
            port = free_port()
            log_path = workdir / f"sayso-{replica}.log"
            process, health = start_server(
                f"sayso serve #{replica}",
                [
                    *code.command,
                    "serve",
                    "--host",
                    HOST,
                    "--port",
                    str(port),
                    "--workers",
                    str(plan.workers),
                ],
                {**env, "PORT": str(port)},
                port,
                plan.workers,
                log_path,
                workdir,
                cleanup,
            )
            ports.append(port)
            processes.append(process)
            log_paths.append(log_path)
            sayso_masters.append(process.pid)
            log(
                f"sayso serve #{replica} on {HOST}:{port} (master pid {process.pid}, workers "
                f"{workers_of(process.pid)}), {where}, health {health}"
            )
        db = Database(database_url)
        cleanup.add("database reader", db.dispose)
        if args.database_url:
            check_postgres_schema(db)
        sayso, sayso_saturates = exercise(
            "sayso", ports, sayso_masters, plan, emulator, db, profiler
        )
        # Later rounds take turns, so that a machine that speeds up or slows down over the
        # minutes of a run weighs on both servers alike.
        for round_number in range(2, plan.rounds + 1):
            bare_saturates(round_number)
            sayso_saturates(round_number)
        check_bare(bare)
        stop_process(bare_process)
        bare.checks.update(
            server_log_summary([bare_log_path.read_text(errors="replace")], plan.workers)
        )
        check_sayso(sayso, db, emulator, code, env, workdir)
        for process in processes:  # SIGTERM to all, then wait: they drain side by side
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in processes:
            stop_process(process)
        outputs = [path.read_text(errors="replace") for path in log_paths]
        sayso.checks.update(server_log_summary(outputs, plan.workers))
        ok = report(bare, sayso, plan, f"{where}, code {code.fingerprint}")
        if args.keep:
            log(f"kept {workdir}")
        return 0 if ok else 1
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    finally:
        cleanup.run()


if __name__ == "__main__":
    sys.exit(main())
