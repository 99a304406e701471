"""Times outside Slack (the CLI, evidence files) are shown in a zone the reader chooses,
`--tz`, by default the workspace's, always with the offset: never a bare UTC time."""

from __future__ import annotations

import json
from pathlib import Path

from bot.db import unit_of_work
from bot.emulator.sandbox import Sandbox
from bot.evidence import read_evidence, verify_evidence_file
from bot.records import settings_store
from tests.conftest import ALICE, BOB, CHANNEL, TEAM, WANG
from tests.e2e.helpers import capture
from tests.support import ManualClock, sayso

# The tests' clock starts on 2026-11-26 at 09:30 UTC: 17:30 in Shanghai, 04:30 in New York.


def test_records_and_show_use_the_workspaces_zone_or_the_one_asked_for(
    sandbox: Sandbox, database_url: str, tmp_path: Path
) -> None:
    capture(sandbox, ALICE, WANG, "open port 443 on edge-3 due:2026-11-27 18:00")

    in_utc = sayso(database_url, "records", cwd=tmp_path)  # no zone set anywhere: UTC
    assert in_utc.exit_code == 0, in_utc.stderr
    assert "2026-11-26 09:30 +00:00" in in_utc.stdout

    shanghai = {"SAYSO_TIMEZONE": "Asia/Shanghai"}
    listed = sayso(database_url, "records", cwd=tmp_path, **shanghai)
    assert "2026-11-26 17:30 +08:00" in listed.stdout
    shown = sayso(database_url, "show", "1", cwd=tmp_path, **shanghai)
    captured = "captured by:  Alice Chen (@alice, U0ALICE001) at 2026-11-26 17:30:00 +08:00"
    assert captured in shown.stdout
    assert "due:          2026-11-27 18:00:00 +08:00" in shown.stdout  # as alice typed it
    assert "UTC" not in shown.stdout

    new_york = sayso(database_url, "show", "1", "--tz", "America/New_York", cwd=tmp_path)
    assert "at 2026-11-26 04:30:00 -05:00" in new_york.stdout
    found = sayso(database_url, "search", "port", "--tz", "Europe/London", cwd=tmp_path)
    assert "2026-11-26 09:30 +00:00" in found.stdout

    wrong = sayso(database_url, "records", "--tz", "Mars/Olympus", cwd=tmp_path)
    assert wrong.exit_code == 2 and "unknown time zone 'Mars/Olympus'" in wrong.stderr


def test_the_zone_set_in_slack_wins_over_the_environment(
    sandbox: Sandbox, database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    capture(sandbox, ALICE, WANG, "open port 443 on edge-3")
    assert sandbox.runtime is not None
    fallback = settings_store.defaults(sandbox.settings)
    chosen = settings_store.Policy(
        fallback.digest.__class__(**{**fallback.digest.__dict__, "zone": "Asia/Tokyo"}),
        fallback.reminders,
    )
    with unit_of_work(sandbox.runtime.session_factory) as session:
        settings_store.save_workspace(session, TEAM, ALICE, clock.now(), chosen, fallback)
    listed = sayso(database_url, "records", cwd=tmp_path, SAYSO_TIMEZONE="Asia/Shanghai")
    assert "2026-11-26 18:30 +09:00" in listed.stdout


def test_an_exported_evidence_file_reads_in_the_chosen_zone_and_still_checks(
    sandbox: Sandbox, database_url: str, clock: ManualClock, tmp_path: Path
) -> None:
    from bot.ledger import checkpoints

    capture(sandbox, ALICE, WANG, "open port 443 on edge-3")
    assert sandbox.runtime is not None
    clock.advance(days=1)  # the day is sealed: the file checks in full
    with unit_of_work(sandbox.runtime.session_factory) as session:
        for day in checkpoints.pending_days(session, TEAM, clock.now()):
            checkpoints.checkpoint(session, TEAM, day, clock.now())
    for fmt in ("md", "html"):
        target = tmp_path / f"evidence.{fmt}"
        made = sayso(
            database_url,
            "export",
            "1",
            "--format",
            fmt,
            "--tz",
            "Asia/Shanghai",
            "-o",
            str(target),
            cwd=tmp_path,
        )
        assert made.exit_code == 0, made.stderr
        text = target.read_text()
        assert "When (Asia/Shanghai)" in text and "When (UTC)" not in text
        assert "2026-11-26 17:30:00 +08:00" in text
        document, _ = read_evidence(text)
        assert document["time_zone"] == "Asia/Shanghai"
        # The readable part is still exactly what its data renders: a changed zone shows.
        assert verify_evidence_file(text).ok
        forged = text.replace("17:30:00 +08:00", "18:30:00 +08:00", 1)
        assert not verify_evidence_file(forged).checks[-1].ok


def test_an_evidence_file_sent_in_slack_reads_in_the_askers_zone(sandbox: Sandbox) -> None:
    """bob, in New York, asks for the file: its times are New York's."""
    assert sandbox.driver is not None
    capture(sandbox, ALICE, BOB, "open port 443 on edge-3")
    assert sandbox.driver.command(BOB, CHANNEL, "export 1").status == 200
    sandbox.settle()
    (upload,) = sandbox.emulator.calls("files.completeUploadExternal")
    listed = upload.params["files"]
    file_id = (json.loads(listed) if isinstance(listed, str) else listed)[0]["id"]
    sent = sandbox.emulator.file(file_id)
    assert sent is not None
    page = sent["content"].decode()
    assert "When (America/New_York)" in page and "2026-11-26 04:30:00 -05:00" in page
    assert verify_evidence_file(page).checks[-1].ok
