"""`sayso export`: one record as an evidence file, or every record as one row each."""

from __future__ import annotations

import click

from bot.cli.backups import export_backup
from bot.cli.common import fail, open_session, reader_zone, settings, tz_option
from bot.cli.progress import ProgressBar
from bot.config import LOCALES
from bot.records import lifecycle


@click.command(
    name="export",
    help="Export one record as an evidence file (html, md or json), or every record as one "
    "row each (--all: csv or jsonl). See docs/evidence.md.",
)
@click.argument("number", type=int, required=False)
@click.option("--all", "every", is_flag=True, help="Every record, one row each.")
@click.option("--team", default=None, help="Workspace (team id), when several share the database.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "md", "json", "csv", "jsonl"]),
    default=None,
    help="One record: html (default), md or json. --all: csv (default) or jsonl.",
)
@click.option(
    "-o",
    "--output",
    default=None,
    help="File to write, '-' for standard output. Default: sayso-evidence-<team>-<N>.html "
    "for html, standard output for the others.",
)
@tz_option
@click.option(
    "--lang",
    type=click.Choice(LOCALES),
    default=None,
    help="The language of an evidence file's readable part (default: the workspace's, "
    "SAYSO_LOCALE, else en).",
)
def export_records(
    number: int | None,
    every: bool,
    team: str | None,
    fmt: str | None,
    output: str | None,
    tz: str | None,
    lang: str | None,
) -> None:
    if every == (number is not None):
        fail("give one record number, or --all.")
    if every:
        _export_rows(team, fmt or "csv", output or "-")
    else:
        assert number is not None
        _export_evidence(number, team, fmt or "html", output, tz, lang or settings().locale)


def _export_rows(team: str | None, fmt: str, output: str) -> None:
    from typing import cast

    from bot import evidence

    if fmt not in ("csv", "jsonl"):
        fail("--all exports csv or jsonl; an evidence file holds one record.")
    if fmt == "jsonl":
        export_backup(team, output)
        return
    with open_session() as session, ProgressBar() as progress:
        rows = evidence.export_rows(session, team, progress)
    # A byte order mark is what makes spreadsheet programs read a CSV file as UTF-8.
    text = evidence.render_rows(rows, cast(evidence.RowFormat, fmt))
    _write_export(text, output, bom=fmt == "csv")
    if output != "-":
        click.echo(f"Wrote {len(rows)} records to {output}.")


def _export_evidence(
    number: int, team: str | None, fmt: str, output: str | None, tz: str | None, lang: str
) -> None:
    from datetime import UTC, datetime
    from typing import cast

    from bot import evidence

    if fmt not in ("html", "md", "json"):
        fail("one record exports as html, md or json; --all exports csv or jsonl.")
    with open_session() as session:
        teams = lifecycle.teams_with_record(session, number, team)
        if not teams:
            fail(f"there is no record #{number}" + (f" in {team}" if team else "") + ".", 1)
        if len(teams) > 1:
            fail(f"#{number} exists in several workspaces ({', '.join(teams)}); add --team.", 1)
        zone = reader_zone(session, teams[0], tz)
        # Offline: no names from Slack, so the file shows the workspace's and channel's IDs.
        document = evidence.build_evidence(
            session, teams[0], number, datetime.now(UTC), zone, language=lang
        )
    target = output or (f"sayso-evidence-{teams[0]}-{number}.html" if fmt == "html" else "-")
    _write_export(evidence.render_evidence(document, cast(evidence.DocumentFormat, fmt)), target)
    checked = document["verification"]
    if target != "-":
        click.echo(f"Wrote {target}: record #{number}; {checked['summary']}")
    if not checked["ok"] or not checked["workspace_chain"]["ok"]:
        problem = checked["problem"] or checked["workspace_chain"]["problem"]
        fail(f"the evidence does not verify: {problem}", 1)


def _write_export(text: str, target: str, bom: bool = False) -> None:
    if target == "-":
        click.echo(text, nl=False)
        return
    try:
        with open(target, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as out:
            out.write(text)
    except OSError as error:
        fail(f"cannot write {target}: {error.strerror}", 1)


def register(cli: click.Group) -> None:
    cli.add_command(export_records)
