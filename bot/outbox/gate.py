"""Acks first: the outbox steps aside while Slack's requests are being answered."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class AckGate:
    """Slack requests being answered in this process. Slack waits three seconds for an ack,
    and the person who typed is watching; a card can wait. So before each message the
    outbox waits for a lull: no request answered for `LULL`. A moment with no request inside
    the app is not one: under a burst the request threads are briefly all in gunicorn's own
    code between requests, and an outbox message started there (several acks' worth of
    work) held the next ones up (the threads of a process share one interpreter). At a
    steady 50 requests a second the gaps are far longer than `LULL`, and the outbox runs in
    them as it did before. Under a burst with no lull it waits `STEP_ASIDE` at most per
    message, so it still moves, slowly, and catches up once the burst is over (the load
    benchmark's burst)."""

    STEP_ASIDE = 0.5
    LULL = 0.002

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._answering = 0
        self._last_answered = float("-inf")
        self._quiet = threading.Condition()

    @contextmanager
    def answering(self) -> Iterator[None]:
        with self._quiet:
            self._answering += 1
        try:
            yield
        finally:
            with self._quiet:
                self._answering -= 1
                self._last_answered = self._monotonic()
                if not self._answering:
                    self._quiet.notify_all()

    def wait_for_quiet(self) -> None:
        deadline = self._monotonic() + self.STEP_ASIDE
        with self._quiet:
            while (now := self._monotonic()) < deadline:
                if self._answering:
                    self._quiet.wait(deadline - now)
                    continue
                lull_left = self._last_answered + self.LULL - now
                if lull_left <= 0:
                    return
                self._quiet.wait(min(lull_left, deadline - now))
