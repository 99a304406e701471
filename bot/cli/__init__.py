"""The `sayso` command line."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, NoReturn

import click
from sqlalchemy import inspect, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import selectinload

from bot import migrate
from bot.config import ConfigError, Settings, load_settings
from bot.db import make_engine, make_session_factory, read_only, reading, unit_of_work
from bot.models import Record
from bot.records import lifecycle
from bot.slack.gateway import make_client
from bot.slack.rendering import preview


def _fail(message: str, status: int = 2) -> NoReturn:
    click.echo(f"sayso: {message}", err=True)
    sys.exit(status)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as error:
        _fail(str(error))


@click.group(help="Sayso: every client instruction confirmed in Slack, and kept on record.")
@click.version_option(package_name="sayso")
def cli() -> None:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@cli.command(help="Run the bot: Socket Mode if SLACK_APP_TOKEN is set, else HTTP on PORT.")
@click.option("--host", default="0.0.0.0", show_default=True, help="Interface for HTTP mode.")
@click.option("--port", type=int, default=None, help="Overrides PORT (default 3000).")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="HTTP mode: gunicorn worker processes (overrides SAYSO_WORKERS; default 2 per CPU, "
    "at most 4).",
)
def serve(host: str, port: int | None, workers: int | None) -> None:
    from bot import logs
    from bot.serve.server import serve as run_server

    try:
        settings = _settings().require_slack()
    except ConfigError as error:
        _fail(str(error))
    logs.configure(settings.log_format)
    run_server(settings, host=host, port=port or settings.port, workers=workers)


@cli.command(help="Play the core story against a built-in Slack emulator; no Slack account needed.")
@click.option("--quiet", is_flag=True, help="Print only the summary, not the transcript.")
def demo(quiet: bool) -> None:
    from bot.demo import run_demo

    run_demo(_settings(), echo=(lambda line: None) if quiet else click.echo)


@cli.group(help="Database schema.")
def db() -> None:
    pass


@db.command(help="Bring the database schema up to date (also done by `sayso serve`).")
def upgrade() -> None:
    settings = _settings()
    migrate.upgrade(settings.database_url)
    click.echo(f"Database schema is up to date ({_safe_url(settings.database_url)}).")


@cli.command(
    name="records",
    help="List the records, oldest first. Filters as in Slack: status:pending risk:high "
    "from:U0WANG owner:U0LI in:C0EDGE before:2026-12-01 after:2026-11-01, and words.",
)
@click.argument("filters", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--team", default=None, help="Only this workspace (team id).")
def list_records(filters: tuple[str, ...], as_json: bool, team: str | None) -> None:
    _print_found(_find(" ".join(filters), team, newest_first=False), as_json)


@cli.command(name="search", help="Find records by words (Chinese too) and filters, newest first.")
@click.argument("words", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--team", default=None, help="Only this workspace (team id).")
def search_records(words: tuple[str, ...], as_json: bool, team: str | None) -> None:
    _print_found(_find(" ".join(words), team, newest_first=True), as_json)


def _find(line: str, team: str | None, newest_first: bool) -> list[dict[str, Any]]:
    from bot.models import Workspace
    from bot.records import search
    from bot.slack.query import QueryError, parse_query

    try:
        query = parse_query(line)
    except QueryError as error:
        _fail(f"cannot read {error}", 2)
    with _open_session() as session:
        teams = [team] if team else list(session.execute(select(Workspace.team_id)).scalars())
        found = [
            record
            for team_id in teams
            for record in session.execute(
                search.statement(session, team_id, query, limit=100_000).options(
                    selectinload(Record.events)  # as_dict writes each history out
                )
            ).scalars()
        ]
        found.sort(key=lambda r: (r.created_at, r.id), reverse=newest_first)
        return [lifecycle.as_dict(r) for r in found]


def _print_found(found: list[dict[str, Any]], as_json: bool) -> None:
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
            f"{team}#{record['number']:<4} {record['status']:<9} {record['created_at'][:16]}Z  "
            f"requester {record['requester_id']}  {preview(record['text'], 60)}"
        )


@cli.command(help="Show one record and its history.")
@click.argument("number", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--team", default=None, help="Workspace (team id), when several share the database.")
def show(number: int, as_json: bool, team: str | None) -> None:
    with _open_session() as session:
        matches = [r for r in lifecycle.list_records(session, team) if r.number == number]
        if not matches:
            _fail(f"there is no record #{number}" + (f" in {team}" if team else "") + ".", 1)
        if len(matches) > 1:
            teams = ", ".join(r.team_id for r in matches)
            _fail(f"#{number} exists in several workspaces ({teams}); add --team.", 1)
        record = matches[0]
        if as_json:
            click.echo(json.dumps(lifecycle.as_dict(record), ensure_ascii=False, indent=2))
            return
        click.echo(_record_details(record))


@cli.command(help="Check every workspace's hash chain; exit status 1 names the first break.")
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
def verify(as_json: bool, published: list[Any], team: str | None) -> None:
    from bot.ledger import published as publishing
    from bot.ledger.verify import verify as verify_chains
    from bot.models import Workspace

    if team and not published:
        _fail("--team goes with --against.")
    with _open_session() as session:
        report = verify_chains(session)
        teams = [team] if team else list(session.execute(select(Workspace.team_id)).scalars())
        if team and session.get(Workspace, team) is None:
            _fail(f"there is no workspace {team} in this database.")
        found = [publishing.check(session, wanted, teams) for wanted in published]
    ok = report.ok and all(f.ok for f in found)
    if as_json:
        click.echo(
            json.dumps(
                {**report.as_dict(), "ok": ok, "against": [f.as_dict() for f in found]}, indent=2
            )
        )
        sys.exit(0 if ok else 1)
    if report.ok:
        click.echo(f"OK: {report.events} events, head {_heads(report)}")
    else:
        problem = report.problem
        assert problem is not None
        where = f"record #{problem.record}" if problem.record is not None else "no record"
        event = f"event {problem.seq} ({problem.event_type})" if problem.seq else "the chain"
        click.echo(f"BROKEN: workspace {problem.team_id}, {where}, {event}: {problem.what}")
    for one in found:
        if one.ok:
            # The chain check above links that day's events to the head, whatever came after.
            then = "the chain goes on from them to the head" if report.ok else "see above"
            click.echo(f"OK: {one.value}: {one.what}; {then}")
        else:
            click.echo(f"NOT IN THE LEDGER: {one.value}: {one.what}")
    sys.exit(0 if ok else 1)


def _published_value(value: str) -> Any:
    from bot.ledger import published

    try:
        return published.parse(value)
    except ValueError as error:
        raise click.BadParameter(f"{error}; give {published.FORMAT}.") from None


@cli.command(help="Seal each finished UTC day's events into a Merkle checkpoint (RFC 6962).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def checkpoint(as_json: bool) -> None:
    from datetime import UTC, datetime

    from bot.ledger import checkpoints
    from bot.models import Workspace

    now = datetime.now(UTC)
    with _open_session(writes=True) as session:
        teams = list(session.execute(select(Workspace.team_id)).scalars())
        factory = make_session_factory(session.get_bind())
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


def _heads(report: Any) -> str:
    if len(report.chains) == 1:
        return str(report.chains[0].head)
    return "; ".join(f"{c.team_id} {c.head}" for c in report.chains) or "(no events yet)"


def _open_session(*, writes: bool = False) -> Any:
    """A session on DATABASE_URL. One that only reads works from a snapshot and, on SQLite,
    never holds up the running bot's writes (a long `sayso verify` or export included)."""
    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        with read_only(engine).connect() as connection:
            has_schema = inspect(connection).has_table("records")
            revisions = migrate.applied(connection)
    except OperationalError as error:
        _fail(f"cannot open the database {_safe_url(settings.database_url)}: {error.orig}", 1)
    if not has_schema:
        _fail(
            f"the database {_safe_url(settings.database_url)} has no Sayso tables yet; run "
            "`sayso db upgrade`, `sayso serve` or `sayso demo` first.",
            1,
        )
    if revisions != (needed := migrate.heads()):
        _fail(
            f"the database {_safe_url(settings.database_url)} has the schema of another "
            f"version of Sayso ({', '.join(sorted(revisions)) or 'none'}; this one needs "
            f"{', '.join(sorted(needed))}): run `sayso db upgrade` (`sayso serve` does "
            "when it starts).",
            1,
        )
    return make_session_factory(engine if writes else read_only(engine))()


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _record_details(record: Record) -> str:
    when = "%Y-%m-%d %H:%M:%S UTC"
    lines = [
        f"#{record.number} ({record.team_id}) — {record.kind}, {record.status}, "
        f"revision {record.revision}",
        f"  text:         {record.text}",
        f"  captured by:  {record.captured_by_id} at {record.created_at:{when}} "
        f"(via {record.source})",
        f"  owner:        {record.owner_id}",
        f"  risk:         {record.risk}" + (f" — {record.risk_note}" if record.risk_note else ""),
        f"  due:          {record.due_at:{when}}" if record.due_at else "  due:          -",
        f"  channel:      {record.channel_id}  thread {record.thread_ts or '(not posted yet)'}",
    ]
    if record.source_permalink:
        lines.append(f"  source:       {record.source_permalink}")
    lines.append("  requesters:")
    for requester in record.requesters:
        org = f" ({requester.org_name})" if requester.org_name else ""
        answered = (
            f" at {requester.answered_at:{when}} by {requester.answered_via}, "
            f"revision {requester.answered_revision}"
            if requester.answered_at
            else ""
        )
        lines.append(f"    {requester.user_id}{org}: {requester.answer}{answered}")
    if len(record.revisions) > 1:
        lines.append("  revisions:")
        lines += [
            f"    {v.number}. {v.text}  ({v.author_id}, {v.created_at:{when}})"
            for v in record.revisions
        ]
    lines.append("  history:")
    lines += [
        f"    {e.at:%Y-%m-%d %H:%M:%S}  {e.type:<14} {e.actor_id:<12} {e.hash[:12]}"
        for e in record.events
    ]
    return "\n".join(lines)


