"""Answering and acting on a record: its buttons, the amend form, and the evidence file."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from sqlalchemy.orm import Session

from bot.db import unit_of_work
from bot.errors import MalformedPayload, ModalInvalid, NotAllowed, RecordNotFound, SaysoError
from bot.models import Answer, OutboxMessage, Record, RecordStatus
from bot.outbox import queue
from bot.outbox.queue import JobKind
from bot.records import lifecycle
from bot.records.lifecycle import Action
from bot.slack.i18n import translator
from bot.slack.ids import ActionId, BlockId, CallbackId
from bot.usecases import intake
from bot.usecases.cards import record_view
from bot.usecases.messenger import Messenger
from bot.usecases.ports import Ports


@dataclass(frozen=True)
class Click:
    """Somebody pressed one of a record's buttons."""

    team_id: str
    channel_id: str | None  # None on the App Home
    user_id: str
    number: int
    revision: int
    action: ActionId
    thread_ts: str | None
    trigger_id: str | None = None

    def as_payload(self) -> dict[str, Any]:
        """As JSON, for the outbox to apply after the ack (`intake.accept_click`)."""
        return {**asdict(self), "action": self.action.value}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Click:
        known = {f.name for f in fields(cls)}  # a job queued by an older or newer release
        values = {k: v for k, v in payload.items() if k in known}
        return cls(**{**values, "action": ActionId(values["action"])})


_ANSWERS = {ActionId.CONFIRM: Answer.CONFIRMED, ActionId.REJECT: Answer.REJECTED}
_ACTIONS = {
    ActionId.WITHDRAW: Action.WITHDRAW,
    ActionId.DONE: Action.DONE,
    ActionId.CANCEL: Action.CANCEL,
    ActionId.REOPEN: Action.REOPEN,
}


