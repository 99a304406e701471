"""The command line of `python bench/load.py`, and the plan it makes."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from .phases import Plan


def parse_args(argv: Sequence[str] | None, description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL URL (a schema sayso_bench is used); default SQLite",
    )
    parser.add_argument("--commands", type=int, default=2000, help="commands at the fixed rate")
    parser.add_argument("--clicks", type=int, default=2000, help="clicks at the fixed rate")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument(
        "--sat-requests", type=int, default=2000, help="requests per saturation phase"
    )
    parser.add_argument("--senders", type=int, default=16, help="sender threads (fixed rate)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="gunicorn workers of the bare app and of each `sayso serve` (default: what "
        "`sayso serve` picks for the database, gunicorn_app.default_workers)",
    )
    parser.add_argument(
        "--bare-durable",
        action="store_true",
        help="the bare app commits one row per request to SQLite (WAL, synchronous=FULL) "
        "before its ack: the floor of any app that stores before it acks",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="`sayso serve` processes on the one database, requests spread round-robin "
        "(the bare app stays one server)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the saturation phases this many times, the bare app and Sayso in turn; the "
        "report gives the median of each (this machine's speed drifts over minutes)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="100 commands and 100 clicks at --rate, 100 per saturation phase (under a minute)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=900.0,
        help="seconds to wait for Sayso's outbox after each phase",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="write py-spy profiles of the Sayso server's phases here",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="run the working tree itself (the `sayso` script) instead of a copy taken at start",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary directory (logs, SQLite file) and PG schema",
    )
    args = parser.parse_args(argv)
    if args.quick:
        # Sayso's outbox (a few dozen messages/s) sets the pace: keep its work small.
        args.commands, args.clicks, args.sat_requests = 100, 100, 100
        args.drain_timeout = min(args.drain_timeout, 120.0)
    if args.rate <= 0 or args.commands < 1 or args.sat_requests < 1:
        parser.error("--rate, --commands and --sat-requests must be positive")
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds from 1 to 20")
    if args.replicas < 1 or (args.workers is not None and not 1 <= args.workers <= 64):
        parser.error("--replicas must be at least 1, --workers from 1 to 64")
    return args


def plan_of(args: argparse.Namespace) -> Plan:
    """What each server goes through; workers and threads are filled in once the code under
    test is known."""
    return Plan(
        commands=args.commands,
        clicks=min(args.clicks, args.commands),
        rate=args.rate,
        senders=args.senders,
        sat_requests=args.sat_requests,
        sat_concurrency=(8, 16),
        warmup=10 if args.quick else 20,
        drain_timeout=args.drain_timeout,
        phase_timeout=max(120.0, args.commands / args.rate * 3),
        replicas=args.replicas,
        bare_durable=args.bare_durable,
        rounds=args.rounds,
    )
