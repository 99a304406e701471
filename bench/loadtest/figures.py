"""What a phase measured: latencies, rates, CPU and outbox drain; one server's phases."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .sending import Result


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


@dataclass
class Phase:
    name: str
    results: list[Result]
    rate: float  # achieved sending rate (fixed rate) or requests/s (closed loop)
    cpu_seconds: float = float("nan")  # the server's CPU time while the requests ran
    drain_seconds: float | None = None
    drained_messages: int | None = None
    drain_cpu_seconds: float | None = None

    @property
    def ok(self) -> list[Result]:
        return [r for r in self.results if r.ok]

    def latencies_ms(self) -> list[float]:
        return [r.latency * 1000 for r in self.ok]

    def summary(self) -> dict[str, float]:
        values = self.latencies_ms()
        lags = [(r.sent - r.due) * 1000 for r in self.results]
        return {
            "sent": len(self.results),
            "ok": len(self.ok),
            "p50": percentile(values, 0.50),
            "p99": percentile(values, 0.99),
            "max": max(values, default=float("nan")),
            "rate": self.rate,
            "max_send_lag": max(lags, default=float("nan")),
            "cpu_ms_per_request": self.cpu_seconds * 1000 / len(self.results)
            if self.results
            else float("nan"),
        }

    def errors(self) -> Counter[str]:
        return Counter(
            r.error or f"HTTP {r.status}: {r.body[:80]}" for r in self.results if not r.ok
        )

    def line(self) -> str:
        """The phase in one line, for the progress log."""
        s = self.summary()
        errors = self.errors()
        shown = f", errors {dict(errors.most_common(3))}" if errors else ""
        return (
            f"{s['ok']}/{s['sent']} ok, {s['rate']:.1f} req/s, p50 {s['p50']:.1f} ms, "
            f"p99 {s['p99']:.1f} ms, max {s['max']:.1f} ms{shown}"
        )


@dataclass
class ServerRun:
    name: str
    phases: dict[str, Phase] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)

    def all_results(self) -> list[Result]:
        return [r for phase in self.phases.values() for r in phase.results]

    def commands(self) -> list[Result]:
        return [r for r in self.all_results() if r.request.kind == "command"]

    def clicks(self) -> list[Result]:
        return [r for r in self.all_results() if r.request.kind == "click"]


def round_key(key: str, round_number: int) -> str:
    """A saturation phase's key in a round: round 1's is the plain key (the report's rows)."""
    return key if round_number == 1 else f"{key}@r{round_number}"


def first_round(key: str) -> bool:
    return "@" not in key
