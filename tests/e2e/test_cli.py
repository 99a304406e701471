"""The `sayso` command line, run as a newcomer would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.emulator import SlackDriver, SlackEmulator
from bot.emulator.sandbox import Sandbox
from tests.conftest import ALICE, CHANNEL, WANG, ZHAO
from tests.e2e.helpers import capture, click
from tests.support import ServeProcess, clean_env, free_port

SAYSO = [sys.executable, "-m", "bot"]


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        SAYSO + args, cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=60
    )


def test_records_and_show_print_what_the_database_holds(
    sandbox: Sandbox, database_url: str, tmp_path: Path
) -> None:
    capture(sandbox, ALICE, WANG, "please change the BGP hold timer on edge-3 to 30s")
    capture(sandbox, ALICE, ZHAO, "请把网络参数改成30秒")
    click(sandbox, WANG, 1, "Confirm")

    listed = _run(["records", "--json"], tmp_path, DATABASE_URL=database_url)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["number"], r["status"]) for r in rows] == [(1, "confirmed"), (2, "pending")]
    required = {
        "number",
        "status",
        "text",
        "requester_id",
        "captured_by_id",
        "team_id",
        "channel_id",
        "thread_ts",
        "created_at",
        "confirmed_at",
        "events",
    }
    assert required <= set(rows[0])
    assert rows[0]["confirmed_at"].endswith("Z")
    assert rows[1]["text"] == "请把网络参数改成30秒"
    assert {"type", "actor_id", "at"} <= set(rows[0]["events"][-1])

    shown = _run(["show", "1", "--json"], tmp_path, DATABASE_URL=database_url)
    assert json.loads(shown.stdout) == rows[0]

    table = _run(["records"], tmp_path, DATABASE_URL=database_url)
    assert "#1" in table.stdout and "confirmed" in table.stdout and "请把网络参数" in table.stdout
    text = _run(["show", "2"], tmp_path, DATABASE_URL=database_url)
    assert "pending" in text.stdout and "captured" in text.stdout

    missing = _run(["show", "9"], tmp_path, DATABASE_URL=database_url)
    assert missing.returncode == 1
    assert "no record #9" in missing.stderr


def test_records_on_an_empty_directory_says_what_to_do(tmp_path: Path) -> None:
    result = _run(["records"], tmp_path)
    assert result.returncode == 1
    assert "sayso db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_then_records(tmp_path: Path) -> None:
    assert _run(["db", "upgrade"], tmp_path).returncode == 0
    assert (tmp_path / "sayso.db").exists()
    result = _run(["records"], tmp_path)
    assert result.returncode == 0
    assert "No records yet" in result.stdout


def test_a_database_of_another_version_is_refused_with_a_way_out(tmp_path: Path) -> None:
    from bot import migrate

    migrate.upgrade(f"sqlite:///{tmp_path / 'sayso.db'}", "0012")
    for command in (["records"], ["outbox"], ["verify"]):
        result = _run(command, tmp_path)
        assert result.returncode == 1, command
        (head,) = migrate.heads()
        assert f"this one needs {head}" in result.stderr and "sayso db upgrade" in result.stderr
        assert "Traceback" not in result.stderr
    assert _run(["db", "upgrade"], tmp_path).returncode == 0
    assert _run(["outbox"], tmp_path).returncode == 0


def test_serve_without_token_says_so_in_one_sentence(tmp_path: Path) -> None:
    result = _run(["serve"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "SLACK_BOT_TOKEN is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_with_a_bad_port_or_secret_says_so(tmp_path: Path) -> None:
    bad_port = _run(["serve"], tmp_path, SLACK_BOT_TOKEN="xoxb-1", PORT="http")
    assert bad_port.returncode == 2 and "PORT must be" in bad_port.stderr
    no_secret = _run(["serve"], tmp_path, SLACK_BOT_TOKEN="xoxb-1")
    assert no_secret.returncode == 2 and "SLACK_SIGNING_SECRET is not set" in no_secret.stderr


def test_serve_reads_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-dotenv\nPORT=nonsense\n")
    result = _run(["serve"], tmp_path)
    assert result.returncode == 2
    assert "PORT must be" in result.stderr


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    with SlackEmulator(team_id="T0ACME0001") as emulator:
        emulator.add_user(ALICE, "alice")
        emulator.add_user(WANG, "wang")
        emulator.add_channel(CHANNEL, "edge-upgrade", members=[ALICE, WANG])
        yield emulator


def test_serve_refuses_a_token_slack_rejects(emulator: SlackEmulator, tmp_path: Path) -> None:
    result = _run(
        ["serve", "--port", str(free_port())],
        tmp_path,
        SLACK_BOT_TOKEN="xoxb-not-this-one",
        SLACK_SIGNING_SECRET="s3cret",
        SLACK_API_URL=emulator.api_url,
    )
    assert result.returncode == 2
    assert "invalid_auth" in result.stderr


def test_sayso_serve_end_to_end(emulator: SlackEmulator, database_url: str, tmp_path: Path) -> None:
    server = ServeProcess(tmp_path, emulator, database_url)
    try:
        assert server.wait_until_healthy() == {"ok": True}
        driver = SlackDriver(server.events_url, server.secret, emulator)
        response = driver.command(ALICE, CHANNEL, f"{driver.mention(WANG)} reboot edge-3")
        assert response.status == 200
        assert response.json()["text"] == f"Recorded #1, waiting for <@{WANG}>."
        emulator.wait_for(
            lambda: (
                len(emulator.messages(CHANNEL)) == 1
                and len(emulator.thread(CHANNEL, emulator.messages(CHANNEL)[0]["ts"])) == 1
            ),
            timeout=15,
        )
        (posted,) = emulator.messages(CHANNEL)
        assert "reboot edge-3" in posted["text"]
    finally:
        output = server.stop()
    assert "Traceback" not in output, output
