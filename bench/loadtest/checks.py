"""What each server did against what it acked: Sayso's stored records, Slack posts, outbox
and ledger; both servers' logs."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emulator_proc import TEAM

from . import log
from .database import Database
from .figures import ServerRun
from .processes import EmulatorProcess
from .snapshot import Code


def check_bare(run: ServerRun) -> None:
    commands = run.commands()
    acked = [r for r in commands if r.ok and r.number is not None]
    run.checks.update(
        sent=len(run.all_results()),
        commands_acked=len(acked),
        records_stored=None,
        duplicates=None,
        lost=len(commands) - len(acked),
        clicks_applied=sum(r.ok for r in run.clicks()),
        clicks_sent=len(run.clicks()),
    )


def check_sayso(
    run: ServerRun,
    db: Database,
    emulator: EmulatorProcess,
    code: Code,
    server_env: dict[str, str],
    cwd: Path,
) -> None:
    commands = run.commands()
    acked = {r.request.tag: r.number for r in commands if r.ok and r.number is not None}
    ack_numbers = Counter(acked.values())
    stored = {
        int(row.number): row
        for row in db.rows(
            "SELECT number, status, text, card_ts, request_ts FROM records WHERE team_id = :team",
            team=TEAM,
        )
    }
    total_records = int(db.scalar("SELECT count(*) FROM records"))
    lost = []
    for tag, number in acked.items():
        row = stored.get(number)
        if row is None or f" {tag}:" not in row.text:
            lost.append(tag)
    unacked_commands = [r.request.tag for r in commands if not (r.ok and r.number is not None)]
    stats = emulator.stats()
    cards = Counter({int(k): v for k, v in stats["cards"].items()})
    asks = Counter({int(k): v for k, v in stats["requests"].items()})
    posted_twice = sorted(n for n in stored if cards[n] > 1 or asks[n] > 1)
    never_posted = sorted(n for n in stored if cards[n] == 0 or asks[n] == 0)
    missing_ts = sorted(n for n, row in stored.items() if not row.card_ts or not row.request_ts)
    clicks = run.clicks()
    clicked = [r.request.number for r in clicks if r.ok]
    not_confirmed = [n for n in clicked if n not in stored or stored[n].status != "confirmed"]
    failed_outbox = int(db.scalar("SELECT count(*) FROM outbox WHERE failed_at IS NOT NULL"))
    pending_outbox = db.outbox_pending()
    verify = subprocess.run(
        [*code.command, "verify"],
        cwd=str(cwd),
        env=server_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    run.checks.update(
        sent=len(run.all_results()),
        commands_acked=len(acked),
        commands_not_acked=len(unacked_commands),
        records_stored=len(stored),
        records_other_teams=total_records - len(stored),
        ack_number_reused=sum(c - 1 for c in ack_numbers.values() if c > 1),
        stored_without_ack=len(set(stored) - set(acked.values())),
        posted_twice=len(posted_twice),
        unattributed_cards=stats["unattributed_cards"],
        other_posts=stats["other_posts"],
        duplicates=sum(c - 1 for c in ack_numbers.values() if c > 1)
        + len(set(stored) - set(acked.values()))
        + len(posted_twice)
        + stats["unattributed_cards"],
        lost=len(lost),
        never_posted=len(never_posted),
        missing_ts=len(missing_ts),
        clicks_sent=len(clicks),
        clicks_acked=len(clicked),
        clicks_applied=len(clicked) - len(not_confirmed),
        outbox_failed=failed_outbox,
        outbox_pending=pending_outbox,
        slack_calls=stats["methods"],
        slack_errors=stats["failed"],
        verify_status=verify.returncode,
        verify_output=(verify.stdout + verify.stderr).strip()[:300],
        examples={
            "lost": lost[:5],
            "posted_twice": posted_twice[:5],
            "never_posted": never_posted[:5],
            "not_confirmed": not_confirmed[:5],
        },
    )


def server_log_summary(outputs: Sequence[str], workers: int) -> dict[str, Any]:
    """Tracebacks, warnings and errors in the servers' logs (one per replica, or the bare
    app's), and gunicorn workers booted beyond the `workers` each server starts with (a
    worker that died or timed out and was replaced)."""
    benign = ("`token` will be unused",)
    problems = [
        line
        for output in outputs
        for line in output.splitlines()
        if any(level in line for level in (" ERROR ", " WARNING ", " CRITICAL "))
        or any(level in line for level in ("[ERROR]", "[WARNING]", "[CRITICAL]"))  # gunicorn's
    ]
    problems = [line for line in problems if not any(b in line for b in benign)]
    if problems:
        log("server log, first warnings/errors:\n  " + "\n  ".join(problems[:5]))
    boots = sum(output.count("Booting worker with pid") for output in outputs)
    return {
        "server_tracebacks": sum(output.count("Traceback") for output in outputs),
        "server_warnings_errors": len(problems),
        "worker_restarts": boots - workers * len(outputs),
    }
