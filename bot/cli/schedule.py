"""The schedule from the command line: `sayso digest` and `sayso tick`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from bot.cli.common import build_runtime, fail, open_session, settings
from bot.cli.people import Names, aligned
from bot.ledger import hashchain
from bot.slack.rendering import preview

if TYPE_CHECKING:
    from bot.records.digest import Digest


@click.command(
    help="Print today's digest of unresolved risks (--dry-run), or send it now (--send)."
)
@click.option("--dry-run", is_flag=True, help="Print the digests, send nothing.")
@click.option(
    "--send", is_flag=True, help="Send today's digests now, whatever the hour; once a day each."
)
@click.option("--date", "day", default=None, help="With --dry-run: the day, YYYY-MM-DD (today).")
@click.option("--team", default=None, help="Only this workspace (team id).")
@click.option(
    "--tz", default=None, help="With --dry-run: the time zone (the workspace's by default)."
)
def digest(dry_run: bool, send: bool, day: str | None, team: str | None, tz: str | None) -> None:
    if dry_run == send:
        fail("say --dry-run to print the digest, or --send to send it now (one of the two).")
    if send:
        if day or tz:
            fail("--send sends today's digests in the workspace's time zone; drop --date/--tz.")
        _send_digests_now(team)
        return
    _print_digests(day, team, tz)


def _print_digests(day: str | None, team: str | None, tz: str | None) -> None:
    from datetime import UTC, date, datetime
    from zoneinfo import ZoneInfo

    from bot.records import digest as digests
    from bot.records import settings_store

    try:
        chosen_day = date.fromisoformat(day) if day else None
    except ValueError:
        fail(f"--date must be YYYY-MM-DD, not {day!r}.")
    if tz is not None:
        try:
            ZoneInfo(tz)
        except (KeyError, ValueError):
            fail(f"unknown time zone {tz!r}; use a name like Asia/Shanghai.")
    defaults = settings_store.defaults(settings())
    with open_session() as session:
        names = Names(session, team)
        for team_id in [team] if team else hashchain.team_ids(session):
            channel, owners = digests.scheduled(
                session, team_id, defaults, datetime.now(UTC), chosen_day, tz
            )
            for one in (channel, *owners.values()):
                click.echo(_digest_text(one, names))


def _send_digests_now(team: str | None) -> None:
    runtime = build_runtime()
    try:
        served = runtime.workspaces.installations.team_ids()
        if team and team not in served:
            fail(f"Sayso does not serve workspace {team} here (it serves {', '.join(served)}).")
        queued = sum(
            runtime.workspaces.of(team_id).digesting.send_digests(force=True)
            for team_id in ([team] if team else served)
        )
        runtime.dispatcher.deliver_due()
    finally:
        runtime.close()
    click.echo(
        f"{queued} digest(s) sent." if queued else "Nothing to send: today's went out already."
    )


def _digest_text(one: Digest, names: Names) -> str:
    who = f"owner {names.full(one.team_id, one.owner_id)}" if one.owner_id else "the digest channel"
    lines = [f"== {one.team_id} {one.day}, for {who}: {one.unresolved} unresolved"]
    for title, items in (
        ("awaiting confirmation", one.awaiting),
        ("risky", one.risky),
        ("overdue", one.overdue),
        ("due today", one.due_today),
        ("rejected or expired since yesterday", one.closed),
    ):
        if items:
            lines.append(f"  {title}:")
            lines += aligned(
                [
                    [
                        f"    #{i.number}",
                        ", ".join(names.short(one.team_id, r) for r in i.requester_ids),
                        preview(i.text, 70),
                    ]
                    for i in items
                ]
            )
    if one.all_clear:
        lines.append("  All clear.")
    lines += [f"  checkpoint {c.value}" for c in one.checkpoints]
    return "\n".join(lines)


@click.command(help="One pass of the schedule (the digest when due), for cron; then deliver.")
@click.option("--send-digest-now", is_flag=True, help="Send today's digests now, once each.")
def tick(send_digest_now: bool) -> None:
    runtime = build_runtime()
    try:
        queued = runtime.tick(force=send_digest_now)
        runtime.dispatcher.deliver_due()
    finally:
        runtime.close()
    click.echo(f"{queued} digest(s) sent." if queued else "Nothing was due.")


def register(cli: click.Group) -> None:
    cli.add_command(digest)
    cli.add_command(tick)
