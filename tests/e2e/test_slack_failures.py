"""Slack failing does not lose a record, and retries never post a card twice."""

from __future__ import annotations

from sqlalchemy import select

from bot.emulator.sandbox import Sandbox
from bot.models import OutboxMessage
from tests.conftest import ALICE, CHANNEL, WANG
from tests.e2e.helpers import buttons, card, record_json, request
from tests.support import ManualClock


def _capture_while_slack_fails(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    response = sandbox.driver.command(ALICE, CHANNEL, f"{sandbox.driver.mention(WANG)} do it")
    assert response.status == 200
    assert response.json()["text"] == f"Recorded #1, waiting for <@{WANG}>."
    sandbox.settle()


def _outbox(sandbox: Sandbox, *kinds: str) -> list[OutboxMessage]:
    """The outbox, by default only what carries the card (App Home updates aside)."""
    assert sandbox.runtime is not None
    with sandbox.runtime.session_factory() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        query = query.where(OutboxMessage.kind.in_(kinds or ("post_record", "trouble")))
        return list(session.execute(query).scalars())


def _retry_after(sandbox: Sandbox, clock: ManualClock, seconds: float) -> None:
    assert sandbox.runtime is not None
    clock.advance(seconds=seconds)
    sandbox.runtime.dispatcher.wake()
    sandbox.settle()


def test_server_error_is_retried_with_backoff(sandbox: Sandbox, clock: ManualClock) -> None:
    sandbox.emulator.fail("chat.postMessage", status=500)

    _capture_while_slack_fails(sandbox)

    assert record_json(sandbox, 1)["status"] == "pending"
    assert sandbox.emulator.messages(CHANNEL) == []
    (pending,) = _outbox(sandbox)
    assert pending.attempts == 1
    assert pending.delivered_at is None
    assert pending.last_error == "http 500"

    _retry_after(sandbox, clock, seconds=1)

    assert len(sandbox.emulator.messages(CHANNEL)) == 1
    assert set(buttons(request(sandbox, 1))) >= {"Confirm", "Reject"}
    assert _outbox(sandbox)[0].delivered_at is not None


def test_rate_limit_waits_for_retry_after(sandbox: Sandbox, clock: ManualClock) -> None:
    sandbox.emulator.fail("chat.postMessage", status=429, retry_after=30)

    _capture_while_slack_fails(sandbox)
    _retry_after(sandbox, clock, seconds=10)
    assert sandbox.emulator.messages(CHANNEL) == []
    assert len(sandbox.emulator.calls("chat.postMessage")) == 1  # not asked again too early

    _retry_after(sandbox, clock, seconds=21)
    assert len(sandbox.emulator.messages(CHANNEL)) == 1
    assert record_json(sandbox, 1)["thread_ts"] == card(sandbox, 1)["ts"]


def test_failure_between_card_and_request_does_not_repost_the_card(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    def fail_the_next_post(call: object) -> None:
        if getattr(call, "method", "") == "chat.postMessage":
            unsubscribe()
            sandbox.emulator.fail("chat.postMessage", status=503)

    unsubscribe = sandbox.emulator.subscribe(fail_the_next_post)

    _capture_while_slack_fails(sandbox)
    assert len(sandbox.emulator.messages(CHANNEL)) == 1
    assert sandbox.emulator.thread(CHANNEL, card(sandbox, 1)["ts"]) == []

    _retry_after(sandbox, clock, seconds=1)

    assert len(sandbox.emulator.messages(CHANNEL)) == 1
    assert set(buttons(request(sandbox, 1))) >= {"Confirm", "Reject"}
    assert [e["type"] for e in record_json(sandbox, 1)["events"]] == ["captured", "card_posted"]


def test_not_in_channel_keeps_the_record_says_what_to_do_and_posts_after_the_invite(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    sandbox.emulator.add_channel("C0NOBOT001", "no-bot", members=[ALICE, WANG], bot_is_member=False)
    assert sandbox.driver is not None

    response = sandbox.driver.command(ALICE, "C0NOBOT001", f"{sandbox.driver.mention(WANG)} go")
    sandbox.settle()

    assert response.json()["text"] == f"Recorded #1, waiting for <@{WANG}>."
    assert record_json(sandbox, 1)["status"] == "pending"
    (waiting, _notice) = _outbox(sandbox)
    assert waiting.last_error == "not_in_channel" and waiting.failed_at is None
    # Told by direct message, which Slack keeps (an ephemeral notice is gone once alice
    # looks away, and she may have gone to lunch right after typing /confirm).
    told = sandbox.emulator.direct_messages(ALICE)
    assert len(told) == 1
    assert "/invite @Sayso" in told[0]["text"] and "#1 is recorded" in told[0]["text"]
    assert sandbox.emulator.calls("response_url") == []
    assert sandbox.emulator.ephemerals(user_id=ALICE) == []

    _retry_after(sandbox, clock, seconds=61)  # still not invited: tried again, told once
    assert len(sandbox.emulator.direct_messages(ALICE)) == 1
    sandbox.emulator.invite("C0NOBOT001", sandbox.emulator.bot_user_id)
    _retry_after(sandbox, clock, seconds=61)

    (posted,) = sandbox.emulator.messages("C0NOBOT001")
    assert "go" in posted["text"]
    assert len(sandbox.emulator.thread("C0NOBOT001", posted["ts"])) == 1


def test_a_long_outage_tells_the_capturer_once(sandbox: Sandbox, clock: ManualClock) -> None:
    sandbox.emulator.fail("chat.postMessage", status=503, times=6)
    _capture_while_slack_fails(sandbox)

    def told() -> list[dict[str, object]]:
        by_dm = sandbox.emulator.direct_messages(ALICE)
        return by_dm + [c.params for c in sandbox.emulator.calls("response_url")]

    _retry_after(sandbox, clock, seconds=1)
    assert told() == []  # one retry is not worth a word yet
    for seconds in (2, 4):
        _retry_after(sandbox, clock, seconds=seconds)
    # Slack takes no message now, a direct message neither: the command's response_url does.
    assert sandbox.emulator.direct_messages(ALICE) == []
    (notice,) = told()
    assert "#1 is recorded" in str(notice["text"]) and "will follow" in str(notice["text"])
    assert sandbox.emulator.messages(CHANNEL) == []
    for seconds in (8, 16, 32):
        _retry_after(sandbox, clock, seconds=seconds)
    assert len(sandbox.emulator.messages(CHANNEL)) == 1
    assert len(told()) == 1


def test_a_post_slack_took_but_never_answered_is_found_not_repeated(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    # Slack takes the card, but its answer never reaches the bot (the process died, or the
    # connection broke): on the retry the bot finds its card by the key in its metadata.
    sandbox.emulator.fail("chat.postMessage", status=500, applied=True)

    _capture_while_slack_fails(sandbox)
    assert len(sandbox.emulator.messages(CHANNEL)) == 1  # Slack has it; the bot does not know
    assert record_json(sandbox, 1)["thread_ts"] is None

    _retry_after(sandbox, clock, seconds=1)

    (posted,) = sandbox.emulator.messages(CHANNEL)
    assert record_json(sandbox, 1)["thread_ts"] == posted["ts"]
    assert len(sandbox.emulator.thread(CHANNEL, posted["ts"])) == 1
    assert len(sandbox.emulator.calls("conversations.history")) == 1
