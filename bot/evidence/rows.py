"""The other export: one row per record, for spreadsheets (CSV) or as JSON Lines.

`sayso export --all --format jsonl` writes the full backup instead (`write_backup`), whose
record lines hold the same information and every stored column besides."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.evidence.build import built_link
from bot.ledger.progress import Progress
from bot.models import Record, SlackUser
from bot.records import lifecycle

RowFormat = Literal["csv", "jsonl"]

ROW_FIELDS = (
    "number",
    "team_id",
    "status",
    "kind",
    "text",
    "requesters",
    "owner_id",
    "owner",
    "risk",
    "risk_note",
    "due_at",
    "created_at",
    "captured_by_id",
    "confirmed_at",
    "thread_permalink",
)
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def export_rows(
    session: Session, team_id: str | None = None, progress: Progress | None = None
) -> list[dict[str, Any]]:
    """One plain row per record (every workspace unless `team_id`), oldest first."""
    found = lifecycle.list_records(session, team_id)
    people = {
        (row.team_id, row.user_id): row for row in session.execute(select(SlackUser)).scalars()
    }
    if progress is not None:
        progress.begin("exporting", len(found), "records")
    rows = []
    for record in found:
        rows.append(_row(record, people))
        if progress is not None:
            progress.advance(1)
    return rows


def _row(record: Record, people: dict[tuple[str, str], SlackUser]) -> dict[str, Any]:
    data = lifecycle.as_dict(record)

    def name(user_id: str) -> str | None:
        known = people.get((record.team_id, user_id))
        return (known.real_name or known.name) if known else None

    return {
        **{key: data.get(key) for key in ROW_FIELDS},
        "requesters": [
            {
                "user_id": r["user_id"],
                "name": name(r["user_id"]),
                "org_name": r["org_name"],
                "answer": r["answer"],
                "answered_at": r["answered_at"],
                "via": r["via"],
            }
            for r in data["requesters"]
        ],
        "owner": name(record.owner_id),
        "thread_permalink": _thread_link(record),
    }


def _thread_link(record: Record) -> str | None:
    if record.thread_permalink:
        return record.thread_permalink
    if record.thread_ts:
        return built_link(record, record.thread_ts)
    return record.source_permalink


def render_rows(rows: Iterable[dict[str, Any]], fmt: RowFormat) -> str:
    if fmt == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if fmt != "csv":
        raise ValueError(f"unknown row format {fmt!r}; use csv or jsonl")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ROW_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(key, row[key]) for key in ROW_FIELDS})
    return out.getvalue()


def _cell(key: str, value: Any) -> str:
    if key == "requesters":
        value = "; ".join(
            f"{r['name'] or r['user_id']} <{r['user_id']}>"
            + (f" ({r['org_name']})" if r["org_name"] else "")
            + f": {r['answer']}"
            for r in value
        )
    text = "" if value is None else str(value)
    # Quoting the cell keeps "=HYPERLINK(...)" typed into an instruction from running.
    return "'" + text if text.startswith(_FORMULA_START) else text
