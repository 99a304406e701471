"""The HTTP surface: Slack's POST /slack/events and a GET /healthz for load balancers."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from sqlalchemy import Engine, text

log = logging.getLogger("sayso.web")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
MAX_BODY_BYTES = 1_000_000


class ReplayGuard:
    """Refuses a signed request seen before. Slack signs every delivery (retries too) with its
    own timestamp, and Bolt refuses timestamps older than five minutes, so remembering the
    signatures of the last six minutes is enough to refuse a captured request sent again."""

    WINDOW = 360.0

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._expiries: deque[tuple[float, str]] = deque()
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._monotonic = monotonic

    def first_time(self, signature: str) -> bool:
        now = self._monotonic()
        with self._lock:
            while self._expiries and self._expiries[0][0] <= now:
                self._seen.discard(self._expiries.popleft()[1])
            if signature in self._seen:
                return False
            self._seen.add(signature)
            self._expiries.append((now + self.WINDOW, signature))
            return True


def make_wsgi_app(app: App, engine: Engine) -> WsgiApp:
    replays = ReplayGuard()

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        if path == "/healthz" and method in ("GET", "HEAD"):
            return _reply(start_response, 200, _health(engine))
        if path != "/slack/events":
            return _reply(start_response, 404, {"ok": False, "error": "not_found"})
        if method != "POST":
            return _reply(start_response, 405, {"ok": False, "error": "method_not_allowed"})
        if int(environ.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
            return _reply(start_response, 413, {"ok": False, "error": "too_large"})
        signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
        # Slack's own retry of an event may carry the same signature within a second; it is
        # told apart by its retry number (and deduplicated by event id further in).
        retry = environ.get("HTTP_X_SLACK_RETRY_NUM", "")
        if signature and not replays.first_time(f"{signature}/{retry}"):
            log.warning("refused a replayed request")
            return _reply(start_response, 401, {"ok": False, "error": "replayed"})
        request = WsgiHttpRequest(environ)
        try:
            bolt_request = BoltRequest(
                body=request.get_body(), query=request.query_string, headers=request.get_headers()
            )
        except (ValueError, TypeError, KeyError) as error:
            # Bolt parses the body before it checks the signature; unparseable is a client error.
            log.warning("refused an unparseable request: %s", error)
            return _reply(start_response, 400, {"ok": False, "error": "malformed_body"})
        response = app.dispatch(bolt_request)
        headers = [(k, v) for k, values in response.headers.items() for v in values]
        start_response(_status_line(response.status), headers)
        return [response.body.encode("utf-8")]

    return wsgi


def _health(engine: Engine) -> dict[str, Any]:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        log.warning("health check: database unreachable: %s", error)
        return {"ok": False, "database": "unreachable"}
    return {"ok": True, "database": "reachable"}


def _reply(start_response: StartResponse, status: int, body: dict[str, Any]) -> list[bytes]:
    payload = json.dumps(body).encode()
    start_response(
        _status_line(status),
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
    )
    return [payload]


def _status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"
