"""`sayso verify` rebuilds each record from its history and compares every field a person
relies on: a record row changed in the database without an event (a rejection turned into a
confirmation, another owner, a later due date, an answer, a revision) is named, field and all.
A workspace that went through every kind of event still verifies clean."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import MetaData, text

from bot import migrate
from bot.cli import cli
from bot.db import make_engine
from bot.emulator.sandbox import Sandbox
from bot.ledger import hashchain
from bot.slack.ids import BlockId
from tests.conftest import ALICE, BOB, CHANNEL, CHEN, LI, TEAM, WANG, ZHAO
from tests.e2e.helpers import capture, click, record_json, tick
from tests.support import ManualClock


def sayso(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(
        cli, list(args), env={"DATABASE_URL": database_url}, catch_exceptions=False
    )


def _sql(sandbox: Sandbox, statement: str) -> None:
    assert sandbox.runtime is not None
    with sandbox.runtime.engine.begin() as connection:
        assert connection.execute(text(statement)).rowcount >= 1, statement


def _two_records(sandbox: Sandbox) -> None:
    """#1 confirmed by wang, owned by alice, due 1 December; #2 rejected by zhao."""
    assert sandbox.driver is not None
    m = sandbox.driver.mention
    response = sandbox.driver.command(
        ALICE, CHANNEL, f'{m(WANG)} reboot edge-3 risk:high "5 min" due:2026-12-01 17:00'
    )
    assert response.status == 200
    sandbox.settle()
    click(sandbox, WANG, 1, "Confirm")
    capture(sandbox, ALICE, ZHAO, "drain edge-2")
    click(sandbox, ZHAO, 2, "Reject")


TAMPERING: dict[str, tuple[str, str]] = {
    "a rejection made a confirmation": (
        "UPDATE records SET status = 'confirmed' WHERE number = 2",
        "record #2, event 7 (rejected): the record's status is confirmed in the database but "
        "rejected in its history",
    ),
    "an answer changed": (
        f"UPDATE record_requesters SET answer = 'confirmed' WHERE user_id = '{ZHAO}'",
        f"record #2, event 7 (rejected): {ZHAO}'s answer is confirmed in the database but "
        "rejected in its history",
    ),
    "another owner": (
        f"UPDATE records SET owner_id = '{LI}' WHERE number = 1",
        f"record #1, event 1 (captured): the record's owner is {LI} in the database but "
        f"{ALICE} in its history",
    ),
    "a later due date": (
        "UPDATE records SET due_at = '2030-01-01 00:00:00' WHERE number = 1",
        "record #1, event 1 (captured): the record's due date is 2030-01-01T00:00:00.000000Z "
        "in the database but 2026-12-01T09:00:00.000000Z in its history",
    ),
    "another revision": (
        "UPDATE records SET revision = 2 WHERE number = 1",
        "record #1, event 1 (captured): the record's revision is 2 in the database but 1 in "
        "its history",
    ),
    "a lower risk": (
        "UPDATE records SET risk = 'none' WHERE number = 1",
        "the record's risk is none in the database but high in its history",
    ),
    "someone else decided": (
        f"UPDATE records SET decided_by_id = '{LI}' WHERE number = 1",
        f"the record's decider is {LI} in the database but {WANG} in its history",
    ),
    "a requester dropped": (
        f"DELETE FROM record_requesters WHERE user_id = '{ZHAO}'",
        f"record #2, event 5 (captured): the record's requesters are none in the database but "
        f"{ZHAO} in its history",
    ),
    "an answer from another revision": (
        f"UPDATE record_requesters SET answered_revision = 2 WHERE user_id = '{WANG}'",
        f"{WANG}'s answered revision is 2 in the database but 1 in its history",
    ),
    "a decision instead of an instruction": (
        "UPDATE records SET kind = 'decision' WHERE number = 1",
        "the record's kind is decision in the database but instruction in its history",
    ),
    "the text rewritten": (
        "UPDATE records SET text = 'something nobody asked for' WHERE number = 1",
        "record #1, event 1 (captured): the record's text differs from the text in its history",
    ),
}


