"""How long one morning's digests take to build: 100,000 unresolved records, 1,000 owners,
50 channels (issue 6's yardstick: under 2 s on SQLite, no query per record or owner).

    python bench/digest.py [--records 100000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, insert

from bot import migrate
from bot.db import make_engine, make_session_factory
from bot.ledger import hashchain
from bot.models import Base, Record, Requester, Workspace
from bot.records import digest

TEAM = "T0BENCH001"
BATCH = 20_000


def _load(url: str, count: int, now: datetime) -> None:
    migrate.upgrade(url)
    engine = make_engine(url)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))
        connection.execute(
            insert(Workspace).values(
                team_id=TEAM,
                last_record_number=count,
                last_event_seq=0,
                head_hash=hashchain.GENESIS_HASH,
                created_at=now,
            )
        )
        statuses = ("pending", "confirmed")
        for first in range(0, count, BATCH):
            rows: list[dict[str, Any]] = [
                {
                    "id": n,
                    "team_id": TEAM,
                    "number": n,
                    "kind": "instruction",
                    "status": statuses[n % 2],
                    "text": f"change parameter {n} on edge-{n % 97}",
                    "revision": 1,
                    "captured_by_id": f"U0CAP{n % 50:05d}",
                    "owner_id": f"U0OWN{n % 1000:05d}",
                    "risk": ("high", "none", "low")[n % 3],
                    "source": "command",
                    "channel_id": f"C0CH{n % 50:06d}",
                    "created_at": now - timedelta(hours=n % 500),
                    "due_at": now + timedelta(hours=(n % 48) - 24),
                }
                for n in range(first + 1, min(first + BATCH, count) + 1)
            ]
            connection.execute(insert(Record), rows)
            connection.execute(
                insert(Requester),
                [
                    {
                        "record_id": r["id"],
                        "user_id": f"U0REQ{r['id'] % 300:05d}",
                        "position": 0,
                        "answer": "pending" if r["status"] == "pending" else "confirmed",
                    }
                    for r in rows
                ],
            )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    now = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite:///{Path(scratch) / 'digest-bench.db'}"
        _load(url, args.records, now)
        engine = make_engine(url)
        queries: list[str] = []
        event.listen(engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
        began = time.perf_counter()
        with make_session_factory(engine)() as session:
            channel, owners = digest.build(
                session, TEAM, now, "Asia/Shanghai", now - timedelta(days=1)
            )
        seconds = time.perf_counter() - began
        engine.dispose()
    print(
        json.dumps(
            {
                "database": url.split(":")[0],
                "records": args.records,
                "owners_with_a_digest": len(owners),
                "channel_unresolved": channel.unresolved,
                "seconds": round(seconds, 2),
                "queries": len(queries),
                "target_seconds": 2.0,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
