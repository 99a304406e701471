"""docs/operations.md says what is true: every `sayso` command it shows parses, the backup,
restore and purge commands work as written, and the Dockerfile and compose.yaml agree with
the code they package."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
import yaml

from bot.cli import cli
from bot.config import DEFAULT_PORT
from bot.emulator import SlackEmulator
from bot.emulator.sandbox import Sandbox
from tests.conftest import ALICE, CHANNEL, TEAM, WANG, ZHAO
from tests.e2e.helpers import capture
from tests.e2e.helpers import click as press
from tests.support import ManualClock, ServeProcess, clean_env, free_port

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "operations.md").read_text()
BLOCKS = re.findall(r"^```(\w*)\n(.*?)^```$", DOC, re.MULTILINE | re.DOTALL)
# `sayso …` where a shell command starts: a line, or after &&, ||, ; or |, maybe after
# VAR=value prefixes; or inside a compose container.
COMMAND = re.compile(
    r"(?:^|&&|\|\||;|\||docker compose run --rm sayso)[ \t]*(?:\w+=\S+[ \t]+)*"
    r"sayso[ \t]+([^\n|;&#]*)",
    re.MULTILINE,
)


@pytest.fixture
def clock() -> ManualClock:
    # Before the doc's --before 2026-01-01, and in the real past (purge refuses the future).
    return ManualClock(datetime(2025, 12, 1, 9, 30, tzinfo=UTC))


def _commands() -> list[list[str]]:
    return [shlex.split(args) for _, block in BLOCKS for args in COMMAND.findall(block)]


def test_every_sayso_command_in_the_doc_parses() -> None:
    commands = _commands()
    named = {" ".join(args[:2]) if args[0] == "db" else args[0] for args in commands}
    assert {"export", "import", "verify", "purge", "checkpoint", "db upgrade", "outbox"} <= named
    for args in commands:
        command: click.Command = cli
        rest = list(args)
        while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
            found = command.get_command(click.Context(command), rest.pop(0))
            assert found is not None, f"no such command: sayso {' '.join(args)}"
            command = found
        if isinstance(command, click.Group):  # `sayso outbox` alone lists the outbox
            assert command.invoke_without_command, f"sayso {' '.join(args)} needs a subcommand"
        command.make_context(command.name or "", rest)  # raises on an unknown option


def _block(needle: str) -> str:
    return next(block for kind, block in BLOCKS if kind == "sh" and needle in block)


def _bash(script: str, cwd: Path, database_url: str) -> list[str]:
    """The block as written, with `sayso` on PATH and DATABASE_URL pointing at the story."""
    bindir = cwd / "bin"
    bindir.mkdir(exist_ok=True)
    wrapper = bindir / "sayso"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m bot "$@"\n')
    wrapper.chmod(0o755)
    env = clean_env(DATABASE_URL=database_url, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


def _verified(database_url: str, cwd: Path) -> str:
    return _bash("sayso verify", cwd, database_url)[-1]


@pytest.fixture
def story(sandbox: Sandbox) -> Sandbox:
    capture(sandbox, ALICE, WANG, "reboot core-1")
    press(sandbox, WANG, 1, "Confirm")
    capture(sandbox, ALICE, ZHAO, "drain edge-2")
    press(sandbox, ZHAO, 2, "Reject")
    capture(sandbox, ALICE, WANG, "open port 443 on fw-2")
    return sandbox


def test_backup_and_restore_work_as_written(
    story: Sandbox, database_url: str, tmp_path: Path
) -> None:
    said = _bash(_block("sayso import"), tmp_path, database_url)
    assert said[0].startswith("Wrote backup.jsonl: 1 workspace, 3 records, ")
    assert said[1].startswith(f"Imported {TEAM}: 1 workspace, 3 records, ")
    head = _verified(database_url, tmp_path)
    assert head.startswith("OK: ")
    assert said[2:] == [head, head]  # what import checked, then `sayso verify` on the copy
    assert (tmp_path / "restored.db").exists()


def test_purge_works_as_written(story: Sandbox, database_url: str, tmp_path: Path) -> None:
    said = _bash(_block("sayso purge"), tmp_path, database_url)
    assert said[0].startswith(f"Would purge 1 record of {TEAM} (#2), erasing ")
    assert said[1] == "Nothing was changed; run again with --yes to purge."
    assert said[3].startswith(f"Purged 1 record of {TEAM} (#2): ")
    assert said[4].startswith("OK: ") and said[5] == said[4]
    listed = _bash("sayso records --json", tmp_path, database_url)
    assert [r["number"] for r in json.loads("\n".join(listed))] == [1, 3]


# --- the container ------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_the_dockerfile_packages_the_code_and_runs_sayso_serve() -> None:
    instructions = _dockerfile()
    final = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM") :]
    values = {op: arg for op, arg in final}
    assert all(arg.startswith("python:3.11-slim") for op, arg in instructions if op == "FROM")
    assert values["EXPOSE"] == str(DEFAULT_PORT)
    assert values["USER"].split(":")[0] not in ("root", "0")
    assert json.loads(values["CMD"]) == ["sayso", "serve"]
    assert "/healthz" in values["HEALTHCHECK"]
    assert any(
        op == "RUN" and "pip install" in arg and arg.endswith(" .") for op, arg in instructions
    )
    copied = {
        arg.split()[0].rstrip("/")
        for op, arg in instructions
        if op == "COPY" and "--from" not in arg
    }
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    wanted = {p.rstrip("*") for p in packages["packages"]["find"]["include"]}
    assert wanted <= copied, "every package pyproject.toml installs is copied into the image"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and "*.db" in ignored and ".git" in ignored


def test_compose_runs_sayso_with_postgres() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    sayso, postgres = compose["services"]["sayso"], compose["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert sayso["env_file"] == ".env" and sayso["build"] == "."
    assert sayso["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in sayso["environment"]["DATABASE_URL"]
    assert sayso["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert f"{DEFAULT_PORT}:{DEFAULT_PORT}" in sayso["ports"]


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    with SlackEmulator(team_id=TEAM) as emulator:
        emulator.add_user(ALICE, "alice")
        emulator.add_channel(CHANNEL, "edge-upgrade", members=[ALICE])
        yield emulator


def test_the_image_healthcheck_asks_healthz(
    emulator: SlackEmulator, database_url: str, tmp_path: Path
) -> None:
    values = dict(_dockerfile())
    command = json.loads(values["HEALTHCHECK"].split(" CMD ", 1)[1])
    assert command[0] == "python"
    check = [sys.executable, *command[1:]]

    def run(**env: str) -> int:
        quiet = subprocess.DEVNULL
        result = subprocess.run(check, env=clean_env(**env), stdout=quiet, stderr=quiet, timeout=30)
        return result.returncode

    server = ServeProcess(tmp_path, emulator, database_url)
    try:
        server.wait_until_healthy()
        assert run(PORT=str(server.port)) == 0
    finally:
        server.stop()
    assert run(PORT=str(free_port())) != 0  # nobody listening: unhealthy
    assert run(PORT=str(free_port()), SLACK_APP_TOKEN="xapp-1") == 0  # Socket Mode