class Answering:
    """Sayso's use cases for a record's buttons, amendments and evidence."""

    def __init__(self, ports: Ports, messenger: Messenger) -> None:
        self._ports = ports
        self._messenger = messenger

    def click(self, click: Click) -> None:
        """Any button on a record. "Change" opens its form at once (a trigger id lasts three
        seconds); any other button is accepted before the ack and applied right after it
        (apply_click). Refusals reach the clicker privately; nothing changes."""
        if click.action != ActionId.CHANGE:
            intake.accept_click(
                self._ports.session_factory,
                self._ports.now(),
                self._ports.team_id,
                click.as_payload(),
            )
            self._ports.on_commit()
            return
        try:
            if click.team_id != self._ports.team_id:  # a card of another installation's workspace
                raise RecordNotFound(click.number)
            self._open_amend_modal(click)
        except SaysoError as error:
            self._messenger.tell(
                click.team_id, click.channel_id, click.user_id, error, click.thread_ts
            )

    def apply_click(self, job: OutboxMessage) -> None:
        """Runs in the outbox: the button press accepted by `click`, applied once (the job is
        marked done in the same transaction)."""
        click = Click.from_payload(job.payload)
        try:
            if click.team_id != self._ports.team_id:  # a card of another installation's workspace
                raise RecordNotFound(click.number)
            with unit_of_work(self._ports.session_factory) as session:
                now = self._ports.now()
                record = lifecycle.get(session, click.team_id, click.number, for_update=True)
                what = _ANSWERS.get(click.action) or _ACTIONS[click.action]
                if lifecycle.repeats(session, record, click.user_id, click.revision, what):
                    pass  # a double click: it changes nothing, and needs no explaining
                elif click.action in _ANSWERS:
                    lifecycle.answer(
                        session,
                        now,
                        record,
                        click.user_id,
                        click.revision,
                        _ANSWERS[click.action],
                        via="button",
                    )
                    self.announce_answer(
                        session, record, click.user_id, _ANSWERS[click.action], "button"
                    )
                else:
                    lifecycle.act(session, now, record, click.user_id, _ACTIONS[click.action])
                    self._messenger.queue(session, record, JobKind.REFRESH_RECORD)
                    # The card and the request show the new status in place; only a record
                    # asked again (reopened to pending) needs its requesters told, by mention.
                    if record.status == RecordStatus.PENDING:
                        self._messenger.queue(
                            session,
                            record,
                            JobKind.THREAD_REPLY,
                            template="event_reply",
                            context={"event": _EVENT_OF[click.action], "actor_id": click.user_id},
                        )
                queue.mark_carried_out(session, job.id, now)
        except SaysoError as error:
            self._messenger.tell(
                click.team_id, click.channel_id, click.user_id, error, click.thread_ts, job.id
            )
            return
        self._ports.on_commit()

    def announce_answer(
        self, session: Session, record: Record, user_id: str, reply: Answer, via: str
    ) -> None:
        self._messenger.queue(session, record, JobKind.REFRESH_RECORD)
        if record.status == RecordStatus.CONFIRMED:
            self._messenger.queue(session, record, JobKind.SNAPSHOT_THREAD)
        if record.status == RecordStatus.PENDING:
            return  # others must still answer: the card and the request show who, in place
        self._messenger.queue(
            session,
            record,
            JobKind.THREAD_REPLY,
            template="answer_reply",
            # The reply says how things stood right after this answer, not at delivery time:
            # two answers delivered late must not both announce "everyone has confirmed".
            context={
                "actor_id": user_id,
                "answer": reply.value,
                "via": via,
                "waiting_ids": [r.user_id for r in record.requesters if r.answer == Answer.PENDING],
            },
        )

    def _open_amend_modal(self, click: Click) -> None:
        # Look the person up first: on SQLite a transaction holds the write lock, and the
        # directory uses its own.
        locale = self._ports.locale_of(click.team_id, click.user_id)
        with unit_of_work(self._ports.session_factory) as session:
            record = lifecycle.get(session, click.team_id, click.number)
            if click.user_id not in (*record.requester_ids, record.captured_by_id, record.owner_id):
                raise NotAllowed("may not amend", reason="not_party", **_who(record))
            view = record_view(record)
        metadata = {
            "team": click.team_id,
            "number": click.number,
            "revision": click.revision,
            "channel": click.channel_id,
            "thread_ts": click.thread_ts,
        }
        modal = self._ports.renderer.render_view(
            "amend_modal",
            locale,
            callback_id=CallbackId.AMEND_MODAL.value,
            private_metadata=json.dumps(metadata),
            blocks=BlockId,
            record=view,
        )
        assert click.trigger_id, "a block action always carries a trigger_id"
        self._ports.gateway.open_view(click.trigger_id, modal)

    def amend(
        self,
        team_id: str,
        number: int,
        revision: int,
        user_id: str,
        text: str,
        channel_id: str,
        thread_ts: str | None,
    ) -> None:
        """The amend form: a problem with the wording goes back to the form; a refusal (the
        record moved on meanwhile) reaches the person privately in the thread."""
        t = translator(self._ports.locale_of(team_id, user_id), str)
        if team_id != self._ports.team_id:
            raise MalformedPayload("an amend form of another workspace")
        if not text:
            raise ModalInvalid({BlockId.TEXT.value: t("errors.empty_text")})
        try:
            with unit_of_work(self._ports.session_factory) as session:
                record = lifecycle.get(session, team_id, number, for_update=True)
                if text == record.text:
                    raise ModalInvalid(
                        {BlockId.TEXT.value: t("errors.nothing_changed", revision=record.revision)}
                    )
                lifecycle.amend(session, self._ports.now(), record, user_id, revision, text)
                # One new message: the new revision's request, which names who changed it.
                self._messenger.queue(
                    session, record, JobKind.NEW_REVISION, previous_revision=revision
                )
        except ModalInvalid:
            raise
        except SaysoError as error:
            self._messenger.tell(team_id, channel_id, user_id, error, thread_ts)
            return
        self._ports.on_commit()

    def send_evidence(self, user_id: str, number: int) -> None:
        """The evidence file goes to the person by direct message, after the ack."""
        with unit_of_work(self._ports.session_factory) as session:
            queue.enqueue(
                session,
                self._ports.now(),
                team_id=self._ports.team_id,
                kind=JobKind.SEND_EVIDENCE,
                payload={"user": user_id, "number": number},
            )
        self._ports.on_commit()


_EVENT_OF = {
    ActionId.WITHDRAW: "withdrawn",
    ActionId.DONE: "done",
    ActionId.CANCEL: "cancelled",
    ActionId.REOPEN: "reopened",
}


def _who(record: Record) -> dict[str, Any]:
    return {
        "number": record.number,
        "requester_ids": record.requester_ids,
        "owner_id": record.owner_id,
        "captured_by_id": record.captured_by_id,
    }
