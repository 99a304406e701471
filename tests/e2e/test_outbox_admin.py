"""`sayso outbox`: what failed for good is listed, can be tried again once the cause is
mended, or dropped; a retried message is given its patience again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import Result
from sqlalchemy import select

from bot.emulator.sandbox import Sandbox
from bot.models import OutboxMessage
from bot.outbox import admin
from tests.conftest import ALICE, CHANNEL, WANG
from tests.e2e.helpers import buttons, record_json, request
from tests.support import ManualClock, sayso


def _sayso(sandbox: Sandbox, database_url: str, cwd: Path, *args: str) -> Result:
    """`sayso outbox *args`, able to deliver through the sandbox's Slack."""
    return sayso(
        database_url,
        "outbox",
        *args,
        cwd=cwd,
        SLACK_BOT_TOKEN=sandbox.emulator.bot_token,
        SLACK_SIGNING_SECRET="s3cret",
        SLACK_API_URL=sandbox.emulator.api_url,
    )


def _gauge(wsgi: Any, name: str) -> float:
    """One unlabelled sample of GET /metrics."""
    replies: list[str] = []
    body = b"".join(
        wsgi({"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics"}, lambda s, h: replies.append(s))
    )
    assert replies == ["200 OK"]
    (line,) = [ln for ln in body.decode().splitlines() if ln.startswith(f"{name} ")]
    return float(line.split()[1])


def _card_refused_for_good(sandbox: Sandbox) -> int:
    """#1 captured while Slack refuses its card with an error retrying cannot mend; the id
    of the failed message."""
    assert sandbox.driver is not None
    sandbox.emulator.fail("chat.postMessage", error="msg_too_long")
    response = sandbox.driver.command(ALICE, CHANNEL, f"{sandbox.driver.mention(WANG)} do it")
    assert response.json()["text"] == f"Recorded #1, waiting for <@{WANG}>."
    sandbox.settle()
    assert sandbox.emulator.messages(CHANNEL) == []
    assert sandbox.runtime is not None
    with sandbox.runtime.session_factory() as session:
        (failed,) = admin.failed_messages(session)
    return failed.id


def test_a_card_refused_for_good_is_listed_then_retried_and_delivered_once(
    sandbox: Sandbox, database_url: str, tmp_path: Path
) -> None:
    failed_id = _card_refused_for_good(sandbox)
    assert sandbox.runtime is not None
    metrics = sandbox.runtime.wsgi()
    assert _gauge(metrics, "sayso_outbox_failed") == 1
    told = len(sandbox.emulator.direct_messages(ALICE))
    assert told == 1  # the capturer heard, by DM, that #1 is recorded and the card is not out

    listed = _sayso(sandbox, database_url, tmp_path, "--json")
    assert listed.exit_code == 0, listed.stderr
    standing = json.loads(listed.stdout)
    (failed,) = standing["failed"]
    assert failed["id"] == failed_id
    assert (failed["record"], failed["kind"], failed["last_error"]) == (
        1,
        "post_record",
        "msg_too_long",
    )
    assert failed["failed_at"].endswith("Z")
    text = _sayso(sandbox, database_url, tmp_path)
    assert "1 failed for good" in text.stdout
    assert f"{failed_id} " in text.stdout and "#1" in text.stdout and "msg_too_long" in text.stdout
    assert "sayso outbox retry" in text.stdout

    retried = _sayso(sandbox, database_url, tmp_path, "retry", str(failed_id))

    assert retried.exit_code == 0, retried.stderr
    assert f"{failed_id}: delivered" in retried.stdout
    (posted,) = sandbox.emulator.messages(CHANNEL)
    assert "do it" in posted["text"]
    assert set(buttons(request(sandbox, 1))) >= {"Confirm", "Reject"}
    assert record_json(sandbox, 1)["thread_ts"] == posted["ts"]
    assert len(sandbox.emulator.direct_messages(ALICE)) == told  # not told a second time
    after = json.loads(_sayso(sandbox, database_url, tmp_path, "--json").stdout)
    assert after["failed"] == [] and after["waiting"] == 0
    assert _gauge(metrics, "sayso_outbox_failed") == 0

    again = _sayso(sandbox, database_url, tmp_path, "retry", str(failed_id))
    assert again.exit_code == 1
    assert f"{failed_id}: not retried, delivered" in again.stdout
    assert len(sandbox.emulator.messages(CHANNEL)) == 1


