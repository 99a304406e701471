"""Backup and restore: `sayso export --all --format jsonl` then `sayso import` into a fresh
database gives back every row, the same chain and the same head, and the chain verifies; a
damaged or forged backup is refused, and nothing of it lands."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Table, select, text

from bot import evidence, migrate
from bot.db import make_engine, make_session_factory, unit_of_work
from bot.emulator.sandbox import Sandbox
from bot.ledger import backup, checkpoints
from bot.models import Base
from bot.records import lifecycle
from bot.records.lifecycle import Capture
from bot.slack.ids import BlockId
from tests.conftest import ALICE, CHANNEL, CHEN, TEAM, WANG, ZHAO, SaveStory
from tests.e2e.helpers import capture, click, record_json
from tests.stories import SavedStory
from tests.support import ManualClock, sayso

OTHER_TEAM = "T0OTHER001"


@pytest.fixture(scope="module")
def saved_story(save_story: SaveStory[None]) -> SavedStory[None]:
    return save_story(_play_story, None)


@pytest.fixture
def story(
    saved_story: SavedStory[None], database_url: str, clock: ManualClock
) -> Iterator[Sandbox]:
    """A sandbox where the story (played once for the module) left off."""
    with saved_story.sandbox(database_url, clock) as sandbox:
        yield sandbox


def _play_story(sandbox: Sandbox, clock: ManualClock) -> None:
    """Records in every state, an amendment, a reply that confirms (a thread snapshot), a
    reminder, digests, a sealed day and a watched channel."""
    assert sandbox.driver is not None and sandbox.runtime is not None
    capture(sandbox, ALICE, WANG, 'change the BGP hold timer on edge-3 to 30s risk:high "5 min"')
    click(sandbox, WANG, 1, "Request change")
    (modal,) = sandbox.emulator.modals(WANG)
    values = {BlockId.TEXT: {"value": sandbox.driver.plain_text("change it to 90s")}}
    sandbox.driver.submit_view(WANG, modal["id"], values)
    sandbox.settle()
    click(sandbox, WANG, 1, "Confirm")
    capture(sandbox, ALICE, CHEN, "请把网络参数改成30秒 <!channel>")
    thread_ts = record_json(sandbox, 2)["thread_ts"]
    sandbox.driver.say(CHEN, CHANNEL, "确认", thread_ts=thread_ts)
    capture(sandbox, ALICE, ZHAO, "drain edge-2")
    click(sandbox, ZHAO, 3, "Reject")
    capture(sandbox, ALICE, WANG, "open port 443 on fw-2")  # stays pending
    sandbox.driver.command(ALICE, CHANNEL, "watch")
    sandbox.settle()
    clock.advance(hours=16)  # Friday morning in Shanghai: a reminder for #4
    sandbox.runtime.team.digesting.tick()
    clock.advance(hours=8)  # 09:30 UTC: the digests
    sandbox.runtime.team.digesting.tick()
    sandbox.settle()
    clock.advance(days=1)
    with unit_of_work(sandbox.runtime.session_factory) as session:
        for day in checkpoints.pending_days(session, TEAM, clock.now()):
            checkpoints.checkpoint(session, TEAM, day, clock.now())
    click(sandbox, ALICE, 1, "Mark done")


def _table_rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every backed-up table as sorted rows, ids replaced by what they stand for."""
    found: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as connection:
        records_table = Base.metadata.tables["records"]
        number = {
            record_id: (team, n)
            for record_id, team, n in connection.execute(
                select(records_table.c.id, records_table.c.team_id, records_table.c.number)
            )
        }
        for table in Base.metadata.sorted_tables:
            if table.name in backup.NOT_BACKED_UP:
                continue
            rows = [
                _plain(table, dict(row._mapping), number)
                for row in connection.execute(select(table))
            ]
            found[table.name] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))
    return found


def _plain(table: Table, row: dict[str, Any], number: dict[int, Any]) -> dict[str, Any]:
    if [c.name for c in table.primary_key.columns] == ["id"]:
        del row["id"]
    if "record_id" in row:
        row["record_id"] = number.get(row["record_id"])
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}


