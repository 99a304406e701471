"""Reading the records: `sayso records`, `sayso search` and `sayso show`."""

from __future__ import annotations

import json
from typing import Any

import click

from bot.cli.common import checked_zone, fail, open_session, reader_zone, tz_option
from bot.localtime import shown
from bot.models import Record
from bot.records import lifecycle
from bot.slack.rendering import preview


@click.command(
    name="records",
    help="List the records, oldest first. Filters as in Slack: status:pending risk:high "
    "from:U0WANG owner:U0LI in:C0EDGE before:2026-12-01 after:2026-11-01, and words.",
)
@click.argument("filters", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--team", default=None, help="Only this workspace (team id).")
@tz_option
def list_records(filters: tuple[str, ...], as_json: bool, team: str | None, tz: str | None) -> None:
    _print_found(*_find(" ".join(filters), team, tz, newest_first=False), as_json)


@click.command(name="search", help="Find records by words (Chinese too) and filters, newest first.")
@click.argument("words", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--team", default=None, help="Only this workspace (team id).")
@tz_option
def search_records(words: tuple[str, ...], as_json: bool, team: str | None, tz: str | None) -> None:
    _print_found(*_find(" ".join(words), team, tz, newest_first=True), as_json)


def _find(
    line: str, team: str | None, tz: str | None, newest_first: bool
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The records found, and the zone each one's workspace shows its times in."""
    from bot.records import search
    from bot.slack.query import QueryError, parse_query

    try:
        query = parse_query(line)
    except QueryError as error:
        fail(f"cannot read {error}", 2)
    if tz is not None:
        checked_zone(tz)
    with open_session() as session:
        found = search.find(session, query, team, newest_first=newest_first)
        zones = {t: reader_zone(session, t, tz) for t in {r.team_id for r in found}}
        return [lifecycle.as_dict(r) for r in found], zones


def _print_found(found: list[dict[str, Any]], zones: dict[str, str], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, indent=2))
        return
    if not found:
        click.echo("No records yet. Capture one with /confirm in Slack, or run `sayso demo`.")
        return
    several = len({r["team_id"] for r in found}) > 1
    for record in found:
        team = f"{record['team_id']} " if several else ""
        click.echo(
            f"{team}#{record['number']:<4} {record['status']:<9} "
            f"{shown(record['created_at'], zones[record['team_id']])}  "
            f"requester {record['requester_id']}  {preview(record['text'], 60)}"
        )


@click.command(help="Show one record and its history.")
@click.argument("number", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--team", default=None, help="Workspace (team id), when several share the database.")
@tz_option
def show(number: int, as_json: bool, team: str | None, tz: str | None) -> None:
    with open_session() as session:
        matches = lifecycle.numbered(session, number, team)
        if not matches:
            fail(f"there is no record #{number}" + (f" in {team}" if team else "") + ".", 1)
        if len(matches) > 1:
            teams = ", ".join(r.team_id for r in matches)
            fail(f"#{number} exists in several workspaces ({teams}); add --team.", 1)
        record = matches[0]
        if as_json:
            click.echo(json.dumps(lifecycle.as_dict(record), ensure_ascii=False, indent=2))
            return
        click.echo(_record_details(record, reader_zone(session, record.team_id, tz)))


def _record_details(record: Record, zone: str) -> str:
    def when(moment: Any) -> str:
        return shown(moment, zone, seconds=True)

    lines = [
        f"#{record.number} ({record.team_id}) — {record.kind}, {record.status}, "
        f"revision {record.revision}",
        f"  text:         {record.text}",
        f"  captured by:  {record.captured_by_id} at {when(record.created_at)} "
        f"(via {record.source})",
        f"  owner:        {record.owner_id}",
        f"  risk:         {record.risk}" + (f" — {record.risk_note}" if record.risk_note else ""),
        f"  due:          {when(record.due_at)}",
        f"  channel:      {record.channel_id}  thread {record.thread_ts or '(not posted yet)'}",
    ]
    if record.source_permalink:
        lines.append(f"  source:       {record.source_permalink}")
    lines.append("  requesters:")
    for requester in record.requesters:
        org = f" ({requester.org_name})" if requester.org_name else ""
        answered = (
            f" at {when(requester.answered_at)} by {requester.answered_via}, "
            f"revision {requester.answered_revision}"
            if requester.answered_at
            else ""
        )
        lines.append(f"    {requester.user_id}{org}: {requester.answer}{answered}")
    if len(record.revisions) > 1:
        lines.append("  revisions:")
        lines += [
            f"    {v.number}. {v.text}  ({v.author_id}, {when(v.created_at)})"
            for v in record.revisions
        ]
    lines.append("  history:")
    lines += [
        f"    {when(e.at)}  {e.type:<14} {e.actor_id:<12} {e.hash[:12]}" for e in record.events
    ]
    return "\n".join(lines)


def register(cli: click.Group) -> None:
    cli.add_command(list_records)
    cli.add_command(search_records)
    cli.add_command(show)
