"""The digest's sections, built from the database for one local morning, and the
`sayso digest` command that prints them (--dry-run) or sends today's now (--send)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import event, select

from bot import migrate
from bot.config import Settings
from bot.db import make_engine, make_session_factory, unit_of_work
from bot.emulator import SlackEmulator
from bot.ledger import checkpoints
from bot.models import Answer, Checkpoint, Risk
from bot.records import digest, lifecycle, settings_store
from bot.records.lifecycle import Capture
from bot.slack.ids import ActionId
from bot.slack.rendering import Renderer
from tests.conftest import ALICE, CHANNEL, LI, TEAM, WANG, ZHAO
from tests.support import ManualClock, sayso


def _capture(session_factory, clock: ManualClock, text: str, **options) -> int:  # type: ignore[no-untyped-def]
    with unit_of_work(session_factory) as session:
        return lifecycle.capture(
            session,
            clock.now(),
            Capture(
                team_id=TEAM,
                channel_id=CHANNEL,
                captured_by_id=ALICE,
                requester_ids=options.pop("requesters", (WANG,)),
                text=text,
                **options,
            ),
        ).number


def _answer(session_factory, clock: ManualClock, number: int, user: str, reply: Answer) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work(session_factory) as session:
        record = lifecycle.get(session, TEAM, number, for_update=True)
        lifecycle.answer(session, clock.now(), record, user, 1, reply, via="button")


def test_sections_owners_and_counts(database_url: str, clock: ManualClock) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    sf = make_session_factory(engine)
    old = _capture(sf, clock, "waited longest")
    clock.advance(hours=2)
    newer = _capture(sf, clock, "waited less", owner_id=LI)
    risky = _capture(sf, clock, "risky and confirmed", risk=Risk.HIGH)
    _answer(sf, clock, risky, WANG, Answer.CONFIRMED)
    late = _capture(sf, clock, "late", due_at=clock.now() + timedelta(hours=1))
    today = _capture(sf, clock, "due tonight", due_at=clock.now() + timedelta(hours=3))
    since = clock.now()
    rejected = _capture(sf, clock, "refused", requesters=(ZHAO,))
    _answer(sf, clock, rejected, ZHAO, Answer.REJECTED)
    clock.advance(hours=2)  # 13:30 UTC = 21:30 in Shanghai: "late" is overdue now

    queries: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
    with sf() as session:
        channel, owners = digest.build(session, TEAM, clock.now(), "Asia/Shanghai", since)
    assert len(queries) <= 7  # no query per record or per owner (one for the checkpoints)

    assert [i.number for i in channel.awaiting] == [old, newer, late, today]
    assert [i.number for i in channel.risky] == [risky]
    assert [i.number for i in channel.overdue] == [late]
    assert [i.number for i in channel.due_today] == [today]
    assert [i.number for i in channel.closed] == [rejected]
    assert channel.unresolved == 5
    assert set(owners) == {ALICE, LI}
    assert [i.number for i in owners[LI].awaiting] == [newer]
    assert newer not in [i.number for i in owners[ALICE].awaiting]

    for locale in ("en", "zh-CN"):
        message = Renderer().render(
            "digest", locale, digest=channel, change="", limit=2, actions=ActionId
        )
        assert message.blocks
    shown = Renderer().render("digest", "en", digest=channel, change="", limit=2, actions=ActionId)
    assert "5 unresolved" in shown.text
    assert "…and 2 more" in str(shown.blocks)
    engine.dispose()


def test_the_digest_publishes_the_last_weeks_checkpoints(
    database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    sf = make_session_factory(engine)
    for day in range(9):  # 26 November to 4 December, a record a day but on the 30th
        if day != 4:
            _capture(sf, clock, f"day {day}")
        clock.advance(days=1)
    with unit_of_work(sf) as session:
        for day in checkpoints.pending_days(session, TEAM, clock.now()):
            checkpoints.checkpoint(session, TEAM, day, clock.now())
    with sf() as session:
        sealed = {
            made.day: f"{made.day}:{made.size}:{made.root}"
            for made in session.execute(select(Checkpoint)).scalars()
        }
        channel, owners = digest.build(session, TEAM, clock.now(), "UTC", clock.now())
    assert len(sealed) == 8

    # The last seven days': 28 November to 4 December, the 30th without events.
    week = [sealed[d] for d in sorted(sealed) if d >= date(2026, 11, 28)]
    assert len(week) == 6
    assert [c.value for c in channel.checkpoints] == week
    assert [c.value for c in owners[ALICE].checkpoints] == week
    english = str(
        Renderer()
        .render("digest", "en", digest=channel, change="", limit=2, actions=ActionId)
        .blocks
    )
    for value in week:
        assert f"`{value}`" in english  # whole, in monospace: copied as it is
    assert sealed[date(2026, 11, 27)] not in english
    assert "sayso verify --against" in english and "Keep" in english
    assert "Ledger head" not in english
    chinese = str(
        Renderer()
        .render("digest", "zh-CN", digest=channel, change="", limit=2, actions=ActionId)
        .blocks
    )
    assert f"`{week[-1]}`" in chinese and "sayso verify --against" in chinese
    # An owner's DM leaves them to the channel's digest: once is what makes them witnesses.
    for locale in ("en", "zh-CN"):
        mine = str(
            Renderer()
            .render("digest", locale, digest=owners[ALICE], change="", limit=2, actions=ActionId)
            .blocks
        )
        assert all(value not in mine for value in week) and "verify --against" not in mine
    engine.dispose()

    printed = sayso(database_url, "digest", "--dry-run", "--date", "2026-12-05", cwd=tmp_path)
    assert printed.exit_code == 0, printed.output
    assert f"checkpoint {week[-1]}" in printed.stdout


def test_all_clear(database_url: str, clock: ManualClock) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        channel, owners = digest.build(session, TEAM, clock.now(), "UTC", clock.now())
    assert channel.all_clear and owners == {}
    message = Renderer().render(
        "digest", "en", digest=channel, change="", limit=10, actions=ActionId
    )
    assert message.text.startswith(":white_check_mark: All clear")
    engine.dispose()


def test_digest_send_sends_todays_digests_once(
    database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    _capture(make_session_factory(engine), clock, "open port 443 on fw-2")  # alice's
    engine.dispose()
    digests = "C0DIGEST01"
    with SlackEmulator(team_id=TEAM) as emulator:
        emulator.add_user(ALICE, "alice")
        emulator.add_user(WANG, "wang")
        emulator.add_channel(digests, "sayso-digest", members=[ALICE])
        env = {
            "SLACK_BOT_TOKEN": emulator.bot_token,
            "SLACK_SIGNING_SECRET": "s3cret",
            "SLACK_API_URL": emulator.api_url,
            "DATABASE_URL": database_url,
            "SAYSO_DIGEST_CHANNEL": digests,
        }
        # Whatever the day and hour: once per recipient and local date.
        first = sayso(None, "digest", "--send", cwd=tmp_path, **env)
        assert first.exit_code == 0, first.stderr
        assert first.stdout.strip() == "2 digest(s) sent."
        again = sayso(None, "digest", "--send", cwd=tmp_path, **env)
        assert again.exit_code == 0, again.stderr
        assert "Nothing to send" in again.stdout
        (summary,) = emulator.messages(digests)
        assert "1 unresolved" in summary["text"]
        assert [c.params["users"] for c in emulator.calls("conversations.open")] == [ALICE]

        both = sayso(None, "digest", "--dry-run", "--send", cwd=tmp_path, **env)
        assert both.exit_code == 2 and "one of the two" in both.stderr
        neither = sayso(None, "digest", cwd=tmp_path, **env)
        assert neither.exit_code == 2


def test_digest_dry_run_reads_the_workspace_zone(
    database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    sf = make_session_factory(engine)
    # 20:00 UTC on Thursday: due that day in London, Friday 04:00 in Shanghai.
    _capture(
        sf, clock, "reboot core-1 tonight", due_at=clock.now() + timedelta(hours=10, minutes=30)
    )
    fallback = settings_store.defaults(Settings())
    chosen = settings_store.Policy(
        replace(fallback.digest, zone="Asia/Shanghai"), fallback.reminders
    )
    with unit_of_work(sf) as session:
        settings_store.save_workspace(session, TEAM, ALICE, clock.now(), chosen, fallback)
    engine.dispose()

    stored = sayso(database_url, "digest", "--dry-run", "--date", "2026-11-26", cwd=tmp_path)
    assert stored.exit_code == 0, stored.stderr
    assert f"== {TEAM} 2026-11-26" in stored.stdout and "due today" not in stored.stdout
    given = sayso(
        database_url, "digest", "--dry-run", "--date", "2026-11-26", "--tz", "UTC", cwd=tmp_path
    )
    assert "due today" in given.stdout
