"""HTTP mode under gunicorn: several worker processes, each with a few threads.

Why gunicorn with gthread workers: Sayso is sync Bolt over sync SQLAlchemy sessions, so a
WSGI server fits it as it is (uvicorn would need Bolt's AsyncApp and an async rewrite of the
domain). Several processes use every core, where one Python process runs one thread at a
time; the threads of each worker keep a slow request (a views.open before the ack) from
holding the others up.

The master migrates the database and checks the token once (`server.serve`), then forks. Each
worker builds its own runtime after the fork (an engine, a pool or a thread never crosses a
fork) and runs its own outbox dispatcher and `Ticker`: they share the work through the
database (leases, unique keys) as replicas do. On SIGTERM a worker stops accepting, finishes
the requests under way, then delivers what the outbox has due before it exits.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gunicorn import glogging
from gunicorn.app.base import BaseApplication

from bot import metrics
from bot.app import Runtime, build_runtime
from bot.config import Settings
from bot.serve.ticker import Ticker
from bot.web import WsgiApp

log = logging.getLogger("sayso.server")

THREADS = 4
# SIGTERM to exit: requests under way end within Slack's three seconds, then the outbox
# drains for DRAIN_SECONDS at most; past GRACEFUL_TIMEOUT gunicorn kills the worker, and
# what it held is taken over through the leases. Below Kubernetes' default 30 s.
GRACEFUL_TIMEOUT = 20
DRAIN_SECONDS = 10.0
MAX_DEFAULT_WORKERS = 4


def default_workers(database_url: str) -> int:
    """On PostgreSQL two per core, at most four: requests are short database transactions,
    so more processes add little, and each one holds its own connection pool and polls the
    outbox and the schedule. On SQLite one: it has a single writer, so several processes
    only take turns on it (`WriterTurn`, handed over at each commit), and one
    process is the setup a single machine expects. SAYSO_WORKERS or --workers say
    otherwise."""
    if database_url.startswith("sqlite"):
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return min(2 * cores, MAX_DEFAULT_WORKERS)


@dataclass(frozen=True)
class Serving:
    settings: Settings
    team_id: str | None  # None: installed into many workspaces (OAuth)
    host: str
    port: int
    workers: int
    # The master's own directory, for the workers' metrics samples.
    shared_dir: Path


class _Worker:
    """What one worker process runs beside the requests."""

    def __init__(self, runtime: Runtime, ticker: Ticker) -> None:
        self.runtime = runtime
        self.ticker = ticker

    def stop(self) -> None:
        self.ticker.stop()
        self.runtime.close(drain_seconds=DRAIN_SECONDS)


class SaysoServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, serving: Serving) -> None:
        self.serving = serving
        self.worker: _Worker | None = None
        super().__init__()

    def load_config(self) -> None:
        serving = self.serving
        options: dict[str, Any] = {
            "bind": [f"{serving.host}:{serving.port}"],
            "workers": serving.workers,
            "worker_class": "gthread",
            "threads": THREADS,
            "graceful_timeout": GRACEFUL_TIMEOUT,
            # The runtime is built in each worker, after the fork (load() below).
            "preload_app": False,
            "proc_name": "sayso",
            # One line per Slack request comes from `make_wsgi_app`; gunicorn's own lines go
            # through the same logging (plain or JSON). Its request-line and header limits
            # stay at their defaults (4094 bytes, 100 fields); `make_wsgi_app` limits the body.
            "accesslog": None,
            "logger_class": _GunicornLogs,
            "child_exit": _child_exit,
            "post_fork": _post_fork,
            "worker_exit": _worker_exit,
        }
        if "control_socket_disable" in self.cfg.settings:  # gunicorn 25.1+: `gunicornc`
            options["control_socket_disable"] = True  # one socket per home dir would clash
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> WsgiApp:
        """In each worker, after the fork: its own engine, dispatcher and ticker."""
        serving = self.serving
        runtime = build_runtime(serving.settings, serving.team_id)
        app = runtime.wsgi()
        runtime.dispatcher.start()
        ticker = Ticker(runtime.tick)
        ticker.start()
        self.worker = _Worker(runtime, ticker)
        return app


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def _post_fork(server: Any, worker: Any) -> None:
    """In a new worker, before gunicorn sets its own signal handlers. Until then the worker
    runs the master's handlers, inherited through the fork, and they only queue a signal for a
    master loop the worker never runs: a SIGTERM sent to a booting worker (a deploy right
    after a start) was lost, and the worker served on until the master killed it at
    GRACEFUL_TIMEOUT. Here one that already came is honoured, and one that comes before
    gunicorn's handlers stops the worker as gracefully as theirs would: it boots, serves
    nothing and exits through _worker_exit."""

    def stop_once_booted(_signum: int, _frame: Any) -> None:
        worker.alive = False

    for signum in _STOP_SIGNALS:
        signal.signal(signum, stop_once_booted)
    if any(signum in _STOP_SIGNALS for signum in _queued_signals(server)):
        worker.alive = False


def _queued_signals(server: Any) -> list[int]:
    """What the master's handlers queued in this process: a list in older gunicorns, a
    SimpleQueue in newer ones. This is the worker's own copy: the master keeps its signals."""
    pending = server.SIG_QUEUE
    if isinstance(pending, list):
        taken = list(pending)
        pending.clear()
        return taken
    taken = []
    while True:
        try:
            taken.append(pending.get_nowait())
        except queue.Empty:
            return taken


def _worker_exit(server: Any, worker: Any) -> None:
    """In the worker once it served its last request: drain the outbox, then close. (gunicorn
    also calls this in the master for a worker that vanished; the master has no runtime.)"""
    app = server.app
    if isinstance(app, SaysoServer) and app.worker is not None:
        app.worker.stop()
        app.worker = None


def _child_exit(_server: Any, worker: Any) -> None:
    metrics.worker_gone(worker.pid)


class _GunicornLogs(glogging.Logger):  # type: ignore[misc]
    """gunicorn's own lines (booting, listening, exiting) through Sayso's logging."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for gunicorn_log in (self.error_log, self.access_log):
            for handler in list(gunicorn_log.handlers):
                gunicorn_log.removeHandler(handler)
            gunicorn_log.propagate = True


def serve_http(serving: Serving) -> None:
    if not metrics.multiprocess():
        raise RuntimeError(
            "prometheus-client was imported before PROMETHEUS_MULTIPROC_DIR was set: "
            "the workers would each count alone (see bot.serve.server)."
        )
    log.info(
        "HTTP mode: %s worker(s) x %s threads on %s:%s; POST /slack/events, "
        "GET /healthz /readyz /metrics",
        serving.workers,
        THREADS,
        serving.host,
        serving.port,
    )
    SaysoServer(serving).run()
