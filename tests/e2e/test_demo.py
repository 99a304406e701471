"""`sayso demo`: a story in a database of its own, never the one DATABASE_URL names."""

from __future__ import annotations

import json
from pathlib import Path

from bot.emulator.sandbox import Sandbox
from tests.conftest import ALICE, WANG, add_cast
from tests.e2e.helpers import capture, record_count
from tests.support import ManualClock, sayso


def test_the_demo_never_writes_into_database_url(
    sandbox: Sandbox, database_url: str, tmp_path: Path
) -> None:
    """DATABASE_URL in the environment and in .env: a team's real database, left alone."""
    capture(sandbox, ALICE, WANG, "reboot edge-3")
    (tmp_path / ".env").write_text(f"DATABASE_URL={database_url}\n")
    played = sayso(database_url, "demo", "--quiet", cwd=tmp_path)
    assert played.exit_code == 0, played.stderr
    assert record_count(sandbox) == 1
    assert (tmp_path / "sayso-demo.db").exists()
    # --quiet prints the summary its help promises, and nothing of the transcript.
    assert "Records kept in sqlite:///sayso-demo.db:" in played.stdout
    assert "#1 confirmed rev 2" in played.stdout and "#3 rejected" in played.stdout
    assert "──" not in played.stdout
    # Here `sayso records` reads DATABASE_URL, so the way to read the demo is spelled out.
    assert "`DATABASE_URL=sqlite:///sayso-demo.db sayso records`" in played.stdout


def test_each_run_starts_afresh_and_records_reads_it_in_a_new_directory(tmp_path: Path) -> None:
    for _ in range(2):
        played = sayso(None, "demo", "--quiet", cwd=tmp_path)
        assert played.exit_code == 0, played.stderr
        assert "Next: `sayso records`, `sayso show 1`" in played.stdout
    assert not (tmp_path / "sayso.db").exists()
    listed = sayso(None, "records", "--json", cwd=tmp_path)
    assert listed.exit_code == 0, listed.stderr
    assert [r["number"] for r in json.loads(listed.stdout)] == [1, 2, 3]
    assert "reading the demo's sayso-demo.db" in listed.stderr
    # A database of one's own (the default file, here) is read instead, from then on.
    assert sayso(None, "db", "upgrade", cwd=tmp_path).exit_code == 0
    mine = sayso(None, "records", cwd=tmp_path)
    assert "No records yet" in mine.stdout and "demo" not in mine.stderr


def test_the_demo_refuses_a_database_with_someone_elses_records(
    database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    with Sandbox(database_url, clock=clock, migrate=False, team_id="T0REAL0001") as real:
        add_cast(real.emulator)
        capture(real, ALICE, WANG, "reboot edge-3")
        refused = sayso(None, "demo", "--database-url", database_url, cwd=tmp_path)
        assert refused.exit_code == 2
        assert "will not play into" in refused.stderr and "T0REAL0001" in refused.stderr
        assert record_count(real) == 1


def test_the_demo_plays_into_an_empty_database_given(
    empty_database_url: str, tmp_path: Path
) -> None:
    for _ in range(2):
        played = sayso(None, "demo", "--quiet", "--database-url", empty_database_url, cwd=tmp_path)
        assert played.exit_code == 0, played.stderr
    listed = sayso(empty_database_url, "records", "--json", cwd=tmp_path)
    assert [r["number"] for r in json.loads(listed.stdout)] == [1, 2, 3]
