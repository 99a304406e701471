"""The one table from outbox job kind to what carries it out (bot.usecases.jobs)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from bot.models import OutboxMessage
from bot.outbox.queue import AlreadyCarriedOut, JobHandler, JobKind
from bot.usecases.answer import Answering
from bot.usecases.capture import Capturing
from bot.usecases.delivery import SlackDelivery
from bot.usecases.jobs import job_table
from bot.usecases.messenger import Messenger
from bot.usecases.ports import Ports

# Building the table touches none of its collaborators: they stand in unused.
UNUSED = cast(Any, None)


def _ports() -> Ports:
    return Ports("T0TEAM0001", UNUSED, UNUSED, UNUSED, UNUSED, UNUSED, lambda: None)


def _delivery() -> SlackDelivery:
    return SlackDelivery(UNUSED, UNUSED, UNUSED, UNUSED, UNUSED, UNUSED)


def _table(delivery: SlackDelivery | None = None) -> dict[JobKind, JobHandler]:
    ports = _ports()
    messenger = Messenger(ports)
    return job_table(
        Capturing(ports, messenger), Answering(ports, messenger), delivery or _delivery()
    )


def test_every_job_kind_has_a_handler() -> None:
    assert set(_table()) == set(JobKind)


def test_the_domain_work_is_not_sent_to_slack_and_the_rest_is() -> None:
    sent = set(_delivery().jobs())
    assert sent.isdisjoint({JobKind.CAPTURE, JobKind.CLICK, JobKind.CAPTURE_MESSAGE})
    assert sent | {JobKind.CAPTURE, JobKind.CLICK, JobKind.CAPTURE_MESSAGE} == set(JobKind)


def test_a_job_kind_without_a_handler_stops_the_workspace_being_built() -> None:
    class Forgetful(SlackDelivery):
        def jobs(self) -> dict[JobKind, JobHandler]:
            return {k: v for k, v in super().jobs().items() if k != JobKind.NUDGE}

    with pytest.raises(LookupError, match="nudge"):
        _table(Forgetful(UNUSED, UNUSED, UNUSED, UNUSED, UNUSED, UNUSED))


def test_domain_work_another_dispatcher_did_first_counts_as_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job = OutboxMessage(id=7, kind=JobKind.CLICK, team_id="T0TEAM0001", payload={})

    def done_already(_: Answering, job: OutboxMessage) -> None:
        raise AlreadyCarriedOut(job.id)

    monkeypatch.setattr(Answering, "apply_click", done_already)
    _table()[JobKind.CLICK](job)  # no error: the job is done, by the other dispatcher

    def broken(_: Answering, job: OutboxMessage) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(Answering, "apply_click", broken)
    with pytest.raises(RuntimeError):  # anything else is a failure, retried by the outbox
        _table()[JobKind.CLICK](job)
