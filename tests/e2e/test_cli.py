"""The `sayso` command line, run as a newcomer would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import wcwidth

from bot.emulator import SlackDriver, SlackEmulator
from bot.emulator.sandbox import Sandbox
from tests.conftest import ALICE, CHANNEL, CHEN, WANG, ZHAO
from tests.e2e.helpers import capture, click
from tests.support import ServeProcess, clean_env, free_port, sayso


def _process(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`sayso` as a real process: the entry point itself, and `serve` past its settings (it
    configures the process's logging)."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_records_and_show_print_what_the_database_holds(
    sandbox: Sandbox, database_url: str, tmp_path: Path
) -> None:
    capture(sandbox, ALICE, WANG, "please change the BGP hold timer on edge-3 to 30s")
    capture(sandbox, ALICE, ZHAO, "请把网络参数改成30秒")
    click(sandbox, WANG, 1, "Confirm")

    listed = sayso(database_url, "records", "--json", cwd=tmp_path)
    assert listed.exit_code == 0, listed.stderr
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

    shown = sayso(database_url, "show", "1", "--json", cwd=tmp_path)
    assert json.loads(shown.stdout) == rows[0]

    table = sayso(database_url, "records", cwd=tmp_path)
    assert "#1" in table.stdout and "confirmed" in table.stdout and "请把网络参数" in table.stdout
    text = sayso(database_url, "show", "2", cwd=tmp_path)
    assert "pending" in text.stdout and "captured" in text.stdout

    missing = sayso(database_url, "show", "9", cwd=tmp_path)
    assert missing.exit_code == 1
    assert "no record #9" in missing.stderr


def test_records_show_and_digest_print_names_in_aligned_columns(
    sandbox: Sandbox, database_url: str, tmp_path: Path
) -> None:
    capture(sandbox, ALICE, WANG, "please change the BGP hold timer on edge-3 to 30s")
    capture(sandbox, ALICE, CHEN, "请把网络参数改成30秒")
    capture(sandbox, ALICE, ZHAO, "reboot core-2")
    click(sandbox, WANG, 1, "Confirm")
    click(sandbox, ZHAO, 3, "Reject")

    table = sayso(database_url, "records", cwd=tmp_path)
    assert table.exit_code == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert "U0WANG0001" not in table.stdout
    assert ["Wang Wei" in lines[0], "陈静" in lines[1], "Zhao Lei" in lines[2]] == [True] * 3
    # The text starts in the same terminal column on every line, Chinese names included.
    starts = {
        wcwidth.wcswidth(line[: line.index(text)])
        for line, text in zip(lines, ("please", "请把", "reboot"), strict=True)
    }
    assert len(starts) == 1 and wcwidth.wcswidth(header[: header.index("text")]) in starts

    for wanted in ("from:@wang", "from:wang", "from:Wang", f"from:{WANG}"):
        only = sayso(database_url, "records", wanted, cwd=tmp_path)
        assert only.exit_code == 0, only.stderr
        assert [line.split()[0] for line in only.stdout.splitlines()[1:]] == ["#1"], wanted
    nobody = sayso(database_url, "records", "from:@nobody", cwd=tmp_path)
    assert nobody.exit_code == 2 and "nobody called nobody" in nobody.stderr

    open_ones = sayso(database_url, "records", "status:open", cwd=tmp_path)
    assert [line.split()[0] for line in open_ones.stdout.splitlines()[1:]] == ["#1", "#2"]
    none = sayso(database_url, "records", "status:expired", cwd=tmp_path)
    assert none.exit_code == 0 and none.stdout.strip() == "No records match."

    shown = sayso(database_url, "show", "1", cwd=tmp_path)
    assert "captured by:  Alice Chen (@alice, U0ALICE001)" in shown.stdout
    assert "Wang Wei (@wang, U0WANG0001, Globex): confirmed" in shown.stdout

    digest = sayso(database_url, "digest", "--dry-run", cwd=tmp_path)
    assert digest.exit_code == 0, digest.stderr
    assert "for owner Alice Chen (@alice, U0ALICE001)" in digest.stdout
    assert "陈静" in digest.stdout and "U0CHEN0001" not in digest.stdout


def test_records_on_an_empty_directory_says_what_to_do(tmp_path: Path) -> None:
    result = sayso(None, "records", cwd=tmp_path)
    assert result.exit_code == 1
    assert "sayso db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_then_records(tmp_path: Path) -> None:
    assert _process(["db", "upgrade"], tmp_path).returncode == 0
    assert (tmp_path / "sayso.db").exists()
    result = _process(["records"], tmp_path)
    assert result.returncode == 0
    assert "No records yet" in result.stdout


def test_a_database_of_another_version_is_refused_with_a_way_out(tmp_path: Path) -> None:
    from bot import migrate

    migrate.upgrade(f"sqlite:///{tmp_path / 'sayso.db'}", "0012")
    for command in (["records"], ["outbox"], ["verify"]):
        result = sayso(None, *command, cwd=tmp_path)
        assert result.exit_code == 1, command
        needs = f"this one needs {', '.join(sorted(migrate.heads()))}"
        assert needs in result.stderr and "sayso db upgrade" in result.stderr
        assert "Traceback" not in result.stderr
    assert sayso(None, "db", "upgrade", cwd=tmp_path).exit_code == 0
    assert sayso(None, "outbox", cwd=tmp_path).exit_code == 0


def test_serve_without_token_says_so_in_one_sentence(tmp_path: Path) -> None:
    result = sayso(None, "serve", cwd=tmp_path)
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0
    assert "SLACK_BOT_TOKEN is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_with_a_bad_port_or_secret_says_so(tmp_path: Path) -> None:
    bad_port = sayso(None, "serve", cwd=tmp_path, SLACK_BOT_TOKEN="xoxb-1", PORT="http")
    assert bad_port.exit_code == 2 and "PORT must be" in bad_port.stderr
    no_secret = sayso(None, "serve", cwd=tmp_path, SLACK_BOT_TOKEN="xoxb-1")
    assert no_secret.exit_code == 2 and "SLACK_SIGNING_SECRET is not set" in no_secret.stderr


def test_serve_reads_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-dotenv\nPORT=nonsense\n")
    result = sayso(None, "serve", cwd=tmp_path)
    assert result.exit_code == 2
    assert "PORT must be" in result.stderr


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    with SlackEmulator(team_id="T0ACME0001") as emulator:
        emulator.add_user(ALICE, "alice")
        emulator.add_user(WANG, "wang")
        emulator.add_channel(CHANNEL, "edge-upgrade", members=[ALICE, WANG])
        yield emulator


def test_serve_refuses_a_token_slack_rejects(emulator: SlackEmulator, tmp_path: Path) -> None:
    result = _process(
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
