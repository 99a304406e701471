"""What the digest publishes of the ledger, and checking a database against it.

A checkpoint is published as DAY:SIZE:ROOT (`2026-11-26:5:3f2a…`, the root in full): the UTC
day, its number of events and its root (`checkpoints.day_root`). Slack keeps the message, where
whoever can write to the database cannot change it. `sayso verify --against` takes that text
(or SIZE:ROOT alone) and recomputes the day from the events as the database holds them now,
never from the stored checkpoint row, which a rollback would take back too: if no day's events
give that size and root any more, the database no longer holds what was published then.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.ledger import checkpoints
from bot.models import AuditEvent, Checkpoint

# Optional surrounding backticks: the digest shows the value in monospace.
_VALUE = re.compile(r"`?(?:(\d{4}-\d{2}-\d{2}):)?(\d+):([0-9a-fA-F]{64})`?")
FORMAT = "DAY:SIZE:ROOT or SIZE:ROOT (as the digest shows it, e.g. 2026-11-26:5:<64 hex>)"


@dataclass(frozen=True)
class Published:
    day: date | None
    size: int
    root: str

    @property
    def value(self) -> str:
        return f"{self.day}:{self.size}:{self.root}" if self.day else f"{self.size}:{self.root}"


def parse(text: str) -> Published:
    """A published checkpoint as a person pasted it; ValueError says what is wrong."""
    found = _VALUE.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not a published checkpoint")
    day, size, root = found.groups()
    try:
        when = date.fromisoformat(day) if day else None
    except ValueError:
        raise ValueError(f"{day!r} is not a date (YYYY-MM-DD)") from None
    if int(size) < 1:
        raise ValueError("a checkpoint's size is at least 1 event")
    return Published(when, int(size), root.lower())


def since(session: Session, team_id: str, first_day: date) -> list[Published]:
    """The workspace's checkpoints from `first_day` on, oldest first: what a digest publishes."""
    return [
        Published(day, size, root)
        for day, size, root in session.execute(
            select(Checkpoint.day, Checkpoint.size, Checkpoint.root)
            .where(Checkpoint.team_id == team_id, Checkpoint.day >= first_day)
            .order_by(Checkpoint.day)
        )
    ]


@dataclass(frozen=True)
class Finding:
    """Whether the database still holds one published checkpoint, and where."""

    value: str
    ok: bool
    what: str
    team_id: str | None = None
    day: date | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "ok": self.ok,
            "team_id": self.team_id,
            "day": self.day.isoformat() if self.day else None,
            "what": self.what,
        }


def check(session: Session, wanted: Published, team_ids: Iterable[str]) -> Finding:
    """Find the day whose events, as stored now, give `wanted`'s size and root."""
    teams = list(team_ids)
    for team_id in teams:
        days = [wanted.day] if wanted.day else _candidate_days(session, team_id, wanted)
        for day in days:
            now = checkpoints.day_root(session, team_id, day)
            if now is None or now.size != wanted.size:
                continue
            if wanted.root == now.root:
                what = f"{team_id}'s {now.size} events of {day} give this root now"
            elif wanted.root == now.events_root:
                # Published before records trees: the root of the day's events alone.
                what = (
                    f"{team_id}'s {now.size} events of {day} give this events root now "
                    "(a checkpoint made before records trees)"
                )
            else:
                continue
            return Finding(wanted.value, True, what, team_id, day)
    return Finding(wanted.value, False, _why_not(session, wanted, teams))


def _candidate_days(session: Session, team_id: str, wanted: Published) -> list[date]:
    """Without a day: the days whose stored checkpoint has that root first (recomputed all
    the same), then every day with exactly that many events (its row may be gone too)."""
    stored = list(
        session.execute(
            select(Checkpoint.day).where(
                Checkpoint.team_id == team_id,
                or_(Checkpoint.root == wanted.root, Checkpoint.events_root == wanted.root),
            )
        ).scalars()
    )
    sizes: Counter[date] = Counter(
        at.astimezone(UTC).date()
        for at in session.execute(
            select(AuditEvent.at).where(AuditEvent.team_id == team_id),
            execution_options={"yield_per": 10_000},
        ).scalars()
    )
    return stored + sorted(d for d, n in sizes.items() if n == wanted.size and d not in stored)


def _why_not(session: Session, wanted: Published, teams: list[str]) -> str:
    where = teams[0] if len(teams) == 1 else "any workspace here"
    cause = (
        "the database no longer holds what was published then (rolled back to an older "
        "copy, its newest events cut off, or the day rewritten)"
    )
    if wanted.day is None:
        return f"no day of {where} gives {wanted.size} events with this root now: {cause}"
    now = [
        found
        for team_id in teams
        if (found := checkpoints.day_root(session, team_id, wanted.day)) is not None
    ]
    if len(teams) == 1 and now:
        return f"{wanted.day} now gives size {now[0].size}, root {now[0].root}, in {where}: {cause}"
    if not now:
        return f"no event of {wanted.day} is left in {where}: {cause}"
    return f"no workspace's events of {wanted.day} give this size and root now: {cause}"
