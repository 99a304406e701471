"""Summarize `py-spy record --format raw --threads --idle` output (as the load benchmark's
--profile writes it): where the server's threads spend their wall-clock time.

    python bench/spy_summary.py PROFILE.txt [--top 25] [--match TEXT]

The profile is of one gunicorn `gthread` worker (the load benchmark picks the first worker
of the first replica). Samples are grouped by thread kind: the worker's request threads
(gunicorn's thread pool, "ThreadPoolExecutor-...") while a request is being handled (a stack
through the WSGI app), the same threads idle, the worker's main thread (gunicorn's accept/keep-alive
loop), the outbox thread, and the rest. For each kind: the functions the samples are in
(inclusive, i.e. anywhere on the stack) and the innermost frames (where the thread actually
is: running, or blocked in C).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from pathlib import Path

_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]*?)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    found = _FRAME.match(frame)
    if not found:
        return frame
    return f"{found.group('func')} ({found.group('file')})"


def kind_of(thread: str, names: list[str]) -> str:
    if "sayso-outbox" in thread:
        return "outbox thread"
    if "ThreadPoolExecutor" in thread:  # gunicorn gthread's request threads
        in_request = any("wsgi (" in n and ("bot/web.py" in n or "bare_app.py" in n) for n in names)
        return "request threads: handling" if in_request else "request threads: idle"
    if "MainThread" in thread:
        return "main thread (gunicorn accept/keep-alive loop)"
    return f"other ({thread.split(';')[0][:40]})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="", help="only samples whose stack contains this text")
    args = parser.parse_args()
    inclusive: dict[str, Counter[str]] = defaultdict(Counter)
    innermost: dict[str, Counter[str]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    for raw in args.profile.read_text(errors="replace").splitlines():
        line = _LINE.match(raw.strip())
        if not line or (args.match and args.match not in raw):
            continue
        frames = line.group("stack").split(";")
        thread, names = frames[0], [frame_name(f) for f in frames[1:]]
        count = int(line.group("count"))
        kind = kind_of(thread, names)
        totals[kind] += count
        for name in set(names):
            inclusive[kind][name] += count
        if names:
            innermost[kind][names[-1]] += count
    grand = sum(totals.values()) or 1
    for kind, total in totals.most_common():
        print(f"\n== {kind}: {total} samples ({total / grand:.0%} of all)")
        print("  inclusive (on the stack):")
        for name, count in inclusive[kind].most_common(args.top):
            print(f"    {count / total:6.1%}  {name}")
        print("  innermost frame:")
        for name, count in innermost[kind].most_common(min(args.top, 12)):
            print(f"    {count / total:6.1%}  {name}")


if __name__ == "__main__":
    main()
