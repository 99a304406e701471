"""What carries out each kind of outbox job: the one table the dispatcher goes by."""

from __future__ import annotations

import logging

from bot.models import OutboxMessage
from bot.outbox.queue import AlreadyCarriedOut, JobHandler, JobKind
from bot.usecases.answer import Answering
from bot.usecases.capture import Capturing
from bot.usecases.delivery import SlackDelivery

log = logging.getLogger(__name__)


def job_table(
    capturing: Capturing, answering: Answering, delivery: SlackDelivery
) -> dict[JobKind, JobHandler]:
    """Every job kind and its handler: the domain work acked before it was done (a capture,
    a click, a message to fetch and capture), then everything sent to Slack."""
    table = {
        JobKind.CAPTURE: _once(capturing.store_accepted_capture),
        JobKind.CLICK: _once(answering.apply_click),
        JobKind.CAPTURE_MESSAGE: _once(capturing.capture_fetched_message),
        **delivery.jobs(),
    }
    missing = set(JobKind) - set(table)
    if missing:
        raise LookupError(f"no handler for outbox jobs {sorted(missing)}")
    return table


def _once(work: JobHandler) -> JobHandler:
    """Domain work marks its job done in its own transaction; when another dispatcher did it
    first (this one's lease ran out), that transaction rolls back and the job is done."""

    def carry_out(job: OutboxMessage) -> None:
        try:
            work(job)
        except AlreadyCarriedOut:
            log.info("outbox %s (%s) was carried out by another dispatcher", job.id, job.kind)

    return carry_out
