"""The long commands show a progress bar on a terminal, and nothing of it in a pipe."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

from bot.emulator.sandbox import Sandbox
from tests.conftest import ALICE, WANG
from tests.e2e.helpers import capture, click
from tests.support import clean_env, sayso


def _on_a_terminal(args: list[str], cwd: Path, database_url: str) -> tuple[int, str]:
    """`sayso *args` as a process whose standard error is a terminal (a pty); returns its
    exit status and what it wrote there."""
    terminal, its_end = pty.openpty()
    # A terminal of 24 lines of 80 columns: a pty's size is 0x0 until someone sets it.
    fcntl.ioctl(its_end, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=clean_env(DATABASE_URL=database_url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=its_end,
    )
    os.close(its_end)
    written = b""
    try:
        while chunk := os.read(terminal, 4096):
            written += chunk
    except OSError:  # the process closed its end: on Linux a read then fails with EIO
        pass
    finally:
        os.close(terminal)
    return process.wait(timeout=60), written.decode(errors="replace")


def test_verify_export_import_and_purge_show_progress_only_on_a_terminal(
    sandbox: Sandbox, database_url: str, empty_database_url: str, tmp_path: Path
) -> None:
    capture(sandbox, ALICE, WANG, "reboot edge-3")
    click(sandbox, WANG, 1, "Confirm")
    backup = tmp_path / "backup.jsonl"
    commands = {
        "verifying": ["verify"],
        "exporting": ["export", "--all", "--format", "jsonl", "-o", str(backup)],
        "purge": ["purge", "--before", "2000-01-01"],
    }
    for what, args in commands.items():
        piped = sayso(database_url, *args, cwd=tmp_path)
        assert piped.exit_code == 0, piped.stderr
        assert piped.stderr == "", what
        status, shown = _on_a_terminal(args, tmp_path, database_url)
        assert status == 0, shown
        assert ("verifying" if what == "purge" else what) in shown and "%|" in shown, shown

    status, shown = _on_a_terminal(["import", str(backup)], tmp_path, empty_database_url)
    assert status == 0, shown
    assert "importing" in shown and "verifying" in shown
