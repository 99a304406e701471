"""The baseline: a bare Bolt app that only acks, configured and served like `sayso serve`.

Same Bolt settings as app.build_app (sync App, process_before_response=True,
token_verification_enabled=False, a signing secret), same server as gunicorn_app.SaysoServer
(gunicorn, `gthread` workers with gunicorn_app.THREADS threads each, the app built in each
worker after the fork) and a WSGI function shaped like web.make_wsgi_app. No database and no
Web API calls (but Bolt's own auth.test on each worker's first request, as for Sayso): what
is left is Bolt's own cost (signature check, parsing, middleware, dispatch) plus gunicorn's.

    SLACK_SIGNING_SECRET=... SLACK_BOT_TOKEN=... SLACK_API_URL=... PORT=... \
        python bench/bare_app.py [--workers N]

With `--durable FILE` (the load benchmark's --bare-durable) each request first writes one
row and commits it to disk (SQLite WAL, synchronous=FULL, plain sqlite3): the floor of any
app that stores before it acks, to tell what durability costs from what Sayso's own work
costs.

The /confirm ack carries "Recorded #N" so the load generator reads both servers' acks the
same way (N counts up in each worker, so with several workers numbers repeat: the bare
app's numbers are not checked); a click on `sayso_confirm` gets an empty 200, like Sayso's.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from slack_bolt import Ack, App, BoltRequest
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_sdk import WebClient

if "PYTHONPATH" not in os.environ:  # the load benchmark sets it (to its snapshot of the code)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.serve.gunicorn_app import GRACEFUL_TIMEOUT, THREADS  # as `sayso serve` runs

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class DurableWrites:
    """`--durable FILE`: one row written and committed to disk per request before the ack,
    with the durability Sayso uses (SQLite WAL, synchronous=FULL), through the standard
    library's sqlite3 and nothing else: the least any app that stores before it acks pays."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._connection().execute(
            "CREATE TABLE IF NOT EXISTS acks (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"
        )

    def write(self, body: str) -> int:
        connection = self._connection()
        with connection:  # one transaction, committed on leaving
            cursor = connection.execute("INSERT INTO acks (body) VALUES (?)", (body,))
        return int(cursor.lastrowid or 0)

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self.path, timeout=30)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            self._local.connection = connection
        return connection


def build_app(
    signing_secret: str, token: str, api_url: str, durable: DurableWrites | None = None
) -> App:
    app = App(
        # Bolt's authorization middleware calls auth.test once, on the first request (as it
        # does for Sayso); the listeners make no Web API calls.
        client=WebClient(token=token, base_url=api_url),
        signing_secret=signing_secret,
        process_before_response=True,
        token_verification_enabled=False,
        logger=logging.getLogger("bare.bolt"),
    )
    numbers = itertools.count(1)

    @app.command("/confirm")
    def confirm(ack: Ack, command: dict[str, Any]) -> None:
        number = durable.write(command["text"]) if durable else next(numbers)
        ack(text=f"Recorded #{number}, waiting for someone.")

    @app.action("sayso_confirm")
    def click(ack: Ack, body: dict[str, Any]) -> None:
        if durable:
            durable.write(body["actions"][0]["action_id"])
        ack()

    return app


def make_wsgi(app: App) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method in ("GET", "HEAD"):
            return _reply(start_response, 200, {"ok": True})
        if path != "/slack/events" or method != "POST":
            return _reply(start_response, 404, {"ok": False, "error": "not_found"})
        request = WsgiHttpRequest(environ)
        bolt_request = BoltRequest(
            body=request.get_body(), query=request.query_string, headers=request.get_headers()
        )
        response = app.dispatch(bolt_request)
        headers = [(k, v) for k, values in response.headers.items() for v in values]
        start_response(_status(response.status), headers)
        return [response.body.encode("utf-8")]

    return wsgi


def _reply(start_response: StartResponse, status: int, body: dict[str, Any]) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(
        _status(status),
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
    )
    return [payload]


def _status(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"


class BareServer(BaseApplication):  # type: ignore[misc]
    """gunicorn as gunicorn_app.SaysoServer sets it up, with the bare app in each worker."""

    def __init__(
        self,
        port: int,
        workers: int,
        secret: str,
        token: str,
        api_url: str,
        durable_path: str | None = None,
    ) -> None:
        self.port, self.worker_count = port, workers
        self.secret, self.token, self.api_url = secret, token, api_url
        self.durable_path = durable_path
        super().__init__()

    def load_config(self) -> None:
        options: dict[str, Any] = {
            "bind": [f"127.0.0.1:{self.port}"],
            "workers": self.worker_count,
            "worker_class": "gthread",
            "threads": THREADS,
            "graceful_timeout": GRACEFUL_TIMEOUT,
            "preload_app": False,  # built in each worker, after the fork (load() below)
            "proc_name": "bare",
            "accesslog": None,
        }
        if "control_socket_disable" in self.cfg.settings:  # gunicorn 25.1+, as SaysoServer
            options["control_socket_disable"] = True
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
        durable = DurableWrites(self.durable_path) if self.durable_path else None
        return make_wsgi(build_app(self.secret, self.token, self.api_url, durable))


def main() -> None:
    parser = argparse.ArgumentParser(description="The bare Bolt app under gunicorn.")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn worker processes")
    parser.add_argument(
        "--durable",
        metavar="FILE",
        help="write and commit one row per request to this SQLite file before the ack",
    )
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    secret = os.environ.get("SLACK_SIGNING_SECRET", "")
    if not secret:
        raise SystemExit("bare_app: SLACK_SIGNING_SECRET is not set")
    token, api_url = os.environ.get("SLACK_BOT_TOKEN", ""), os.environ.get("SLACK_API_URL", "")
    if not token or not api_url:
        raise SystemExit("bare_app: SLACK_BOT_TOKEN and SLACK_API_URL (the emulator) are needed")
    port = int(os.environ.get("PORT", "3000"))
    BareServer(port, args.workers, secret, token, api_url, args.durable).run()


if __name__ == "__main__":
    main()
