"""The call log: every request the emulator answered, the faults queued for the next ones, and
the observers told of each call."""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from bot.emulator.copies import copied
from bot.emulator.errors import Params

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApiCall:
    method: str
    params: Params
    status: int
    response: Params
    at: datetime
    faulted: bool = False
    team_id: str | None = None  # the workspace whose token made the call (None: no valid token)


@dataclass
class Fault:
    status: int
    error: str | None
    retry_after: int | None
    delay: float | None
    remaining: int
    # The call takes effect (a message is posted) but its answer is lost: what a bot sees
    # when it dies, or its connection breaks, right after Slack did the work.
    applied: bool = False
    # Slack slow but well: the call is answered as usual, after `delay`.
    slow_only: bool = False

    def payload(self) -> tuple[Params, dict[str, str]]:
        if self.status == 429:
            return {"ok": False, "error": "ratelimited"}, {
                "Retry-After": str(self.retry_after or 1)
            }
        default = {200: "request_timeout", 503: "service_unavailable"}.get(self.status)
        return {"ok": False, "error": self.error or default or "internal_error"}, {}


class CallLog:
    """Shares the emulator's condition, so each new call wakes its `wait_for` callers."""

    def __init__(self, cond: threading.Condition) -> None:
        self._cond = cond
        self._calls: list[ApiCall] = []
        self._faults: dict[str, list[Fault]] = {}
        self._subscribers: list[Callable[[ApiCall], None]] = []

    def add(self, call: ApiCall) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    def copy_into(self, other: CallLog) -> None:
        """`other` gets these calls and queued faults (not the observers): the log of a copy
        of the emulator. Logged calls are never changed, so both logs may hold them."""
        with self._cond:
            calls, faults = list(self._calls), copy.deepcopy(self._faults)
        with other._cond:
            other._calls, other._faults = calls, faults

    def calls(self, method: str | None = None, team_id: str | None = None) -> list[ApiCall]:
        with self._cond:
            return [
                replace(c, params=copied(c.params), response=copied(c.response))
                for c in self._calls
                if method in (None, c.method) and team_id in (None, c.team_id)
            ]

    def clear(self) -> None:
        with self._cond:
            self._calls.clear()

    def recent(self, count: int) -> str:
        """The last calls, one a line, for a timeout message."""
        with self._cond:
            lines = [
                f"  {c.method} -> {c.status} {json.dumps(c.response)[:200]}" for c in self._calls
            ]
        return "\n".join(lines[-count:]) or "  (no calls)"

    def subscribe(self, callback: Callable[[ApiCall], None]) -> Callable[[], None]:
        with self._cond:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._cond:
                self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, call: ApiCall) -> None:
        with self._cond:
            callbacks = list(self._subscribers)
        for callback in callbacks:
            try:
                callback(call)
            except Exception:  # an observer's bug must not turn into a Slack failure for the bot
                _log.exception("emulator subscriber %r failed on %s", callback, call.method)

    def queue_fault(self, method: str, fault: Fault) -> None:
        with self._cond:
            self._faults.setdefault(method, []).append(fault)

    def clear_faults(self, method: str) -> None:
        with self._cond:
            self._faults.pop(method, None)

    def take_fault(self, method: str) -> Fault | None:
        with self._cond:
            queue = self._faults.get(method)
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.pop(0)
            return fault
