"""What the digest selects: for one workspace's channel and for each owner, on one local
day, the records awaiting confirmation, the risky ones, the overdue and those due today,
and those closed badly since the last digest; and what a reader who may not see every
channel is shown of it.

Records are made by the lifecycle's own functions at times a test sets; nothing commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from bot.models import Answer, Risk, WorkspaceSettings
from bot.records import digest, lifecycle
from bot.records.digest import Digest, Item
from bot.records.lifecycle import Action, Capture
from tests.conftest import ALICE, CHANNEL, LI, TEAM, WANG
from tests.support import ManualClock

OTHER_CHANNEL = "C0PRIVATE1"
OTHER_TEAM = "T0GLOBEX01"
# The clock starts on Thursday 26 November 2026 at 09:30 UTC, 17:30 in Shanghai, whose day
# ends at 16:00 UTC.
SHANGHAI_MIDNIGHT = datetime(2026, 11, 26, 16, 0, tzinfo=UTC)


def _record(
    session: Session,
    clock: ManualClock,
    *,
    owner: str | None = None,
    risk: Risk = Risk.NONE,
    due_at: datetime | None = None,
    channel: str = CHANNEL,
    team: str = TEAM,
) -> int:
    """A record Alice captured now, of an instruction from Wang; its number."""
    return lifecycle.capture(
        session,
        clock.now(),
        Capture(
            team_id=team,
            channel_id=channel,
            captured_by_id=ALICE,
            requester_ids=(WANG,),
            text=f"instruction {channel} {risk} {due_at}",
            risk=risk,
            due_at=due_at,
            owner_id=owner,
        ),
    ).number


def _answer(session: Session, clock: ManualClock, number: int, reply: Answer) -> None:
    record = lifecycle.get(session, TEAM, number)
    lifecycle.answer(session, clock.now(), record, WANG, 1, reply, via="button")


def _act(session: Session, clock: ManualClock, number: int, *actions: Action) -> None:
    record = lifecycle.get(session, TEAM, number)
    for action in actions:
        lifecycle.act(session, clock.now(), record, record.owner_id, action)


def _build(
    session: Session, clock: ManualClock, zone: str = "UTC", since: datetime | None = None
) -> tuple[Digest, dict[str, Digest]]:
    since = since if since is not None else clock.now() - timedelta(days=1)
    return digest.build(session, TEAM, clock.now(), zone, since)


def _numbers(items: Iterable[Item]) -> list[int]:
    return [item.number for item in items]


def _sections(built: Digest) -> dict[str, list[int]]:
    """Each section's record numbers, empty sections left out."""
    return {s: _numbers(getattr(built, s)) for s in digest.SECTIONS if getattr(built, s)}


def test_a_workspace_with_no_records_is_all_clear_and_no_owner_gets_a_digest(
    session: Session, clock: ManualClock
) -> None:
    _record(session, clock, team=OTHER_TEAM)  # another workspace's
    channel, owners = _build(session, clock)
    assert channel.all_clear and channel.unresolved == 0
    assert (channel.team_id, channel.owner_id, channel.day) == (TEAM, None, date(2026, 11, 26))
    assert owners == {}


def test_a_pending_record_awaits_in_the_channels_digest_and_in_its_owners(
    session: Session, clock: ManualClock
) -> None:
    number = _record(session, clock, owner=LI)
    channel, owners = _build(session, clock)
    assert _sections(channel) == {"awaiting": [number]}
    assert set(owners) == {LI}  # whoever captured it owns nothing here: no digest
    assert _sections(owners[LI]) == {"awaiting": [number]}
    assert owners[LI].owner_id == LI and channel.unresolved == owners[LI].unresolved == 1
    (item,) = channel.awaiting
    assert (item.requester_ids, item.owner_id, item.captured_by_id) == ([WANG], LI, ALICE)


@pytest.mark.parametrize(
    ("risk", "listed"),
    [(Risk.HIGH, True), (Risk.MEDIUM, True), (Risk.LOW, False), (Risk.NONE, False)],
)
def test_a_confirmed_record_stays_in_the_digest_only_while_its_risk_is_medium_or_high(
    session: Session, clock: ManualClock, risk: Risk, listed: bool
) -> None:
    number = _record(session, clock, risk=risk)
    _answer(session, clock, number, Answer.CONFIRMED)
    channel, owners = _build(session, clock)
    assert _sections(channel) == ({"risky": [number]} if listed else {})
    assert channel.all_clear is not listed
    assert [_sections(d) for d in owners.values() if not d.all_clear] == (
        [{"risky": [number]}] if listed else []
    )


