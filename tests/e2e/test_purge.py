"""`sayso purge --before DATE`: closed records whose last activity is older go; the chain, its
checkpoints and the remaining records' evidence still verify, and tampering is still caught.

The story, from Monday 2 March 2026: on the first day #1 is done, #2 rejected, #3 withdrawn,
#4 left pending (it expires on Friday), #5 confirmed (still to be carried out), #6 confirmed
by a reply; on Friday #7 is captured and left pending and #8 is confirmed then cancelled; on
Tuesday 10 March #6 is marked done.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import Engine, delete, func, select, text, update
from sqlalchemy.orm import Session

from bot import evidence
from bot.db import unit_of_work
from bot.emulator.sandbox import Sandbox
from bot.ledger import checkpoints, hashchain
from bot.ledger.verify import verify
from bot.models import (
    AuditEvent,
    Checkpoint,
    OutboxMessage,
    Record,
    Requester,
    Revision,
    ThreadSnapshot,
)
from bot.slack.ids import ActionId
from tests.conftest import ALICE, CHANNEL, CHEN, TEAM, WANG, ZHAO, SaveStory
from tests.e2e.helpers import capture, click, record_json, request, tick
from tests.stories import SavedStory
from tests.support import ManualClock, sayso

KEPT_AFTER_FIRST = [5, 6, 7]


# In the past: `sayso purge` refuses a cut-off later than the real now.
MONDAY = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY)


def _seal(sandbox: Sandbox, clock: ManualClock) -> None:
    assert sandbox.runtime is not None
    with unit_of_work(sandbox.runtime.session_factory) as session:
        for day in checkpoints.pending_days(session, TEAM, clock.now()):
            checkpoints.checkpoint(session, TEAM, day, clock.now())


@pytest.fixture(scope="module")
def saved_story(save_story: SaveStory[None]) -> SavedStory[None]:
    return save_story(_play_story, MONDAY)


@pytest.fixture
def story(
    saved_story: SavedStory[None], database_url: str, clock: ManualClock
) -> Iterator[Sandbox]:
    """A sandbox where the story (played once for the module) left off."""
    with saved_story.sandbox(database_url, clock) as sandbox:
        yield sandbox


def _play_story(sandbox: Sandbox, clock: ManualClock) -> None:
    assert sandbox.driver is not None
    capture(sandbox, ALICE, WANG, "reboot core-1")
    click(sandbox, WANG, 1, "Confirm")
    click(sandbox, ALICE, 1, "Mark done")
    capture(sandbox, ALICE, ZHAO, "drain edge-2")
    click(sandbox, ZHAO, 2, "Reject")
    capture(sandbox, ALICE, WANG, "open port 443 on fw-2")
    click(sandbox, ALICE, 3, "Withdraw")
    capture(sandbox, ALICE, WANG, "restart bgp on edge-4")
    capture(sandbox, ALICE, WANG, "raise the mtu on core-5")
    click(sandbox, WANG, 5, "Confirm")
    capture(sandbox, ALICE, CHEN, "请把网络参数改成30秒")
    thread_ts = record_json(sandbox, 6)["thread_ts"]
    sandbox.driver.say(CHEN, CHANNEL, "确认", thread_ts=thread_ts)
    sandbox.settle()

    clock.advance(days=4)  # Friday: #4 has waited three working days
    tick(sandbox)
    assert record_json(sandbox, 4)["status"] == "expired"
    capture(sandbox, ALICE, WANG, "swap the optics on edge-7")
    capture(sandbox, ALICE, WANG, "reroute vlan 8")
    click(sandbox, WANG, 8, "Confirm")
    click(sandbox, ALICE, 8, "Call off")

    clock.advance(days=4)  # Tuesday 10 March
    # By action id: #6's request is written in chen's language.
    response = sandbox.driver.click(ALICE, CHANNEL, request(sandbox, 6)["ts"], ActionId.DONE)
    assert response.status == 200
    sandbox.settle()
    _seal(sandbox, clock)
    statuses = {n: record_json(sandbox, n)["status"] for n in range(1, 9)}
    assert statuses == {
        1: "done",
        2: "rejected",
        3: "withdrawn",
        4: "expired",
        5: "confirmed",
        6: "done",
        7: "pending",
        8: "cancelled",
    }


def _engine(sandbox: Sandbox) -> Engine:
    assert sandbox.runtime is not None
    return sandbox.runtime.engine


def _numbers(sandbox: Sandbox) -> list[int]:
    assert sandbox.runtime is not None
    with sandbox.runtime.session_factory() as session:
        return list(session.execute(select(Record.number).order_by(Record.number)).scalars())


def _verified(sandbox: Sandbox) -> dict[str, Any]:
    assert sandbox.runtime is not None
    with sandbox.runtime.session_factory() as session:
        return verify(session).as_dict()


def _events(sandbox: Sandbox, event_type: str) -> list[AuditEvent]:
    assert sandbox.runtime is not None
    with sandbox.runtime.session_factory() as session:
        query = select(AuditEvent).where(AuditEvent.type == event_type).order_by(AuditEvent.seq)
        return list(session.execute(query).scalars())


def test_without_yes_it_only_says_what_it_would_purge(story: Sandbox, database_url: str) -> None:
    before = _verified(story)
    result = sayso(database_url, "purge", "--before", "2026-03-09")
    assert result.exit_code == 0, result.output
    assert f"Would purge 5 records of {TEAM} (#1-4, #8), erasing " in result.stdout
    assert "Nothing was changed; run again with --yes to purge." in result.stdout
    assert _numbers(story) == list(range(1, 9))
    assert _verified(story) == before


def test_purge_removes_closed_records_and_everything_hanging_off_them(
    story: Sandbox, database_url: str
) -> None:
    head_before = _verified(story)["workspaces"][0]["head"]
    result = sayso(database_url, "purge", "--before", "2026-03-09", "--yes", "--by", "ops:ana")
    assert result.exit_code == 0, result.output
    assert f"Purged 5 records of {TEAM} (#1-4, #8)" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("OK: ")

    # Kept: confirmed (still to be carried out), pending, and done after the cut-off.
    assert _numbers(story) == KEPT_AFTER_FIRST
    assert record_json(story, 7)["status"] == "pending"
    with _engine(story).connect() as connection:
        ids = select(Record.id)
        for model in (Requester, Revision, ThreadSnapshot, OutboxMessage):
            column = model.__table__.c.record_id  # type: ignore[attr-defined]
            orphans = select(func.count()).select_from(model).where(column.not_in(ids))
            assert connection.execute(orphans).scalar_one() == 0, model.__tablename__
        snapshots = connection.execute(select(func.count()).select_from(ThreadSnapshot))
        assert snapshots.scalar_one() == 2  # those of #5 and #6, both confirmed
        texts = connection.execute(text("SELECT CAST(payload AS TEXT) FROM audit_events"))
        history = " ".join(row[0] for row in texts)
    for gone in ("reboot core-1", "drain edge-2", "open port 443", "restart bgp", "vlan 8"):
        assert gone not in history
    assert "raise the mtu on core-5" in history and "swap the optics" in history

    erased = _events(story, hashchain.ERASED)
    (purged,) = _events(story, hashchain.PURGED)
    assert all((e.actor_id, e.record_id, e.payload) == ("", None, {}) for e in erased)
    assert purged.actor_id == "ops:ana" and purged.record_id is None
    assert purged.prev_hash == head_before
    payload = purged.payload
    assert payload["records"] == [[1, 4], [8, 8]] and payload["record_count"] == 5
    assert payload["event_count"] == len(erased) > 0
    assert payload["head"] == head_before and payload["head_seq"] == purged.seq - 1
    assert payload["before"] == "2026-03-09T00:00:00.000000Z"
    seqs = [e.seq for e in erased]
    assert payload["erased"] == hashchain.seq_ranges(seqs)

    checked = sayso(database_url, "verify", "--json")
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.stdout)
    assert report["ok"] and report["workspaces"][0]["erased"] == len(erased)


def test_checkpoints_and_the_remaining_evidence_still_verify(
    story: Sandbox, clock: ManualClock, database_url: str
) -> None:
    assert sayso(database_url, "purge", "--before", "2026-03-09", "--yes").exit_code == 0
    assert story.runtime is not None
    with story.runtime.session_factory() as session:
        assert verify(session).ok
        # #5 was confirmed on the first day, among events that are now erased.
        document = evidence.build_evidence(session, TEAM, 5, clock.now())
    checked = document["verification"]
    assert checked["ok"] and checked["workspace_chain"]["ok"], checked
    assert {p["status"] for p in document["proofs"]} == {"sealed"}


TAMPERING: dict[str, tuple[str, str]] = {
    "edit a remaining event": (
        "UPDATE audit_events SET actor_id = 'U0EVIL0001' WHERE type = 'captured'",
        "content does not match its hash",
    ),
    "put content back into an erased event": (
        "UPDATE audit_events SET actor_id = 'U0EVIL0001' WHERE type = 'erased'",
        "an erased event still holds",
    ),
    "edit the purged event": (
        "UPDATE audit_events SET payload = "
        "CAST(REPLACE(CAST(payload AS TEXT), '\"event_count\"', '\"events\"') AS JSON) "
        "WHERE type = 'purged'",
        "content does not match its hash",
    ),
    "erase an event by hand": (
        "UPDATE audit_events SET type = 'erased', actor_id = '', record_id = NULL, "
        "payload = '{}' WHERE type = 'thread_snapshot'",
        "no `purged` event declares it",
    ),
    "remove an erased event": (
        "DELETE FROM audit_events WHERE seq = (SELECT MIN(seq) FROM audit_events "
        "WHERE type = 'erased')",
        "events are missing or out of order",
    ),
}


def test_tampering_after_a_purge_is_still_caught(story: Sandbox, database_url: str) -> None:
    assert sayso(database_url, "purge", "--before", "2026-03-09", "--yes").exit_code == 0
    for case, (statement, expected) in TAMPERING.items():
        # Each case in a transaction of its own, rolled back after verify has seen it.
        with _engine(story).connect() as connection, connection.begin() as transaction:
            assert connection.execute(text(statement)).rowcount >= 1, case
            report = verify(Session(bind=connection)).as_dict()
            transaction.rollback()
        assert not report["ok"], case
        assert expected in report["problem"]["what"], (case, report["problem"])
        assert report["problem"]["team_id"] == TEAM

    assert _verified(story)["ok"]
    with _engine(story).begin() as connection:
        connection.execute(text(TAMPERING["erase an event by hand"][0]))
    result = sayso(database_url, "verify")
    assert result.exit_code == 1
    assert result.stdout.startswith(f"BROKEN: workspace {TEAM}, no record, event ")


def test_a_second_purge_works_and_pending_records_are_never_purged(
    story: Sandbox, clock: ManualClock, database_url: str
) -> None:
    assert sayso(database_url, "purge", "--before", "2026-03-09", "--yes").exit_code == 0
    clock.advance(days=1)
    capture(story, ALICE, WANG, "after the first purge")  # the chain goes on: #9
    click(story, WANG, 9, "Reject")

    result = sayso(database_url, "purge", "--before", "2026-03-12", "--yes")
    assert result.exit_code == 0, result.output
    assert f"Purged 2 records of {TEAM} (#6, #9)" in result.stdout
    assert _numbers(story) == [5, 7]  # confirmed, and pending since 6 March
    first, second = _events(story, hashchain.PURGED)
    assert second.payload["records"] == [[6, 6], [9, 9]]
    erased = [{s for a, b in p.payload["erased"] for s in range(a, b + 1)} for p in (first, second)]
    assert erased[0] and erased[1] and not erased[0] & erased[1]
    assert first.seq in range(min(erased[1]), max(erased[1]))  # #6's events straddle it
    verified = _verified(story)
    assert verified["ok"], verified["problem"]

    again = sayso(database_url, "purge", "--before", "2026-03-12", "--yes")
    assert again.exit_code == 0
    assert "Nothing to purge" in again.stdout
    assert len(_events(story, hashchain.PURGED)) == 2  # nothing purged, nothing recorded


def test_purge_refuses_a_chain_that_does_not_verify(story: Sandbox, database_url: str) -> None:
    with _engine(story).begin() as connection:
        connection.execute(text("UPDATE audit_events SET actor_id = 'U0EVIL0001' WHERE seq = 2"))
    result = sayso(database_url, "purge", "--before", "2026-03-09", "--yes")
    assert result.exit_code == 1
    assert "does not verify" in result.stderr
    assert _numbers(story) == list(range(1, 9))
    assert _events(story, hashchain.ERASED) == []


def test_purge_checks_its_date(story: Sandbox, database_url: str) -> None:
    bad = sayso(database_url, "purge", "--before", "next week", "--yes")
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.stderr
    future = sayso(database_url, "purge", "--before", "2999-01-01", "--yes")
    assert future.exit_code == 2 and "in the future" in future.stderr
    assert _numbers(story) == list(range(1, 9))


def test_a_purge_passes_over_a_record_a_change_holds_rather_than_wait_for_it(
    story: Sandbox, database_url: str
) -> None:
    engine = _engine(story)
    postgres = engine.dialect.name == "postgresql"
    ran: list[Result] = []
    purging = threading.Thread(
        target=lambda: ran.append(sayso(database_url, "purge", "--before", "2026-03-07", "--yes"))
    )
    with engine.connect() as change:
        # A click reopening #1 is under way. On PostgreSQL its record's row is locked, and it
        # wants the workspace's row next, which the purge takes first: a purge that waited
        # for #1 would deadlock with it. On SQLite it holds the one writer's lock, and the
        # purge waits its turn.
        change.execute(select(Record.id).where(Record.number == 1).with_for_update()).one()
        purging.start()
        if postgres:
            purging.join(timeout=30)
            assert purging.is_alive() is False, "the purge waited for the record a change holds"
        change.rollback()
    purging.join(timeout=30)

    (result,) = ran
    assert result.exit_code == 0, result.output
    if postgres:
        assert f"Purged 4 records of {TEAM} (#2-4, #8)" in result.output
        assert f"Left #1 of {TEAM} alone: a change to it was under way" in result.output
        assert _numbers(story) == [1, 5, 6, 7]
        assert _verified(story)["ok"]
        result = sayso(database_url, "purge", "--before", "2026-03-07", "--yes")
        assert f"Purged 1 record of {TEAM} (#1)" in result.output
    else:
        assert f"Purged 5 records of {TEAM} (#1-4, #8)" in result.output
    assert "Left" not in result.output
    assert _numbers(story) == KEPT_AFTER_FIRST
    assert _verified(story)["ok"]


def _forge_purge(
    sandbox: Sandbox,
    erase: dict[int, list[int]],
    *,
    delete_rows: bool = False,
    payload: dict[str, Any] | None = None,
) -> None:
    """What someone with write access to the database would do to make events disappear:
    blank them as a purge does, then append a `purged` event that declares them, its hash
    computed exactly as Sayso computes one (the chain alone cannot tell the difference). The
    stored checkpoints, which would no longer match, are deleted too: only their published
    copies remain (`sayso verify --against`)."""
    seqs = sorted(seq for found in erase.values() for seq in found)
    numbers = sorted(erase)
    with _engine(sandbox).begin() as connection:
        session = Session(bind=connection)
        owners = select(AuditEvent.record_id).where(AuditEvent.seq.in_(seqs)).distinct()
        ids = [record_id for record_id in session.execute(owners).scalars() if record_id]
        session.execute(
            update(AuditEvent)
            .where(AuditEvent.seq.in_(seqs))
            .values(type=hashchain.ERASED, actor_id="", payload={}, record_id=None)
        )
        session.execute(delete(Checkpoint))
        if delete_rows:
            for model in (Requester, Revision, ThreadSnapshot, OutboxMessage):
                table = model.__table__  # type: ignore[attr-defined]
                session.execute(delete(table).where(table.c.record_id.in_(ids)))
            session.execute(delete(Record).where(Record.id.in_(ids)))
        workspace = hashchain.lock_workspace(session, TEAM, datetime(2026, 3, 11, tzinfo=UTC))
        genuine = {
            "before": "2026-03-11T00:00:00.000000Z",
            "statuses": ["cancelled", "done", "expired", "rejected", "withdrawn"],
            "records": hashchain.seq_ranges(numbers),
            "record_count": len(numbers),
            "erased": hashchain.seq_ranges(seqs),
            "record_seqs": {str(n): hashchain.seq_ranges(found) for n, found in erase.items()},
            "event_count": len(seqs),
            "head_seq": workspace.last_event_seq,
            "head": workspace.head_hash,
        }
        forged = {**genuine, **(payload or {})}
        hashchain.append(
            session,
            workspace,
            None,
            hashchain.PURGED,
            "ops:ana",
            datetime(2026, 3, 11, 9, tzinfo=UTC),
            {key: value for key, value in forged.items() if value is not None},
        )
        session.flush()


def _record_seqs(sandbox: Sandbox, number: int) -> list[int]:
    with _engine(sandbox).connect() as connection:
        query = (
            select(AuditEvent.seq)
            .join(Record, AuditEvent.record_id == Record.id)
            .where(Record.number == number)
            .order_by(AuditEvent.seq)
        )
        return list(connection.execute(query).scalars())


def test_a_forged_purge_of_a_live_records_event_is_caught(
    story: Sandbox, database_url: str
) -> None:
    # #2 was rejected; hide the rejection and declare it purged.
    rejection = _record_seqs(story, 2)[-1]
    _forge_purge(story, {2: [rejection]})
    result = sayso(database_url, "verify")
    assert result.exit_code == 1, result.output
    assert f"BROKEN: workspace {TEAM}, record #2, event {rejection} (erased)" in result.stdout
    assert "record #2 is still in the database" in result.stdout


# Each forgery erases all the events of #2 (rejected) and #3 (withdrawn), both closed, deletes
# their rows and appends a `purged` event with a valid hash; what it declares is what differs.
Declare = Callable[[list[int], list[int]], dict[int, list[int]]]
FORGED_PURGES: dict[str, tuple[Declare, dict[str, Any], str]] = {
    "two records' events mixed up": (
        lambda two, three: {2: two[:-1] + three[-1:], 3: three[:-1] + two[-1:]},
        {},
        "whole history",
    ),
    "a record that was never captured": (
        lambda two, three: {2: two, 99: three},
        {},
        "record #99, which was never captured",
    ),
    "declared under no record": (
        lambda two, three: {2: two, 3: three},
        {"record_seqs": None},
        "does not say whose they were",
    ),
    "a count that is not what it erased": (
        lambda two, three: {2: two, 3: three},
        {"event_count": 1},
        "says it erased 1 event",
    ),
    "a head that is not the chain's": (
        lambda two, three: {2: two, 3: three},
        {"head_seq": 3},
        "not the head of the chain",
    ),
    "records listed but not erased": (
        lambda two, three: {2: two, 3: three},
        {"records": [[2, 4]], "record_count": 3},
        "names records it did not erase: #4",
    ),
    "a record active after the cut-off": (
        lambda two, three: {2: two, 3: three},
        {"before": "2026-03-01T00:00:00.000000Z"},
        "active after the purge's cut-off",
    ),
}


@pytest.mark.parametrize("case", sorted(FORGED_PURGES))
def test_a_forged_purge_is_caught(story: Sandbox, database_url: str, case: str) -> None:
    declare, payload, expected = FORGED_PURGES[case]
    erase = declare(_record_seqs(story, 2), _record_seqs(story, 3))
    _forge_purge(story, erase, delete_rows=True, payload=payload)
    result = sayso(database_url, "verify")
    assert result.exit_code == 1, (case, result.output)
    assert expected in result.stdout, (case, result.output)


def test_a_record_is_purged_once(story: Sandbox, database_url: str) -> None:
    assert sayso(database_url, "purge", "--before", "2026-03-09", "--yes").exit_code == 0
    # #2 was purged: declare its (erased) events again, as a second purge would not.
    with _engine(story).connect() as connection:
        (first,) = connection.execute(
            select(AuditEvent.payload).where(AuditEvent.type == hashchain.PURGED)
        ).scalars()
    of_two = [s for a, b in first["record_seqs"]["2"] for s in range(a, b + 1)]
    _forge_purge(story, {2: of_two})
    result = sayso(database_url, "verify")
    assert result.exit_code == 1, result.output
    assert "two purges declare the same erased event" in result.stdout


def test_a_whole_closed_record_erased_by_hand_looks_purged_and_says_so(
    story: Sandbox, database_url: str
) -> None:
    """What the database alone cannot tell: a closed record erased whole, its row deleted and
    a purge declared with every detail right, is what `sayso purge` would have done. The
    `purged` event stays in the chain, so the published checkpoints and the digest show it."""
    _forge_purge(story, {2: _record_seqs(story, 2)}, delete_rows=True)
    result = sayso(database_url, "verify")
    assert result.exit_code == 0, result.output
