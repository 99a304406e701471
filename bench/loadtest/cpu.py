"""CPU time of a server's whole process tree (gunicorn master and workers), from /proc."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    started: int  # clock ticks after boot
    ticks: int  # utime + stime + cutime + cstime: its own CPU and its reaped children's


def proc_stats() -> dict[int, ProcStat]:
    """Every process's /proc/<pid>/stat, as far as it can be read (processes come and go)."""
    found: dict[int, ProcStat] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()  # after the command name, which may hold ")"
        pid = int(entry.name)
        found[pid] = ProcStat(
            pid, int(fields[1]), int(fields[19]), sum(int(f) for f in fields[11:15])
        )
    return found


def process_tree(root: int, stats: dict[int, ProcStat] | None = None) -> list[ProcStat]:
    """The process and all its descendants (a gunicorn master and its workers)."""
    stats = proc_stats() if stats is None else stats
    children: dict[int, list[int]] = {}
    for stat in stats.values():
        children.setdefault(stat.ppid, []).append(stat.pid)
    tree: list[ProcStat] = []
    todo, seen = [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        tree.append(stats[pid])
        todo.extend(children.get(pid, ()))
    return tree


def cpu_seconds(roots: Sequence[int]) -> float:
    """User + system CPU time so far of these processes and all their descendants (all their
    threads), from /proc: a gunicorn master and its workers, per server. A worker that exited
    and was reaped meanwhile still counts, in its parent's cutime/cstime; NaN only when a
    server itself is gone."""
    stats = proc_stats()
    if any(root not in stats for root in roots):
        return float("nan")
    ticks = sum(stat.ticks for root in roots for stat in process_tree(root, stats))
    return ticks / os.sysconf("SC_CLK_TCK")


def workers_of(master: int) -> list[int]:
    """A gunicorn master's worker processes, oldest first."""
    stats = proc_stats()
    workers = [stat for stat in stats.values() if stat.ppid == master]
    return [stat.pid for stat in sorted(workers, key=lambda stat: (stat.started, stat.pid))]
