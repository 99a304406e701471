"""Load benchmark: Sayso (`sayso serve`) against a bare Bolt app, on loopback, in one run.

    python bench/load.py [--database-url URL] [--commands 2000] [--clicks 2000] [--rate 50]
                         [--sat-requests 2000] [--workers N] [--replicas N] [--rounds N] [--quick]
                         [--profile DIR] [--live] [--keep]

The README beside this script says what each figure means and gives the latest ones.

Both servers run under gunicorn with `gthread` workers, as `sayso serve` does
(gunicorn_app.SaysoServer): --workers per server (default: what `sayso serve` picks for the
database), gunicorn_app.THREADS threads each. --replicas starts that many `sayso serve` on
the one database and spreads the requests over them round-robin; the bare app stays one
server. The server CPU figures are those of each server's whole process tree (master and
workers).

For each server (the bare app, bare_app.BareServer, first, then the real `sayso serve`):

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
exits 0. The Slack emulator runs in its own process (EmulatorProcess).

SQLite (a temporary file) by default; with --database-url postgresql+psycopg://..., the run
uses its own schema `sayso_bench` in that database (dropped and re-created at the start,
dropped at the end), so the test suite's tables in `public` are never touched.

Every subprocess and temporary file is removed at the end, also on failure or Ctrl-C;
everything listens and is loaded on 127.0.0.1 only; every loop is bounded in count and time.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from loadtest import HOST, log  # noqa: E402
from loadtest.checks import check_bare, check_sayso, server_log_summary  # noqa: E402
from loadtest.cpu import workers_of  # noqa: E402
from loadtest.database import (  # noqa: E402
    PG_SCHEMA,
    Database,
    check_postgres_schema,
    prepare_postgres,
)
from loadtest.options import parse_args, plan_of  # noqa: E402
from loadtest.payloads import SIGNING_SECRET  # noqa: E402
from loadtest.phases import exercise  # noqa: E402
from loadtest.processes import (  # noqa: E402
    Cleanup,
    EmulatorProcess,
    child_env,
    free_port,
    start_server,
    stop_process,
)
from loadtest.profiling import make_profiler  # noqa: E402
from loadtest.report import report  # noqa: E402
from loadtest.snapshot import serving_defaults, snapshot_code  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv, __doc__.split("\n\n")[0])
    plan = plan_of(args)
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
                "their writers poll it (gunicorn_app.default_workers), "
                "expect them to slow each other down"
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
                PYTHONPATH=code.pythonpath,  # gunicorn_app.THREADS, from the same code
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
