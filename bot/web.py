"""The HTTP surface: Slack's POST /slack/events, and for load balancers and monitoring
GET /healthz (the process is alive), GET /readyz (database reachable, schema at head) and
GET /metrics (Prometheus)."""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.oauth import OAuthFlow
from slack_sdk import signature
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine

from bot import logs, metrics, migrate
from bot.clock import Clock, SystemClock
from bot.db import make_session_factory, read_only
from bot.installs import INSTALL_PATH, REDIRECT_PATH
from bot.outbox.gate import AckGate
from bot.seen_requests import SeenRequests

log = logging.getLogger("sayso.web")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
MAX_BODY_BYTES = 1_000_000
_TEAM_ID = re.compile(r"[TE][A-Z0-9]{1,20}")
# What Slack sends: seconds since 1970, and `v0=` and a SHA-256 HMAC in hex.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


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
    ack_gate: AckGate | None = None,
    *,
    signing_secret: str = "",
    seen: SeenRequests | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> WsgiApp:
    """`signing_secret`: the app's, which Slack signs requests with; without one every Slack
    request is refused. `wall_clock` judges their timestamps, as Slack stamps them."""
    clock = clock or SystemClock()
    ack_gate = ack_gate or AckGate()
    seen = seen or SeenRequests(make_session_factory(engine), wall_clock)
    signed = _Signed(signing_secret, seen, wall_clock)
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
        with ack_gate.answering(), logs.request_scope() as changed:
            answer = _slack(app, signed, environ)
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
    """Slack's OAuth flow, as Bolt runs it (`installs.oauth_settings`): the page that sends the
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


class _Signed:
    """Checks a request's signature before anything else is done with it (so unsigned junk
    can neither fill the seen requests nor get a real request refused as seen), then
    remembers it."""

    def __init__(
        self, signing_secret: str, seen: SeenRequests, wall_clock: Callable[[], float]
    ) -> None:
        self.verifier = (
            SignatureVerifier(signing_secret, clock=_WallClock(wall_clock))
            if signing_secret
            else None
        )
        self.seen = seen

    def refusal(self, environ: dict[str, Any], body: str) -> str | None:
        """Why the request is not Slack's, or None when it is."""
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
        if self.verifier is None:
            return "no signing secret is configured"
        if not _TIMESTAMP.fullmatch(timestamp):
            return "its timestamp is not a number of seconds"
        if not _SIGNATURE.fullmatch(signature):
            return "it carries no signature"
        if not self.verifier.is_valid(body, timestamp, signature):
            return "its signature does not hold, or its timestamp is over five minutes off"
        return None


class _WallClock(signature.Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


def _slack(app: App, signed: _Signed, environ: dict[str, Any]) -> _Answer:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if length < 0:
        log.warning("refused a request: its Content-Length is not a number of bytes")
        return _json_answer(400, {"ok": False, "error": "bad_content_length"})
    if length > MAX_BODY_BYTES:
        log.warning("refused a request of %s bytes", length)
        return _json_answer(413, {"ok": False, "error": "too_large"})
    request = WsgiHttpRequest(environ)
    try:
        body = request.get_body()
    except UnicodeDecodeError:
        # Slack sends text (form fields or JSON); its signature is over text, too.
        log.warning("refused a request whose body is not UTF-8 text")
        return _json_answer(400, {"ok": False, "error": "malformed_body"})
    if _is_ssl_check(body):
        # Slack checking the certificate of a slash command's URL: it signs nothing, and
        # wants a 200. Nothing else is done with it (Bolt's own SslCheck is never reached).
        return _Answer(200, _headers("text/plain", b""), b"")
    refusal = signed.refusal(environ, body)
    if refusal is not None:
        log.warning("refused a request not signed by Slack: %s", refusal)
        return _json_answer(401, {"ok": False, "error": "invalid_signature"})
    try:
        bolt_request = BoltRequest(
            body=body, query=request.query_string, headers=request.get_headers()
        )
    except Exception as error:
        # Bolt parses the body and reads its ids (team, user, enterprise...) in one go, and
        # stumbles on what Slack never sends (a JSON array, `authorizations: "x"`...).
        log.warning("refused a signed request Bolt cannot read: %s", type(error).__name__)
        return _json_answer(400, {"ok": False, "error": "malformed_body"})
    if not isinstance(bolt_request.body, dict):
        log.warning("refused a signed request whose body is no object")
        return _json_answer(400, {"ok": False, "error": "malformed_body"})
    kind = metrics.kind_of(bolt_request.body)
    team = bolt_request.context.team_id or ""
    team_id = team if _TEAM_ID.fullmatch(team) else None
    timestamp = int(environ["HTTP_X_SLACK_REQUEST_TIMESTAMP"])
    if not signed.seen.first_time(environ["HTTP_X_SLACK_SIGNATURE"], timestamp):
        return _seen_before(kind, team_id)
    response = app.dispatch(bolt_request)
    headers = [(k, v) for k, values in response.headers.items() for v in values]
    return _Answer(response.status, headers, response.body.encode("utf-8"), kind, team_id)


def _is_ssl_check(body: str) -> bool:
    return "ssl_check=" in body and urllib.parse.parse_qs(body).get("ssl_check") == ["1"]


def _seen_before(kind: str, team_id: str | None) -> _Answer:
    """The same signed request again. An event is answered all the same, without doing it
    again: it is Slack's own retry as likely as a replay, and a refusal would only make Slack
    retry it, and count against the app's events. Anything else is refused."""
    if kind.startswith("event:"):
        log.warning("an event delivered again with the same signature: answered, not redone")
        return _Answer(200, _headers("text/plain", b""), b"", kind, team_id)
    log.warning("refused a replayed request (%s)", kind)
    answer = _json_answer(401, {"ok": False, "error": "replayed"})
    answer.kind, answer.team = kind, team_id
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
