"""`sayso purge`: closed records deleted, their events erased, the chain kept verifiable."""

from __future__ import annotations

import click

from bot.cli.common import fail, open_session
from bot.cli.integrity import verify_line
from bot.cli.progress import ProgressBar


@click.command(
    help="Delete closed records (done, cancelled, rejected, expired, withdrawn) whose last "
    "activity is before DATE (UTC), keeping the chain verifiable: their events become blank "
    "`erased` entries, declared by a `purged` event. Without --yes, only says what it would do."
)
@click.option("--before", "day", required=True, help="YYYY-MM-DD: last activity before this day.")
@click.option("--yes", is_flag=True, help="Delete; without it, nothing is changed.")
@click.option("--team", default=None, help="Only this workspace (team id).")
@click.option("--by", default=None, help="Who purges, as recorded (default: cli:$USER).")
def purge(day: str, yes: bool, team: str | None, by: str | None) -> None:
    import getpass
    from datetime import UTC, date, datetime

    from bot.ledger import purge as purging

    try:
        before = purging.cutoff(date.fromisoformat(day))
    except ValueError:
        fail(f"--before takes a date as YYYY-MM-DD, not {day!r}.")
    now = datetime.now(UTC)
    if before > now:
        fail(f"--before {day} is in the future; records are purged only after the fact.")
    actor = (by or f"cli:{getpass.getuser()}")[:32]
    try:
        with open_session(writes=True) as session, session.begin(), ProgressBar() as progress:
            outcome = purging.purge(session, before, now, actor, team, apply=yes, progress=progress)
    except purging.PurgeRefused as error:
        fail(str(error), 1)
    if not outcome.purges and not outcome.busy:
        click.echo(f"Nothing to purge: no closed record was last active before {day}.")
    for done in outcome.purges:
        count = len(done.numbers)
        what = f"{count} record{'' if count == 1 else 's'} of {done.team_id} ({done.records})"
        if yes:
            click.echo(
                f"Purged {what}: {done.events} events erased, declared by event {done.seq} "
                f"(purged); the chain head at the cut was {done.head}."
            )
        else:
            click.echo(f"Would purge {what}, erasing {done.events} events.")
    for team_id, numbers in outcome.busy.items():
        which = ", ".join(f"#{n}" for n in numbers)
        them = "it" if len(numbers) == 1 else "them"
        click.echo(
            f"Left {which} of {team_id} alone: a change to {them} was under way. Purge again later."
        )
    if outcome.purges and not yes:
        click.echo("Nothing was changed; run again with --yes to purge.")
    click.echo(verify_line(outcome.report))


def register(cli: click.Group) -> None:
    cli.add_command(purge)
