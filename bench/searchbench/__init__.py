"""The search benchmark's parts, put together by search.main:

- people: the workspace's channels, people and who is in which, and the fake Slack that
  answers from it;
- texts: the instructions' wording, half English and half Chinese, from templates;
- loading: the database made, the records written in bulk, ANALYZE;
- classes: the kinds of search timed, the line typed for each, and the bare index query
  measured beside it;
- timing: searches and bare queries timed in turn, the statements a search runs, their plans;
- completeness: what each sampled search should have found, by brute force.

What every part shares is here: the workspace's id, the progress log.
"""

from __future__ import annotations

import sys
import time

TEAM = "T0BENCHSRCH"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