def _backup(database_url: str, target: Path, *options: str) -> list[dict[str, Any]]:
    result = sayso(
        database_url, "export", "--all", "--format", "jsonl", "-o", str(target), *options
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Wrote {target}: 1 workspace, 4 records, ")
    return [json.loads(line) for line in target.read_bytes().splitlines()]


def test_a_restored_backup_holds_every_row_and_its_chain_verifies(
    story: Sandbox, database_url: str, empty_database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    lines = _backup(database_url, tmp_path / "backup.jsonl")
    kinds = {line["type"] for line in lines}
    assert lines[0]["type"] == "backup" and lines[-1]["type"] == "end"
    assert {"workspace", "record", "event", "checkpoint", "thread_snapshot", "reminder"} <= kinds
    assert {"outbox_message", "digest_send", "watch", "slack_user"} <= kinds
    # Records are readable as they are (what the CSV export shows, and more).
    shown = [line for line in lines if line["type"] == "record"]
    assert [(r["number"], r["status"]) for r in shown] == [
        (1, "done"),
        (2, "confirmed"),
        (3, "rejected"),
        (4, "pending"),
    ]
    assert shown[1]["text"] == "请把网络参数改成30秒 @channel"
    assert shown[1]["requesters"][0]["name"] == "陈静"
    assert [v["text"] for v in shown[0]["revisions"]][-1] == "change it to 90s"

    header = lines[0]
    with _engine(story).connect() as connection:
        schema = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert header["schema"] == schema and header["teams"] == [TEAM]
    assert header["format"] == backup.FORMAT
    printed = sayso(database_url, "export", "--all", "--format", "jsonl")
    assert [json.loads(line) for line in printed.stdout.splitlines()][1:-1] == lines[1:-1]

    imported = sayso(empty_database_url, "import", str(tmp_path / "backup.jsonl"))
    assert imported.exit_code == 0, imported.output
    said = imported.stdout.splitlines()
    assert said[0].startswith(f"Imported {TEAM}: 1 workspace, 4 records, ")
    # The same number of events, the same head.
    assert said[1:] == [sayso(database_url, "verify").stdout.strip()]
    assert said[1].startswith("OK: ")
    restored = make_engine(empty_database_url)
    try:
        assert _table_rows(restored) == _table_rows(_engine(story))
        with make_session_factory(restored)() as session:
            document = evidence.build_evidence(session, TEAM, 1, clock.now())
            assert [lifecycle.as_dict(r) for r in lifecycle.list_records(session)] == [
                record_json(story, n) for n in range(1, 5)
            ]
        checked = document["verification"]
        # "done" came after the last checkpoint: the one thing the file cannot show yet.
        assert [c["name"] for c in checked["checks"] if not c["ok"]] == ["proofs", "complete"]
        assert "(done, " in checked["problem"] and "not sealed yet" in checked["problem"]
        assert checked["workspace_chain"]["ok"]
        assert "sealed" in {p["status"] for p in document["proofs"]}
    finally:
        restored.dispose()
    again = sayso(empty_database_url, "verify", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["ok"]


def _other_team(database_url: str, clock: ManualClock, text: str) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    with unit_of_work(make_session_factory(engine)) as session:
        lifecycle.capture(
            session,
            clock.now(),
            Capture(OTHER_TEAM, "C0OTHER001", "U0OTHER001", ("U0OTHER002",), text),
        )
    engine.dispose()


def test_one_workspace_restores_beside_another(
    story: Sandbox, database_url: str, empty_database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    _other_team(database_url, clock, "left out of the backup")
    _other_team(empty_database_url, clock, "already there")
    lines = _backup(database_url, tmp_path / "acme.jsonl", "--team", TEAM)
    assert {x["team_id"] for x in lines[1:-1]} == {TEAM}
    imported = sayso(empty_database_url, "import", str(tmp_path / "acme.jsonl"))
    assert imported.exit_code == 0, imported.output
    listed = json.loads(sayso(empty_database_url, "records", "--json").stdout)
    assert sorted((r["team_id"], r["number"], r["text"][:7]) for r in listed) == [
        (TEAM, 1, "change "),
        (TEAM, 2, "请把网络参数改"),
        (TEAM, 3, "drain e"),
        (TEAM, 4, "open po"),
        (OTHER_TEAM, 1, "already"),
    ]
    assert json.loads(sayso(empty_database_url, "verify", "--json").stdout)["ok"]


def test_import_refuses_a_workspace_the_database_already_holds(
    story: Sandbox, database_url: str, empty_database_url: str, tmp_path: Path
) -> None:
    _backup(database_url, tmp_path / "backup.jsonl")
    assert sayso(empty_database_url, "import", str(tmp_path / "backup.jsonl")).exit_code == 0
    for target in (empty_database_url, database_url):
        again = sayso(target, "import", str(tmp_path / "backup.jsonl"))
        assert again.exit_code == 2
        assert f"already holds workspace {TEAM}" in again.stderr
        assert "nothing was imported" in again.stderr
    assert len(json.loads(sayso(empty_database_url, "records", "--json").stdout)) == 4


def _rewrite(path: Path, change: Any, reseal: bool) -> Path:
    """A copy of the backup with `change` applied to its lines; with `reseal`, the end line is
    recomputed, as a forger would."""
    lines = [json.loads(line) for line in path.read_bytes().splitlines()]
    change(lines)
    body = [json.dumps(x, ensure_ascii=False, separators=(",", ":")) + "\n" for x in lines]
    if reseal:
        body = body[:-1]
        digest = hashlib.sha256("".join(body).encode()).hexdigest()
        body.append(json.dumps({"type": "end", "lines": len(body), "sha256": digest}) + "\n")
    changed = path.with_name(f"changed-{uuid.uuid4().hex[:8]}.jsonl")
    changed.write_text("".join(body), encoding="utf-8")
    return changed


def _reword(lines: list[dict[str, Any]]) -> None:
    captured = next(x for x in lines if x.get("event_type") == "captured")
    captured["payload"]["text"] = captured["payload"]["text"].replace("30s", "300s")


def _record_count(database_url: str) -> int:
    return len(json.loads(sayso(database_url, "records", "--json").stdout))


FORGED: dict[str, tuple[Any, str]] = {
    "an event": (_reword, "content does not match its hash"),
    "a record": (
        lambda lines: next(x for x in lines if x["type"] == "record").update(text="reboot all"),
        "the record's text differs from the text in its history",
    ),
    "a removed event": (
        lambda lines: lines.remove(next(x for x in lines if x.get("seq") == 3)),
        "expected event 3 next, found event 4",
    ),
}


def test_a_forged_backup_does_not_verify_and_is_not_imported(
    story: Sandbox, database_url: str, empty_database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "backup.jsonl"
    _backup(database_url, path)
    for case, (change, expected) in FORGED.items():
        forged = _rewrite(path, change, reseal=True)
        result = sayso(empty_database_url, "import", str(forged))
        assert result.exit_code == 1, case
        assert result.stdout.startswith(f"BROKEN: workspace {TEAM}"), case
        assert expected in result.stdout, (case, result.stdout)
        assert "Nothing was imported" in result.stdout
        assert _record_count(empty_database_url) == 0

    forced = sayso(empty_database_url, "import", "--allow-broken", str(forged))
    assert forced.exit_code == 1 and forced.stdout.startswith(f"Imported {TEAM}: ")
    assert sayso(empty_database_url, "verify").exit_code == 1


DAMAGED: dict[str, tuple[Any, bool, str]] = {
    # (what changes, whether the end line is recomputed, what import says)
    "a changed line": (_reword, False, "changed or damaged after it was written"),
    "truncated": (lambda lines: lines.pop(), False, "no end line: it was cut short"),
    "a line removed": (lambda lines: lines.pop(-2), False, "lines were added or removed"),
    "no header": (lambda lines: lines.pop(0), True, "not a Sayso backup"),
    "an unknown field": (lambda lines: lines[2].update(mood="sunny"), True, "unknown fields mood"),
    "a bad time": (
        lambda lines: lines[2].update(created_at="yesterday"),
        True,
        "line 3: created_at is not a time",
    ),
    "a dangling record": (
        lambda lines: lines.remove(next(x for x in lines if x["type"] == "record")),
        True,
        "record #1 is not in the backup before it",
    ),
}


def test_a_damaged_backup_is_refused_as_a_whole(
    story: Sandbox, database_url: str, empty_database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "backup.jsonl"
    _backup(database_url, path)
    for case, (change, reseal, expected) in DAMAGED.items():
        result = sayso(empty_database_url, "import", str(_rewrite(path, change, reseal)))
        assert result.exit_code == 2, (case, result.output)
        assert expected in result.stderr, (case, result.stderr)
        assert "nothing was imported" in result.stderr
        assert _record_count(empty_database_url) == 0


def test_a_purged_database_backs_up_and_restores(
    story: Sandbox, database_url: str, empty_database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    from bot.ledger import purge

    assert story.runtime is not None
    with unit_of_work(story.runtime.session_factory) as session:
        cut = purge.cutoff(clock.now().date())
        done = purge.purge(session, cut, clock.now(), "ops:ana", apply=True)
    assert [p.numbers for p in done.purges] == [[3]]  # rejected on the first day
    path = tmp_path / "backup.jsonl"
    result = sayso(database_url, "export", "--all", "--format", "jsonl", "-o", str(path))
    assert result.exit_code == 0
    imported = sayso(empty_database_url, "import", str(path))
    assert imported.exit_code == 0, imported.output
    assert imported.stdout.splitlines()[-1] == sayso(database_url, "verify").stdout.strip()
    verified = json.loads(sayso(empty_database_url, "verify", "--json").stdout)
    assert verified["workspaces"][0]["erased"] > 0


def test_every_table_is_backed_up_or_left_out_for_a_reason() -> None:
    """A table added later must be either a workspace's or a record's (then backups keep it
    without further work), or listed in NOT_BACKED_UP with why."""
    specs, nested = backup._specs()
    covered = {s.table.name for s in specs} | {s.table.name for s in nested.values()}
    assert covered | set(backup.NOT_BACKED_UP) == set(Base.metadata.tables)


def _engine(sandbox: Sandbox) -> Engine:
    assert sandbox.runtime is not None
    return sandbox.runtime.engine
