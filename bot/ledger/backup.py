"""Backup and restore: `sayso export --all --format jsonl` writes, `sayso import FILE` reads.

One JSON object per line, each with a "type": first the header, then for each workspace its
row, its records (each with its requesters and revisions), its audit events exactly as stored
(hashes and all), and its other rows; last a line that counts and hashes the lines before it,
so that a truncated or damaged file is refused:

    {"type":"backup","format":"sayso-backup/1","schema":"0007","generated_at":…,"teams":[…]}
    {"type":"workspace","team_id":…,"last_record_number":…,"last_event_seq":…,"head_hash":…}
    {"type":"record","team_id":…,"number":1,…,"requesters":[…],"revisions":[…]}
    {"type":"event","team_id":…,"seq":1,"record":1,"event_type":"captured",…,"hash":…}
    {"type":"checkpoint"|"thread_snapshot"|"reminder"|"outbox_message"|…, …}
    {"type":"end","lines":42,"sha256":…}

Rows are written column by column, so a column added to a table later is backed up without a
change here. Database ids are not written: a record is known by (team_id, number), and a row
that points at a record names its number ("record"); restoring gives new ids. A table that is
neither a workspace's nor a record's must be listed in NOT_BACKED_UP with the reason, or the
backup refuses to run rather than silently leave it out.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TextIO

from alembic.script import ScriptDirectory
from sqlalchemy import Column, Date, DateTime, Table, func, insert, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot import migrate
from bot.ledger import hashchain
from bot.ledger.progress import Progress
from bot.ledger.verify import Report, verify
from bot.models import Base, SlackUser, UTCDateTime, Workspace, search_terms

FORMAT = "sayso-backup/1"
NOT_BACKED_UP = {
    "processed_events": "Slack's delivery ids, kept only to drop Slack's retries of the last hours",
    "seen_requests": "the signatures of the last minutes' requests, kept only to refuse replays",
}
# Rows written inside their record's line: table -> (key in the line, kind).
NESTED = {
    "record_requesters": ("requesters", "requester"),
    "record_revisions": ("revisions", "revision"),
}
KINDS = {
    "workspaces": "workspace",
    "records": "record",
    "audit_events": "event",
    "checkpoints": "checkpoint",
    "thread_snapshots": "thread_snapshot",
    "reminders": "reminder",
    "outbox": "outbox_message",
    "digest_sends": "digest_send",
    "watches": "watch",
    "slack_users": "slack_user",
    "workspace_settings": "workspace_settings",
    "person_settings": "person_settings",
    "home_views": "home_view",
}
# Columns computed from others, not written: a restore computes them again.
DERIVED = {"records": {"search_terms"}}
# Written for people reading the file (as in the CSV export), ignored by `import`.
SHOWN_ONLY = {"record": {"owner", "confirmed_at"}, "requester": {"name"}}
_BATCH = 500


class BackupError(Exception):
    """The file is not a backup this Sayso can restore, or the database cannot take it."""


@dataclass(frozen=True)
class _Spec:
    kind: str
    table: Table
    # The column pointing at records.id, written as the record's number under "record".
    record_key: str | None
    # An autoincrement id: not written, the database gives a new one.
    surrogate: str | None

    @property
    def per_record(self) -> bool:
        """No team_id of its own: belongs to a workspace through its record."""
        return "team_id" not in self.table.c

    def key(self, column: Column[Any]) -> str:
        if column.name == self.record_key:
            return "record"
        return f"{self.kind}_type" if column.name == "type" else column.name


def _spec(table: Table, kind: str) -> _Spec:
    targets = {(key.column.table.name, key.column.name) for key in table.foreign_keys}
    if not targets <= {("workspaces", "team_id"), ("records", "id")}:
        raise BackupError(f"backups do not know how to keep the table {table.name}")
    record_key = next(
        (key.parent.name for key in table.foreign_keys if key.column.table.name == "records"),
        None,
    )
    if "team_id" not in table.c and record_key is None:
        raise BackupError(
            f"the table {table.name} belongs neither to a workspace nor to a record; "
            "list it in backup.NOT_BACKED_UP with the reason, or teach backups to keep it"
        )
    primary = list(table.primary_key.columns)
    surrogate = "id" if [c.name for c in primary] == ["id"] and table.name != "workspaces" else None
    return _Spec(kind, table, record_key, surrogate)


def _specs() -> tuple[list[_Spec], dict[str, _Spec]]:
    """The tables a line can hold, workspace and records first, then in dependency order;
    and the tables nested in a record's line."""
    tables = [t for t in Base.metadata.sorted_tables if t.name not in NOT_BACKED_UP]
    tables.sort(key=lambda t: {"workspaces": 0, "records": 1}.get(t.name, 2))
    specs = [_spec(t, KINDS.get(t.name, t.name)) for t in tables if t.name not in NESTED]
    nested = {NESTED[t.name][0]: _spec(t, NESTED[t.name][1]) for t in tables if t.name in NESTED}
    return specs, nested


