"""How fast `sayso verify` checks a realistic ledger, run as a user runs it, against the bare
cost of hashing the same events; and how much memory it takes.

    python bench/verify.py                           # 20,000 records (~90,000 events), SQLite
    python bench/verify.py --records 100000
    python bench/verify.py --records 100000 --database-url postgresql+psycopg://postgres@127.0.0.1/test
    python bench/verify.py --records 1000000 --database-url postgresql+psycopg://...  # 4.5M events

The ledger is written by direct inserts that reproduce what the services write (the record
lifecycle and SlackDelivery): per record its capture, card, answers, amendments, reminders,
thread snapshot and closing, chained with correct hashes and record_prev/record_count, the events of
neighbouring records interleaved as in a busy workspace, and the record, requester and
revision rows that go with them. Mix: 60% confirmed then done, 15% rejected, 10% amended and
confirmed again, 15% still pending after a reminder (about 4.5 events per record).

Then `python -m bot verify` runs in a subprocess with DATABASE_URL, timed from start to exit
(interpreter, imports and schema check included), its peak resident memory taken from the
kernel (wait4's ru_maxrss). The baseline, measured in this run on the same events, is a plain
loop computing each event's canonical JSON and SHA-256 (hashchain.content_hash, no database).
The ratio of the two rates is what matters: these machines are noisy. Target: the command
reaches at least half the baseline's rate, with memory that does not grow with the ledger.

On PostgreSQL the ledger goes into a schema of its own, `sayso_bench_verify` (dropped and made
again at the start, dropped at the end unless --keep): other tables are never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from bot import migrate
from bot.db import make_engine, make_session_factory
from bot.ledger import checkpoints, hashchain
from bot.models import AuditEvent, Record, Requester, Revision, Workspace

TEAM = "T0BENCH001"
CHANNEL = "C0BENCH001"
CAPTURERS = ("U0ALICE001", "U0BOB00001", "U0LI000001")
REQUESTERS = ("U0WANG0001", "U0ZHAO0001", "U0CHEN0001", "U0SUN00001")
PG_SCHEMA = "sayso_bench_verify"
# Records written together; their events are interleaved, round by round.
CHUNK = 2_000
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Story:
    """One record: the events the services would write for it, in its own order."""

    number: int
    shape: str
    capturer: str
    requester: str
    text: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, event_type: str, actor: str, payload: dict[str, Any]) -> None:
        self.events.append({"type": event_type, "actor_id": actor, "payload": payload})


def _story(number: int) -> Story:
    shape = ("done",) * 12 + ("rejected",) * 3 + ("amended",) * 2 + ("pending",) * 3
    story = Story(
        number,
        shape[number % len(shape)],
        CAPTURERS[number % len(CAPTURERS)],
        REQUESTERS[number % len(REQUESTERS)],
        f"please change the BGP hold timer on edge-{number % 97} to {number % 60}s tonight",
    )
    due = None if number % 3 else "2026-12-01T09:00:00.000000Z"
    story.add(
        "captured",
        story.capturer,
        {
            "text": story.text,
            "kind": "instruction",
            "requesters": [story.requester],
            "owner": story.capturer,
            "risk": "high" if number % 5 == 0 else "none",
            "risk_note": "may drop traffic for 5 min" if number % 5 == 0 else None,
            "due_at": due,
            "channel": CHANNEL,
            "source": "command",
            "source_ts": None,
        },
    )
    posted = {"channel": CHANNEL, "card_ts": f"{number}.000100", "revision": 1}
    story.add("card_posted", "sayso", posted | {"thread_ts": f"{number}.000100"})
    if story.shape == "pending":
        story.add("reminded", "sayso", {"number": 1, "waiting": [story.requester]})
        return story
    if story.shape == "rejected":
        story.add("rejected", story.requester, _answer(1, "rejected"))
        return story
    revision = 1
    if story.shape == "amended":
        revision = 2
        amended = f"{story.text}, and on edge-{number % 89} too"
        story.add(
            "amended",
            story.requester,
            {"revision": 2, "text": amended, "previous_text": story.text},
        )
        story.text = amended
        story.add("revision_posted", "sayso", posted | {"revision": 2})
    story.add("confirmed", story.requester, _answer(revision, "confirmed"))
    story.add("thread_snapshot", "sayso", {"messages": 3, "sha256": f"{number:064x}"})
    if story.shape == "done":
        story.add("done", story.capturer, {"status": "done"})
    return story


def _answer(revision: int, status: str) -> dict[str, Any]:
    return {"revision": revision, "via": "button", "evidence_ts": None, "status": status}


@dataclass
class Chain:
    seq: int = 0
    head: str = hashchain.GENESIS_HASH
    at: datetime = datetime(2026, 1, 5, 8, tzinfo=UTC)
    baseline_seconds: float = 0.0


def _chunk(chain: Chain, first: int, last: int) -> dict[str, list[dict[str, Any]]]:
    """Records first..last with their events chained after the chain's head."""
    stories = [_story(number) for number in range(first, last + 1)]
    rows: dict[str, list[dict[str, Any]]] = {"events": [], "records": [], "requesters": []}
    rows["revisions"] = []
    own: dict[int, tuple[str, int]] = {}
    rounds = max(len(story.events) for story in stories)
    for step in range(rounds):
        for story in stories:
            if step >= len(story.events):
                continue
            event = story.events[step]
            chain.seq += 1
            chain.at += timedelta(milliseconds=700)
            record_prev, count = own.get(story.number, (hashchain.GENESIS_HASH, 0))
            digest = hashchain.content_hash(
                TEAM,
                chain.seq,
                story.number,
                event["type"],
                event["actor_id"],
                chain.at,
                event["payload"],
                chain.head,
                record_prev,
                count + 1,
            )
            event.update(
                team_id=TEAM,
                seq=chain.seq,
                record_id=story.number,
                at=chain.at,
                prev_hash=chain.head,
                hash=digest,
                record_prev=record_prev,
                record_count=count + 1,
            )
            own[story.number] = (digest, count + 1)
            chain.head = digest
            rows["events"].append(event)
    began = time.perf_counter()
    for event in rows["events"]:
        hashchain.content_hash(
            TEAM,
            event["seq"],
            event["record_id"],
            event["type"],
            event["actor_id"],
            event["at"],
            event["payload"],
            event["prev_hash"],
            event["record_prev"],
            event["record_count"],
        )
    chain.baseline_seconds += time.perf_counter() - began
    for story in stories:
        _rows(story, rows)
    return rows