def test_a_retried_post_slack_had_taken_is_found_not_posted_again(
    sandbox: Sandbox, database_url: str, tmp_path: Path
) -> None:
    assert sandbox.driver is not None
    # Slack posts the card but answers with an error retrying cannot mend.
    sandbox.emulator.fail("chat.postMessage", error="msg_too_long", applied=True)
    sandbox.driver.command(ALICE, CHANNEL, f"{sandbox.driver.mention(WANG)} do it")
    sandbox.settle()
    assert len(sandbox.emulator.messages(CHANNEL)) == 1
    assert sandbox.runtime is not None
    with sandbox.runtime.session_factory() as session:
        (failed,) = admin.failed_messages(session)

    retried = _sayso(sandbox, database_url, tmp_path, "retry", "--all-failed")

    assert retried.exit_code == 0, retried.stdout + retried.stderr
    assert f"{failed.id}: delivered" in retried.stdout
    (posted,) = sandbox.emulator.messages(CHANNEL)  # found by its key, not posted twice
    assert record_json(sandbox, 1)["thread_ts"] == posted["ts"]
    assert set(buttons(request(sandbox, 1))) >= {"Confirm", "Reject"}


def test_a_message_that_fails_again_is_said_so_with_status_1(
    sandbox: Sandbox, database_url: str, tmp_path: Path
) -> None:
    failed_id = _card_refused_for_good(sandbox)
    sandbox.emulator.fail("chat.postMessage", error="msg_too_long")

    retried = _sayso(sandbox, database_url, tmp_path, "retry", str(failed_id), str(failed_id))

    assert retried.exit_code == 1
    assert retried.stdout.splitlines() == [f"{failed_id}: failed: msg_too_long"]
    assert sandbox.emulator.messages(CHANNEL) == []


def test_the_listings_options_are_refused_before_a_subcommand(
    sandbox: Sandbox, database_url: str, tmp_path: Path
) -> None:
    failed_id = _card_refused_for_good(sandbox)
    result = _sayso(
        sandbox, database_url, tmp_path, "--team", "T0OTHER001", "retry", "--all-failed"
    )
    assert result.exit_code == 2
    assert "sayso outbox retry --help" in result.stderr
    listed = json.loads(_sayso(sandbox, database_url, tmp_path, "--json").stdout)
    assert [m["id"] for m in listed["failed"]] == [failed_id]  # nothing was retried


def test_retry_needs_ids_or_all_failed(sandbox: Sandbox, database_url: str, tmp_path: Path) -> None:
    result = _sayso(sandbox, database_url, tmp_path, "retry")
    assert result.exit_code == 2
    assert "--all-failed" in result.stderr and "Traceback" not in result.stderr


def test_drop_says_first_then_deletes_only_failed_messages(
    sandbox: Sandbox, database_url: str, tmp_path: Path
) -> None:
    failed_id = _card_refused_for_good(sandbox)
    assert sandbox.runtime is not None
    with sandbox.runtime.session_factory() as session:
        delivered_id = session.execute(
            select(OutboxMessage.id).where(OutboxMessage.delivered_at.is_not(None)).limit(1)
        ).scalar_one()

    asked = _sayso(sandbox, database_url, tmp_path, "drop", str(failed_id))
    assert asked.exit_code == 0, asked.stderr
    assert "Would drop" in asked.stdout and "run again with --yes" in asked.stdout
    listed = json.loads(_sayso(sandbox, database_url, tmp_path, "--json").stdout)
    assert [m["id"] for m in listed["failed"]] == [failed_id]

    dropped = _sayso(
        sandbox, database_url, tmp_path, "drop", str(failed_id), str(delivered_id), "--yes"
    )

    assert dropped.exit_code == 1  # one of the two was not a failed message
    assert f"Dropped {failed_id} " in dropped.stdout
    assert f"{delivered_id}: not a failed message (delivered); left alone" in dropped.stdout
    with sandbox.runtime.session_factory() as session:
        assert session.get(OutboxMessage, failed_id) is None
        assert session.get(OutboxMessage, delivered_id) is not None
    assert record_json(sandbox, 1)["status"] == "pending"  # the record itself stays


def test_a_retried_message_gets_its_patience_again(sandbox: Sandbox, clock: ManualClock) -> None:
    failed_id = _card_refused_for_good(sandbox)
    assert sandbox.runtime is not None
    clock.advance(days=2)  # far beyond the 24 hours a message is retried for
    with sandbox.runtime.session_factory() as session, session.begin():
        assert admin.retry_failed(session, clock.now(), None) == [failed_id]
    sandbox.emulator.fail("chat.postMessage", status=503)

    sandbox.runtime.dispatcher.wake()
    sandbox.settle()

    with sandbox.runtime.session_factory() as session:
        message = session.get(OutboxMessage, failed_id)
        assert message is not None
        assert message.failed_at is None and message.last_error == "http 503"
        assert message.attempts == 2 and message.retried_at == clock.now()
    clock.advance(minutes=5)  # beyond any backoff
    sandbox.runtime.dispatcher.wake()
    sandbox.settle()
    assert len(sandbox.emulator.messages(CHANNEL)) == 1
