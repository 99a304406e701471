"""One server through the measured phases: warm-up, fixed rate, saturation (in rounds)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import log
from .cpu import cpu_seconds
from .database import Database, wait_for_drain
from .figures import Phase, ServerRun, round_key
from .payloads import Request, click_request, command_request
from .processes import EmulatorProcess
from .sending import Result, run_closed_loop, run_fixed_rate


@dataclass
class Plan:
    commands: int
    clicks: int
    rate: float
    senders: int
    sat_requests: int
    sat_concurrency: tuple[int, ...]
    warmup: int
    drain_timeout: float
    phase_timeout: float
    workers: int = 1  # gunicorn workers per server, for the bare app and each Sayso replica
    threads: int = 4  # threads per worker (gunicorn_app.THREADS)
    replicas: int = 1  # `sayso serve` processes on the one database
    # The baseline writes one row to SQLite (WAL, FULL) per request before its ack.
    bare_durable: bool = False
    rounds: int = 1  # the saturation phases, run this many times by each server in turn


def exercise(
    name: str,
    ports: Sequence[int],
    pids: Sequence[int],
    plan: Plan,
    emulator: EmulatorProcess,
    db: Database | None,
    profiler: Callable[[str], contextlib.AbstractContextManager[None]],
) -> tuple[ServerRun, Callable[[int], None]]:
    """Every phase once; returns the run and its saturation phases, to run again as round
    2, 3... (`--rounds`)."""
    run = ServerRun(name)
    base = emulator.base_url

    def measure(key: str, title: str, send: Callable[[], tuple[list[Result], float]]) -> Phase:
        before = cpu_seconds(pids)
        with profiler(f"{name}-{key}"):
            results, rate = send()
        phase = run.phases[key] = Phase(title, results, rate, cpu_seconds(pids) - before)
        if not key.startswith("warm"):
            log(f"  {phase.line()}")
        drain(phase)
        return phase

    def drain(phase: Phase) -> None:
        if db is None:
            return
        before = cpu_seconds(pids)
        seconds, messages, drained = wait_for_drain(db, plan.drain_timeout)
        phase.drain_seconds, phase.drained_messages = seconds, messages
        phase.drain_cpu_seconds = cpu_seconds(pids) - before
        log(f"  outbox: {messages} messages delivered in {seconds:.1f}s after the phase")
        if not drained:
            log(f"  outbox NOT drained after {plan.drain_timeout:.0f}s")
            run.checks["not_drained"] = True

    def numbers_of(results: list[Result]) -> list[int]:
        return [n for r in results if r.ok and (n := r.number) is not None]

    def clicks_for(numbers: list[int]) -> list[Request]:
        shown = dict(emulator.stats()["request_ts"]) if db is not None else {}
        return [click_request(base, n, shown.get(str(n))) for n in numbers]

    def commands(count: int, tag: str) -> list[Request]:
        return [command_request(base, i, tag) for i in range(count)]

    log(f"{name}: warm-up ({plan.warmup} commands, then clicks)")
    warm = commands(plan.warmup, "warm")
    warm_k = max(2, len(ports))  # at least one connection to each server
    phase = measure(
        "warm_commands",
        "warm-up commands",
        lambda: run_closed_loop(ports, warm, warm_k, plan.phase_timeout),
    )
    warm_clicks = clicks_for(numbers_of(phase.results))
    measure(
        "warm_clicks",
        "warm-up clicks",
        lambda: run_closed_loop(ports, warm_clicks, warm_k, plan.phase_timeout),
    )

    rate = f"{plan.rate:g}/s"
    log(f"{name}: {plan.commands} commands at {rate}")
    fixed = commands(plan.commands, "rate")
    phase = measure(
        "rate_commands",
        f"commands at {rate}",
        lambda: run_fixed_rate(ports, fixed, plan.rate, plan.senders),
    )
    clicks = clicks_for(numbers_of(phase.results)[: plan.clicks])
    log(f"{name}: {len(clicks)} clicks at {rate}")
    measure(
        "rate_clicks",
        f"clicks at {rate}",
        lambda: run_fixed_rate(ports, clicks, plan.rate, plan.senders),
    )

    def saturate(round_number: int) -> None:
        title = "" if round_number == 1 else f", round {round_number}"
        created: list[int] = []
        for k in plan.sat_concurrency:
            log(f"{name}: saturation{title}, {plan.sat_requests} commands on {k} connections")
            batch = commands(plan.sat_requests, f"sat{k}r{round_number}")
            phase = measure(
                round_key(f"sat_commands_{k}", round_number),
                f"commands, K={k}",
                functools.partial(run_closed_loop, ports, batch, k, plan.phase_timeout),
            )
            created += numbers_of(phase.results)
        k = max(plan.sat_concurrency)
        clicks = clicks_for(created[: plan.sat_requests])
        log(f"{name}: saturation{title}, {len(clicks)} clicks on {k} connections")
        measure(
            round_key(f"sat_clicks_{k}", round_number),
            f"clicks, K={k}",
            lambda: run_closed_loop(ports, clicks, k, plan.phase_timeout),
        )

    saturate(1)
    return run, saturate
