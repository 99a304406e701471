"""The outbox steps aside for Slack requests: it waits for a lull, but never for ever."""

from __future__ import annotations

from typing import Any


class _Monotonic:
    """A monotonic clock that only moves when the test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _outbox_waiting(requests: Any) -> tuple[Any, Any]:
    import threading

    delivered = threading.Event()

    def deliver() -> None:
        requests.wait_for_quiet()
        delivered.set()

    outbox = threading.Thread(target=deliver, daemon=True)
    outbox.start()
    return outbox, delivered


def test_the_outbox_waits_for_a_lull_in_the_requests() -> None:
    from bot.outbox.gate import AckGate

    clock = _Monotonic()
    requests = AckGate(monotonic=clock)
    requests.STEP_ASIDE = 30.0  # longer than this test: only a lull lets it go
    requests.wait_for_quiet()  # nothing answered yet: no wait at all
    with requests.answering():
        outbox, delivered = _outbox_waiting(requests)
        assert not delivered.wait(0.2)  # stepping aside while the request runs
    assert not delivered.wait(0.2)  # the request is over, but no lull yet
    clock.now += AckGate.LULL / 2
    with requests.answering():  # the next one comes: the lull starts again
        pass
    clock.now += AckGate.LULL * 0.9
    assert not delivered.wait(0.2)
    clock.now += AckGate.LULL * 0.2
    outbox.join(5)
    assert delivered.is_set()


def test_under_requests_with_no_lull_the_outbox_still_moves() -> None:
    from bot.outbox.gate import AckGate

    clock = _Monotonic()
    requests = AckGate(monotonic=clock)
    requests.STEP_ASIDE = 0.05
    with requests.answering():
        _, delivered = _outbox_waiting(requests)
        assert not delivered.wait(0.2)  # its deadline is on the clock, which stands still
        clock.now += requests.STEP_ASIDE
        assert delivered.wait(5)  # past its deadline: it goes while the request still runs
