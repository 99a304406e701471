"""Two `sayso serve` replicas on one database, driven at once through the emulator, as a team
runs them behind a load balancer: no record lost or doubled, every card and request posted
once, every click applied once, one digest per recipient, and the chain intact."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.db import make_engine, make_session_factory
from bot.emulator import SlackDriver, SlackEmulator
from bot.ledger.verify import verify
from bot.models import Record, RecordStatus
from tests.conftest import ALICE, CHANNEL, LI, WANG
from tests.support import ServeProcess

COMMANDS = 24
EVERY_DAY = "MO,TU,WE,TH,FR,SA,SU"
REPLICA = {"SAYSO_OUTBOX_LEASE": "10", "SAYSO_WORKERS": "2", "SAYSO_TIMEZONE": "UTC"}
RECORDED = re.compile(r"Recorded #(\d+),")


def _replicas(tmp_path: Path, emulator: SlackEmulator, database_url: str, **env: str) -> list:
    replicas = [ServeProcess(tmp_path, emulator, database_url, **REPLICA, **env) for _ in range(2)]
    for replica in replicas:
        replica.wait_until_healthy()
    return replicas


def _stop(replicas: list[ServeProcess]) -> None:
    for replica in replicas:
        replica.terminate()
    outputs = [replica.stop() for replica in replicas]
    for output in outputs:
        assert "Traceback" not in output, output


def _stored(database_url: str) -> list[Record]:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            return list(session.query(Record).order_by(Record.number))
    finally:
        engine.dispose()


def test_two_replicas_on_one_database(
    emulator: SlackEmulator, tmp_path: Path, database_url: str
) -> None:
    # Day one: no digest is due (its only day is the day after tomorrow).
    later = EVERY_DAY.split(",")[(datetime.now(UTC).weekday() + 2) % 7]
    replicas = _replicas(tmp_path, emulator, database_url, SAYSO_DIGEST_DAYS=later)
    try:
        drivers = [SlackDriver(r.events_url, r.secret, emulator) for r in replicas]

        def capture(i: int) -> str:
            driver = drivers[i % 2]
            text = f"{driver.mention(WANG)} change #{i} on edge-{i} owner:{driver.mention(LI)}"
            return drivers[i % 2].command(ALICE, CHANNEL, text).text

        with ThreadPoolExecutor(8) as pool:
            acks = list(pool.map(capture, range(COMMANDS)))
        numbers = sorted(int(RECORDED.match(ack).group(1)) for ack in acks if RECORDED.match(ack))
        assert numbers == list(range(1, COMMANDS + 1)), acks

        def requests_posted() -> bool:
            # Every record stored (the acks come before the outbox stores them) and asked.
            stored = _stored(database_url)
            return len(stored) == COMMANDS and all(r.request_ts for r in stored)

        emulator.wait_for(requests_posted, timeout=60)
        records = _stored(database_url)

        # As wang's screen shows them before he clicks (a double click sends this twice).
        shown = {r.number: emulator.message(CHANNEL, str(r.request_ts)) for r in records}

        def confirm(number: int, replica: int) -> int:
            request = shown[number]
            assert request is not None
            return (
                drivers[replica]
                .click(WANG, CHANNEL, request["ts"], "sayso_confirm", message=request)
                .status
            )

        halves = [r.number for r in records[: COMMANDS // 2]]
        with ThreadPoolExecutor(8) as pool:
            # Each click arrives twice, once at each replica: one transition each.
            statuses = list(pool.map(confirm, halves * 2, [0] * len(halves) + [1] * len(halves)))
        assert set(statuses) == {200}

        def all_confirmed() -> bool:
            stored = _stored(database_url)[: COMMANDS // 2]
            return all(r.status == RecordStatus.CONFIRMED for r in stored)

        emulator.wait_for(all_confirmed, timeout=60)
    finally:
        _stop(replicas)

    # Day two (the same date): both replicas start with the digest due, and both try to send.
    replicas = _replicas(
        tmp_path,
        emulator,
        database_url,
        SAYSO_DIGEST_DAYS=EVERY_DAY,
        SAYSO_DIGEST_TIME="00:00",
        SAYSO_DIGEST_CHANNEL=CHANNEL,
    )
    cards = {r.card_ts for r in _stored(database_url) if r.card_ts}
    try:
        emulator.wait_for(lambda: _digest_posts(emulator, cards) == (1, 1), timeout=60)
        # Both replicas have passed their first tick once the slower one answers readiness.
        for replica in replicas:
            replica.wait_until_healthy()
    finally:
        _stop(replicas)

    records = _stored(database_url)
    assert [r.number for r in records] == list(range(1, COMMANDS + 1))
    statuses = [r.status for r in records]
    assert statuses.count(RecordStatus.CONFIRMED) == COMMANDS // 2
    assert statuses.count(RecordStatus.PENDING) == COMMANDS // 2
    top_level = _top_level(emulator)
    assert len([m for m in top_level if m["ts"] in cards]) == COMMANDS  # one card each
    for record in records:
        assert record.thread_ts is not None
        requests = [m for m in emulator.thread(CHANNEL, record.thread_ts) if m.get("blocks")]
        assert len({m["ts"] for m in requests if "sayso_confirm" in str(m)}) <= 1
    assert _digest_posts(emulator, cards) == (1, 1)  # the channel's summary, li's DM: once each

    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        report = verify(session)
    engine.dispose()
    assert report.ok, report.problem
    # captured + card_posted + request_posted per record, one confirmation per confirmed one
    assert report.events >= COMMANDS * 2 + COMMANDS // 2


def _digest_posts(emulator: SlackEmulator, cards: set[str]) -> tuple[int, int]:
    """(channel summaries, direct messages) posted: top-level channel messages that are not
    record cards, and messages in a DM (li owns every record, so only li gets one)."""
    summaries = _top_level(emulator)
    direct = [
        call
        for call in emulator.calls("chat.postMessage")
        if call.response.get("ok") and str(call.params.get("channel", "")).startswith("D")
    ]
    return len([m for m in summaries if m["ts"] not in cards]), len(direct)


def _top_level(emulator: SlackEmulator) -> list[dict[str, Any]]:
    """Channel messages not in a thread (a thread's parent carries its own ts as thread_ts)."""
    return [m for m in emulator.messages(CHANNEL) if m.get("thread_ts", m["ts"]) == m["ts"]]