@cli.command(
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
def export_records(
    number: int | None, every: bool, team: str | None, fmt: str | None, output: str | None
) -> None:
    if every == (number is not None):
        _fail("give one record number, or --all.")
    if every:
        _export_rows(team, fmt or "csv", output or "-")
    else:
        assert number is not None
        _export_evidence(number, team, fmt or "html", output)


def _export_rows(team: str | None, fmt: str, output: str) -> None:
    from typing import cast

    from bot import evidence

    if fmt not in ("csv", "jsonl"):
        _fail("--all exports csv or jsonl; an evidence file holds one record.")
    if fmt == "jsonl":
        _export_backup(team, output)
        return
    with _open_session() as session:
        rows = evidence.export_rows(session, team)
    # A byte order mark is what makes spreadsheet programs read a CSV file as UTF-8.
    text = evidence.render_rows(rows, cast(evidence.RowFormat, fmt))
    _write_export(text, output, bom=fmt == "csv")
    if output != "-":
        click.echo(f"Wrote {len(rows)} records to {output}.")


def _export_evidence(number: int, team: str | None, fmt: str, output: str | None) -> None:
    from datetime import UTC, datetime
    from typing import cast

    from bot import evidence

    if fmt not in ("html", "md", "json"):
        _fail("one record exports as html, md or json; --all exports csv or jsonl.")
    with _open_session() as session:
        query = select(Record.team_id).where(Record.number == number)
        if team is not None:
            query = query.where(Record.team_id == team)
        teams = list(session.execute(query).scalars())
        if not teams:
            _fail(f"there is no record #{number}" + (f" in {team}" if team else "") + ".", 1)
        if len(teams) > 1:
            _fail(f"#{number} exists in several workspaces ({', '.join(teams)}); add --team.", 1)
        document = evidence.build_evidence(session, teams[0], number, datetime.now(UTC))
    target = output or (f"sayso-evidence-{teams[0]}-{number}.html" if fmt == "html" else "-")
    _write_export(evidence.render_evidence(document, cast(evidence.DocumentFormat, fmt)), target)
    checked = document["verification"]
    if target != "-":
        click.echo(f"Wrote {target}: record #{number}; {checked['summary']}")
    if not checked["ok"] or not checked["workspace_chain"]["ok"]:
        problem = checked["problem"] or checked["workspace_chain"]["problem"]
        _fail(f"the evidence does not verify: {problem}", 1)


def _write_export(text: str, target: str, bom: bool = False) -> None:
    if target == "-":
        click.echo(text, nl=False)
        return
    try:
        with open(target, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as out:
            out.write(text)
    except OSError as error:
        _fail(f"cannot write {target}: {error.strerror}", 1)


@cli.command(
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
        _fail(f"cannot read {file}: {error.strerror}")
    try:
        report = evidence.verify_evidence_file(raw.decode("utf-8"))
    except UnicodeDecodeError:
        _fail(f"{file} is not a Sayso evidence file (not UTF-8 text).")
    except evidence.NotEvidence as error:
        _fail(f"{file}: {error}.")
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


@cli.command(help="Print today's digest of unresolved risks (--dry-run), or send it now (--send).")
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
        _fail("say --dry-run to print the digest, or --send to send it now (one of the two).")
    if send:
        if day or tz:
            _fail("--send sends today's digests in the workspace's time zone; drop --date/--tz.")
        _send_digests_now(team)
        return
    _print_digests(day, team, tz)


def _print_digests(day: str | None, team: str | None, tz: str | None) -> None:
    from datetime import UTC, date, datetime, timedelta
    from zoneinfo import ZoneInfo

    from bot.models import Workspace
    from bot.records import digest as digests
    from bot.records import settings_store

    try:
        chosen_day = date.fromisoformat(day) if day else None
    except ValueError:
        _fail(f"--date must be YYYY-MM-DD, not {day!r}.")
    if tz is not None:
        try:
            ZoneInfo(tz)
        except (KeyError, ValueError):
            _fail(f"unknown time zone {tz!r}; use a name like Asia/Shanghai.")
    defaults = settings_store.defaults(_settings())
    with _open_session() as session:
        teams = [team] if team else list(session.execute(select(Workspace.team_id)).scalars())
        for team_id in teams:
            # The workspace's own zone and hour (`/confirm settings`), else the environment's.
            schedule = settings_store.policy(session, team_id, defaults).digest
            zone = tz or schedule.zone
            moment = (
                datetime.combine(chosen_day, schedule.at, tzinfo=ZoneInfo(zone))
                if chosen_day
                else datetime.now(UTC)
            )
            channel, owners = digests.build(
                session, team_id, moment, zone, moment - timedelta(days=1), stored_zone_wins=False
            )
            for one in (channel, *owners.values()):
                click.echo(_digest_text(one))


def _send_digests_now(team: str | None) -> None:
    runtime = _runtime()
    try:
        served = runtime.workspaces.installations.team_ids()
        if team and team not in served:
            _fail(f"Sayso does not serve workspace {team} here (it serves {', '.join(served)}).")
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


def _runtime() -> Any:
    """The bot, as `sayso serve` builds it, for one pass from the command line."""
    from bot.app import build_runtime

    try:
        settings = _settings().require_slack()
    except ConfigError as error:
        _fail(str(error))
    migrate.upgrade(settings.database_url)
    if settings.installs_many:
        return build_runtime(settings)
    client = make_client(settings.slack_bot_token, settings.slack_api_url)
    return build_runtime(settings, str(client.auth_test()["team_id"]))


def _digest_text(one: Any) -> str:
    who = f"owner {one.owner_id}" if one.owner_id else "the digest channel"
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
            lines += [f"    #{i.number:<5} {preview(i.text, 70)}" for i in items]
    if one.all_clear:
        lines.append("  All clear.")
    lines += [f"  checkpoint {c.value}" for c in one.checkpoints]
    return "\n".join(lines)


@cli.command(help="One pass of the schedule (the digest when due), for cron; then deliver.")
@click.option("--send-digest-now", is_flag=True, help="Send today's digests now, once each.")
def tick(send_digest_now: bool) -> None:
    runtime = _runtime()
    try:
        queued = runtime.tick(force=send_digest_now)
        runtime.dispatcher.deliver_due()
    finally:
        runtime.close()
    click.echo(f"{queued} digest(s) sent." if queued else "Nothing was due.")


@cli.group(
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
            _fail(
                f"--team and --json list the outbox; for `{ctx.invoked_subcommand}`, put "
                f"its own options after it (sayso outbox {ctx.invoked_subcommand} --help)."
            )
        return
    from bot.outbox import admin as outboxes

    with _open_session() as session:
        seen = outboxes.standing(session, team)
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
    from bot.outbox import admin as outboxes

    if bool(ids) == all_failed:
        _fail("name the messages to retry (their ids, from `sayso outbox`), or --all-failed.")
    runtime = _runtime()
    try:
        with unit_of_work(runtime.session_factory) as session:
            # The dispatcher's clock, so that what is made due now is due to it.
            retried = outboxes.retry_failed(
                session, runtime.clock.now(), None if all_failed else ids, team
            )
            states = outboxes.where_is(session, ids)
        runtime.dispatcher.deliver_due()
        with reading(runtime.session_factory) as session:
            after = outboxes.where_is(session, retried)
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
    from bot.outbox import admin as outboxes

    with _open_session(writes=True) as session, session.begin():
        if yes:
            found = outboxes.drop_failed(session, ids)
        else:
            found = outboxes.failed_messages(session, ids)
        missing = sorted(set(ids) - {m.id for m in found})
        if missing:
            states = outboxes.where_is(session, missing)
            for message_id in missing:
                state = states.get(message_id, "no such message")
                click.echo(f"{message_id}: not a failed message ({state}); left alone")
    for message in found:
        click.echo(f"{'Dropped' if yes else 'Would drop'} {_failed_line(message)}")
    if found and not yes:
        click.echo("Nothing was changed; run again with --yes to delete.")
    sys.exit(1 if missing else 0)


def _failed_line(message: Any) -> str:
    record = f"#{message.record_number}" if message.record_number is not None else "-"
    tries = f"{message.attempts} attempt{'' if message.attempts == 1 else 's'}"
    return (
        f"{message.id:<6} {message.team_id:<11} {record:<6} {message.kind:<16} {tries:<12} "
        f"failed {_when(message.failed_at)}: {message.last_error}"
    )


def _failed_json(message: Any) -> dict[str, Any]:
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


def _iso(moment: Any) -> str | None:
    from bot.ledger.hashchain import iso_utc

    return iso_utc(moment) if moment is not None else None


def _when(moment: Any) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _export_backup(team: str | None, output: str) -> None:
    """The JSON Lines export is the full backup that `sayso import` restores (bot/backup.py)."""
    from datetime import UTC, datetime

    from bot.ledger import backup

    now = datetime.now(UTC)
    try:
        with _open_session() as session:
            if output == "-":
                backup.write_backup(session, sys.stdout, now, team)
                return
            with open(output, "w", encoding="utf-8", newline="") as out:
                counts = backup.write_backup(session, out, now, team)
    except backup.BackupError as error:
        _fail(str(error), 1)
    except OSError as error:
        _fail(f"cannot write {output}: {error.strerror}", 1)
    click.echo(f"Wrote {output}: {backup.describe(counts)}.")


@cli.command(
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

    settings = _settings()
    migrate.upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        source = sys.stdin.buffer if file == "-" else open(file, "rb")  # noqa: SIM115
    except OSError as error:
        _fail(f"cannot read {file}: {error.strerror}")
    try:
        with source:
            imported = backup.import_backup(make_session_factory(engine), source, allow_broken)
    except backup.BackupError as error:
        _fail(f"{file}: {error}; nothing was imported.")
    finally:
        engine.dispose()
    report = imported.report
    if imported.committed:
        teams = ", ".join(imported.teams) or "no workspace"
        click.echo(f"Imported {teams}: {backup.describe(imported.counts)}.")
    click.echo(_verify_line(report))
    if not imported.committed:
        click.echo(
            "Nothing was imported: the backup's hash chain does not verify. "
            "`--allow-broken` imports it all the same."
        )
    sys.exit(0 if report.ok else 1)


@cli.command(
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
        _fail(f"--before takes a date as YYYY-MM-DD, not {day!r}.")
    now = datetime.now(UTC)
    if before > now:
        _fail(f"--before {day} is in the future; records are purged only after the fact.")
    actor = (by or f"cli:{getpass.getuser()}")[:32]
    try:
        with _open_session(writes=True) as session, session.begin():
            outcome = purging.purge(session, before, now, actor, team, apply=yes)
    except purging.PurgeRefused as error:
        _fail(str(error), 1)
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
    click.echo(_verify_line(outcome.report))


def _verify_line(report: Any) -> str:
    """What `sayso verify` prints."""
    if report.ok:
        return f"OK: {report.events} events, head {_heads(report)}"
    problem = report.problem
    where = f"record #{problem.record}" if problem.record is not None else "no record"
    event = f"event {problem.seq} ({problem.event_type})" if problem.seq else "the chain"
    return f"BROKEN: workspace {problem.team_id}, {where}, {event}: {problem.what}"


def main() -> None:
    cli()
