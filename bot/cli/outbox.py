"""`sayso outbox`: the Slack messages waiting to go out and those that failed for good."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from bot.cli.common import build_runtime, fail, open_session
from bot.db import reading, unit_of_work

if TYPE_CHECKING:
    from bot.outbox.admin import FailedMessage


@click.group(
    invoke_without_command=True,
    help="The Slack messages waiting to go out, and those that failed for good (after 24 "
    "hours of retries, or at once for an error retrying cannot mend): list them, try them "
    "again, or drop them.",
)
@click.option("--team", default=None, help="Only this workspace (team id).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def outbox(ctx: click.Context, team: str | None, as_json: bool) -> None:
    if ctx.invoked_subcommand is not None:
        if team or as_json:
            fail(
                f"--team and --json list the outbox; for `{ctx.invoked_subcommand}`, put "
                f"its own options after it (sayso outbox {ctx.invoked_subcommand} --help)."
            )
        return
    from bot.outbox import admin

    with open_session() as session:
        seen = admin.standing(session, team)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "waiting": seen.waiting,
                    "retrying": seen.retrying,
                    "oldest_waiting": _iso(seen.oldest_waiting),
                    "failed": [_failed_json(m) for m in seen.failed],
                },
                indent=2,
            )
        )
        return
    if seen.waiting:
        waiting = f"{seen.waiting} message{'' if seen.waiting == 1 else 's'} waiting to go out"
        waiting += f" (the oldest queued {_when(seen.oldest_waiting)}"
        waiting += f"; {seen.retrying} refused by Slack so far)" if seen.retrying else ")"
    else:
        waiting = "Nothing is waiting to go out"
    if not seen.failed:
        click.echo(f"{waiting}, and nothing failed.")
        return
    click.echo(f"{waiting}; {len(seen.failed)} failed for good:")
    for message in seen.failed:
        click.echo(f"  {_failed_line(message)}")
    click.echo(
        "`sayso outbox retry ID...` (or --all-failed) tries them again; "
        "`sayso outbox drop ID... --yes` deletes them."
    )


@outbox.command(
    name="retry",
    help="Make failed messages due again, then deliver what is due. Each gets 24 hours of "
    "retries again; whoever was told of its trouble is not told twice. Mend the cause first "
    "(invite @Sayso, restore the token). Exit status 1 if a named message was not failed, "
    "or if one failed again.",
)
@click.argument("ids", nargs=-1, type=int)
@click.option("--all-failed", is_flag=True, help="Every failed message (of --team).")
@click.option("--team", default=None, help="Only this workspace's messages (team id).")
def outbox_retry(ids: tuple[int, ...], all_failed: bool, team: str | None) -> None:
    from bot.outbox import admin

    if bool(ids) == all_failed:
        fail("name the messages to retry (their ids, from `sayso outbox`), or --all-failed.")
    runtime = build_runtime()
    try:
        with unit_of_work(runtime.session_factory) as session:
            # The dispatcher's clock, so that what is made due now is due to it.
            retried = admin.retry_failed(
                session, runtime.clock.now(), None if all_failed else ids, team
            )
            states = admin.where_is(session, ids)
        runtime.dispatcher.deliver_due()
        with reading(runtime.session_factory) as session:
            after = admin.where_is(session, retried)
    finally:
        runtime.close()
    not_retried = sorted(set(ids) - set(retried))
    for message_id in not_retried:
        state = states.get(message_id, "no such message")
        if team is not None and state.startswith("failed"):
            state += f" (not a message of {team})"
        click.echo(f"{message_id}: not retried, {state}")
    for message_id in retried:
        click.echo(f"{message_id}: {after.get(message_id, 'gone (its record was purged)')}")
    if not retried:
        click.echo("Nothing was retried.")
    failed_again = [i for i in retried if after.get(i, "").startswith("failed")]
    sys.exit(1 if not_retried or failed_again else 0)


@outbox.command(
    name="drop",
    help="Delete failed messages. A failed capture or click is the only trace of what was "
    "acked and never stored: it goes too. Without --yes, only says what it would delete.",
)
@click.argument("ids", nargs=-1, type=int, required=True)
@click.option("--yes", is_flag=True, help="Delete; without it, nothing is changed.")
def outbox_drop(ids: tuple[int, ...], yes: bool) -> None:
    from bot.outbox import admin

    with open_session(writes=True) as session, session.begin():
        found = admin.drop_failed(session, ids) if yes else admin.failed_messages(session, ids)
        missing = sorted(set(ids) - {m.id for m in found})
        if missing:
            states = admin.where_is(session, missing)
            for message_id in missing:
                state = states.get(message_id, "no such message")
                click.echo(f"{message_id}: not a failed message ({state}); left alone")
    for message in found:
        click.echo(f"{'Dropped' if yes else 'Would drop'} {_failed_line(message)}")
    if found and not yes:
        click.echo("Nothing was changed; run again with --yes to delete.")
    sys.exit(1 if missing else 0)


def _failed_line(message: FailedMessage) -> str:
    record = f"#{message.record_number}" if message.record_number is not None else "-"
    tries = f"{message.attempts} attempt{'' if message.attempts == 1 else 's'}"
    return (
        f"{message.id:<6} {message.team_id:<11} {record:<6} {message.kind:<16} {tries:<12} "
        f"failed {_when(message.failed_at)}: {message.last_error}"
    )


def _failed_json(message: FailedMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "team_id": message.team_id,
        "record": message.record_number,
        "kind": message.kind,
        "attempts": message.attempts,
        "created_at": _iso(message.created_at),
        "failed_at": _iso(message.failed_at),
        "last_error": message.last_error,
    }


def _iso(moment: datetime | None) -> str | None:
    from bot.ledger.hashchain import iso_utc

    return iso_utc(moment) if moment is not None else None


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def register(cli: click.Group) -> None:
    cli.add_command(outbox)
