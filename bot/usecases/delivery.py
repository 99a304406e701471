"""What each kind of outbox message does in Slack.

Messages are rendered at delivery time from the record as it is then, so a late delivery
never shows a stale state. No database transaction is held open across a Slack call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import evidence, localtime
from bot.clock import Clock
from bot.db import reading, unit_of_work
from bot.errors import AccessUnchecked
from bot.ledger import hashchain
from bot.models import OutboxMessage, Record, Requester, Revision, ThreadSnapshot, Watch
from bot.outbox import queue
from bot.outbox.queue import JobHandler, JobKind
from bot.records import digest, lifecycle
from bot.slack.directory import Directory
from bot.slack.gateway import DeliveryError, SlackGateway
from bot.slack.ids import ActionId, HomeAction
from bot.slack.rendering import RenderedMessage, Renderer, TemplateOutputError
from bot.usecases.cards import CLOSED_BY_SOMEONE, record_view
from bot.usecases.lookup import Audience, Finder

DIGEST_ITEMS = 10  # per section; the rest is a /confirm list away


class SlackDelivery:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        gateway: SlackGateway,
        renderer: Renderer,
        directory: Directory,
        clock: Clock,
        finder: Finder,
        zone: str = "UTC",
    ) -> None:
        self._zone = zone
        self._finder = finder
        self._session_factory = session_factory
        self._gateway = gateway
        self._renderer = renderer
        self._directory = directory
        self._clock = clock

    def jobs(self) -> dict[JobKind, JobHandler]:
        """What this sends to Slack, by outbox job kind."""
        sends: dict[JobKind, JobHandler] = {
            JobKind.POST_RECORD: self._post_record,
            JobKind.REFRESH_RECORD: lambda job: self._refresh_record(_required(job.record_id)),
            JobKind.NEW_REVISION: self._new_revision,
            JobKind.THREAD_REPLY: self._thread_reply,
            JobKind.TROUBLE: self._trouble,
            JobKind.DIGEST: self._digest,
            JobKind.SEND_EVIDENCE: lambda job: self._send_evidence(job.team_id, job.payload),
            JobKind.PUBLISH_HOME: lambda job: self._publish_home(job.team_id, job.payload["user"]),
            JobKind.SNAPSHOT_THREAD: lambda job: self._snapshot_thread(_required(job.record_id)),
            JobKind.EPHEMERAL: lambda job: self._ephemeral(job.team_id, job.record_id, job.payload),
            JobKind.EVIDENCE_LINK: lambda job: self._evidence_link(
                _required(job.record_id), job.payload
            ),
            JobKind.NUDGE: lambda job: self._nudge(job.team_id, job.payload),
        }
        return {kind: _as_delivery(send) for kind, send in sends.items()}

    def _thread_reply(self, message: OutboxMessage) -> None:
        payload = message.payload
        record = self._load(_required(message.record_id))
        self._post_once(
            message,
            "reply",
            record.channel_id,
            lambda: self._render_for_record(payload["template"], record, **payload["context"]),
            thread_ts=_posted(record.thread_ts),
        )

    # -- records ---------------------------------------------------------------------------

    def _load(self, record_id: int) -> Record:
        """A detached copy of the record, as it is now, to render from."""
        with reading(self._session_factory) as session:
            record = session.get(Record, record_id)
            if record is None:
                raise DeliveryError("the record no longer exists", permanent=True)
            if record.status in CLOSED_BY_SOMEONE:
                session.refresh(record, ["events"])  # its card names who closed it
            return record

    def _render_for_record(self, template: str, record: Record, **context: Any) -> RenderedMessage:
        # Channel messages speak the (first) requester's language: they are the ones asked.
        locale = self._directory.person(record.team_id, record.requester_id, self._clock.now())
        return self._renderer.render(
            template, locale.locale, record=record_view(record), actions=ActionId, **context
        )

    def _post_once(
        self,
        message: OutboxMessage,
        part: str,
        channel: str,
        render: Callable[[], RenderedMessage],
        thread_ts: str | None = None,
    ) -> str:
        """Post, unless an earlier attempt already did: a crash can fall between Slack taking
        a message and our storing its ts, so a retry first looks for the post's key."""
        key = f"outbox-{message.id}-{part}"
        if message.attempts > 1:
            found = self._gateway.find_post(channel, thread_ts, key)
            if found is not None:
                return found
        return self._gateway.post(channel, render(), thread_ts=thread_ts, key=key)

    def _post_record(self, message: OutboxMessage) -> None:
        # One load, then one short transaction per step Slack confirmed (the card; the request
        # with the thread's permalink and the requesters' organizations), so that a retry
        # resumes after the last one.
        record = self._load(_required(message.record_id))
        organizations = self._note_organizations(record)
        if record.thread_ts is None:
            ts = self._post_once(
                message,
                "card",
                record.channel_id,
                lambda: self._render_for_record("record_card", record),
            )
            self._save(record, card_ts=ts, thread_ts=ts)
        if record.source_ts and not record.source_permalink:
            link = self._gateway.permalink(record.channel_id, record.source_ts)
            self._save(record, source_permalink=link)
        if record.request_ts is None:
            # Asked before the request is posted, so that nothing can fail between posting it
            # and storing its ts.
            link = record.thread_permalink or self._gateway.permalink(
                record.channel_id, _posted(record.thread_ts)
            )
            ts = self._post_once(
                message,
                "request",
                record.channel_id,
                lambda: self._render_for_record("confirmation_request", record),
                thread_ts=record.thread_ts,
            )
            self._save(
                record,
                "card_posted",
                organizations,
                request_ts=ts,
                thread_permalink=link,
            )
        elif record.thread_permalink is None:
            link = self._gateway.permalink(record.channel_id, _posted(record.thread_ts))
            self._save(record, thread_permalink=link)

    def _save(
        self,
        record: Record,
        event: str | None = None,
        organizations: dict[str, tuple[str | None, str | None]] | None = None,
        **values: str,
    ) -> None:
        """Store what Slack just gave us, at once, so a retry continues from here; the copy
        being delivered (`record`) follows. A request's ts goes on the revision it showed.

        A step is stored once: if another delivery of the same message stored it first (it
        took the message over when it thought this one dead), theirs stands and this one
        follows it, adding no event."""
        with unit_of_work(self._session_factory) as session:
            if not self._first_to_store(session, record, values):
                stored = session.get(Record, record.id)
                assert stored is not None
                for name in values:
                    setattr(record, name, getattr(stored, name))
                return
            session.execute(update(Record).where(Record.id == record.id).values(**values))
            for user_id, (org_team_id, org_name) in (organizations or {}).items():
                session.execute(
                    update(Requester)
                    .where(Requester.record_id == record.id, Requester.user_id == user_id)
                    .values(org_team_id=org_team_id, org_name=org_name)
                )
            for name, value in values.items():
                setattr(record, name, value)
            if event:
                now = self._clock.now()
                workspace = hashchain.lock_workspace(session, record.team_id, now)
                hashchain.append(
                    session,
                    workspace,
                    record,
                    event,
                    "sayso",
                    now,
                    {
                        "channel": record.channel_id,
                        "card_ts": record.card_ts,
                        "thread_ts": record.thread_ts,
                        "request_ts": record.request_ts,
                        "revision": record.revision,
                    },
                )

    def _first_to_store(self, session: Session, record: Record, values: dict[str, str]) -> bool:
        """Claims the step `values` complete: the revision's request, or the record's card.
        Other values (permalinks) are the same whoever stores them."""
        if "request_ts" in values:
            claimed = session.execute(
                update(Revision)
                .where(
                    Revision.record_id == record.id,
                    Revision.number == record.revision,
                    Revision.request_ts.is_(None),
                )
                .values(request_ts=values["request_ts"])
                .returning(Revision.id)
            )
        elif "thread_ts" in values:
            claimed = session.execute(
                update(Record)
                .where(Record.id == record.id, Record.thread_ts.is_(None))
                .values(**values)
                .returning(Record.id)
            )
        else:
            return True
        return claimed.first() is not None

    def _note_organizations(self, record: Record) -> dict[str, tuple[str | None, str | None]]:
        """Slack Connect: each requester's organization, shown on the card and stored with it."""
        now = self._clock.now()
        organizations = {}
        for requester in record.requesters:
            person = self._directory.person(record.team_id, requester.user_id, now)
            requester.org_team_id, requester.org_name = person.org_team_id, person.org_name
            organizations[requester.user_id] = (person.org_team_id, person.org_name)
        return organizations

    def _refresh_record(self, record_id: int) -> None:
        record = self._load(record_id)
        if record.card_ts:
            self._gateway.update(
                record.channel_id, record.card_ts, self._render_for_record("record_card", record)
            )
        self._gateway.update(
            record.channel_id,
            _posted(record.request_ts),
            self._render_for_record("confirmation_request", record),
        )

    def _new_revision(self, message: OutboxMessage) -> None:
        record_id, payload = _required(message.record_id), message.payload
        record = self._load(record_id)
        previous = next(
            (v for v in record.revisions if v.number == payload["previous_revision"]), None
        )
        if (
            previous is not None
            and previous.request_ts
            and record.request_ts == previous.request_ts
        ):
            self._gateway.update(
                record.channel_id,
                previous.request_ts,
                self._render_for_record(
                    "superseded_request", record, text=previous.text, superseded_by=record.revision
                ),
            )
        current = record.revisions[-1]
        if current.request_ts is None:
            ts = self._post_once(
                message,
                "request",
                record.channel_id,
                lambda: self._render_for_record("confirmation_request", record),
                thread_ts=_posted(record.thread_ts),
            )
            self._save(record, request_ts=ts, event="revision_posted")
        if record.card_ts:
            self._gateway.update(
                record.channel_id, record.card_ts, self._render_for_record("record_card", record)
            )

    def _evidence_link(self, record_id: int, payload: dict[str, Any]) -> None:
        record = self._load(record_id)
        link = self._gateway.permalink(record.channel_id, payload["ts"])
        with unit_of_work(self._session_factory) as session:
            requester = session.execute(
                select(Requester).where(
                    Requester.record_id == record_id,
                    Requester.user_id == payload["user"],
                    Requester.evidence_ts == payload["ts"],
                )
            ).scalar_one_or_none()
            if requester is not None:
                requester.evidence_permalink = link

    def _digest(self, message: OutboxMessage) -> None:
        payload = message.payload
        recipient = payload["recipient"]
        # Built as of when it was due (the outbox may deliver it later); an owner's in the
        # owner's own zone, as it was scheduled.
        with reading(self._session_factory) as session:
            if recipient == "channel":
                built: digest.Digest | None = digest.build(
                    session,
                    message.team_id,
                    message.created_at,
                    self._zone,
                    message.created_at - timedelta(days=1),
                )[0]
            else:
                built = digest.build(
                    session,
                    message.team_id,
                    message.created_at,
                    payload.get("zone") or self._zone,
                    message.created_at - timedelta(days=1),
                    stored_zone_wins=not payload.get("zone"),
                    owner_id=recipient,
                )[1].get(recipient)
        if built is None:
            return  # nothing of theirs is open any more
        # Only what its readers may see, by the rule `/confirm show` keeps; the rest counted.
        audience = (
            Audience(channel_id=payload["channel"])
            if recipient == "channel"
            else Audience(user_id=recipient)
        )
        built = self._finder.shown_digest(built, audience)
        previous = payload.get("previous")
        if recipient == "channel":
            locale = self._renderer.default_locale
        else:
            locale = self._directory.person(message.team_id, recipient, self._clock.now()).locale
        change = self._renderer.change_since(locale, built.unresolved, previous)
        text = self._renderer.render(
            "digest", locale, digest=built, change=change, limit=DIGEST_ITEMS, actions=ActionId
        )
        if recipient == "channel":
            summary = self._renderer.render(
                "digest", locale, digest=built, change=change, limit=0, actions=ActionId
            )
            ts = self._post_once(message, "summary", payload["channel"], lambda: summary)
            if not built.all_clear:
                self._post_once(message, "details", payload["channel"], lambda: text, ts)
        else:
            self._gateway.send_dm(recipient, text)

    def _send_evidence(self, team_id: str, payload: dict[str, Any]) -> None:
        user_id, number = payload["user"], payload["number"]
        # The file's times and words are those of whoever asked for it: they read it first.
        person = self._directory.person(team_id, user_id, self._clock.now())
        with reading(self._session_factory) as session:
            channel_id = lifecycle.get(session, team_id, number).channel_id
        names = self._names(team_id, channel_id)
        with reading(self._session_factory) as session:
            document = evidence.build_evidence(
                session,
                team_id,
                number,
                self._clock.now(),
                localtime.usable(person.tz),
                language=person.locale,
                names=names,
            )
        page = evidence.render_evidence(document, "html")
        pending = bool(document["verification"]["pending"])
        note = self._renderer.render("evidence_sent", person.locale, number=number, pending=pending)
        self._gateway.send_file(
            user_id, f"sayso-evidence-{team_id}-{number}.html", page.encode(), note.text
        )
        now = self._clock.now()
        with unit_of_work(self._session_factory) as session:
            record = lifecycle.get(session, team_id, number, for_update=True)
            workspace = hashchain.lock_workspace(session, team_id, now)
            hashchain.append(
                session,
                workspace,
                record,
                "exported",
                user_id,
                now,
                {
                    "format": "html",
                    "to": "direct message",
                    "sha256": hashlib.sha256(page.encode()).hexdigest(),
                },
            )

    def _names(self, team_id: str, channel_id: str) -> evidence.Names:
        """The workspace's and channel's names for the file's header. Only words for the
        reader: a channel the bot cannot see (or a failing call) leaves its ID alone."""
        try:
            workspace: str | None = self._gateway.team_name(team_id)
        except DeliveryError:
            workspace = None
        try:
            channel: str | None = self._gateway.channel_name(channel_id)
        except DeliveryError:
            channel = None
        return evidence.Names(workspace=workspace, channel=channel)

    def _publish_home(self, team_id: str, user_id: str) -> None:
        person = self._directory.person(team_id, user_id, self._clock.now())
        view = self._renderer.render_view(
            "home",
            person.locale,
            home=self._finder.home(user_id),
            actions=ActionId,
            home_actions=HomeAction,
        )
        self._gateway.publish_home(user_id, view)

    def _snapshot_thread(self, record_id: int) -> None:
        record = self._load(record_id)
        messages = [
            {
                "ts": m.get("ts"),
                "user": m.get("user"),
                "bot": bool(m.get("bot_id")),
                "text": m.get("text", ""),
                "edited": m.get("edited"),
            }
            for m in self._gateway.thread(record.channel_id, _posted(record.thread_ts))
        ]
        now = self._clock.now()
        with unit_of_work(self._session_factory) as session:
            session.add(ThreadSnapshot(record_id=record_id, taken_at=now, messages=messages))
            workspace = hashchain.lock_workspace(session, record.team_id, now)
            # The snapshot's own hash goes into the chain, so the copy is as tamper-evident
            # as the history.
            hashchain.append(
                session,
                workspace,
                record,
                "thread_snapshot",
                "sayso",
                now,
                {
                    "messages": len(messages),
                    "sha256": hashlib.sha256(
                        hashchain.canonical_bytes({"m": messages})
                    ).hexdigest(),
                },
            )

    def on_trouble(self, session: Session, message: OutboxMessage, error: DeliveryError) -> None:
        """The outbox calls this once for a card that keeps failing: queue a notice for the
        person who captured it. Not tied to the record, so it does not wait behind the card."""
        if message.kind == JobKind.CAPTURE and message.failed_at is not None:
            self._not_stored(session, message)
            return
        if message.kind not in (JobKind.POST_RECORD, JobKind.NEW_REVISION):
            return
        queue.enqueue(
            session,
            self._clock.now(),
            team_id=message.team_id,
            kind=JobKind.TROUBLE,
            payload={
                "record_id": message.record_id,
                "reason": error.reason,
                "needs_person": error.needs_person,
                "response_url": message.payload.get("response_url"),
            },
        )

    def _not_stored(self, session: Session, message: OutboxMessage) -> None:
        """A capture acked as #N that failed for good (the database refused it): whoever
        captured it hears so, rather than waiting for a card that will never come."""
        capture = message.payload["capture"]
        queue.enqueue(
            session,
            self._clock.now(),
            team_id=message.team_id,
            kind=JobKind.EPHEMERAL,
            payload={
                "template": "capture_not_stored",
                "channel": capture["channel_id"],
                "user": capture["captured_by_id"],
                "dm": True,  # told long after the ack: kept where they will read it
                "context": {"number": message.payload["number"], "reference": message.id},
            },
        )

    def _trouble(self, message: OutboxMessage) -> None:
        """Tell whoever captured the record that it is safe but Slack has not shown it yet."""
        payload = message.payload
        record = self._load(payload["record_id"])
        person = self._directory.person(record.team_id, record.captured_by_id, self._clock.now())
        notice = self._renderer.render(
            "delivery_trouble",
            person.locale,
            record=record_view(record),
            reason=payload["reason"],
            needs_person=payload["needs_person"],
            channel_id=record.channel_id,
        )
        self._tell_by_dm(
            record.captured_by_id,
            notice,
            response_url=payload.get("response_url"),
            channel=record.channel_id,
        )

    def _tell_by_dm(
        self,
        user_id: str,
        notice: RenderedMessage,
        *,
        response_url: str | None = None,
        channel: str | None = None,
        thread_ts: str | None = None,
    ) -> None:
        """A notice that must outlive the moment, by direct message: Slack keeps it, where an
        ephemeral one is gone once the person looks away. When Slack takes no direct message
        (it is not taking messages now, or allows none with this person), privately in the
        channel: through the command's response_url while it lasts (it works where Sayso may
        not post, and while chat.postMessage fails), else, if the DM is refused for good, as an
        ephemeral message; else the outbox tries again later."""
        try:
            self._gateway.send_dm(user_id, notice)
            return
        except DeliveryError as error:
            refused = error
        if response_url:
            try:
                self._gateway.respond(response_url, notice)
                return
            except DeliveryError:
                pass  # expired (30 minutes)
        if channel is None or not refused.permanent:
            raise refused
        self._gateway.post_ephemeral(channel, user_id, notice, thread_ts=thread_ts)

    # -- people ----------------------------------------------------------------------------

    def _ephemeral(self, team_id: str, record_id: int | None, payload: dict[str, Any]) -> None:
        record = self._load(record_id) if record_id else None
        person = self._directory.person(team_id, payload["user"], self._clock.now())
        context = dict(payload.get("context", {}))
        if record is not None:
            context.setdefault("record", record_view(record))
        message = self._renderer.render(
            payload["template"], person.locale, actions=ActionId, **context
        )
        if payload.get("dm") or not payload.get("channel"):
            # Nowhere to show it in (a click on the App Home), or told after the moment.
            self._tell_by_dm(
                payload["user"],
                message,
                channel=payload.get("channel"),
                thread_ts=payload.get("thread_ts"),
            )
            return
        self._gateway.post_ephemeral(
            payload["channel"], payload["user"], message, thread_ts=payload.get("thread_ts")
        )

    def _nudge(self, team_id: str, payload: dict[str, Any]) -> None:
        channel = payload["channel"]
        with reading(self._session_factory) as session:
            watchers = list(
                session.execute(
                    select(Watch.user_id).where(
                        Watch.team_id == team_id, Watch.channel_id == channel
                    )
                ).scalars()
            )
        present = self._gateway.channel_members(channel)
        for user_id in watchers:
            if user_id not in present or user_id == payload["author"]:
                continue
            person = self._directory.person(team_id, user_id, self._clock.now())
            message = self._renderer.render(
                "nudge",
                person.locale,
                actions=ActionId,
                channel_id=channel,
                phrase=payload["phrase"],
                author_id=payload["author"],
                message_ts=payload["ts"],
            )
            self._gateway.post_ephemeral(
                channel, user_id, message, thread_ts=payload.get("thread_ts")
            )


def _required(record_id: int | None) -> int:
    if record_id is None:
        raise DeliveryError("this message needs a record", permanent=True)
    return record_id


def _posted(ts: str | None) -> str:
    if ts is None:
        raise DeliveryError("the record's card has not been posted yet")
    return ts


def _as_delivery(send: JobHandler) -> JobHandler:
    """What stops a delivery, said as the outbox understands it."""

    def deliver(message: OutboxMessage) -> None:
        try:
            send(message)
        except AccessUnchecked as error:
            # Slack could not say who is in a channel: shown when it can, never on a guess.
            raise DeliveryError(f"access unchecked: {error}") from error
        except TemplateOutputError as error:
            # The same record and payload render the same way next time: no retry mends it.
            raise DeliveryError(f"template: {error}", permanent=True) from error

    return deliver
