"""The outbox dispatcher's rules: how long a failed message waits before it is tried again."""

from __future__ import annotations

from datetime import timedelta

from bot.outbox.queue import backoff


def test_backoff_grows_caps_and_honours_retry_after() -> None:
    assert [backoff(n, None).total_seconds() for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(20, None) == timedelta(seconds=300)
    assert backoff(1, 42.0) == timedelta(seconds=42)