def test_a_risky_record_still_pending_awaits_and_is_not_listed_as_risky(
    session: Session, clock: ManualClock
) -> None:
    number = _record(session, clock, risk=Risk.HIGH)
    channel, _ = _build(session, clock)
    assert _sections(channel) == {"awaiting": [number]}


def test_due_dates_are_read_against_the_local_day(session: Session, clock: ManualClock) -> None:
    now = clock.now()
    overdue = _record(session, clock, due_at=now - timedelta(minutes=30))
    due_now = _record(session, clock, due_at=now)
    before_midnight = _record(session, clock, due_at=SHANGHAI_MIDNIGHT - timedelta(seconds=1))
    at_midnight = _record(session, clock, due_at=SHANGHAI_MIDNIGHT)
    for number in (overdue, due_now, before_midnight, at_midnight):
        _answer(session, clock, number, Answer.CONFIRMED)  # not awaiting: due dates only

    in_shanghai, _ = _build(session, clock, "Asia/Shanghai")
    assert _sections(in_shanghai) == {"overdue": [overdue], "due_today": [due_now, before_midnight]}
    in_utc, _ = _build(session, clock, "UTC")  # 16:00 UTC is still today in London
    assert _sections(in_utc) == {
        "overdue": [overdue],
        "due_today": [due_now, before_midnight, at_midnight],
    }


def test_an_overdue_record_still_pending_counts_once_among_the_unresolved(
    session: Session, clock: ManualClock
) -> None:
    number = _record(session, clock, risk=Risk.HIGH, due_at=clock.now() - timedelta(hours=1))
    channel, _ = _build(session, clock)
    assert _sections(channel) == {"awaiting": [number], "overdue": [number]}
    assert channel.unresolved == 1


def test_closed_lists_the_rejections_and_expiries_since_the_last_digest(
    session: Session, clock: ManualClock
) -> None:
    rejected_before = _record(session, clock)
    _answer(session, clock, rejected_before, Answer.REJECTED)
    clock.advance(minutes=1)
    since = clock.now()
    rejected_at_since = _record(session, clock, owner=LI)
    _answer(session, clock, rejected_at_since, Answer.REJECTED)
    clock.advance(hours=1)
    expired = _record(session, clock)
    assert lifecycle.expire(session, clock.now(), lifecycle.get(session, TEAM, expired))

    channel, owners = _build(session, clock, since=since)
    assert _sections(channel) == {"closed": [rejected_at_since, expired]}
    assert channel.unresolved == 0 and not channel.all_clear
    assert _sections(owners[LI]) == {"closed": [rejected_at_since]}
    assert _sections(owners[ALICE]) == {"closed": [expired]}


def test_records_done_cancelled_or_withdrawn_leave_the_digest(
    session: Session, clock: ManualClock
) -> None:
    done, cancelled, withdrawn = (_record(session, clock, risk=Risk.HIGH) for _ in range(3))
    for number in (done, cancelled):
        _answer(session, clock, number, Answer.CONFIRMED)
    _act(session, clock, done, Action.DONE)
    _act(session, clock, cancelled, Action.CANCEL)
    _act(session, clock, withdrawn, Action.WITHDRAW)
    channel, owners = _build(session, clock, since=clock.now() - timedelta(days=1))
    assert channel.all_clear and owners == {}


def test_each_owner_sees_only_the_records_they_own(session: Session, clock: ManualClock) -> None:
    alices = _record(session, clock)
    lis = _record(session, clock, owner=LI, due_at=clock.now() + timedelta(hours=2))
    channel, owners = _build(session, clock)
    assert _sections(channel) == {"awaiting": [alices, lis], "due_today": [lis]}
    assert _sections(owners[ALICE]) == {"awaiting": [alices]}
    assert _sections(owners[LI]) == {"awaiting": [lis], "due_today": [lis]}


def test_another_workspaces_records_never_appear(session: Session, clock: ManualClock) -> None:
    ours = _record(session, clock)
    _record(session, clock, team=OTHER_TEAM, risk=Risk.HIGH, due_at=clock.now())
    channel, owners = _build(session, clock)
    assert _sections(channel) == {"awaiting": [ours]}
    assert [_sections(d) for d in owners.values()] == [{"awaiting": [ours]}]


