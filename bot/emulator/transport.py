"""The HTTP side of the emulator: a threaded server on loopback, and request bodies read the way
Slack reads them (query string, form or JSON, with JSON-in-form fields decoded)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs

from bot.emulator.calls import ApiCall
from bot.emulator.errors import MethodError, Params

# Form bodies carry these as JSON strings; slack_sdk may send them either way.
_JSON_FIELDS = {
    "blocks": "invalid_blocks_format",
    "attachments": "invalid_attachments",
    "metadata": "invalid_metadata_format",
    "view": "invalid_arguments",
}


def parse_params(content_type: str, body: bytes, query: str) -> Params:
    params: Params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if body and "application/json" in content_type:
        try:
            data = json.loads(body)
        except ValueError as e:
            raise MethodError("invalid_json") from e
        if not isinstance(data, dict):
            raise MethodError("json_not_object")
        params.update(data)
    elif body:
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as e:
            raise MethodError("invalid_charset") from e
        params.update({k: v[-1] for k, v in form.items()})
    for name, error in _JSON_FIELDS.items():
        if isinstance(params.get(name), str) and params[name].strip():
            try:
                params[name] = json.loads(params[name])
            except ValueError as e:
                raise MethodError(error) from e
    return params


@dataclass
class Reply:
    """An answer to one HTTP request, and the logged call it came from. `body`, when set, is
    sent as an HTML page instead of `payload` as JSON (the OAuth consent page)."""

    status: int
    payload: Params
    headers: dict[str, str] = field(default_factory=dict)
    call: ApiCall | None = None
    body: str | None = None


class App(Protocol):
    def dispatch(self, path: str, headers: Message, body: bytes) -> Reply: ...
    def publish(self, call: ApiCall) -> None: ...


class LoopbackServer(ThreadingHTTPServer):
    """Serves `app` on a free port of 127.0.0.1."""

    daemon_threads = True

    def __init__(self, app: App) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.app = app


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        reply = self.server.app.dispatch(self.path, self.headers, body)
        if reply.call is not None:
            # Before answering, so whoever gets the answer knows observers have seen the call.
            self.server.app.publish(reply.call)
        page = reply.body is not None
        data = reply.body.encode() if reply.body is not None else json.dumps(reply.payload).encode()
        try:
            self.send_response(reply.status)
            kind = "text/html" if page else "application/json"
            self.send_header("Content-Type", f"{kind}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting: the point of a delay fault

    do_GET = do_POST  # Slack accepts GET with query parameters for most methods

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the call log is the record; stderr noise would drown test output


def bearer(headers: Message) -> str | None:
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme == "Bearer" else None
