"""The history is tamper-evident: rows edited, deleted or reordered in the database are caught
by `sayso verify`; concurrent writers never fork a workspace's chain."""

from __future__ import annotations

import json
from collections.abc import Callable
from multiprocessing.context import ForkServerContext
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import Engine, text

from bot import migrate
from bot.db import make_engine, make_session_factory, unit_of_work
from bot.emulator.sandbox import Sandbox
from bot.ledger.verify import verify
from bot.records import lifecycle
from bot.records.lifecycle import Capture
from tests.conftest import ALICE, CHANNEL, TEAM, WANG, ZHAO
from tests.e2e.helpers import capture, click
from tests.support import ManualClock, sayso


def _story(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, WANG, "please change the BGP hold timer on edge-3 to 30s")
    capture(sandbox, ALICE, ZHAO, "请把网络参数改成30秒")
    click(sandbox, WANG, 1, "Confirm")
    click(sandbox, ZHAO, 2, "Reject")


def _verify(engine: Engine) -> dict:  # type: ignore[type-arg]
    with make_session_factory(engine)() as session:
        return verify(session).as_dict()


def _sql(engine: Engine, *statements: str) -> None:
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


TAMPERING: dict[str, tuple[list[str], str]] = {
    "edit a payload": (
        [
            "UPDATE audit_events SET payload = "
            "CAST(REPLACE(CAST(payload AS TEXT), '30s', '90s') AS JSON) WHERE seq = 1"
        ],
        "content does not match its hash",
    ),
    "edit who acted": (
        [f"UPDATE audit_events SET actor_id = '{ZHAO}' WHERE type = 'confirmed'"],
        "content does not match its hash",
    ),
    "edit a time": (
        ["UPDATE audit_events SET at = '2020-01-01 00:00:00' WHERE seq = 3"],
        "content does not match its hash",
    ),
    "delete an event": (
        ["DELETE FROM audit_events WHERE seq = 3"],
        "expected event 3 next, found event 4",
    ),
    "delete the newest event": (
        ["DELETE FROM audit_events WHERE seq = (SELECT MAX(seq) FROM audit_events)"],
        "events were removed from the end",
    ),
    "swap two events": (
        [
            "UPDATE audit_events SET seq = -1 WHERE seq = 2",
            "UPDATE audit_events SET seq = 2 WHERE seq = 3",
            "UPDATE audit_events SET seq = 3 WHERE seq = -1",
        ],
        "links to",
    ),
    "rehash an edited event": (
        # An insider who recomputes the edited event's own hash still breaks the next link.
        ["UPDATE audit_events SET hash = 'f' || SUBSTR(hash, 2) WHERE seq = 2"],
        "",
    ),
    "rewrite a record": (
        ["UPDATE records SET text = 'something nobody asked for' WHERE number = 1"],
        "text differs from the text in its history",
    ),
}


@pytest.mark.parametrize("case", TAMPERING)
def test_verify_catches_tampering(sandbox: Sandbox, case: str) -> None:
    _story(sandbox)
    assert sandbox.runtime is not None
    engine = sandbox.runtime.engine
    before = _verify(engine)
    assert before["ok"] and before["events"] == 7

    statements, expected = TAMPERING[case]
    _sql(engine, *statements)

    after = _verify(engine)
    assert not after["ok"]
    assert expected in after["problem"]["what"]
    assert after["problem"]["team_id"] == TEAM


def test_verify_cli_ok_and_broken(sandbox: Sandbox, database_url: str, tmp_path: Path) -> None:
    _story(sandbox)

    def run(*args: str) -> Result:
        return sayso(database_url, "verify", *args, cwd=tmp_path)

    ok = run()
    assert ok.exit_code == 0
    assert ok.stdout.startswith("OK: 7 events, head ")
    assert json.loads(run("--json").stdout)["ok"] is True

    assert sandbox.runtime is not None
    _sql(sandbox.runtime.engine, "DELETE FROM audit_events WHERE seq = 5")
    broken = run()
    assert broken.exit_code == 1
    assert broken.stdout.startswith(f"BROKEN: workspace {TEAM}, record #")
    assert "event 6" in broken.stdout
    report = json.loads(run("--json").stdout)
    assert report["ok"] is False and report["problem"]["seq"] == 6


def _capture_many(database_url: str, writer: int, count: int) -> None:
    engine = make_engine(database_url)
    session_factory = make_session_factory(engine)
    clock = ManualClock()
    for i in range(count):
        with unit_of_work(session_factory) as session:
            lifecycle.capture(
                session,
                clock.now(),
                Capture(
                    team_id=TEAM,
                    channel_id=CHANNEL,
                    captured_by_id=ALICE,
                    requester_ids=(WANG,),
                    text=f"writer {writer} instruction {i}",
                ),
            )
    engine.dispose()


def test_concurrent_writers_in_separate_processes_do_not_fork_the_chain(
    database_url: str, other_processes: ForkServerContext
) -> None:
    migrate.upgrade(database_url)
    writers = [
        other_processes.Process(target=_capture_many, args=(database_url, w, 25)) for w in range(4)
    ]
    for process in writers:
        process.start()
    for process in writers:
        process.join(120)
        assert process.exitcode == 0
    engine = make_engine(database_url)
    report = _verify(engine)
    assert report["ok"], report["problem"]
    assert report["events"] == 100
    with make_session_factory(engine)() as session:
        numbers = sorted(r.number for r in lifecycle.list_records(session, TEAM))
    assert numbers == list(range(1, 101))
    engine.dispose()


Tamper = Callable[[Engine], None]
