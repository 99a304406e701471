"""The schedule's heartbeat in `sayso serve`: one pass a minute, in a thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Ticker:
    """Calls `tick` every `interval` seconds in a thread until stopped (`sayso serve`)."""

    def __init__(self, tick: Callable[[], object], interval: float = 60.0) -> None:
        self._tick = tick
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sayso-ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:  # a failed pass is retried on the next one
                log.exception("scheduled pass failed; trying again in %ss", self._interval)
            self._stop.wait(self._interval)
