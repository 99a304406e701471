"""Prometheus metrics, served at GET /metrics.

Counters and the ack-latency histogram are counted where things happen. What the database
holds (records by status, the outbox's depth and oldest message) is read at scrape time, so
every worker and every replica reports the same numbers.

Under gunicorn every worker process counts into files of its own in
PROMETHEUS_MULTIPROC_DIR, and a scrape of any worker adds them all up. prometheus-client
chooses that mode when it is first imported, so `sayso serve` sets the variable before this
module is imported (`server.serve`) and `gunicorn_app.serve_http` checks that it did.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from bot.clock import Clock
from bot.db import read_only
from bot.models import OutboxMessage, Record, RecordStatus
from bot.outbox import admin

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Slack waits three seconds for an ack: the buckets are finest well below that.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
UNVERIFIED = "unverified"

REQUESTS = Counter(
    "sayso_requests", "Slack requests answered, by kind and outcome.", ["kind", "outcome"]
)
ACK_SECONDS = Histogram(
    "sayso_ack_seconds",
    "Time from a Slack request's arrival to its acknowledgement, by kind.",
    ["kind"],
    buckets=ACK_BUCKETS,
)
DELIVERIES_FAILED = Counter(
    "sayso_deliveries_failed",
    "Outbox deliveries Slack did not take, by error; given_up when it will not be retried.",
    ["error", "given_up"],
)
DIGEST_RUNS = Counter("sayso_digest_runs", "Scheduled passes that queued digests.")
DIGESTS_QUEUED = Counter("sayso_digests_queued", "Digests queued, one per recipient and day.")

_SLACK_CODE = re.compile(r"[a-z][a-z0-9_]{0,48}")
_HTTP_STATUS = re.compile(r"http (\d{3})")
_EVENT_TYPE = re.compile(r"[a-z_]{1,40}")
_KINDS = {
    "block_actions": "action",
    "view_submission": "view_submission",
    "view_closed": "view_closed",
    "shortcut": "shortcut",
    "message_action": "shortcut",
    "block_suggestion": "options",
    "url_verification": "url_verification",
}


def multiprocess() -> bool:
    """Whether samples go to PROMETHEUS_MULTIPROC_DIR (gunicorn workers) or stay in memory."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def kind_of(body: dict[str, Any]) -> str:
    """A Slack request's kind, as a label: command, action, view_submission, shortcut... and
    `event:<type>` for the Events API. Call it on verified requests only: the set of values
    must stay small, and an unverified body could say anything."""
    if body.get("command"):
        return "command"
    kind = str(body.get("type") or "")
    if kind == "event_callback":
        event = body.get("event")
        event_type = str(event.get("type") or "") if isinstance(event, dict) else ""
        return f"event:{event_type}" if _EVENT_TYPE.fullmatch(event_type) else "event:other"
    return _KINDS.get(kind, "other")


def outcome_of(status: int) -> str:
    if status < 400:
        return "ok"
    if status in (401, 403):
        return "refused"
    return "bad_request" if status < 500 else "error"


def observe_request(kind: str, status: int, seconds: float) -> None:
    """Count one Slack request; never lets a metrics problem reach the request."""
    try:
        REQUESTS.labels(kind, outcome_of(status)).inc()
        ACK_SECONDS.labels(kind).observe(seconds)
    except Exception:
        log.exception("could not count a request")


def delivery_failed(reason: str, given_up: bool) -> None:
    """An outbox delivery failed (the `OutboxDispatcher` calls this through its `on_failure`)."""
    try:
        DELIVERIES_FAILED.labels(error_label(reason), "true" if given_up else "false").inc()
    except Exception:
        log.exception("could not count a failed delivery")


def error_label(reason: str) -> str:
    """Slack's error codes as they are; free-text reasons folded into a few values."""
    if _SLACK_CODE.fullmatch(reason):
        return reason
    if reason.startswith("network"):
        return "network"
    status = _HTTP_STATUS.match(reason)
    return f"http_{status.group(1)}" if status else "other"


def digest_run(queued: int) -> None:
    """One scheduled pass of the digest (`Digesting.tick`); `queued` digests went out."""
    if queued:
        DIGEST_RUNS.inc()
        DIGESTS_QUEUED.inc(queued)


def worker_gone(pid: int) -> None:
    """gunicorn's child_exit: a dead worker's live gauges must not be summed any more."""
    if multiprocess():
        mark_process_dead(pid)


def scrape(engine: Engine, clock: Clock) -> bytes:
    """The exposition text: every worker's counters plus the database's gauges."""
    counted: Collector = MultiProcessCollector(None) if multiprocess() else REGISTRY
    return generate_latest(_Scrape(counted, DatabaseGauges(engine, clock)))


class _Scrape(Collector):
    def __init__(self, *collectors: Collector) -> None:
        self._collectors = collectors

    def collect(self) -> Iterable[Any]:
        for collector in self._collectors:
            yield from collector.collect()


class DatabaseGauges(Collector):
    """Records by status, the outbox's backlog and what it gave up on, read with three
    queries per scrape. When the database does not answer they are left out and
    `sayso_database_up` says 0."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def collect(self) -> Iterable[Any]:
        waiting = (OutboxMessage.delivered_at.is_(None), OutboxMessage.failed_at.is_(None))
        try:
            with read_only(self._engine).connect() as connection:
                by_status = dict(
                    connection.execute(
                        select(Record.status, func.count()).group_by(Record.status)
                    ).all()
                )
                depth, oldest = connection.execute(
                    select(func.count(), func.min(admin.waiting_since())).where(*waiting)
                ).one()
                failed = connection.execute(
                    select(func.count()).where(OutboxMessage.failed_at.is_not(None))
                ).scalar_one()
        except Exception as error:
            log.warning("metrics: the database did not answer: %s", error)
            yield GaugeMetricFamily("sayso_database_up", "Whether the database answered.", 0)
            return
        yield GaugeMetricFamily("sayso_database_up", "Whether the database answered.", 1)
        records = GaugeMetricFamily("sayso_records", "Records by status.", labels=["status"])
        for status in RecordStatus:
            records.add_metric([status.value], by_status.get(status.value, 0))
        yield records
        yield GaugeMetricFamily(
            "sayso_outbox_depth", "Slack deliveries waiting in the outbox.", depth
        )
        yield GaugeMetricFamily(
            "sayso_outbox_oldest_age_seconds",
            "Age of the oldest delivery waiting in the outbox (0 when none waits).",
            _age(oldest, self._clock.now()),
        )
        yield GaugeMetricFamily(
            "sayso_outbox_failed",
            "Messages the outbox gave up on, still kept: `sayso outbox` lists them.",
            failed,
        )


def _age(oldest: datetime | None, now: datetime) -> float:
    return max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
