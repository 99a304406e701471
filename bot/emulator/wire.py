"""Plain HTTP to loopback, the way Slack's servers and a person's browser reach the app:
http.client straight to the address, so no proxy from the environment can get in the way and
redirects are not followed behind the caller's back."""

from __future__ import annotations

import http.client
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass
class DriverResponse:
    status: int
    headers: dict[str, str]
    body: str
    set_cookies: list[str] = field(default_factory=list)  # every Set-Cookie header, in order

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def header(self, name: str) -> str | None:
        """A header whatever its case (servers differ: WSGI adapters often lowercase them)."""
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    @property
    def text(self) -> str:
        """What a slash command's ack shows the user."""
        data = self.json()
        return str(data.get("text") or "") if isinstance(data, dict) else self.body


def loopback(url: str) -> tuple[str, int, str]:
    """(host, port, path with query) of a plain-http URL on this machine; refuses others."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise AssertionError(f"{url} is not a plain http URL on loopback")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, parts.port or 80, path


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> DriverResponse:
    host, port, path = loopback(url)
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        text = response.read().decode("utf-8", errors="replace")
        cookies = response.msg.get_all("Set-Cookie") or []
        return DriverResponse(response.status, dict(response.getheaders()), text, cookies)
    finally:
        connection.close()