@pytest.mark.parametrize("case", TAMPERING)
def test_verify_names_a_record_row_changed_without_events(
    sandbox: Sandbox, database_url: str, case: str
) -> None:
    _two_records(sandbox)
    assert sayso(database_url, "verify").exit_code == 0

    statement, expected = TAMPERING[case]
    _sql(sandbox, statement)

    result = sayso(database_url, "verify")
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith(f"BROKEN: workspace {TEAM}, record #"), result.stdout
    assert expected in result.stdout


@pytest.fixture
def clock() -> ManualClock:
    # In the past: `sayso purge` refuses a cut-off later than the real now.
    return ManualClock(datetime(2026, 3, 2, 9, 30, tzinfo=UTC))


def _request_change(sandbox: Sandbox, user: str, number: int, new_text: str) -> None:
    assert sandbox.driver is not None
    click(sandbox, user, number, "Request change")
    (modal,) = sandbox.emulator.modals(user)
    values = {BlockId.TEXT: {"value": sandbox.driver.plain_text(new_text)}}
    assert sandbox.driver.submit_view(user, modal["id"], values).status == 200
    sandbox.settle()


def _form(sandbox: Sandbox, user: str, values: dict, view_id: str | None = None) -> None:  # type: ignore[type-arg]
    assert sandbox.driver is not None
    if view_id is None:
        assert sandbox.driver.command(user, CHANNEL, "").status == 200
        sandbox.settle()
        (modal,) = sandbox.emulator.modals(user)
        view_id = modal["id"]
    answer = sandbox.driver.submit_view(user, view_id, values)
    assert answer.status == 200 and not answer.body, answer.body
    sandbox.settle()


def test_a_workspace_through_every_kind_of_event_verifies_clean(
    sandbox: Sandbox, clock: ManualClock, database_url: str
) -> None:
    assert sandbox.driver is not None
    driver = sandbox.driver
    m = driver.mention
    # #1: a command with two requesters, risk, a due date and an owner; one confirms, the
    # other asks for a change; both confirm revision 2; done, reopened, cancelled later.
    response = driver.command(
        ALICE,
        CHANNEL,
        f'{m(WANG)} {m(ZHAO)} raise the mtu on core-5 risk:high "brief outage" '
        f"due:2026-03-04 17:00 owner:{m(LI)}",
    )
    assert response.status == 200
    sandbox.settle()
    click(sandbox, WANG, 1, "Confirm")
    _request_change(sandbox, ZHAO, 1, "raise the mtu on core-5 and core-6")
    click(sandbox, WANG, 1, "Confirm")
    click(sandbox, ZHAO, 1, "Confirm")
    click(sandbox, LI, 1, "Mark done")
    click(sandbox, LI, 1, "Reopen")
    # #2: the form, a decision; rejected, reopened (asked again), then it expires.
    _form(
        sandbox,
        BOB,
        {
            BlockId.REQUESTERS: {"value": driver.multi_users([WANG])},
            BlockId.TEXT: {"value": driver.plain_text("move the backup window to 02:00")},
            BlockId.KIND: {"value": driver.static_select("decision")},
            BlockId.RISK: {"value": driver.static_select("medium")},
            BlockId.RISK_NOTE: {"value": driver.plain_text("backups overlap")},
        },
    )
    click(sandbox, WANG, 2, "Reject")
    click(sandbox, BOB, 2, "Reopen")
    # #3: the message shortcut; confirmed by a reply, which is then edited and deleted.
    message, _ = driver.say(CHEN, CHANNEL, "请把网络参数改成30秒")
    assert driver.message_shortcut(ALICE, CHANNEL, message["ts"], "sayso_confirm_message")
    sandbox.settle()
    (modal,) = sandbox.emulator.modals(ALICE)
    _form(sandbox, ALICE, {}, view_id=modal["id"])
    reply, _ = driver.say(CHEN, CHANNEL, "确认", thread_ts=message["ts"])
    sandbox.settle()
    driver.edit(CHEN, CHANNEL, reply["ts"], "确认, 晚上十点以后")
    sandbox.settle()
    # #4: the :memo: reaction; never answered, it expires; its source is edited after.
    source, _ = driver.say(ZHAO, CHANNEL, "restart core-1 tonight")
    driver.react(ALICE, CHANNEL, source["ts"])
    sandbox.settle()
    # #5: withdrawn on the first day, purged later.
    capture(sandbox, ALICE, WANG, "open port 443 on fw-2")
    click(sandbox, ALICE, 5, "Withdraw")

    clock.advance(days=4)  # Friday: #4 has waited three working days
    tick(sandbox)
    assert record_json(sandbox, 4)["status"] == "expired"
    click(sandbox, LI, 1, "Call off")  # after the purge's cut-off: #1 is kept
    driver.edit(ZHAO, CHANNEL, source["ts"], "restart core-1 tomorrow")
    sandbox.settle()
    driver.delete(CHEN, CHANNEL, reply["ts"])
    sandbox.settle()

    clock.advance(days=4)
    result = sayso(database_url, "purge", "--before", "2026-03-04", "--yes")
    assert result.exit_code == 0, result.output
    assert f"Purged 1 record of {TEAM} (#5)" in result.stdout
    capture(sandbox, ALICE, WANG, "after the purge")
    click(sandbox, WANG, 6, "Confirm")

    statuses = {n: record_json(sandbox, n)["status"] for n in (1, 2, 3, 4, 6)}
    assert statuses == {1: "cancelled", 2: "expired", 3: "confirmed", 4: "expired", 6: "confirmed"}
    assert record_json(sandbox, 1)["revision"] == 2
    result = sayso(database_url, "verify")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: ")


