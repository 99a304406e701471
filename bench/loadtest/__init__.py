"""The load benchmark's parts, put together by load.main:

- processes: the servers and the emulator started, waited for and stopped;
- snapshot: which Sayso code runs, and its gunicorn defaults;
- cpu: CPU time of a server's process tree, from /proc;
- payloads and sending: what Slack sends, and the open- and closed-loop senders;
- phases: one server's warm-up, fixed-rate and saturation phases;
- figures: a phase's latencies and rates;
- database: the database under Sayso, the outbox drain, PostgreSQL's own schema;
- checks: what Sayso stored and posted, against what it acked;
- report: the table of both servers side by side;
- profiling: py-spy during each phase (--profile);
- options: the command line.

What every part shares is here: where things are, the loopback host, the progress log.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
HOST = "127.0.0.1"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