def _rows(story: Story, rows: dict[str, list[dict[str, Any]]]) -> None:
    """The record's rows as the record lifecycle (lifecycle.capture, answer, act) leaves them
    after its events."""
    by_type = {event["type"]: event for event in story.events}
    captured = by_type["captured"]
    decided = by_type.get("confirmed") or by_type.get("rejected")
    revision = 2 if "amended" in by_type else 1
    status = {"done": "done", "rejected": "rejected", "amended": "confirmed"}.get(
        story.shape, "pending"
    )
    payload = captured["payload"]
    due = payload["due_at"]
    rows["records"].append(
        {
            "id": story.number,
            "team_id": TEAM,
            "number": story.number,
            "kind": "instruction",
            "status": status,
            "text": story.text,
            "revision": revision,
            "captured_by_id": story.capturer,
            "owner_id": story.capturer,
            "risk": payload["risk"],
            "risk_note": payload["risk_note"],
            "due_at": datetime.fromisoformat(due) if due else None,
            "source": "command",
            "channel_id": CHANNEL,
            "thread_ts": f"{story.number}.000100",
            "card_ts": f"{story.number}.000100",
            "request_ts": f"{story.number}.000200",
            "created_at": captured["at"],
            "decided_at": decided["at"] if decided else None,
            "decided_by_id": story.requester if decided else None,
        }
    )
    rows["requesters"].append(
        {
            "record_id": story.number,
            "user_id": story.requester,
            "position": 0,
            "answer": decided["type"] if decided else "pending",
            "answered_at": decided["at"] if decided else None,
            "answered_revision": revision if decided else None,
            "answered_via": "button" if decided else None,
            "evidence_ts": None,
        }
    )
    texts = [payload["text"]] + ([by_type["amended"]["payload"]["text"]] if revision == 2 else [])
    for number, wording in enumerate(texts, start=1):
        rows["revisions"].append(
            {
                "record_id": story.number,
                "number": number,
                "text": wording,
                "author_id": story.capturer if number == 1 else story.requester,
                "created_at": captured["at"] if number == 1 else by_type["amended"]["at"],
            }
        )


