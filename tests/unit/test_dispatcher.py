"""The outbox dispatcher's rules: how long a failed message waits before it is tried again,
when it is given up on, who is told, what fails at once, the order messages go out in,
and the lease that keeps other dispatchers off a message while one delivers it.

`deliver_due()` is driven directly, one pass at a time, with a delivery that fails as a test
tells it and a clock the test moves: no thread, no sleep, no Slack.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.exc import DataError, OperationalError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from bot.db import unit_of_work
from bot.models import OutboxMessage
from bot.outbox import admin, queue
from bot.outbox.dispatcher import OutboxDispatcher, backoff, unmendable
from bot.records import lifecycle
from bot.records.lifecycle import Capture
from bot.slack.gateway import DeliveryError
from tests.conftest import ALICE, CHANNEL, TEAM, WANG
from tests.support import ManualClock


def test_backoff_grows_caps_and_honours_retry_after() -> None:
    assert [backoff(n, None).total_seconds() for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(20, None) == timedelta(seconds=300)
    assert backoff(1, 42.0) == timedelta(seconds=42)


class FakeSlack:
    """The delivery at the dispatcher's edge: notes each attempt by the message's name and
    raises what the test queued for that name, one error per attempt, then takes it."""

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self.delivered: list[str] = []
        self._errors: dict[str, list[BaseException]] = {}
        self.during: Callable[[OutboxMessage], None] | None = None

    def refuse(self, name: str, *errors: BaseException) -> None:
        self._errors.setdefault(name, []).extend(errors)

    def __call__(self, message: OutboxMessage) -> None:
        name = message.payload["name"]
        self.attempts.append(name)
        if self.during is not None:
            self.during(message)
        if self._errors.get(name):
            raise self._errors[name].pop(0)
        self.delivered.append(name)


class Told:
    """What the dispatcher reported: trouble for the capturer, and each failure for metrics."""

    def __init__(self) -> None:
        self.trouble: list[tuple[str, int, str]] = []
        self.failures: list[tuple[str, bool]] = []

    def on_trouble(self, session: Session, message: OutboxMessage, error: DeliveryError) -> None:
        self.trouble.append((message.payload["name"], message.attempts, error.reason))

    def on_failure(self, reason: str, given_up: bool) -> None:
        self.failures.append((reason, given_up))


class Crash(BaseException):
    """The process dies in the middle of a delivery: nothing after it runs."""


@pytest.fixture
def slack() -> FakeSlack:
    return FakeSlack()


@pytest.fixture
def told() -> Told:
    return Told()


@pytest.fixture
def dispatcher(
    session_factory: sessionmaker[Session], slack: FakeSlack, clock: ManualClock, told: Told
) -> OutboxDispatcher:
    return OutboxDispatcher(
        session_factory,
        slack,
        clock,
        on_trouble=told.on_trouble,
        on_failure=told.on_failure,
        lease=timedelta(seconds=90),
    )


def _queue(
    session_factory: sessionmaker[Session],
    clock: ManualClock,
    *names: str,
    record_id: int | None = None,
) -> list[int]:
    """Messages named `names`, queued now (of a record, if given); their ids."""
    with unit_of_work(session_factory) as session:
        messages = [
            queue.enqueue(
                session,
                clock.now(),
                team_id=TEAM,
                kind="thread_reply",
                payload={"name": name},
                record_id=record_id,
            )
            for name in names
        ]
        session.flush()
        return [message.id for message in messages]


def _record_id(session_factory: sessionmaker[Session], clock: ManualClock) -> int:
    with unit_of_work(session_factory) as session:
        capture = Capture(
            team_id=TEAM, channel_id=CHANNEL, captured_by_id=ALICE, requester_ids=(WANG,), text="x"
        )
        return lifecycle.capture(session, clock.now(), capture).id


def _stored(session_factory: sessionmaker[Session], message_id: int) -> OutboxMessage:
    with session_factory() as session:
        message = session.get(OutboxMessage, message_id)
        assert message is not None
        return message


def _transient() -> DeliveryError:
    return DeliveryError("internal_error")


# Delivered


def test_a_delivered_message_is_marked_delivered_and_never_sent_again(
    session_factory: sessionmaker[Session],
    dispatcher: OutboxDispatcher,
    slack: FakeSlack,
    clock: ManualClock,
) -> None:
    (card,) = _queue(session_factory, clock, "card")
    assert dispatcher.deliver_due() == 1
    stored = _stored(session_factory, card)
    assert (stored.delivered_at, stored.lease_until, stored.attempts) == (clock.now(), None, 1)
    clock.advance(days=1)
    assert dispatcher.deliver_due() == 0
    assert slack.attempts == ["card"]


def test_a_pass_attempts_every_message_due_and_says_how_many(
    session_factory: sessionmaker[Session],
    dispatcher: OutboxDispatcher,
    slack: FakeSlack,
    clock: ManualClock,
) -> None:
    _queue(session_factory, clock, "one", "two", "three")
    slack.refuse("two", _transient())
    assert dispatcher.deliver_due() == 3
    assert slack.delivered == ["one", "three"]  # one failing held up nothing of no record


# Retried, and for how long


def test_a_failed_message_is_tried_again_after_1_2_4_then_8_seconds(
    session_factory: sessionmaker[Session],
    dispatcher: OutboxDispatcher,
    slack: FakeSlack,
    clock: ManualClock,
) -> None:
    (card,) = _queue(session_factory, clock, "card")
    slack.refuse("card", *(_transient() for _ in range(4)))
    assert dispatcher.deliver_due() == 1
    for wait in (1, 2, 4, 8):
        assert _stored(session_factory, card).next_attempt_at == clock.now() + timedelta(
            seconds=wait
        )
        clock.advance(seconds=wait - 0.001)
        assert dispatcher.deliver_due() == 0  # not due yet
        clock.advance(seconds=0.001)
        assert dispatcher.deliver_due() == 1
    stored = _stored(session_factory, card)
    assert stored.delivered_at == clock.now() and stored.attempts == 5
    assert stored.last_error is None  # delivered: the last failure is forgotten


def test_slacks_retry_after_decides_the_wait(
    session_factory: sessionmaker[Session],
    dispatcher: OutboxDispatcher,
    slack: FakeSlack,
    clock: ManualClock,
) -> None:
    (card,) = _queue(session_factory, clock, "card")
    slack.refuse("card", DeliveryError("ratelimited", retry_after=30))
    dispatcher.deliver_due()
    stored = _stored(session_factory, card)
    assert stored.next_attempt_at == clock.now() + timedelta(seconds=30)
    assert stored.last_error == "ratelimited" and stored.failed_at is None


def test_a_message_waiting_for_a_person_is_tried_again_every_minute(
    session_factory: sessionmaker[Session],
    dispatcher: OutboxDispatcher,
    slack: FakeSlack,
    clock: ManualClock,
) -> None:
    (card,) = _queue(session_factory, clock, "card")
    slack.refuse(
        "card", *(DeliveryError("not_in_channel", needs_person=True, retry_after=5) for _ in "abcd")
    )
    for _ in range(4):  # the backoff would be 1, 2, 4, 8 seconds; Slack said 5
        assert dispatcher.deliver_due() == 1
        assert _stored(session_factory, card).next_attempt_at == clock.now() + timedelta(minutes=1)
        clock.advance(minutes=1)
    dispatcher.deliver_due()
    assert slack.delivered == ["card"]


def test_a_message_is_retried_for_24_hours_then_given_up(
    session_factory: sessionmaker[Session],
    dispatcher: OutboxDispatcher,
    slack: FakeSlack,
    clock: ManualClock,
    told: Told,
) -> None:
    (card,) = _queue(session_factory, clock, "card")
    slack.refuse("card", *(_transient() for _ in range(3)))
    dispatcher.deliver_due()
    clock.advance(hours=24)  # exactly its patience: still tried again
    dispatcher.deliver_due()
    assert _stored(session_factory, card).failed_at is None
    clock.advance(seconds=2)  # past its patience: this failure is the last
    dispatcher.deliver_due()
    stored = _stored(session_factory, card)
    assert stored.failed_at == clock.now() and stored.last_error == "internal_error"
    assert [given_up for _, given_up in told.failures] == [False, False, True]
    clock.advance(days=1)
    assert dispatcher.deliver_due() == 0  # given up: never tried again by itself


def test_an_operators_retry_gives_a_message_its_24_hours_again(
    session_factory: sessionmaker[Session],
    dispatcher: OutboxDispatcher,
    slack: FakeSlack,
    clock: ManualClock,
) -> None:
    (card,) = _queue(session_factory, clock, "card")
    slack.refuse("card", DeliveryError("channel_not_found", permanent=True))
    dispatcher.deliver_due()
    clock.advance(days=3)
    with unit_of_work(session_factory) as session:
        assert admin.retry_failed(session, clock.now(), [card]) == [card]
    slack.refuse("card", *(_transient() for _ in range(2)))
    dispatcher.deliver_due()  # queued three days ago, retried now: not given up
    assert _stored(session_factory, card).failed_at is None
    clock.advance(hours=24, seconds=1)
    dispatcher.deliver_due()
    assert _stored(session_factory, card).failed_at == clock.now()


def test_a_permanent_failure_gives_up_at_once(
    session_factory: sessionmaker[Session],
    dispatcher: OutboxDispatcher,
    slack: FakeSlack,
    clock: ManualClock,
    told: Told,
) -> None:
    (card,) = _queue(session_factory, clock, "card")
    slack.refuse("card", DeliveryError("channel_not_found", permanent=True))
    dispatcher.deliver_due()
    stored = _stored(session_factory, card)
    assert (stored.failed_at, stored.last_error) == (clock.now(), "channel_not_found")
    assert told.failures == [("channel_not_found", True)]
    clock.advance(days=1)
    assert dispatcher.deliver_due() == 0


# Who is told


def test_the_capturer_is_told_once_when_a_message_has_failed_three_times(
    session_factory: sessionmaker[Session],
    dispatcher: OutboxDispatcher,
    slack: FakeSlack,
    clock: ManualClock,
    told: Told,
) -> None:
    (card,) = _queue(session_factory, clock, "card")
    slack.refuse("card", *(_transient() for _ in range(5)))
    for attempt in range(1, 6):
        dispatcher.deliver_due()
        assert told.trouble == ([] if attempt < 3 else [("card", 3, "internal_error")])
        clock.advance(minutes=1)
    assert told.failures == [("internal_error", False)] * 5
    assert _stored(session_factory, card).notified


@pytest.mark.parametrize(
    "error",
    [
        DeliveryError("not_in_channel", needs_person=True),
        DeliveryError("channel_not_found", permanent=True),
    ],
    ids=["waiting-for-a-person", "given-up"],
)
def test_the_capturer_is_told_at_once_when_a_person_must_act_or_sayso_gives_up(
    session_factory: sessionmaker[Session],
    dispatcher: OutboxDispatcher,
    slack: FakeSlack,
    clock: ManualClock,
    told: Told,
    error: DeliveryError,
) -> None:
    _queue(session_factory, clock, "card")
    slack.refuse("card", error)
    dispatcher.deliver_due()
    assert told.trouble == [("card", 1, error.reason)]


# Errors that are not Slack's answer


def test_an_unexpected_error_is_retried_like_a_transient_failure(
    session_factory: sessionmaker[Session],
    dispatcher: OutboxDispatcher,
    slack: FakeSlack,
    clock: ManualClock,
) -> None:
    (card,) = _queue(session_factory, clock, "card")
    slack.refuse("card", ConnectionResetError("connection reset by peer"))
    dispatcher.deliver_due()
    stored = _stored(session_factory, card)
    assert stored.failed_at is None
    assert stored.last_error == "ConnectionResetError('connection reset by peer')"
    assert stored.next_attempt_at == clock.now() + timedelta(seconds=1)


@pytest.mark.parametrize(
    "error",
    [
        DataError("INSERT", {}, ValueError("A string literal cannot contain NUL")),
        UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"),
    ],
    ids=["refused-by-the-database", "unencodable"],
)
def test_data_no_retry_can_mend_fails_the_message_at_once(
    session_factory: sessionmaker[Session],
    dispatcher: OutboxDispatcher,
    slack: FakeSlack,
    clock: ManualClock,
    error: Exception,
) -> None:
    (card,) = _queue(session_factory, clock, "card")
    slack.refuse("card", error)
    dispatcher.deliver_due()
    assert _stored(session_factory, card).failed_at == clock.now()


def test_unmendable_means_the_data_itself_is_refused_or_cannot_be_encoded() -> None:
    surrogate = UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
    assert unmendable(DataError("INSERT", {}, ValueError("NUL")))
    assert unmendable(surrogate)
    assert unmendable(StatementError("encoding", "INSERT", {}, surrogate))
    assert not unmendable(OperationalError("INSERT", {}, ConnectionError("server closed")))
    assert not unmendable(StatementError("bad value", "INSERT", {}, ValueError("x")))
    assert not unmendable(TimeoutError("read timed out"))


# Order


def test_a_records_later_message_waits_until_its_earlier_one_is_delivered(
    session_factory: sessionmaker[Session],
    dispatcher: OutboxDispatcher,
    slack: FakeSlack,
    clock: ManualClock,
) -> None:
    record_id = _record_id(session_factory, clock)
    _queue(session_factory, clock, "card", "reply", record_id=record_id)
    slack.refuse("card", _transient())
    assert dispatcher.deliver_due() == 1
    clock.advance(seconds=1)
    assert dispatcher.deliver_due() == 2
    assert slack.attempts == ["card", "card", "reply"]


def test_a_records_later_message_goes_once_its_earlier_one_is_given_up(
    session_factory: sessionmaker[Session],
    dispatcher: OutboxDispatcher,
    slack: FakeSlack,
    clock: ManualClock,
) -> None:
    record_id = _record_id(session_factory, clock)
    _queue(session_factory, clock, "card", "reply", record_id=record_id)
    slack.refuse("card", DeliveryError("channel_not_found", permanent=True))
    assert dispatcher.deliver_due() == 2
    assert slack.attempts == ["card", "reply"]


def test_the_message_due_longest_goes_first_whenever_it_was_queued(
    session_factory: sessionmaker[Session],
    dispatcher: OutboxDispatcher,
    slack: FakeSlack,
    clock: ManualClock,
) -> None:
    _queue(session_factory, clock, "first")
    slack.refuse("first", DeliveryError("ratelimited", retry_after=10))
    dispatcher.deliver_due()  # "first" is due again in ten seconds
    clock.advance(seconds=1)
    _queue(session_factory, clock, "second", "third")  # queued later, due sooner
    clock.advance(seconds=9)
    assert dispatcher.deliver_due() == 3
    assert slack.attempts == ["first", "second", "third", "first"]


# Leases


def test_a_message_being_delivered_is_left_alone_by_another_dispatcher(
    session_factory: sessionmaker[Session],
    dispatcher: OutboxDispatcher,
    slack: FakeSlack,
    clock: ManualClock,
) -> None:
    (card,) = _queue(session_factory, clock, "card")
    other_slack = FakeSlack()
    other = OutboxDispatcher(session_factory, other_slack, clock)
    claimed_by_other: list[int] = []
    slack.during = lambda message: claimed_by_other.append(other.deliver_due())
    dispatcher.deliver_due()
    assert claimed_by_other == [0] and other_slack.attempts == []
    assert _stored(session_factory, card).delivered_at == clock.now()


def test_a_lease_left_by_a_dispatcher_that_died_runs_out_and_another_takes_the_message(
    session_factory: sessionmaker[Session],
    dispatcher: OutboxDispatcher,
    slack: FakeSlack,
    clock: ManualClock,
) -> None:
    (card,) = _queue(session_factory, clock, "card")
    slack.refuse("card", Crash())
    with pytest.raises(Crash):
        dispatcher.deliver_due()
    stored = _stored(session_factory, card)
    assert stored.lease_until == clock.now() + timedelta(seconds=90)  # the dispatcher's lease
    assert stored.attempts == 1 and stored.delivered_at is None

    other_slack = FakeSlack()
    other = OutboxDispatcher(session_factory, other_slack, clock)
    clock.advance(seconds=89.999)
    assert other.deliver_due() == 0
    clock.advance(seconds=0.001)
    assert other.deliver_due() == 1
    assert other_slack.delivered == ["card"]
    stored = _stored(session_factory, card)
    assert (stored.attempts, stored.delivered_at, stored.lease_until) == (2, clock.now(), None)


def test_a_delivery_that_outlasts_its_lease_keeps_its_message_while_its_lease_is_kept(
    session_factory: sessionmaker[Session],
    dispatcher: OutboxDispatcher,
    slack: FakeSlack,
    clock: ManualClock,
) -> None:
    """Slack takes minutes to answer; the keeper extends the lease meanwhile (as the loop's
    keeper does three times per lease), so another dispatcher never takes the message over."""
    (card,) = _queue(session_factory, clock, "card")
    other_slack = FakeSlack()
    other = OutboxDispatcher(session_factory, other_slack, clock)
    kept: list[bool] = []
    claimed_by_other: list[int] = []

    def slow_slack(message: OutboxMessage) -> None:
        for _ in range(4):  # 4 x 60 s, well past the first lease of 90 s
            clock.advance(seconds=60)
            kept.append(dispatcher.keep_lease())
            claimed_by_other.append(other.deliver_due())

    slack.during = slow_slack
    dispatcher.deliver_due()
    assert kept == [True] * 4 and claimed_by_other == [0] * 4 and other_slack.attempts == []
    stored = _stored(session_factory, card)
    assert (stored.attempts, stored.delivered_at, stored.lease_until) == (1, clock.now(), None)
    assert dispatcher.keep_lease() is False  # nothing held between deliveries


def test_a_lease_kept_too_late_is_not_taken_back_from_the_dispatcher_that_took_over(
    session_factory: sessionmaker[Session],
    dispatcher: OutboxDispatcher,
    slack: FakeSlack,
    clock: ManualClock,
) -> None:
    (card,) = _queue(session_factory, clock, "card")
    other_slack = FakeSlack()
    other = OutboxDispatcher(session_factory, other_slack, clock, lease=timedelta(seconds=90))
    kept: list[bool] = []

    def starved_keeper(message: OutboxMessage) -> None:
        clock.advance(seconds=91)  # the lease ran out before the keeper ran
        other_slack.during = lambda taken: kept.append(dispatcher.keep_lease())
        assert other.deliver_due() == 1

    slack.during = starved_keeper
    dispatcher.deliver_due()
    assert kept == [False]
    assert other_slack.delivered == ["card"]
    assert _stored(session_factory, card).attempts == 2
