"""The HTTP side of the emulator: a threaded server on loopback, and request bodies read the way
Slack reads them (query string, form or JSON, with JSON-in-form fields decoded)."""

from __future__ import annotations

import json
import selectors
import socket
import threading
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


class PromptShutdown:
    """For a socketserver server: shutdown() is answered at once. The standard serving loop
    wakes every poll_interval to look for the request to stop, so each stop waited for the
    next wake (and a test run starts and stops thousands of servers); this loop waits on the
    socket and on a pipe that shutdown() writes to, and idles without waking at all."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._woken, self._waker = socket.socketpair()
        self._stopped = threading.Event()

    def serve_forever(self, poll_interval: float | None = None) -> None:
        """Serves until shutdown(); `poll_interval` is accepted and not needed."""
        server: Any = self
        self._stopped.clear()
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(server, selectors.EVENT_READ)
                selector.register(self._woken, selectors.EVENT_READ)
                while True:
                    ready = {key.fileobj for key, _ in selector.select()}
                    if self._woken in ready:
                        self._woken.recv(1)
                        return
                    if ready:
                        server._handle_request_noblock()
                    server.service_actions()
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stops serve_forever() and waits until it has returned."""
        self._waker.send(b"x")
        self._stopped.wait()

    def server_close(self) -> None:
        super().server_close()  # type: ignore[misc]
        self._woken.close()
        self._waker.close()


class LoopbackServer(PromptShutdown, ThreadingHTTPServer):
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