def _load(database_url: str, records: int) -> tuple[int, float]:
    """Write the ledger; the events written and the baseline's rate over them."""
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    chain = Chain()
    began = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(
            insert(Workspace).values(
                team_id=TEAM,
                last_record_number=records,
                last_event_seq=0,
                head_hash=hashchain.GENESIS_HASH,
                created_at=chain.at,
            )
        )
    for first in range(1, records + 1, CHUNK):
        rows = _chunk(chain, first, min(first + CHUNK - 1, records))
        with engine.begin() as connection:
            connection.execute(insert(Record), rows["records"])
            connection.execute(insert(Requester), rows["requesters"])
            connection.execute(insert(Revision), rows["revisions"])
            connection.execute(insert(AuditEvent), rows["events"])
        if first // CHUNK % 50 == 0:
            print(
                f"  {first + len(rows['records']) - 1:,} records, {chain.seq:,} events "
                f"({time.perf_counter() - began:.0f} s)",
                flush=True,
            )
    with engine.begin() as connection:
        connection.execute(
            Workspace.__table__.update().values(last_event_seq=chain.seq, head_hash=chain.head)
        )
        if engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))
    # Every finished day sealed, as `sayso serve` does: verify checks each checkpoint.
    sealed = checkpoints.seal(make_session_factory(engine), TEAM, chain.at + timedelta(days=1))
    print(f"  {len(sealed)} days sealed ({time.perf_counter() - began:.0f} s)", flush=True)
    engine.dispose()
    return chain.seq, chain.seq / chain.baseline_seconds


def _run_verify(database_url: str) -> tuple[float, int, str]:
    """`python -m bot verify` as a user runs it: seconds, peak RSS in KiB, its output."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database_url,
    }
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "verify"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"sayso verify failed ({process.returncode}):\n{output}")
    return seconds, usage.ru_maxrss, output.strip()


def _postgres_schema(url: str) -> tuple[str, Any]:
    """A URL whose connections use the bench's own schema, and how to drop it."""
    base = make_url(url)
    admin = create_engine(base)

    def drop() -> None:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))

    drop()
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
        # Alembic's table made here, in the schema: with `public` on the search path alembic
        # would otherwise find another run's public.alembic_version and skip the migrations.
        connection.execute(
            text(
                f"CREATE TABLE {PG_SCHEMA}.alembic_version (version_num VARCHAR(32) NOT NULL,"
                " CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
        )
    # `public` second: migration 0004 finds pg_trgm there.
    scoped = base.update_query_dict({"options": f"-csearch_path={PG_SCHEMA},public"})
    return scoped.render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--database-url", default=None, help="PostgreSQL; default SQLite")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    drop = None
    with tempfile.TemporaryDirectory() as scratch:
        if args.database_url:
            url, drop = _postgres_schema(args.database_url)
        else:
            folder = Path.cwd() if args.keep else Path(scratch)
            url = f"sqlite:///{folder / 'verify-bench.db'}"
        try:
            print(f"writing {args.records:,} records and their events ...", flush=True)
            began = time.perf_counter()
            events, baseline = _load(url, args.records)
            loaded = time.perf_counter() - began
            print(f"written in {loaded:.0f} s; running `sayso verify` ...", flush=True)
            seconds, peak_kib, output = _run_verify(url)
        finally:
            if drop is not None and not args.keep:
                drop()
    assert output.startswith(f"OK: {events} events"), output
    rate = events / seconds
    result = {
        "database": url.split(":")[0],
        "records": args.records,
        "events": events,
        "verify_seconds": round(seconds, 1),
        "verify_events_per_s": round(rate),
        "baseline_events_per_s": round(baseline),
        "ratio": round(rate / baseline, 2),
        "target_ratio": 0.5,
        "verify_peak_rss_mib": round(peak_kib / 1024),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
