"""The HTTP surface: Slack's POST /slack/events, and for load balancers and monitoring
GET /healthz (the process is alive), GET /readyz (database reachable, schema at head) and
GET /metrics (Prometheus)."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.oauth import OAuthFlow
from sqlalchemy import Engine

from bot import logs, metrics, migrate
from bot.clock import Clock, SystemClock
from bot.db import read_only
from bot.installs import INSTALL_PATH, REDIRECT_PATH
from bot.outbox import Requests

log = logging.getLogger("sayso.web")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
MAX_BODY_BYTES = 1_000_000
_TEAM_ID = re.compile(r"[TE][A-Z0-9]{1,20}")


class ReplayGuard:
    """Refuses a signed request seen before. Slack signs every delivery (retries too) with its
    own timestamp, and Bolt refuses timestamps older than five minutes, so remembering the
    signatures of the last six minutes is enough to refuse a captured request sent again.

    The signatures are kept in SQLite: in memory for one process, or in a file that all of
    `sayso serve`'s gunicorn workers share (bot/serving.py), so that a replay is refused
    whichever worker it reaches. The monotonic clock is the host's, the same in every worker.
    """

    WINDOW = 360.0
    _FORGET_EVERY = 200  # inserts between sweeps of expired signatures

    def __init__(
        self, path: Path | None = None, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._db = sqlite3.connect(
            str(path) if path else ":memory:",
            check_same_thread=False,
            isolation_level=None,
            timeout=5.0,
        )
        if path:
            # Only a few minutes of throwaway data: no fsync, several processes at once. The
            # switch to WAL is made once (it sticks to the file) and needs a lock of its own.
            if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS seen (signature TEXT PRIMARY KEY, expires REAL NOT NULL)"
        )
        self._lock = threading.Lock()
        self._monotonic = monotonic
        self._inserts = 0

    def close(self) -> None:
        self._db.close()

    def first_time(self, signature: str) -> bool:
        now = self._monotonic()
        with self._lock:
            self._inserts += 1
            if self._inserts % self._FORGET_EVERY == 1:
                self._db.execute("DELETE FROM seen WHERE expires <= ?", (now,))
            stored = self._db.execute(
                "INSERT INTO seen VALUES (?, ?) ON CONFLICT (signature) DO UPDATE "
                "SET expires = excluded.expires WHERE seen.expires <= ?",
                (signature, now + self.WINDOW, now),
            )
            return stored.rowcount == 1


@dataclass
class _Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    kind: str = metrics.UNVERIFIED
    team: str | None = None


def make_wsgi_app(
    app: App,
    engine: Engine,
    clock: Clock | None = None,
    replays: ReplayGuard | None = None,
    requests: Requests | None = None,
) -> WsgiApp:
    clock = clock or SystemClock()
    replays = replays or ReplayGuard()
    requests = requests or Requests()
    schema_heads = migrate.heads()

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        if path in ("/healthz", "/readyz", "/metrics") and method not in ("GET", "HEAD"):
            return _reply(start_response, 405, {"ok": False, "error": "method_not_allowed"})
        if path == "/healthz":
            return _reply(start_response, 200, {"ok": True})
        if path == "/readyz":
            ready = readiness(engine, schema_heads)
            return _reply(start_response, 200 if ready["ok"] else 503, ready)
        if path == "/metrics":
            return _metrics(start_response, engine, clock)
        if app.oauth_flow is not None and path in (INSTALL_PATH, REDIRECT_PATH):
            if method not in ("GET", "HEAD"):
                return _reply(start_response, 405, {"ok": False, "error": "method_not_allowed"})
            return _install(app.oauth_flow, path, environ, start_response)
        if path != "/slack/events":
            return _reply(start_response, 404, {"ok": False, "error": "not_found"})
        if method != "POST":
            return _reply(start_response, 405, {"ok": False, "error": "method_not_allowed"})
        started = time.perf_counter()
        with requests.answering(), logs.request_scope() as changed:
            answer = _slack(app, replays, environ)
        seconds = time.perf_counter() - started
        metrics.observe_request(answer.kind, answer.status, seconds)
        logs.log_request(
            team=answer.team,
            kind=answer.kind,
            records=changed,
            status=answer.status,
            seconds=seconds,
        )
        start_response(_status_line(answer.status), answer.headers)
        return [answer.body]

    return wsgi


def _install(
    flow: OAuthFlow, path: str, environ: dict[str, Any], start_response: StartResponse
) -> list[bytes]:
    """Slack's OAuth flow, as Bolt runs it (bot/installs.py): the page that sends the
    browser to Slack's consent page, and the page Slack sends it back to with a code."""
    request = WsgiHttpRequest(environ)
    bolt_request = BoltRequest(
        body="", query=request.query_string, headers=request.get_headers(), mode="http"
    )
    if path == INSTALL_PATH:
        response = flow.handle_installation(bolt_request)
    else:
        response = flow.handle_callback(bolt_request)
    log.info("install flow: %s answered %s", path, response.status)
    headers = [(k, v) for k, values in response.headers.items() for v in values]
    start_response(_status_line(response.status), headers)
    return [response.body.encode("utf-8")]


