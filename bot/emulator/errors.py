"""Slack's error answers, and the shape every request and response body takes here."""

from __future__ import annotations

from typing import Any

Params = dict[str, Any]


class MethodError(Exception):
    """A Slack error answer; `messages` fill response_metadata like Slack's own hints."""

    def __init__(self, error: str, *messages: str) -> None:
        super().__init__(error)
        self.error = error
        self.messages = list(messages)

    def payload(self) -> Params:
        body: Params = {"ok": False, "error": self.error}
        if self.messages:
            body["response_metadata"] = {"messages": self.messages}
        return body