def test_a_ledger_written_before_migration_0002_still_verifies(empty_database_url: str) -> None:
    """The walking skeleton's events (one requester, no owner, `slash_command`, answers
    without a revision) replay to what migration 0002 made of its rows."""
    migrate.upgrade(empty_database_url, "0001")
    engine = make_engine(empty_database_url)
    tables = MetaData()
    tables.reflect(engine, only=("workspaces", "records", "audit_events"))
    start = datetime(2026, 11, 20, 9, tzinfo=UTC)
    events: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    stories = [(1, WANG, None), (2, ZHAO, "confirmed"), (3, LI, "rejected")]
    for number, requester, decision in stories:
        captured_at = start + timedelta(minutes=10 * number)
        decided_at = captured_at + timedelta(minutes=1)
        records.append(
            {
                "id": number,
                "team_id": TEAM,
                "number": number,
                "status": decision or "pending",
                "text": f"instruction {number}",
                "requester_id": requester,
                "captured_by_id": ALICE,
                "channel_id": CHANNEL,
                "created_at": captured_at.replace(tzinfo=None),
                "decided_at": decided_at.replace(tzinfo=None) if decision else None,
                "decided_by_id": requester if decision else None,
            }
        )
        payload = {
            "text": f"instruction {number}",
            "requester": requester,
            "channel": CHANNEL,
            "source": "slash_command",
        }
        events.append(
            {"number": number, "type": "captured", "actor_id": ALICE, "at": captured_at}
            | {"payload": payload}
        )
        if decision:
            answer = {"via": "button"}
            events.append(
                {"number": number, "type": decision, "actor_id": requester, "at": decided_at}
                | {"payload": answer}
            )
    head = hashchain.GENESIS_HASH
    for seq, event in enumerate(events, start=1):
        number = event.pop("number")
        digest = hashchain.content_hash(
            TEAM, seq, number, event["type"], event["actor_id"], event["at"], event["payload"], head
        )
        event.update(
            team_id=TEAM,
            seq=seq,
            record_id=number,
            at=event["at"].replace(tzinfo=None),
            prev_hash=head,
            hash=digest,
        )
        head = digest
    with engine.begin() as connection:
        connection.execute(
            tables.tables["workspaces"].insert(),
            {
                "team_id": TEAM,
                "last_record_number": 3,
                "last_event_seq": len(events),
                "head_hash": head,
                "created_at": start.replace(tzinfo=None),
            },
        )
        connection.execute(tables.tables["records"].insert(), records)
        connection.execute(tables.tables["audit_events"].insert(), events)
    engine.dispose()
    migrate.upgrade(empty_database_url)

    result = sayso(empty_database_url, "verify")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK: 5 events")

    engine = make_engine(empty_database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE records SET status = 'confirmed' WHERE number = 3"))
    engine.dispose()
    result = sayso(empty_database_url, "verify")
    assert result.exit_code == 1
    assert "record #3, event 5 (rejected): the record's status is confirmed" in result.stdout
