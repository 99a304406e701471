"""The report: both servers' figures side by side, with Sayso/bare and the targets."""

from __future__ import annotations

import json
import os
import statistics
from typing import Any

from .figures import ServerRun, first_round, round_key
from .phases import Plan

TARGET_P99_MS = 30.0
TARGET_SATURATION_SHARE = 0.5


def _ms(value: float) -> str:
    return "-" if value != value else f"{value:.1f} ms"


def _num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return "-" if value != value else f"{value:,.0f}"
    return f"{value:,}"


def _ratio(sayso: float | None, bare: float | None) -> str:
    if not sayso or not bare or sayso != sayso or bare != bare:
        return "-"
    return f"{sayso / bare:.2f}x"


def report(bare: ServerRun, sayso: ServerRun, plan: Plan, database: str) -> bool:
    b, s = bare.phases, sayso.phases
    rows: list[tuple[str, str, str, str, str, str]] = []
    verdicts: list[bool] = []

    def row(label: str, target: str, bv: str, sv: str, ratio: str = "", ok: bool | None = None):
        mark = "" if ok is None else ("PASS" if ok else "FAIL")
        if ok is not None:
            verdicts.append(ok)
        rows.append((label, target, bv, sv, ratio, mark))

    bc, sc = bare.checks, sayso.checks
    row("requests sent (all phases)", "", _num(bc["sent"]), _num(sc["sent"]))
    row("commands acked 'Recorded #N'", "", _num(bc["commands_acked"]), _num(sc["commands_acked"]))
    row(
        "records stored",
        "= acked",
        "n/a",
        _num(sc["records_stored"]),
        ok=sc["records_stored"] == sc["commands_acked"],
    )
    row("duplicates", "0", "n/a", _num(sc["duplicates"]), ok=sc["duplicates"] == 0)
    row("lost", "0", _num(bc["lost"]), _num(sc["lost"]), ok=sc["lost"] == 0 and bc["lost"] == 0)
    row(
        "clicks applied / acked",
        "all",
        f"{bc['clicks_applied']}/{bc['clicks_sent']}",
        f"{sc['clicks_applied']}/{sc['clicks_acked']}",
        ok=sc["clicks_applied"] == sc["clicks_acked"] == sc["clicks_sent"],
    )
    for key, label in (("rate_commands", "commands"), ("rate_clicks", "clicks")):
        bs, ss = b[key].summary(), s[key].summary()
        rate = f"{plan.rate:g}/s"
        row(
            f"{label} at {rate}: p50 ack",
            "",
            _ms(bs["p50"]),
            _ms(ss["p50"]),
            _ratio(ss["p50"], bs["p50"]),
        )
        row(
            f"{label} at {rate}: p99 ack",
            f"< {TARGET_P99_MS:g} ms",
            _ms(bs["p99"]),
            _ms(ss["p99"]),
            _ratio(ss["p99"], bs["p99"]),
            ok=ss["p99"] < TARGET_P99_MS,
        )
        row(
            f"{label} at {rate}: max ack",
            "",
            _ms(bs["max"]),
            _ms(ss["max"]),
            _ratio(ss["max"], bs["max"]),
        )
        row(
            f"{label} at {rate}: errors",
            "0",
            _num(bs["sent"] - bs["ok"]),
            _num(ss["sent"] - ss["ok"]),
        )
    for key in [k for k in s if k.startswith("sat_") and first_round(k)]:
        rounds = [round_key(key, n) for n in range(1, plan.rounds + 1)]
        bare_rates = [b[k].summary()["rate"] for k in rounds]
        sayso_rates = [s[k].summary()["rate"] for k in rounds]
        pairs = zip(sayso_rates, bare_rates, strict=True)
        shares = [sv / bv if bv else float("nan") for sv, bv in pairs]
        share = statistics.median(shares)
        of_rounds = "" if plan.rounds == 1 else f" (median of {plan.rounds})"
        row(
            f"saturation {s[key].name}: req/s{of_rounds}",
            f">= {TARGET_SATURATION_SHARE:.0%} bare",
            f"{statistics.median(bare_rates):,.0f}",
            f"{statistics.median(sayso_rates):,.0f}",
            f"{share:.2f}x",
            ok=share >= TARGET_SATURATION_SHARE,
        )
        if plan.rounds > 1:
            row(
                f"saturation {s[key].name}: each round",
                "",
                " ".join(f"{rate:,.0f}" for rate in bare_rates),
                " ".join(f"{rate:,.0f}" for rate in sayso_rates),
                " ".join(f"{value:.2f}" for value in shares),
            )
        bs, ss = b[key].summary(), s[key].summary()
        row(
            f"saturation {s[key].name}: p99",
            "",
            _ms(bs["p99"]),
            _ms(ss["p99"]),
            _ratio(ss["p99"], bs["p99"]),
        )
    for key in [k for k in s if not k.startswith("warm") and first_round(k)]:
        bs, ss = b[key].summary(), s[key].summary()
        row(
            f"server CPU per request, {s[key].name}",
            "",
            _ms(bs["cpu_ms_per_request"]),
            _ms(ss["cpu_ms_per_request"]),
            _ratio(ss["cpu_ms_per_request"], bs["cpu_ms_per_request"]),
        )
    for key, phase in s.items():
        if phase.drain_seconds is not None and not key.startswith("warm") and first_round(key):
            per_second = (
                (phase.drained_messages or 0) / phase.drain_seconds
                if phase.drain_seconds > 0.5
                else None
            )
            extra = f" ({per_second:.0f} msg/s)" if per_second else ""
            row(
                f"outbox drain after {phase.name}",
                "",
                "n/a",
                f"{phase.drain_seconds:.1f} s, {phase.drained_messages} msgs{extra}",
            )
    row(
        "outbox failed / pending at end",
        "0 / 0",
        "n/a",
        f"{sc['outbox_failed']} / {sc['outbox_pending']}",
        ok=sc["outbox_failed"] == 0 and sc["outbox_pending"] == 0,
    )
    row(
        "`sayso verify` exit status",
        "0",
        "n/a",
        str(sc["verify_status"]),
        ok=sc["verify_status"] == 0,
    )
    row(
        "gunicorn workers replaced",
        "0",
        _num(bc.get("worker_restarts")),
        _num(sc.get("worker_restarts")),
    )

    header = ("", "target", "bare Bolt", "Sayso", "Sayso/bare", "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(6)]
    line = "  ".join("-" * w for w in widths)
    print()
    print(
        f"Sayso load benchmark: {database}; {plan.commands} commands and {plan.clicks} clicks "
        f"at {plan.rate:g}/s, saturation {plan.sat_requests} requests; {os.cpu_count()} CPUs"
    )
    replicas = f"{plan.replicas} replica{'s' if plan.replicas > 1 else ''}"
    print(
        f"gunicorn gthread, {plan.threads} threads per worker: Sayso {replicas} x "
        f"{plan.workers} worker{'s' if plan.workers > 1 else ''} (round-robin), bare Bolt "
        f"1 server x {plan.workers} worker{'s' if plan.workers > 1 else ''}"
        + (
            ", writing one row to SQLite (WAL, FULL) per request before its ack"
            if plan.bare_durable
            else ""
        )
        + (
            "; SQLite replicas share one file's lock"
            if plan.replicas > 1 and database.startswith("SQLite")
            else ""
        )
    )
    print(line)
    for r in [header, *rows]:
        print(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )
    print(line)
    pacing = max(
        p.summary()["max_send_lag"]
        for run in (bare, sayso)
        for p in run.phases.values()
        if p.name.startswith(("commands at", "clicks at"))
    )
    achieved = [
        f"{p.rate:.1f}/s"
        for run in (bare, sayso)
        for k, p in run.phases.items()
        if k.startswith("rate_")
    ]
    print(
        f"pacing: achieved send rates {', '.join(achieved)}; worst send lag {pacing:.1f} ms "
        "(latency is counted from each request's due time)"
    )
    details = {k: v for k, v in sc.items() if k not in ("verify_output",)}
    print(f"Sayso checks: {json.dumps(details, sort_keys=True)}")
    print(f"sayso verify: {sc['verify_output']}")
    ok = all(verdicts)
    print(f"RESULT: {'all targets met' if ok else 'some targets missed (FAIL above)'}")
    return ok
