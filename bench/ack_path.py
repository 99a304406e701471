"""The ack path alone: CPU per signed `/confirm` through the WSGI app, in this process.

    python bench/ack_path.py [--requests 3000] [--threads 1] [--profile]

No HTTP server, no load generator and no outbox dispatcher: each request is a WSGI call, so
what is measured is the app's own work (signature check, Bolt, Sayso's listener, its
transaction, the rendered ack). The load benchmark measures the served whole; this says where
the per-request cost of the ack is, and how it compares with, in the same run:

- the bare Bolt app (bare_app.build_app, only acks), and
- the same bare app committing one row to SQLite (WAL, synchronous=FULL) before its ack.

Building and signing each request is part of every figure (the same for all three). With
--profile, cProfile's top functions of Sayso's run follow (internal time).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import hmac
import io
import pstats
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import bare_app  # noqa: E402
from emulator_proc import CAPTURERS, CHANNEL, CLIENT_TEAM, REQUESTER, TEAM  # noqa: E402

from bot import migrate  # noqa: E402
from bot.app import build_runtime  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.emulator import SlackEmulator  # noqa: E402

SECRET = secrets.token_hex(16)
WARM_UP = 50
Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def environ(index: int) -> dict[str, Any]:
    user_id, name = CAPTURERS[index % len(CAPTURERS)]
    body = urlencode(
        {
            "team_id": TEAM,
            "channel_id": CHANNEL,
            "user_id": user_id,
            "user_name": name,
            "command": "/confirm",
            "text": f"<@{REQUESTER[0]}|{REQUESTER[1]}> ack-path {index}: reboot edge-{index % 7}",
            "api_app_id": "A0SAYSO01",
            "response_url": f"http://127.0.0.1:9/response/{index}",
            "trigger_id": f"ack.{index}.{secrets.token_hex(8)}",
        }
    ).encode()
    stamp = str(int(time.time()))
    signature = hmac.new(SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/slack/events",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": stamp,
        "HTTP_X_SLACK_SIGNATURE": "v0=" + signature.hexdigest(),
        "wsgi.input": io.BytesIO(body),
    }


def call(app: Wsgi, index: int) -> None:
    statuses: list[str] = []
    body = b"".join(app(environ(index), lambda status, headers: statuses.append(status)))
    if not statuses[0].startswith("200") or b"Recorded #" not in body:
        raise SystemExit(f"request {index} was not acked as recorded: {statuses} {body[:200]!r}")


def measure(app: Wsgi, requests: int, threads: int, first: int) -> tuple[float, float]:
    """(requests per second, CPU milliseconds per request) over `threads` threads."""
    for index in range(first, first + WARM_UP):
        call(app, index)
    first += WARM_UP
    share = requests // threads

    def work(k: int) -> None:
        for index in range(first + k * share, first + (k + 1) * share):
            call(app, index)

    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    wall, cpu = time.perf_counter(), time.process_time()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return share * threads / wall, 1000 * cpu / (share * threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="cProfile of Sayso's run")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sayso-ack-path-"))
    # SQLite in a temporary file (WAL, synchronous=FULL, as db.make_engine sets it); the load
    # benchmark measures PostgreSQL, in a schema of its own.
    url = f"sqlite:///{workdir / 'sayso.db'}"

    emulator = SlackEmulator(team_id=TEAM, team_name="Bench Networks", domain="bench")
    emulator.add_team(CLIENT_TEAM, "Client Co", "clientco")
    emulator.add_user(*REQUESTER, team_id=CLIENT_TEAM)
    for user_id, name in CAPTURERS:
        emulator.add_user(user_id, name)
    people = [REQUESTER[0], *(user_id for user_id, _ in CAPTURERS)]
    emulator.add_channel(CHANNEL, "bench-load", members=people, is_shared=True)
    emulator.start()
    try:
        settings = Settings(
            database_url=url,
            slack_bot_token=emulator.bot_token,
            slack_signing_secret=SECRET,
            slack_api_url=emulator.api_url,
        )
        migrate.upgrade(url)
        runtime = build_runtime(settings, TEAM)  # its outbox dispatcher is never started
        apps: dict[str, Wsgi] = {
            "bare Bolt": bare_app.make_wsgi(
                bare_app.build_app(SECRET, emulator.bot_token, emulator.api_url)
            ),
            "bare Bolt + durable row": bare_app.make_wsgi(
                bare_app.build_app(
                    SECRET,
                    emulator.bot_token,
                    emulator.api_url,
                    bare_app.DurableWrites(str(workdir / "durable.db")),
                )
            ),
            "Sayso": runtime.wsgi(),
        }
        print(f"{args.requests} signed /confirm per app, {args.threads} thread(s), in-process")
        results: dict[str, tuple[float, float]] = {}
        for offset, (name, app) in enumerate(apps.items()):
            results[name] = measure(app, args.requests, args.threads, offset * 10_000_000)
        bare_cpu = results["bare Bolt"][1]
        for name, (rate, cpu) in results.items():
            ratio = cpu / bare_cpu
            print(f"  {name:<24} {rate:>8,.0f} req/s  {cpu:6.3f} ms CPU/req  {ratio:5.2f}x bare")
        if args.profile:
            # In this thread: cProfile sees only the thread that enabled it.
            profile = cProfile.Profile()
            profile.enable()
            for index in range(90_000_000, 90_000_000 + args.requests):
                call(apps["Sayso"], index)
            profile.disable()
            stats = pstats.Stats(profile)
            stats.sort_stats("tottime").print_stats(30)
            stats.sort_stats("cumulative").print_stats(60)
        runtime.close(drain_seconds=0)
    finally:
        emulator.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
