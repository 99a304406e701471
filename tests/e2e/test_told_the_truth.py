"""Input that cannot be stored, input too long to quote, and failures inside a form: the
person is told the truth, and no number is promised that will not be stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from bot.db import unit_of_work
from bot.emulator.sandbox import Sandbox
from bot.models import OutboxMessage, Workspace
from bot.outbox import queue
from bot.records import lifecycle
from bot.records.lifecycle import Capture
from bot.slack.ids import BlockId
from bot.usecases import intake
from tests.conftest import ALICE, BOB, CHANNEL, TEAM, WANG, ZHAO
from tests.e2e.helpers import capture, record_count, record_json, visible_text
from tests.support import sayso

# What neither database can store: NUL (PostgreSQL's text and jsonb refuse it) and a lone
# surrogate (no UTF-8 encoding exists, so neither driver can send it).
UNSTORABLE = ["\x00", "\ud800"]


def _reserved(sandbox: Sandbox) -> int:
    """The last record number promised in the workspace (0 before any)."""
    assert sandbox.runtime is not None
    with sandbox.runtime.session_factory() as session:
        found = session.get(Workspace, TEAM)
        return found.last_record_number if found is not None else 0


def _jobs(sandbox: Sandbox) -> list[OutboxMessage]:
    assert sandbox.runtime is not None
    with sandbox.runtime.session_factory() as session:
        return list(session.execute(select(OutboxMessage)).scalars())


def _open_form(sandbox: Sandbox, user: str) -> str:
    assert sandbox.driver is not None
    sandbox.driver.command(user, CHANNEL, "")
    (modal,) = sandbox.emulator.modals(user)
    return str(modal["id"])


# -- point 6: characters no database can store ----------------------------------------------


def test_a_command_with_nul_is_refused_before_a_number_is_promised(sandbox: Sandbox) -> None:
    # A command's form-encoded text is UTF-8, so NUL is the one such character it can carry.
    bad = "\x00"
    assert sandbox.driver is not None
    mention = sandbox.driver.mention(WANG)
    for typed in (
        f"{mention} reboot edge-3{bad} tonight",
        f'{mention} reboot edge-3 risk:high "may{bad} drop"',
        f"search edge{bad}3",
    ):
        response = sandbox.driver.command(ALICE, CHANNEL, typed)
        assert response.status == 200
        shown = visible_text(response.json())
        assert "Recorded" not in shown and "went wrong" not in shown
        assert "cannot be stored" in shown, shown
    sandbox.settle()
    assert (_reserved(sandbox), _jobs(sandbox), record_count(sandbox)) == (0, [], 0)
    # The next capture gets #1: no number was spent on the refused ones.
    capture(sandbox, ALICE, WANG, "reboot edge-3 tonight")
    assert record_json(sandbox, 1)["text"] == "reboot edge-3 tonight"


@pytest.mark.parametrize("bad", UNSTORABLE, ids=["nul", "lone-surrogate"])
def test_the_form_says_which_field_cannot_be_stored(sandbox: Sandbox, bad: str) -> None:
    assert sandbox.driver is not None
    driver = sandbox.driver
    view_id = _open_form(sandbox, BOB)
    answer = driver.submit_view(
        BOB,
        view_id,
        {
            BlockId.REQUESTERS: {"value": driver.multi_users([WANG])},
            BlockId.TEXT: {"value": driver.plain_text("open port 443")},
            BlockId.RISK_NOTE: {"value": driver.plain_text(f"brief{bad} outage")},
        },
    )
    assert answer.json()["response_action"] == "errors"
    assert set(answer.json()["errors"]) == {BlockId.RISK_NOTE}
    assert "cannot be stored" in answer.json()["errors"][BlockId.RISK_NOTE]
    sandbox.settle()
    assert (record_count(sandbox), _jobs(sandbox)) == (0, [])
    # Mended, it is stored.
    driver.submit_view(
        BOB, view_id, {BlockId.RISK_NOTE: {"value": driver.plain_text("brief outage")}}
    )
    sandbox.settle()
    assert record_json(sandbox, 1)["risk_note"] == "brief outage"


@pytest.mark.parametrize("bad", UNSTORABLE, ids=["nul", "lone-surrogate"])
def test_the_settings_and_find_forms_say_which_field_cannot_be_stored(
    sandbox: Sandbox, bad: str
) -> None:
    assert sandbox.driver is not None and sandbox.runtime is not None
    before = sandbox.runtime.team.configuring.workspace_policy()
    sandbox.driver.command(ALICE, CHANNEL, "settings")
    (settings,) = sandbox.emulator.modals(ALICE)
    answer = sandbox.driver.submit_view(
        ALICE, settings["id"], {BlockId.TIMEZONE: {"value": f"Asia/Shanghai{bad}"}}
    )
    assert answer.json()["response_action"] == "errors"
    assert "cannot be stored" in answer.json()["errors"][BlockId.TIMEZONE]
    assert sandbox.runtime.team.configuring.workspace_policy() == before

    sandbox.driver.shortcut(BOB, "sayso_find")
    (find,) = sandbox.emulator.modals(BOB)
    answer = sandbox.driver.submit_view(BOB, find["id"], {BlockId.QUERY: {"value": f"edge{bad}3"}})
    assert answer.json()["response_action"] == "errors"
    assert "cannot be stored" in answer.json()["errors"][BlockId.QUERY]


def test_a_memo_on_a_message_that_cannot_be_stored_is_refused_privately(
    sandbox: Sandbox,
) -> None:
    assert sandbox.driver is not None
    message, _ = sandbox.driver.say(ZHAO, CHANNEL, "restart core-1\x00 tonight")
    sandbox.driver.react(ALICE, CHANNEL, message["ts"])
    sandbox.settle()
    assert record_count(sandbox) == 0
    # By DM: the reaction was acked long before, and alice need not be looking any more.
    (told,) = sandbox.emulator.direct_messages(ALICE)
    assert "cannot be stored" in told["text"]
    # The job was done with the refusal: nothing waits or failed.
    assert all(job.delivered_at is not None for job in _jobs(sandbox))


# -- point 7: what a person typed, too long to quote ------------------------------------------

LONG = "x" * 3000


@pytest.mark.parametrize(
    ("typed", "explanation"),
    [
        (f"search {LONG}", "Nothing found for `xxx"),
        (f"search status:{LONG}", "I could not read"),
        ("{mention} reboot edge-3 risk:" + LONG, "`risk:` must be one of"),
        ("{mention} reboot edge-3 due:" + LONG, "I could not read the due date `xxx"),
        ("{mention} reboot edge-3 due:" + "<&>" * 1000, "I could not read the due date `"),
    ],
    ids=["search", "search-filter", "risk", "due", "due-escaped"],
)
def test_a_long_value_is_quoted_cut_to_fit_with_the_real_explanation(
    sandbox: Sandbox, typed: str, explanation: str
) -> None:
    assert sandbox.driver is not None
    response = sandbox.driver.command(
        ALICE, CHANNEL, typed.replace("{mention}", sandbox.driver.mention(WANG))
    )
    assert response.status == 200
    shown = visible_text(response.json())
    assert explanation in shown, shown
    assert "went wrong" not in shown
    assert "…" in shown  # the quote is cut, and says so
    assert record_count(sandbox) == 0 and _reserved(sandbox) == 0


def test_the_find_form_quotes_a_long_query_cut_to_fit(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    capture(sandbox, ALICE, WANG, "reboot edge-3")
    sandbox.driver.shortcut(ALICE, "sayso_find")
    (modal,) = sandbox.emulator.modals(ALICE)
    answer = sandbox.driver.submit_view(
        ALICE, modal["id"], {BlockId.QUERY: {"value": sandbox.driver.plain_text(LONG)}}
    )
    assert answer.json()["response_action"] == "update", answer.body
    assert "Nothing found for `xxx" in str(answer.json()["view"]["blocks"])


# -- point 8: a form never closes silently ------------------------------------------------------


class DiskFull(Exception):
    """The database refusing a write, as a full disk would."""


class Refusal:
    """While `on`, the database refuses to store a record (its INSERT)."""

    def __init__(self) -> None:
        self.on = True
        self.refused = 0

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.on and statement.lstrip().upper().startswith("INSERT INTO RECORDS"):
            self.refused += 1
            raise DiskFull("database or disk is full")


@pytest.fixture
def records_refused(sandbox: Sandbox) -> Iterator[Refusal]:
    assert sandbox.runtime is not None
    refusal = Refusal()
    event.listen(sandbox.runtime.engine, "before_cursor_execute", refusal)
    yield refusal
    event.remove(sandbox.runtime.engine, "before_cursor_execute", refusal)


def test_an_unexpected_failure_in_the_form_is_shown_in_the_form(
    sandbox: Sandbox, records_refused: Refusal
) -> None:
    assert sandbox.driver is not None
    driver = sandbox.driver
    view_id = _open_form(sandbox, BOB)
    answer = driver.submit_view(
        BOB,
        view_id,
        {
            BlockId.REQUESTERS: {"value": driver.multi_users([WANG])},
            BlockId.TEXT: {"value": driver.plain_text("open port 443 on fw-2")},
        },
    )
    assert records_refused.refused == 1
    assert answer.status == 200
    assert answer.json()["response_action"] == "errors", answer.body
    (said,) = answer.json()["errors"].values()
    assert "went wrong" in said and "reference" in said
    assert [m["id"] for m in sandbox.emulator.modals(BOB)] == [view_id]  # still open
    assert record_count(sandbox) == 0

    records_refused.on = False  # mended: the same form, sent again, is stored
    assert driver.submit_view(BOB, view_id).body == ""
    sandbox.settle()
    assert record_json(sandbox, 1)["text"] == "open port 443 on fw-2"


# -- point 6: a queued job no retry can mend ----------------------------------------------------


def _queue(sandbox: Sandbox, kind: str, payload: dict[str, Any], record_id: int | None) -> int:
    assert sandbox.runtime is not None
    with unit_of_work(sandbox.runtime.session_factory) as session:
        job = queue.enqueue(
            session,
            sandbox.runtime.clock.now(),
            team_id=TEAM,
            kind=kind,
            payload=payload,
            record_id=record_id,
        )
        session.flush()
        job_id = job.id
    sandbox.runtime.dispatcher.wake()
    sandbox.settle()
    return job_id


def _job(sandbox: Sandbox, job_id: int) -> OutboxMessage:
    (found,) = [job for job in _jobs(sandbox) if job.id == job_id]
    return found


def test_a_message_no_retry_can_mend_fails_at_once_and_the_next_one_goes_out(
    sandbox: Sandbox, database_url: str, tmp_path: Path
) -> None:
    capture(sandbox, ALICE, WANG, "reboot edge-3 tonight")
    assert sandbox.runtime is not None
    with sandbox.runtime.session_factory() as session:
        record_id = lifecycle.get(session, TEAM, 1).id
    replies = len(sandbox.emulator.thread(CHANNEL, record_json(sandbox, 1)["thread_ts"]))
    # A notice queued (by an earlier release, say) that its template cannot render: no retry
    # renders it, so it must not hold up the record's messages behind it for 24 hours.
    broken = _queue(
        sandbox,
        "thread_reply",
        {"template": "event_reply", "context": {"event": "source_edited", "actor_id": "nobody"}},
        record_id,
    )
    later = _queue(
        sandbox,
        "thread_reply",
        {"template": "event_reply", "context": {"event": "source_edited", "actor_id": WANG}},
        record_id,
    )

    failed = _job(sandbox, broken)
    assert (failed.attempts, failed.failed_at is not None) == (1, True), failed.last_error
    assert "not a Slack user id" in (failed.last_error or "")
    assert _job(sandbox, later).delivered_at is not None
    thread = sandbox.emulator.thread(CHANNEL, record_json(sandbox, 1)["thread_ts"])
    assert len(thread) == replies + 1 and "was edited" in thread[-1]["text"]
    listed = _sayso_outbox(sandbox, database_url, tmp_path)
    assert [(m["id"], m["record"]) for m in listed["failed"]] == [(broken, 1)]


def test_a_capture_the_database_refuses_fails_at_once_and_is_listed(
    sandbox: Sandbox, database_url: str, tmp_path: Path
) -> None:
    """A capture accepted with a NUL before this release: PostgreSQL refuses its text."""
    assert sandbox.runtime is not None
    clock = sandbox.runtime.clock
    nul = Capture(
        team_id=TEAM,
        channel_id=CHANNEL,
        captured_by_id=ALICE,
        requester_ids=(WANG,),
        text="reboot edge-3\x00 tonight",
    )
    number = intake.accept_capture(sandbox.runtime.session_factory, clock.now(), nul, None)
    sandbox.runtime.dispatcher.wake()
    sandbox.settle()
    (job,) = [j for j in _jobs(sandbox) if j.kind == "capture"]
    if sandbox.runtime.engine.dialect.name == "postgresql":
        assert (job.attempts, job.failed_at is not None) == (1, True), job.last_error
        assert "NUL" in (job.last_error or "") and "INSERT" not in (job.last_error or "")
        listed = _sayso_outbox(sandbox, database_url, tmp_path)
        assert [(m["id"], m["record"]) for m in listed["failed"]] == [(job.id, number)]
        assert record_count(sandbox) == 0
        # Whoever was told "Recorded #1" is told the truth.
        (told,) = sandbox.emulator.direct_messages(ALICE)  # by DM: Slack keeps it
        assert f"#{number} could not be stored after all" in told["text"]
    else:  # SQLite keeps a NUL: stored as it was acked
        assert job.delivered_at is not None
        assert record_json(sandbox, number)["text"] == "reboot edge-3\x00 tonight"


def _sayso_outbox(sandbox: Sandbox, database_url: str, cwd: Path) -> dict[str, Any]:
    listed = sayso(
        database_url,
        "outbox",
        "--json",
        cwd=cwd,
        SLACK_BOT_TOKEN=sandbox.emulator.bot_token,
        SLACK_SIGNING_SECRET="s3cret",
        SLACK_API_URL=sandbox.emulator.api_url,
    )
    assert listed.exit_code == 0, listed.stderr
    result: dict[str, Any] = json.loads(listed.stdout)
    return result
