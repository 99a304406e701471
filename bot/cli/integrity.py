"""Checking the ledger: `sayso verify` (and `--against` a published checkpoint),
`sayso checkpoint` and `sayso verify-evidence`."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from bot.cli.common import fail, open_database, open_session
from bot.cli.progress import ProgressBar
from bot.ledger import hashchain

if TYPE_CHECKING:
    from bot.ledger.published import Published
    from bot.ledger.verify import Report


def _published_value(value: str) -> Published:
    from bot.ledger import published

    try:
        return published.parse(value)
    except ValueError as error:
        raise click.BadParameter(f"{error}; give {published.FORMAT}.") from None


@click.command(help="Check every workspace's hash chain; exit status 1 names the first break.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--against",
    "published",
    multiple=True,
    callback=lambda _ctx, _param, values: [_published_value(v) for v in values],
    help="A checkpoint the digest published, DAY:SIZE:ROOT or SIZE:ROOT (repeatable): check "
    "that the events as stored now still give it. See docs/evidence.md.",
)
@click.option("--team", default=None, help="With --against: the workspace it was published for.")
def verify(as_json: bool, published: list[Published], team: str | None) -> None:
    from bot.ledger import published as publishing
    from bot.ledger.verify import verify as verify_chains

    if team and not published:
        fail("--team goes with --against.")
    with open_session() as session, ProgressBar() as progress:
        report = verify_chains(session, progress)
        known = hashchain.team_ids(session)
        if team and team not in known:
            fail(f"there is no workspace {team} in this database.")
        teams = [team] if team else known
        found = [publishing.check(session, wanted, teams) for wanted in published]
    ok = report.ok and all(f.ok for f in found)
    if as_json:
        click.echo(
            json.dumps(
                {**report.as_dict(), "ok": ok, "against": [f.as_dict() for f in found]}, indent=2
            )
        )
        sys.exit(0 if ok else 1)
    click.echo(verify_line(report))
    for one in found:
        if one.ok:
            # The chain check above links that day's events to the head, whatever came after.
            then = "the chain goes on from them to the head" if report.ok else "see above"
            click.echo(f"OK: {one.value}: {one.what}; {then}")
        else:
            click.echo(f"NOT IN THE LEDGER: {one.value}: {one.what}")
    sys.exit(0 if ok else 1)


def verify_line(report: Report) -> str:
    """What `sayso verify` prints of the chains (`sayso import` and `sayso purge` too)."""
    if report.ok:
        return f"OK: {report.events} events, head {_heads(report)}"
    problem = report.problem
    assert problem is not None
    where = f"record #{problem.record}" if problem.record is not None else "no record"
    event = f"event {problem.seq} ({problem.event_type})" if problem.seq else "the chain"
    return f"BROKEN: workspace {problem.team_id}, {where}, {event}: {problem.what}"


def _heads(report: Report) -> str:
    if len(report.chains) == 1:
        return str(report.chains[0].head)
    return "; ".join(f"{c.team_id} {c.head}" for c in report.chains) or "(no events yet)"


@click.command(help="Seal each finished UTC day's events into a Merkle checkpoint (RFC 6962).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def checkpoint(as_json: bool) -> None:
    from datetime import UTC, datetime

    from bot.ledger import checkpoints

    now = datetime.now(UTC)
    factory = open_database(writes=True)
    with factory() as session:
        teams = hashchain.team_ids(session)
    made = [
        {"team_id": team_id, "day": c.day.isoformat(), "size": c.size, "root": c.root}
        for team_id in teams
        for c in checkpoints.seal(factory, team_id, now)
    ]
    if as_json:
        click.echo(json.dumps(made, indent=2))
    elif not made:
        click.echo("Every finished day already has its checkpoint.")
    for entry in [] if as_json else made:
        click.echo(
            f"{entry['team_id']} {entry['day']}: {entry['size']} events, root {entry['root']}"
        )


@click.command(
    name="verify-evidence",
    help="Check an evidence file (json, md or html) on its own. Exit status 1 names the first "
    "failure, 2 means the file is not an evidence file.",
)
@click.argument("file")
def verify_evidence_file(file: str) -> None:
    from pathlib import Path

    from bot import evidence

    try:
        raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as error:
        fail(f"cannot read {file}: {error.strerror}")
    try:
        report = evidence.verify_evidence_file(raw.decode("utf-8"))
    except UnicodeDecodeError:
        fail(f"{file} is not a Sayso evidence file (not UTF-8 text).")
    except evidence.NotEvidence as error:
        fail(f"{file}: {error}.")
    if not report.ok:
        click.echo(report.summary())
        sys.exit(1)
    click.echo(f"OK: {report.checks[0].detail}: {report.summary()}")
    for day, (size, root) in sorted(report.heads.items()):
        click.echo(f"  {day}: size {size}, root {root}; compare with the checkpoint in Slack")
    click.echo(
        f"  complete as of the checkpoint of {report.complete_as_of}: events after it are not "
        "covered; compare that day with the newest checkpoint in Slack"
    )
    click.echo(f"  {evidence.NOT_COVERED}")


def register(cli: click.Group) -> None:
    cli.add_command(verify)
    cli.add_command(checkpoint)
    cli.add_command(verify_evidence_file)
