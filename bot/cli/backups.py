"""The full backup: written by `sayso export --all --format jsonl`, restored by `sayso import`."""

from __future__ import annotations

import os
import sys

import click

from bot import migrate
from bot.cli import common
from bot.cli.common import fail, open_session, settings
from bot.cli.integrity import verify_line
from bot.cli.progress import ProgressBar
from bot.db import make_session_factory


def export_backup(team: str | None, output: str) -> None:
    """The JSON Lines export is the full backup that `sayso import` restores."""
    from datetime import UTC, datetime

    from bot.ledger import backup

    now = datetime.now(UTC)
    try:
        with open_session() as session, ProgressBar() as progress:
            if output == "-":
                backup.write_backup(session, sys.stdout, now, team, progress)
                return
            with open(output, "w", encoding="utf-8", newline="") as out:
                counts = backup.write_backup(session, out, now, team, progress)
    except backup.BackupError as error:
        fail(str(error), 1)
    except OSError as error:
        fail(f"cannot write {output}: {error.strerror}", 1)
    click.echo(f"Wrote {output}: {backup.describe(counts)}.")


@click.command(
    name="import",
    help="Restore a backup written by `sayso export --all --format jsonl` ('-' reads standard "
    "input) into DATABASE_URL, migrated first, in one transaction; then check every chain as "
    "`sayso verify` does. Refuses a workspace the database already holds (exit status 2); a "
    "backup whose chain does not verify is not imported (exit status 1).",
)
@click.argument("file")
@click.option(
    "--allow-broken",
    is_flag=True,
    help="Import even if the chain does not verify (the exit status is still 1).",
)
def import_backup(file: str, allow_broken: bool) -> None:
    from bot.ledger import backup

    chosen = settings()
    migrate.upgrade(chosen.database_url)
    engine = common.make_engine(chosen.database_url)
    try:
        source = sys.stdin.buffer if file == "-" else open(file, "rb")  # noqa: SIM115
    except OSError as error:
        fail(f"cannot read {file}: {error.strerror}")
    try:
        size = None if file == "-" else os.fstat(source.fileno()).st_size
        with source, ProgressBar() as progress:
            imported = backup.import_backup(
                make_session_factory(engine),
                progress.reading("importing", source, size),
                allow_broken,
                progress,
            )
    except backup.BackupError as error:
        fail(f"{file}: {error}; nothing was imported.")
    finally:
        engine.dispose()
    report = imported.report
    if imported.committed:
        teams = ", ".join(imported.teams) or "no workspace"
        click.echo(f"Imported {teams}: {backup.describe(imported.counts)}.")
    click.echo(verify_line(report))
    if not imported.committed:
        click.echo(
            "Nothing was imported: the backup's hash chain does not verify. "
            "`--allow-broken` imports it all the same."
        )
    sys.exit(0 if report.ok else 1)


def register(cli: click.Group) -> None:
    cli.add_command(import_backup)