def _slack(app: App, replays: ReplayGuard, environ: dict[str, Any]) -> _Answer:
    if int(environ.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
        return _json_answer(413, {"ok": False, "error": "too_large"})
    signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
    # Slack's own retry of an event may carry the same signature within a second; it is
    # told apart by its retry number (and deduplicated by event id further in).
    retry = environ.get("HTTP_X_SLACK_RETRY_NUM", "")
    if signature and not replays.first_time(f"{signature}/{retry}"):
        log.warning("refused a replayed request")
        return _json_answer(401, {"ok": False, "error": "replayed"})
    request = WsgiHttpRequest(environ)
    try:
        bolt_request = BoltRequest(
            body=request.get_body(), query=request.query_string, headers=request.get_headers()
        )
    except (ValueError, TypeError, KeyError) as error:
        # Bolt parses the body before it checks the signature; unparseable is a client error.
        log.warning("refused an unparseable request: %s", error)
        return _json_answer(400, {"ok": False, "error": "malformed_body"})
    response = app.dispatch(bolt_request)
    headers = [(k, v) for k, values in response.headers.items() for v in values]
    answer = _Answer(response.status, headers, response.body.encode("utf-8"))
    if response.status != 401:  # Bolt verified the signature: the body is Slack's
        answer.kind = metrics.kind_of(bolt_request.body)
        team = bolt_request.context.team_id or ""
        answer.team = team if _TEAM_ID.fullmatch(team) else None
    return answer


def readiness(engine: Engine, schema_heads: set[str]) -> dict[str, Any]:
    """Ready when the database answers and its schema is the one this code migrates to."""
    try:
        with read_only(engine).connect() as connection:
            current = migrate.applied(connection)
    except Exception as error:
        log.warning("readiness: database unreachable: %s", error)
        return {"ok": False, "database": "unreachable", "reason": "the database does not answer"}
    if current != schema_heads:
        return {
            "ok": False,
            "database": "reachable",
            "schema": sorted(current),
            "expected": sorted(schema_heads),
            "reason": "the schema is not at this version's head: run `sayso db upgrade`",
        }
    return {"ok": True, "database": "reachable", "schema": sorted(current)}


def _metrics(start_response: StartResponse, engine: Engine, clock: Clock) -> list[bytes]:
    try:
        exposition = metrics.scrape(engine, clock)
    except Exception:
        log.exception("metrics: the scrape failed")
        return _reply(start_response, 503, {"ok": False, "error": "metrics_unavailable"})
    return _send(start_response, 200, metrics.CONTENT_TYPE, exposition)


def _json_answer(status: int, body: dict[str, Any]) -> _Answer:
    payload = json.dumps(body).encode()
    return _Answer(status, _headers("application/json", payload), payload)


def _headers(content_type: str, payload: bytes) -> list[tuple[str, str]]:
    return [("Content-Type", content_type), ("Content-Length", str(len(payload)))]


def _send(
    start_response: StartResponse, status: int, content_type: str, payload: bytes
) -> list[bytes]:
    start_response(_status_line(status), _headers(content_type, payload))
    return [payload]


def _reply(start_response: StartResponse, status: int, body: dict[str, Any]) -> list[bytes]:
    return _send(start_response, status, "application/json", json.dumps(body).encode())


def _status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"
