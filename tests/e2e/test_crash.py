"""`sayso serve` killed mid-delivery and started again: every record is there, every card is
delivered exactly once, and the chain verifies."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.db import make_engine, make_session_factory
from bot.emulator import SlackDriver, SlackEmulator
from bot.ledger.verify import verify
from bot.models import AuditEvent, Record
from tests.conftest import ALICE, CHANNEL, WANG
from tests.support import ServeProcess

# The shortest lease, so the restarted process soon takes over what the dead one had
# claimed (its dispatcher wakes when the lease ends).
LEASE = {"SAYSO_OUTBOX_LEASE": "1"}


def _kill_on_first(
    emulator: SlackEmulator, method: str, server: ServeProcess, after: threading.Event
) -> None:
    """Kill the server while Slack handles the first `method` call of the delivery, before
    the server hears back. (The ack path asks users.info about the typist; that is not it.)"""

    def on_call(call: Any) -> None:
        if call.method == method and call.params.get("user") != ALICE:
            unsubscribe()
            after.wait(10)  # the ack has reached the person; now the power goes
            server.kill()

    unsubscribe = emulator.subscribe(on_call)


def _request_stored(database_url: str) -> bool:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            record = session.get(Record, 1)
            return record is not None and any(e.type == "card_posted" for e in record.events)
    finally:
        engine.dispose()


def _run_crash(emulator: SlackEmulator, tmp_path: Path, database_url: str, method: str) -> None:
    first = ServeProcess(tmp_path, emulator, database_url, **LEASE)
    acked = threading.Event()
    try:
        first.wait_until_healthy()
        _kill_on_first(emulator, method, first, acked)
        driver = SlackDriver(first.events_url, first.secret, emulator)
        response = driver.command(ALICE, CHANNEL, f"{driver.mention(WANG)} reboot edge-3")
        assert response.json()["text"] == f"Recorded #1, waiting for <@{WANG}>."
        acked.set()
        first.process.wait(15)
    finally:
        first.stop()

    second = ServeProcess(tmp_path, emulator, database_url, **LEASE)
    try:
        second.wait_until_healthy()
        emulator.wait_for(lambda: _request_stored(database_url), timeout=30)
    finally:
        output = second.stop()
    assert "Traceback" not in output, output

    (card,) = emulator.messages(CHANNEL)
    assert len(emulator.thread(CHANNEL, card["ts"])) == 1
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        report = verify(session)
        kinds = list(session.scalars(select(AuditEvent.type).order_by(AuditEvent.seq)))
    engine.dispose()
    assert report.ok, report.problem
    assert kinds == ["captured", "card_posted"]  # nothing twice


def test_killed_before_anything_reached_slack(
    emulator: SlackEmulator, tmp_path: Path, database_url: str
) -> None:
    # users.info comes first in a delivery (the requester's organization and language).
    _run_crash(emulator, tmp_path, database_url, "users.info")
    assert len(_posts_in_channel(emulator)) == 2


def test_killed_after_slack_took_the_card_but_before_its_ts_was_stored(
    emulator: SlackEmulator, tmp_path: Path, database_url: str
) -> None:
    _run_crash(emulator, tmp_path, database_url, "chat.postMessage")
    # The card went out once; after the restart the bot found it instead of posting again.
    assert len(emulator.calls("conversations.history")) == 1
    assert len(_posts_in_channel(emulator)) == 2


def _posts_in_channel(emulator: SlackEmulator) -> list[Any]:
    """Posts in the record's channel (a running server also sends its digest DMs)."""
    return [c for c in emulator.calls("chat.postMessage") if c.params["channel"] == CHANNEL]
