"""Logging for `sayso serve`: plain lines, or one JSON object per line when LOG_FORMAT=json,
and one line per Slack request (team, kind, the records it changed, status, latency).

Nothing logged at info level carries a token, a signing secret or text people typed: the
request line holds ids and numbers only.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from bot.models import AuditEvent

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
request_log = logging.getLogger("sayso.request")

# The numbers of the records the current request changed, once committed; None outside one.
_changed: ContextVar[list[int] | None] = ContextVar("sayso_changed_records", default=None)
_PENDING = "sayso_changed_records"


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Structured fields come in `extra={"fields": {...}}`.

    A dozen lines of our own rather than python-json-logger: the fields are ours to name,
    and nothing else needs a dependency."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(log_format: str, level: int = logging.INFO) -> None:
    """Once, when `sayso serve` starts: everything (gunicorn's own lines too) to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)


@contextmanager
def request_scope() -> Iterator[list[int]]:
    """Collects the numbers of the records changed while one request is handled."""
    changed: list[int] = []
    token = _changed.set(changed)
    try:
        yield changed
    finally:
        _changed.reset(token)


def note_record(number: int) -> None:
    """A record the request accepted a change for, to be carried out after the ack
    (`intake`): named on the request line like one it changed itself."""
    changed = _changed.get()
    if changed is not None and number not in changed:
        changed.append(number)


def track_records(session_factory: sessionmaker[Session]) -> None:
    """Every change to a record appends an audit event: the request line names the records
    whose events the request committed (a rolled-back attempt names none)."""
    event.listen(session_factory, "after_flush", _flushed)
    event.listen(session_factory, "after_commit", _committed)
    event.listen(session_factory, "after_rollback", _rolled_back)


def _flushed(session: Session, _flush_context: Any) -> None:
    if _changed.get() is None:
        return  # not a request: the outbox dispatcher or the ticker
    pending = session.info.setdefault(_PENDING, [])
    for obj in session.new:
        if isinstance(obj, AuditEvent) and obj.record is not None:
            pending.append(obj.record.number)


def _committed(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    changed = _changed.get()
    if changed is not None:
        changed.extend(number for number in pending if number not in changed)


def _rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)


def log_request(
    *, team: str | None, kind: str, records: list[int], status: int, seconds: float
) -> None:
    ms = round(seconds * 1000, 1)
    numbers = ",".join(f"#{n}" for n in records) or "-"
    request_log.info(
        "%s team=%s records=%s status=%s %sms",
        kind,
        team or "-",
        numbers,
        status,
        ms,
        extra={
            "fields": {"team": team, "kind": kind, "records": records, "status": status, "ms": ms}
        },
    )
