"""The digest on its schedule: once per (workspace, recipient, local date), on working days
at the local hour, caught up after a late start, never twice across replicas."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from multiprocessing.context import ForkServerContext

import pytest
from sqlalchemy import func, select

from bot import migrate
from bot.app import build_runtime
from bot.config import Settings
from bot.db import make_engine, make_session_factory
from bot.emulator.sandbox import Sandbox
from bot.models import DigestSend, OutboxMessage
from bot.records.cadence import DigestPolicy, due_day
from tests.conftest import ALICE, CHANNEL, LI, TEAM, WANG, ZHAO
from tests.e2e.helpers import capture
from tests.support import ManualClock

DIGESTS = "C0DIGEST01"
SHANGHAI = DigestPolicy(zone="Asia/Shanghai", at=time(9, 0))
NEW_YORK = DigestPolicy(zone="America/New_York", at=time(9, 0))


@pytest.mark.parametrize(
    ("policy", "utc", "expected"),
    [
        (SHANGHAI, datetime(2026, 11, 26, 0, 30), None),  # Thursday 08:30 in Shanghai
        (SHANGHAI, datetime(2026, 11, 26, 1, 0), date(2026, 11, 26)),  # 09:00 sharp
        (SHANGHAI, datetime(2026, 11, 26, 3, 0), date(2026, 11, 26)),  # started at 11:00
        (SHANGHAI, datetime(2026, 11, 28, 3, 0), None),  # Saturday
        (SHANGHAI, datetime(2026, 11, 26, 17, 0), None),  # Friday 01:00 local: not yet
        # New York, the week daylight saving ends (Sunday 2026-11-01): 09:00 EST is 14:00 UTC.
        (NEW_YORK, datetime(2026, 11, 2, 13, 30), None),
        (NEW_YORK, datetime(2026, 11, 2, 14, 0), date(2026, 11, 2)),
        # ... and the week it starts (2026-03-08): 09:00 EDT is 13:00 UTC.
        (NEW_YORK, datetime(2026, 3, 9, 12, 59), None),
        (NEW_YORK, datetime(2026, 3, 9, 13, 0), date(2026, 3, 9)),
        (DigestPolicy(days=("SA",)), datetime(2026, 11, 28, 9, 0), date(2026, 11, 28)),
    ],
)
def test_when_the_digest_is_due(policy: DigestPolicy, utc: datetime, expected: date | None) -> None:
    assert due_day(policy, utc.replace(tzinfo=UTC)) == expected


@pytest.fixture
def digest_box(database_url: str, clock: ManualClock) -> Iterator[Sandbox]:
    settings = {"digest_timezone": "Asia/Shanghai", "digest_channel": DIGESTS}
    with Sandbox(database_url, clock=clock, settings=settings, team_id=TEAM) as box:
        emulator = box.emulator
        for user, name in ((ALICE, "alice"), (LI, "li"), (WANG, "wang"), (ZHAO, "zhao")):
            emulator.add_user(user, name)
        emulator.add_channel(CHANNEL, "edge-upgrade", members=[ALICE, LI, WANG, ZHAO])
        emulator.add_channel(DIGESTS, "sayso-digest", members=[ALICE, LI])
        yield box


def _tick(box: Sandbox) -> int:
    assert box.runtime is not None
    queued = box.runtime.team.digesting.tick()
    box.settle()
    return queued


def test_each_owner_gets_one_dm_and_the_channel_one_summary(
    digest_box: Sandbox, clock: ManualClock
) -> None:
    box = digest_box
    assert box.driver is not None
    capture(box, ALICE, WANG, "open port 443 on fw-2")
    box.driver.command(ALICE, CHANNEL, f"{box.driver.mention(ZHAO)} drain edge-3 owner:<@{LI}|li>")
    box.settle()
    box.emulator.clear_calls()

    assert _tick(box) == 3  # the channel, alice and li
    assert _tick(box) == 0  # the same day again: nothing
    (summary,) = box.emulator.messages(DIGESTS)
    assert "2 unresolved" in summary["text"]
    (details,) = box.emulator.thread(DIGESTS, summary["ts"])
    # Both were captured in #edge-upgrade: counted in the digest's channel, not shown there
    # (whoever joins it need not be in #edge-upgrade); their owners read them in their DMs.
    assert "open port 443" not in str(details) and "drain edge-3" not in str(details)
    assert "2 more from other channels" in str(details["blocks"])
    dms = [
        c.params
        for c in box.emulator.calls("chat.postMessage")
        if c.params["channel"].startswith("D")
    ]
    assert len(dms) == 2
    assert "open port 443" in str(dms) and "drain edge-3" in str(dms)
    by_owner = {c.params["users"]: c for c in box.emulator.calls("conversations.open")}
    assert set(by_owner) == {ALICE, LI}

    clock.advance(days=1)  # Friday: one more digest each
    assert _tick(box) == 3
    (_, friday) = box.emulator.messages(DIGESTS)
    assert "as many as last time" in friday["text"]
    clock.advance(days=1)  # Saturday: none
    assert _tick(box) == 0


def _tick_in_another_process(database_url: str, now: str) -> int:
    settings = Settings(
        database_url=database_url,
        slack_bot_token="xoxb-x",
        slack_signing_secret="s",
        # No Slack here: its calls (an owner's time zone) fail at once on loopback rather than
        # ask a resolver for slack.com.
        slack_api_url="http://127.0.0.1:9/api/",
        digest_timezone="Asia/Shanghai",
        digest_channel=DIGESTS,
    )
    clock = ManualClock(datetime.fromisoformat(now))
    runtime = build_runtime(settings, TEAM, clock)
    try:
        return runtime.team.digesting.tick()
    finally:
        runtime.close()


def test_two_replicas_send_each_digest_once(
    database_url: str, clock: ManualClock, other_processes: ForkServerContext
) -> None:
    from bot.db import unit_of_work
    from bot.records import lifecycle
    from bot.records.lifecycle import Capture

    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    with unit_of_work(make_session_factory(engine)) as session:
        for owner in (ALICE, LI, ALICE):
            lifecycle.capture(
                session,
                clock.now(),
                Capture(
                    team_id=TEAM,
                    channel_id=CHANNEL,
                    captured_by_id=owner,
                    requester_ids=(WANG,),
                    text=f"for {owner}",
                ),
            )
    with other_processes.Pool(2) as pool:
        sent = pool.starmap(_tick_in_another_process, [(database_url, clock.now().isoformat())] * 4)
    assert sum(sent) == 3
    with make_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(DigestSend)) == 3
        assert (
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.kind == "digest")
            )
            == 3
        )
    engine.dispose()


def test_reminders_wait_for_working_hours_and_never_repeat(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    # Thursday 09:30 UTC is 17:30 in Shanghai, where wang is.
    capture(sandbox, ALICE, WANG, "open port 443 on fw-2")

    def reminders() -> list[str]:
        thread = sandbox.emulator.thread(CHANNEL, sandbox.emulator.messages(CHANNEL)[0]["ts"])
        return [m["text"] for m in thread if ":bell:" in m["text"]]

    clock.advance(hours=4)  # 21:30 in Shanghai: due, but wang is not at work
    _tick(sandbox)
    assert reminders() == []
    clock.advance(hours=12)  # Friday 09:30 in Shanghai
    _tick(sandbox)
    _tick(sandbox)  # the same pass again, as a second replica would: nothing more
    assert len(reminders()) == 1
    assert f"<@{WANG}>, #1 is still waiting" in reminders()[0]
    clock.advance(hours=4)  # 13:30: four hours after the first reminder
    _tick(sandbox)
    clock.advance(hours=4)
    _tick(sandbox)
    assert len(reminders()) == 2  # at most two


def test_an_unconfirmed_record_expires_after_three_working_days(
    sandbox: Sandbox, clock: ManualClock
) -> None:
    from tests.e2e.helpers import buttons, record_json, request

    capture(sandbox, ALICE, WANG, "reboot core-1")  # Thursday
    clock.advance(days=4)  # Monday: Friday and Monday are two working days
    _tick(sandbox)
    assert record_json(sandbox, 1)["status"] == "pending"
    clock.advance(days=1)  # Tuesday: the third
    _tick(sandbox)
    record = record_json(sandbox, 1)
    assert record["status"] == "expired"
    assert record["events"][-1]["type"] == "expired"
    assert set(buttons(request(sandbox, 1))) == {"Reopen"}
    thread = sandbox.emulator.thread(CHANNEL, record["thread_ts"])
    assert "#1 expired" in thread[-1]["text"]
    assert sandbox.runtime is not None
    assert [i.number for i in sandbox.runtime.team.digesting.digest_for(ALICE).closed] == [1]


def test_each_owner_gets_theirs_at_nine_in_their_own_zone_across_dst(
    database_url: str,
) -> None:
    """Alice is in Shanghai, Bob in New York, the workspace in Shanghai. Over a week in which
    New York leaves daylight saving (Sunday 2026-11-01), ticked every hour: each owner's DM
    comes at 09:00 their time on their working days, once, never early, none missed at a
    day's boundary; the channel's at 09:00 in Shanghai, with the ledger's checkpoints, which
    the DMs leave out; each DM links to the record's thread."""
    from zoneinfo import ZoneInfo

    from tests.conftest import BOB, add_cast
    from tests.e2e.helpers import click, record_json

    # Thursday 00:00 in New York, 12:00 in Shanghai.
    clock = ManualClock(datetime(2026, 10, 29, 4, 0, tzinfo=UTC))
    settings = {"digest_timezone": "Asia/Shanghai", "digest_channel": DIGESTS}
    shanghai, new_york = ZoneInfo("Asia/Shanghai"), ZoneInfo("America/New_York")
    with Sandbox(database_url, clock=clock, settings=settings, team_id=TEAM) as box:
        add_cast(box.emulator)
        box.emulator.add_channel(DIGESTS, "sayso-digest", members=[ALICE, LI])
        assert box.driver is not None
        m = box.driver.mention
        # Confirmed and risky: open, and in every morning's digest of its owner.
        box.driver.command(BOB, CHANNEL, f"{m(ZHAO)} drain edge-3 risk:high")
        box.settle()
        click(box, ZHAO, 1, "Confirm")

        received: dict[str, list[datetime]] = {ALICE: [], BOB: []}
        posted: list[datetime] = []
        while clock.now() < datetime(2026, 11, 4, 0, 0, tzinfo=UTC):
            if clock.now() == datetime(2026, 10, 29, 17, 0, tzinfo=UTC):  # Fri 01:00 Shanghai
                box.driver.command(ALICE, CHANNEL, f"{m(WANG)} open port 443 on fw-2 risk:high")
                box.settle()
                click(box, WANG, 2, "Confirm")
            _tick(box)
            for owner, times in received.items():
                times.extend(clock.now() for _ in box.emulator.direct_messages(owner)[len(times) :])
            posted.extend(clock.now() for _ in box.emulator.messages(DIGESTS)[len(posted) :])
            clock.advance(hours=1)

        def local(times: list[datetime], zone: ZoneInfo) -> list[str]:
            return [t.astimezone(zone).strftime("%a %d %H:%M") for t in times]

        assert local(received[ALICE], shanghai) == ["Fri 30 09:00", "Mon 02 09:00", "Tue 03 09:00"]
        assert local(received[BOB], new_york) == [
            "Thu 29 09:00",
            "Fri 30 09:00",
            "Mon 02 09:00",
            "Tue 03 09:00",
        ]
        # 09:00 in New York was 13:00 UTC before the change, and is 14:00 after it.
        assert [t.hour for t in received[BOB]] == [13, 13, 14, 14]
        # The channel's Thursday digest went out at the first pass (started late, the same
        # day only), then at 09:00 in the workspace's zone.
        assert local(posted, shanghai) == [
            "Thu 29 12:00",
            "Fri 30 09:00",
            "Mon 02 09:00",
            "Tue 03 09:00",
        ]

        permalink = record_json(box, 1)["thread_permalink"]
        assert permalink
        for dm in box.emulator.direct_messages(BOB):
            assert "drain edge-3" in str(dm["blocks"]) and "open port 443" not in str(dm["blocks"])
            assert permalink in str(dm["blocks"])  # a link to the record's thread
            assert "checkpoint" not in str(dm["blocks"]).lower()
        summary = box.emulator.messages(DIGESTS)[-1]
        assert "checkpoint" in str(summary["blocks"]).lower()
