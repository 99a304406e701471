"""The baseline: a bare Bolt app that only acks, configured and served like `sayso serve`.

Same Bolt settings as bot/app.py (sync App, process_before_response=True,
token_verification_enabled=False, a signing secret), same server as bot/server.py (waitress,
8 threads) and a WSGI function shaped like bot/web.py. No database and no Web API calls
(but Bolt's own auth.test on the first request, as for Sayso): what is left is Bolt's own
cost (signature check, parsing, middleware, dispatch) plus waitress's.

    SLACK_SIGNING_SECRET=... SLACK_BOT_TOKEN=... SLACK_API_URL=... PORT=... python bench/bare_app.py

The /confirm ack carries "Recorded #N" (N counts up) so the load generator reads both
servers' acks the same way; a click on `sayso_confirm` gets an empty 200, like Sayso's.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

import waitress
from slack_bolt import Ack, App, BoltRequest
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_sdk import WebClient

THREADS = 8  # bot/server.py: waitress.serve(..., threads=8)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def build_app(signing_secret: str, token: str, api_url: str) -> App:
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
        ack(text=f"Recorded #{next(numbers)}, waiting for someone.")

    @app.action("sayso_confirm")
    def click(ack: Ack) -> None:
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


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    secret = os.environ.get("SLACK_SIGNING_SECRET", "")
    if not secret:
        raise SystemExit("bare_app: SLACK_SIGNING_SECRET is not set")
    token, api_url = os.environ.get("SLACK_BOT_TOKEN", ""), os.environ.get("SLACK_API_URL", "")
    if not token or not api_url:
        raise SystemExit("bare_app: SLACK_BOT_TOKEN and SLACK_API_URL (the emulator) are needed")
    port = int(os.environ.get("PORT", "3000"))
    app = build_app(secret, token, api_url)
    waitress.serve(make_wsgi(app), host="127.0.0.1", port=port, threads=THREADS, ident="bare")


if __name__ == "__main__":
    main()
