"""Reading the records: `sayso records`, `sayso search` and `sayso show`."""

from __future__ import annotations

import json
from typing import Any

import click
from sqlalchemy.orm import Session

from bot.cli.common import checked_zone, fail, open_session, reader_zone, tz_option
from bot.cli.people import Names, aligned, with_ids
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
    with open_session() as session:
        found = _find(session, " ".join(filters), team, tz, newest_first=False)
        _print_found(session, found, team, tz, as_json, filtered=bool(filters))


@click.command(name="search", help="Find records by words (Chinese too) and filters, newest first.")
@click.argument("words", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--team", default=None, help="Only this workspace (team id).")
@tz_option
def search_records(words: tuple[str, ...], as_json: bool, team: str | None, tz: str | None) -> None:
    with open_session() as session:
        found = _find(session, " ".join(words), team, tz, newest_first=True)
        _print_found(session, found, team, tz, as_json, filtered=True)


def _find(
    session: Session, line: str, team: str | None, tz: str | None, newest_first: bool
) -> list[Record]:
    from bot.records import search
    from bot.slack.query import QueryError, parse_query

    try:
        query = parse_query(with_ids(session, line, team))
    except QueryError as error:
        fail(f"cannot read {error}", 2)
    if tz is not None:
        checked_zone(tz)
    return search.find(session, query, team, newest_first=newest_first)


def _print_found(
    session: Session,
    records: list[Record],
    team: str | None,
    tz: str | None,
    as_json: bool,
    filtered: bool,
) -> None:
    if as_json:
        click.echo(
            json.dumps([lifecycle.as_dict(r) for r in records], ensure_ascii=False, indent=2)
        )
        return
    if not records:
        if filtered and lifecycle.any_records(session, team):
            click.echo("No records match.")
        else:
            click.echo("No records yet. Capture one with /confirm in Slack, or run `sayso demo`.")
        return
    names = Names(session, team)
    zones = {t: reader_zone(session, t, tz) for t in {r.team_id for r in records}}
    several = len({r.team_id for r in records}) > 1
    rows = [
        [
            *([record.team_id] if several else []),
            f"#{record.number}",
            record.status,
            shown(record.created_at, zones[record.team_id]),
            ", ".join(names.short(record.team_id, r.user_id) for r in record.requesters)
            or names.short(record.team_id, record.requester_id),
            preview(record.text, 60),
        ]
        for record in records
    ]
    header = [*(["workspace"] if several else []), "#", "status", "captured", "requester", "text"]
    for line in aligned([header, *rows]):
        click.echo(line)


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
        click.echo(
            _record_details(
                record, Names(session, record.team_id), reader_zone(session, record.team_id, tz)
            )
        )


def _record_details(record: Record, names: Names, zone: str) -> str:
    def when(moment: Any) -> str:
        return shown(moment, zone, seconds=True)

    def who(user_id: str) -> str:
        return names.full(record.team_id, user_id)

    lines = [
        f"#{record.number} ({record.team_id}) — {record.kind}, {record.status}, "
        f"revision {record.revision}",
        f"  text:         {record.text}",
        f"  captured by:  {who(record.captured_by_id)} at {when(record.created_at)} "
        f"(via {record.source})",
        f"  owner:        {who(record.owner_id)}",
        f"  risk:         {record.risk}" + (f" — {record.risk_note}" if record.risk_note else ""),
        f"  due:          {when(record.due_at)}",
        f"  channel:      {record.channel_id}  thread {record.thread_ts or '(not posted yet)'}",
    ]
    if record.source_permalink:
        lines.append(f"  source:       {record.source_permalink}")
    lines.append("  requesters:")
    for requester in record.requesters:
        named = who(requester.user_id)
        # The organization the record kept, when the directory no longer says it.
        org = (
            f" ({requester.org_name})" if requester.org_name and named == requester.user_id else ""
        )
        answered = (
            f" at {when(requester.answered_at)} by {requester.answered_via}, "
            f"revision {requester.answered_revision}"
            if requester.answered_at
            else ""
        )
        lines.append(f"    {named}{org}: {requester.answer}{answered}")
    if len(record.revisions) > 1:
        lines.append("  revisions:")
        lines += [
            f"    {v.number}. {v.text}  ({names.short(record.team_id, v.author_id)}, "
            f"{when(v.created_at)})"
            for v in record.revisions
        ]
    lines.append("  history:")
    lines += aligned(
        [
            [
                f"    {when(e.at)}",
                e.type,
                names.short(record.team_id, e.actor_id),
                e.hash[:12],
            ]
            for e in record.events
        ]
    )
    return "\n".join(lines)


def register(cli: click.Group) -> None:
    cli.add_command(list_records)
    cli.add_command(search_records)
    cli.add_command(show)