def test_the_time_zone_the_workspace_chose_decides_the_day(
    session: Session, clock: ManualClock
) -> None:
    clock.advance(hours=10, minutes=30)  # 20:00 UTC on the 26th: 04:00 on the 27th in Shanghai
    number = _record(session, clock, due_at=datetime(2026, 11, 27, 10, 0, tzinfo=UTC))
    _answer(session, clock, number, Answer.CONFIRMED)
    session.add(
        WorkspaceSettings(
            team_id=TEAM, timezone="Asia/Shanghai", updated_by_id=ALICE, updated_at=clock.now()
        )
    )
    chosen, _ = digest.build(session, TEAM, clock.now(), "UTC", clock.now())
    assert chosen.day == date(2026, 11, 27) and _sections(chosen) == {"due_today": [number]}
    asked, _ = digest.build(session, TEAM, clock.now(), "UTC", clock.now(), stored_zone_wins=False)
    assert asked.day == date(2026, 11, 26) and _sections(asked) == {}


def test_each_section_is_in_the_order_it_is_read_in(session: Session, clock: ManualClock) -> None:
    newer = _record(session, clock)
    clock.advance(hours=-2)  # captured earlier, numbered later
    older = _record(session, clock)
    medium = _record(session, clock, risk=Risk.MEDIUM)
    clock.advance(hours=1)
    high = _record(session, clock, risk=Risk.HIGH)
    due_later = _record(session, clock, due_at=clock.now() + timedelta(hours=3))
    due_sooner = _record(session, clock, due_at=clock.now() + timedelta(hours=2))
    late_later = _record(session, clock, due_at=clock.now() - timedelta(hours=1))
    late_sooner = _record(session, clock, due_at=clock.now() - timedelta(hours=2))
    for number in (medium, high, due_later, due_sooner, late_later, late_sooner):
        _answer(session, clock, number, Answer.CONFIRMED)
    second_closed, first_closed = _record(session, clock), _record(session, clock)
    _answer(session, clock, first_closed, Answer.REJECTED)
    clock.advance(minutes=1)
    _answer(session, clock, second_closed, Answer.REJECTED)

    channel, _ = _build(session, clock)
    assert _numbers(channel.awaiting) == [older, newer]  # the longest wait first
    assert _numbers(channel.risky) == [high, medium]  # the higher risk first, then age
    assert _numbers(channel.due_today) == [due_sooner, due_later]
    assert _numbers(channel.overdue) == [late_sooner, late_later]
    assert _numbers(channel.closed) == [second_closed, first_closed]  # by number


# What a reader who may not see every channel is shown (Digest.shown_to): no database.


def _item(number: int, channel: str, status: str = "pending", risk: str = "none") -> Item:
    created = datetime(2026, 11, 26, 9, 30, tzinfo=UTC) + timedelta(minutes=number)
    return Item(
        number, f"text {number}", status, risk, [WANG], ALICE, channel, created, None, None, ALICE
    )


def test_a_reader_sees_the_records_of_channels_they_may_see_and_only_a_count_of_the_rest() -> None:
    whole = Digest(
        TEAM,
        date(2026, 11, 26),
        None,
        awaiting=[_item(1, CHANNEL), _item(2, OTHER_CHANNEL)],
        risky=[_item(3, OTHER_CHANNEL, "confirmed", "high")],
        closed=[_item(4, OTHER_CHANNEL, "rejected")],
    )
    shown = whole.shown_to(lambda item: item.channel_id == CHANNEL)
    assert _sections(shown) == {"awaiting": [1]}
    assert shown.withheld == {"awaiting": {2}, "risky": {3}, "closed": {4}}
    assert (shown.withheld_in("awaiting"), shown.withheld_in("due_today")) == (1, 0)
    assert shown.unresolved == whole.unresolved == 3  # the totals are the whole digest's
    assert "text 2" not in repr(shown)  # withheld: not a word of its text
    assert _sections(whole) == {"awaiting": [1, 2], "risky": [3], "closed": [4]}
    assert whole.withheld == {}


def test_a_digest_whose_every_record_is_withheld_is_not_all_clear() -> None:
    whole = Digest(TEAM, date(2026, 11, 26), None, closed=[_item(1, OTHER_CHANNEL, "expired")])
    shown = whole.shown_to(lambda item: False)
    assert _sections(shown) == {} and shown.unresolved == 0
    assert not shown.all_clear
    again = shown.shown_to(lambda item: True)  # what was withheld stays withheld
    assert again.withheld == {"closed": {1}}
