"""How fast `sayso verify` walks a chain, against the bare cost of hashing the same events.

    python bench/verify.py                     # 1,000,000 events in a temporary SQLite file
    python bench/verify.py --events 200000 --database-url postgresql+psycopg://...

The baseline, measured in the same run on the same events, is a plain loop computing the
canonical JSON and SHA-256 of each event (no database). The ratio is what matters: these
machines are noisy. Target: verify reaches at least half the baseline's rate.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, text

from bot import ledger, migrate
from bot.db import make_engine, make_session_factory
from bot.models import AuditEvent, Base, Workspace
from bot.verify import verify

TEAM = "T0BENCH001"
BATCH = 50_000


def _events(count: int) -> list[dict[str, object]]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    rows: list[dict[str, object]] = []
    prev = ledger.GENESIS_HASH
    for seq in range(1, count + 1):
        at = start + timedelta(milliseconds=seq * 37)
        payload = {"text": f"instruction {seq} for edge-{seq % 97}", "via": "button"}
        digest = ledger.content_hash(TEAM, seq, None, "note", "U0BENCH001", at, payload, prev)
        rows.append(
            {
                "team_id": TEAM,
                "seq": seq,
                "record_id": None,
                "type": "note",
                "actor_id": "U0BENCH001",
                "at": at,
                "payload": payload,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    return rows


def _baseline(rows: list[dict[str, Any]]) -> float:
    began = time.perf_counter()
    for row in rows:
        ledger.content_hash(
            TEAM,
            row["seq"],
            None,
            row["type"],
            row["actor_id"],
            row["at"],
            row["payload"],
            row["prev_hash"],
        )
    return len(rows) / (time.perf_counter() - began)


def _load(database_url: str, rows: list[dict[str, object]]) -> None:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))
        connection.execute(
            insert(Workspace).values(
                team_id=TEAM,
                last_record_number=0,
                last_event_seq=len(rows),
                head_hash=rows[-1]["hash"],
                created_at=datetime.now(UTC),
            )
        )
        for first in range(0, len(rows), BATCH):
            connection.execute(insert(AuditEvent), rows[first : first + BATCH])
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE audit_events"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite:///{Path(scratch) / 'verify-bench.db'}"
        print(f"generating {args.events:,} chained events ...", flush=True)
        rows = _events(args.events)
        _load(url, rows)
        baseline = _baseline(rows)
        del rows
        engine = make_engine(url)
        began = time.perf_counter()
        with make_session_factory(engine)() as session:
            report = verify(session)
        rate = report.events / (time.perf_counter() - began)
        engine.dispose()
    assert report.ok and report.events == args.events, report.as_dict()
    result = {
        "database": url.split(":")[0],
        "events": report.events,
        "baseline_events_per_s": round(baseline),
        "verify_events_per_s": round(rate),
        "ratio": round(rate / baseline, 2),
        "target_ratio": 0.5,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