# --- writing -------------------------------------------------------------------------------


class _Lines:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.count = 0
        self.sha256 = hashlib.sha256()

    def write(self, line: dict[str, Any]) -> None:
        # U+2028/9 are valid in JSON text but end a line for some readers: escape them.
        text = json.dumps(line, ensure_ascii=False, separators=(",", ":"))
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n"
        self.out.write(text)
        self.count += 1
        self.sha256.update(text.encode())


def write_backup(
    session: Session,
    out: TextIO,
    now: datetime,
    team_id: str | None = None,
    progress: Progress | None = None,
) -> Counter[str]:
    """Every row of every workspace (or of `team_id`); returns how many of each kind.
    `progress`: told of the records and events written, out of them all.

    Give it a session that has run nothing yet: its reads must all see one moment. SQLite's
    transactions hold the write lock; PostgreSQL reads one snapshot."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
    specs, nested = _specs()
    teams = list(session.execute(select(Workspace.team_id).order_by(Workspace.team_id)).scalars())
    if team_id is not None:
        if team_id not in teams:
            raise BackupError(f"the database holds no workspace {team_id}")
        teams = [team_id]
    lines, counts = _Lines(out), Counter[str]()
    records = Base.metadata.tables["records"]
    if progress is not None:
        events = Base.metadata.tables["audit_events"]
        progress.begin(
            "exporting",
            sum(
                session.execute(
                    select(func.count()).select_from(table).where(table.c.team_id.in_(teams))
                ).scalar_one()
                for table in (records, events)
            ),
            "rows",
        )
    lines.write(
        {
            "type": "backup",
            "format": FORMAT,
            "schema": _schema(session),
            "generated_at": hashchain.iso_utc(now),
            "teams": teams,
        }
    )
    for team in teams:
        query = select(records.c.id, records.c.number).where(records.c.team_id == team)
        numbers = {record_id: number for record_id, number in session.execute(query)}
        for spec in specs:
            if spec.kind != "record":
                for line in _rows(session, spec, team, numbers):
                    lines.write(line)
                    counts[spec.kind] += 1
                    if progress is not None and spec.kind == "event":
                        progress.advance(1)
                continue
            for line in _records(session, spec, nested, team, numbers):
                lines.write(line)
                counts[spec.kind] += 1
                if progress is not None:
                    progress.advance(1)
                for key, child in nested.items():
                    counts[child.kind] += len(line[key])
    lines.write({"type": "end", "lines": lines.count, "sha256": lines.sha256.hexdigest()})
    return counts


def _schema(session: Session) -> str | None:
    if not inspect(session.connection()).has_table("alembic_version"):
        return None
    return session.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()


def _line(spec: _Spec, row: Any, numbers: dict[int, int]) -> dict[str, Any]:
    line: dict[str, Any] = {"type": spec.kind}
    for column in spec.table.columns:
        if column.name == spec.surrogate or column.name in DERIVED.get(spec.table.name, ()):
            continue
        value = row[column]
        if column.name == spec.record_key and value is not None:
            if value not in numbers:
                raise BackupError(f"a row of {spec.table.name} points at another workspace")
            value = numbers[value]
        line[spec.key(column)] = _dump(value)
    return line


def _dump(value: Any) -> Any:
    if isinstance(value, datetime):
        return hashchain.iso_utc(value)
    return value.isoformat() if isinstance(value, date) else value


def _rows(
    session: Session, spec: _Spec, team: str, numbers: dict[int, int]
) -> Iterator[dict[str, Any]]:
    table = spec.table
    order = [table.c.seq] if "seq" in table.c else list(table.primary_key.columns)
    if spec.per_record:
        records = Base.metadata.tables["records"]
        query = (
            select(table)
            .join(records, table.c[spec.record_key or ""] == records.c.id)
            .where(records.c.team_id == team)
            .order_by(records.c.number, *order)
        )
    else:
        query = select(table).where(table.c.team_id == team).order_by(*order)
    result = session.connection().execute(query, execution_options={"stream_results": True})
    while batch := result.mappings().fetchmany(1000):
        for row in batch:
            line = _line(spec, row, numbers)
            yield {"type": spec.kind, "team_id": team, **line} if spec.per_record else line


def _records(
    session: Session, spec: _Spec, nested: dict[str, _Spec], team: str, numbers: dict[int, int]
) -> Iterator[dict[str, Any]]:
    names = {
        user_id: real_name or name
        for user_id, real_name, name in session.execute(
            select(SlackUser.user_id, SlackUser.real_name, SlackUser.name).where(
                SlackUser.team_id == team
            )
        )
    }
    table, ids = spec.table, sorted(numbers, key=numbers.__getitem__)
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start : start + _BATCH]
        children: dict[str, dict[int, list[dict[str, Any]]]] = {}
        for key, child in nested.items():
            found = children[key] = {}
            column = child.table.c[child.record_key or ""]
            query = select(child.table).where(column.in_(chunk))
            for row in session.execute(query.order_by(*child.table.primary_key)).mappings():
                entry = _line(child, row, numbers)
                del entry["type"], entry["record"]
                if key == "requesters":
                    entry["name"] = names.get(entry["user_id"])
                found.setdefault(row[column], []).append(entry)
        query = select(table).where(table.c.id.in_(chunk)).order_by(table.c.number)
        for row in session.execute(query).mappings():
            line = _line(spec, row, numbers)
            for key in nested:
                line[key] = children[key].get(row[table.c.id], [])
            line["owner"] = names.get(line["owner_id"])
            decided = line.get("decided_at")
            line["confirmed_at"] = decided if line["status"] != "rejected" else None
            yield line


# --- reading -------------------------------------------------------------------------------


@dataclass
class Imported:
    teams: list[str]
    counts: Counter[str]
    report: Report
    committed: bool


def import_backup(
    session_factory: sessionmaker[Session],
    lines: Iterable[bytes],
    allow_broken: bool = False,
    progress: Progress | None = None,
) -> Imported:
    """Restore in one transaction, then check every chain as `sayso verify` does, still in
    that transaction: a backup whose chain does not verify is rolled back (unless
    `allow_broken`), so a damaged or forged file never lands."""
    with session_factory() as session:
        transaction = session.begin()
        try:
            restore = _Restore(session)
            for number, raw in enumerate(lines, start=1):
                restore.feed(number, raw)
            restore.finish()
            report = verify(session, progress)
            committed = report.ok or allow_broken
            (transaction.commit if committed else transaction.rollback)()
        except BaseException:
            transaction.rollback()
            raise
    return Imported(restore.teams, restore.counts, report, committed)


class _Restore:
    def __init__(self, session: Session) -> None:
        self.session = session
        specs, self.nested = _specs()
        self.specs = {spec.kind: spec for spec in specs}
        self.teams: list[str] = []
        self.ids: dict[tuple[str, int], int] = {}
        self.batch: list[tuple[int, dict[str, Any]]] = []
        self.counts = Counter[str]()
        self.lines = 0
        self.sha256 = hashlib.sha256()
        self.ended = False

    def feed(self, number: int, raw: bytes) -> None:
        if self.ended:
            raise BackupError(f"line {number}: the backup goes on after its end line")
        try:
            data = json.loads(raw)
        except ValueError:
            raise BackupError(f"line {number} is not JSON") from None
        kind = data.get("type") if isinstance(data, dict) else None
        if number == 1:
            self._header(data if kind == "backup" else {})
        elif kind == "end":
            self._end(number, data)
            return
        elif kind not in self.specs:
            raise BackupError(f"line {number}: unknown type {kind!r}")
        else:
            if data.get("team_id") not in self.teams:
                raise BackupError(f"line {number}: a workspace the header does not list")
            if self.batch and (len(self.batch) >= _BATCH or self.batch[0][1]["type"] != kind):
                self._flush()
            self.batch.append((number, data))
        self.lines += 1
        self.sha256.update(raw)

    def finish(self) -> None:
        if not self.ended:
            raise BackupError("the backup has no end line: it was cut short")

    def _header(self, data: dict[str, Any]) -> None:
        if data.get("format") != FORMAT:
            raise BackupError(
                f"this is not a Sayso backup ({FORMAT}), as `sayso export --all --format jsonl` "
                "writes"
            )
        schema = data.get("schema")
        script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
        if schema is not None and schema not in {s.revision for s in script.walk_revisions()}:
            raise BackupError(f"a newer Sayso wrote this backup (schema {schema}); upgrade first")
        teams = data.get("teams")
        if not isinstance(teams, list) or not all(isinstance(t, str) for t in teams):
            raise BackupError("the header does not list the backup's workspaces")
        self.teams = teams
        for team in teams:
            held = [
                spec.table.name
                for spec in self.specs.values()
                if not spec.per_record
                and self.session.execute(
                    select(func.count()).select_from(spec.table).where(spec.table.c.team_id == team)
                ).scalar_one()
            ]
            if held:
                raise BackupError(
                    f"the database already holds workspace {team} ({', '.join(held)}); "
                    "import restores a workspace only into a database without it"
                )

    def _end(self, number: int, data: dict[str, Any]) -> None:
        self._flush()
        if data.get("lines") != self.lines:
            raise BackupError(
                f"the end line counts {data.get('lines')} lines before it, the file has "
                f"{self.lines}: lines were added or removed"
            )
        if data.get("sha256") != self.sha256.hexdigest():
            raise BackupError(
                "the lines do not match the checksum in the end line: the file was changed "
                "or damaged after it was written"
            )
        self.ended = True

    def _flush(self) -> None:
        if not self.batch:
            return
        spec = self.specs[self.batch[0][1]["type"]]
        first, last = self.batch[0][0], self.batch[-1][0]
        try:
            rows = [self._values(spec, number, data) for number, data in self.batch]
            self.counts[spec.kind] += len(rows)
            if spec.kind == "record":
                self._insert_records(spec, rows)
            else:
                self.session.execute(insert(spec.table), rows)
        except SQLAlchemyError as error:
            cause = getattr(error, "orig", None) or error
            raise BackupError(f"lines {first}-{last}: the database refused them: {cause}") from None
        self.batch = []

    def _insert_records(self, spec: _Spec, rows: list[dict[str, Any]]) -> None:
        table = spec.table
        returned = self.session.execute(
            insert(table).returning(table.c.team_id, table.c.number, table.c.id), rows
        )
        for team, number, record_id in returned:
            self.ids[(team, number)] = record_id
        for key, child in self.nested.items():
            values = [
                {
                    **self._values(child, line_number, entry, nested=True),
                    child.record_key or "": self.ids[(data["team_id"], data["number"])],
                }
                for line_number, data in self.batch
                for entry in _entries(line_number, data, key)
            ]
            if values:
                self.session.execute(insert(child.table), values)
                self.counts[child.kind] += len(values)

    def _values(
        self, spec: _Spec, number: int, data: dict[str, Any], nested: bool = False
    ) -> dict[str, Any]:
        """The row's columns from its line; a nested row's record is set by the caller."""
        team = str(data.get("team_id"))
        values: dict[str, Any] = {}
        known = {"type", *SHOWN_ONLY.get(spec.kind, ())}
        if spec.per_record:
            known.add("team_id")
        if spec.kind == "record":
            known.update(self.nested)
        derived = DERIVED.get(spec.table.name, set())
        for column in spec.table.columns:
            key = spec.key(column)
            if column.name == spec.surrogate or (nested and key == "record"):
                continue
            if column.name in derived:
                continue
            known.add(key)
            if key == "record" and data.get(key) is not None:
                if (team, data[key]) not in self.ids:
                    raise BackupError(
                        f"line {number}: record #{data[key]} is not in the backup before it"
                    )
                values[column.name] = self.ids[(team, data[key])]
            elif key in data:
                values[column.name] = _load(column, data[key], number)
            elif column.default is not None and column.default.is_scalar:
                values[column.name] = column.default.arg  # type: ignore[attr-defined]
            elif column.nullable:
                values[column.name] = None
            else:
                raise BackupError(f"line {number}: a {spec.kind} without {key}")
        if unknown := set(data) - known:
            raise BackupError(f"line {number}: unknown fields {', '.join(sorted(unknown))}")
        if "search_terms" in derived:
            values["search_terms"] = search_terms(str(values["text"]))
        return values


def _entries(number: int, data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    entries = data.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise BackupError(f"line {number}: {key} is not a list of objects")
    return entries


def _load(column: Column[Any], value: Any, number: int) -> Any:
    if value is None:
        return None
    try:
        if isinstance(column.type, UTCDateTime | DateTime):
            return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        if isinstance(column.type, Date):
            return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise BackupError(f"line {number}: {column.name} is not a time: {value!r}") from None
    return value


def describe(counts: Counter[str]) -> str:
    """'3 records, 21 events, …': what a backup holds, for people."""

    def plural(kind: str, n: int) -> str:
        word = kind.replace("_", " ")
        return word if n == 1 else word + ("es" if word.endswith(("ch", "sh", "s")) else "s")

    return ", ".join(f"{n} {plural(kind, n)}" for kind, n in counts.items() if n) or "nothing"
