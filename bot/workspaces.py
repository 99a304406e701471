"""Which workspaces Sayso serves, and the use cases of each.

One installation (SLACK_BOT_TOKEN) serves one workspace; with SLACK_CLIENT_ID,
SLACK_CLIENT_SECRET and SLACK_STATE_SECRET set, Sayso is installed into many through Slack's
OAuth flow, and each workspace's bot token lives in slack_sdk's installation store (tables
slack_bots and slack_installations, migration 0010). Either way, everything that speaks to
Slack for a workspace (its gateway, directory and use cases, in a `Team`) is built here, once
per workspace, from that workspace's own token.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from slack_bolt import BoltContext
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import Settings
from bot.db import reading, unit_of_work
from bot.errors import SaysoError
from bot.ledger import hashchain
from bot.models import OutboxMessage, ProcessedEvent
from bot.outbox.queue import JobHandler, JobKind
from bot.records.cadence import DigestPolicy, ReminderPolicy
from bot.records.settings_store import Policy
from bot.slack.directory import Directory
from bot.slack.gateway import DeliveryError, SlackGateway, make_client
from bot.slack.rendering import Renderer
from bot.usecases.answer import Answering
from bot.usecases.capture import Capturing
from bot.usecases.configure import Configuring
from bot.usecases.converse import Conversation
from bot.usecases.delivery import SlackDelivery
from bot.usecases.digest import Digesting
from bot.usecases.home import AppHome
from bot.usecases.jobs import job_table
from bot.usecases.lookup import Finder
from bot.usecases.messenger import Messenger
from bot.usecases.ports import Ports
from bot.usecases.remind import Reminding

log = logging.getLogger(__name__)

FORGET_EVENTS_EVERY = 1000


class NotInstalled(SaysoError):
    """A request or a delivery for a workspace Sayso is not (or no longer) installed in."""


class Installations(Protocol):
    def serving(self, team_id: str | None) -> str | None:
        """The workspace a request from `team_id` is served as."""
        ...

    def serves(self, team_id: str | None) -> bool:
        """Whether a request for `team_id` (the installation Slack names in it) is taken."""
        ...

    def bot_token(self, team_id: str) -> str | None:
        """The workspace's bot token, or None when Sayso is not installed there."""
        ...

    def team_ids(self) -> list[str]:
        """Every workspace Sayso is installed in."""
        ...


class OneWorkspace:
    """The single installation of SLACK_BOT_TOKEN (auth.test says which workspace)."""

    def __init__(self, team_id: str, bot_token: str) -> None:
        self.team_id = team_id
        self._bot_token = bot_token

    def serving(self, team_id: str | None) -> str:
        # Requests for another workspace do not get this far (serves, below); a card whose
        # button names another workspace is refused further in (`Answering.apply_click`).
        return self.team_id

    def serves(self, team_id: str | None) -> bool:
        """Only this workspace: the app's signing secret is the same in every workspace it
        was installed in, so their requests are signed too, and this token is not theirs.
        The team is the installation's, as Bolt reads it (`team.id`, `authorizations`,
        `team_id`): in a shared channel (Slack Connect) a guest's own team is elsewhere in
        the payload (`user.team_id`, `event.user_team`), and the guest is served."""
        return team_id == self.team_id

    def bot_token(self, team_id: str) -> str | None:
        return self._bot_token

    def team_ids(self) -> list[str]:
        return [self.team_id]


class InstalledWorkspaces:
    """The workspaces of slack_sdk's installation store (the OAuth install flow). A bot is
    remembered for a minute: Bolt asks on every request, and the answer rarely changes
    (an uninstall forgets it at once; a reinstall's new token is used within the minute)."""

    REMEMBERED_FOR = 60.0

    def __init__(
        self,
        store: SQLAlchemyInstallationStore,
        session_factory: sessionmaker[Session],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._session_factory = session_factory
        self._monotonic = monotonic
        self._bots: dict[str, tuple[Bot, float]] = {}
        self._lock = threading.Lock()

    def serving(self, team_id: str | None) -> str | None:
        return team_id

    def serves(self, team_id: str | None) -> bool:
        # Bolt's authorization (InstalledBotAuthorize) answers those not installed.
        return True

    def bot(self, team_id: str) -> Bot | None:
        now = self._monotonic()
        with self._lock:
            remembered = self._bots.get(team_id)
        if remembered is not None and now - remembered[1] < self.REMEMBERED_FOR:
            return remembered[0]
        bot = self.store.find_bot(enterprise_id=None, team_id=team_id)
        if bot is not None:  # not yet installed is not remembered: an install counts at once
            with self._lock:
                self._bots[team_id] = (bot, now)
        return bot

    def bot_token(self, team_id: str) -> str | None:
        bot = self.bot(team_id)
        return bot.bot_token if bot is not None else None

    def team_ids(self) -> list[str]:
        bots = self.store.bots
        with reading(self._session_factory) as session:
            return sorted(
                team_id
                for team_id in session.execute(select(bots.c.team_id).distinct()).scalars()
                if team_id
            )

    def forget(self, team_id: str) -> None:
        """Sayso was uninstalled there: its bot goes, now, in this process and the store."""
        with self._lock:
            self._bots.pop(team_id, None)
        self.store.delete_installation(enterprise_id=None, team_id=team_id)
        self.store.delete_bot(enterprise_id=None, team_id=team_id)


class InstalledBotAuthorize(Authorize):
    """Bolt's authorization from the stored bot, without Bolt's auth.test per request."""

    def __init__(self, installations: InstalledWorkspaces) -> None:
        super().__init__()
        self._installations = installations

    def __call__(  # type: ignore[override]
        self,
        *,
        context: BoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        **_actor: str | None,
    ) -> AuthorizeResult | None:
        bot = self._installations.bot(team_id) if team_id else None
        if bot is None:
            return None  # Bolt tells the person to reinstall, and Sayso does nothing
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            bot_user_id=bot.bot_user_id,
            bot_id=bot.bot_id,
            bot_token=bot.bot_token,
            bot_scopes=bot.bot_scopes,
            user_id=user_id,
        )


@dataclass
class Team:
    """Everything that serves one workspace: its use cases, built from its ports."""

    team_id: str
    token: str
    ports: Ports
    capturing: Capturing
    answering: Answering
    conversation: Conversation
    configuring: Configuring
    reminding: Reminding
    digesting: Digesting
    home: AppHome
    finder: Finder
    delivery: SlackDelivery
    # Each outbox job kind and what carries it out.
    jobs: dict[JobKind, JobHandler]


class Workspaces:
    """Each workspace's `Team`, built on first use and kept while its token holds."""

    def __init__(
        self,
        installations: Installations,
        settings: Settings,
        session_factory: sessionmaker[Session],
        clock: Clock,
        renderer: Renderer,
        on_commit: Callable[[], None],
        policy: DigestPolicy,
    ) -> None:
        self.installations = installations
        self._settings = settings
        self._session_factory = session_factory
        self._clock = clock
        self._renderer = renderer
        self._on_commit = on_commit
        self._policy = policy
        self._teams: dict[str, Team] = {}
        self._events_seen = 0
        self._lock = threading.Lock()

    def of(self, team_id: str | None) -> Team:
        """The workspace's `Team`; NotInstalled when Sayso has no token for it."""
        team_id = self.installations.serving(team_id)
        if not team_id:
            raise NotInstalled("no workspace in the request")
        with self._lock:
            team = self._teams.get(team_id)
        token = self.installations.bot_token(team_id)
        if token is None:
            self.forget(team_id)
            raise NotInstalled("not installed", team=team_id)
        if team is None or team.token != token:  # first use, or installed again
            team = self._build(team_id, token)
            with self._lock:
                self._teams[team_id] = team
        return team

    def forget(self, team_id: str) -> None:
        with self._lock:
            self._teams.pop(team_id, None)

    def first_delivery(self, event_id: str) -> bool:
        """True the first time an Events API delivery is seen; Slack retries the same id
        (event ids are unique across workspaces)."""
        now = self._clock.now()
        try:
            with unit_of_work(self._session_factory) as session:
                session.add(ProcessedEvent(event_id=event_id, received_at=now))
                self._events_seen += 1
                if self._events_seen % FORGET_EVENTS_EVERY == 0:
                    # Slack stops retrying after minutes; a day of event ids is plenty.
                    session.execute(
                        delete(ProcessedEvent).where(
                            ProcessedEvent.received_at < now - timedelta(days=1)
                        )
                    )
        except IntegrityError:
            return False
        return True

    def uninstalled(self, team_id: str, event_type: str) -> None:
        """Slack says Sayso was removed (app_uninstalled) or lost its token (tokens_revoked):
        the token goes, the records stay, and the ledger says when."""
        if isinstance(self.installations, InstalledWorkspaces):
            self.installations.forget(team_id)
        self.forget(team_id)
        record_uninstall(self._session_factory, self._clock, team_id, event_type)

    def on_trouble(self, session: Session, message: OutboxMessage, error: DeliveryError) -> None:
        """A message that keeps failing: its workspace tells whoever should know."""
        try:
            team = self.of(message.team_id)
        except NotInstalled:
            return  # nobody left there to tell
        team.delivery.on_trouble(session, message, error)

    def deliver(self, message: OutboxMessage) -> None:
        """The outbox's delivery: each message through its own workspace's token."""
        try:
            team = self.of(message.team_id)
        except NotInstalled as error:
            raise DeliveryError(
                "Sayso is not installed in this workspace", permanent=True
            ) from error
        try:
            carry_out = team.jobs[JobKind(message.kind)]
        except ValueError:
            raise DeliveryError(f"no such job: {message.kind}", permanent=True) from None
        carry_out(message)

    def tick(self, *, force: bool = False) -> int:
        """One pass of the schedule in every workspace; how many digests were queued."""
        queued = 0
        for team_id in self.installations.team_ids():
            try:
                queued += self.of(team_id).digesting.tick(force=force)
            except NotInstalled:
                continue
            except Exception:  # one workspace's trouble must not stop the others' digests
                log.exception("schedule pass failed for %s", team_id)
        return queued

    def _build(self, team_id: str, token: str) -> Team:
        gateway = SlackGateway(make_client(token, self._settings.slack_api_url))
        directory = Directory(self._session_factory, gateway, self._settings.locale)
        ports = Ports(
            team_id,
            self._session_factory,
            self._clock,
            directory,
            gateway,
            self._renderer,
            self._on_commit,
        )
        messenger = Messenger(ports)
        capturing = Capturing(ports, messenger)
        answering = Answering(ports, messenger)
        conversation = Conversation(ports, messenger, answering)
        # The environment's policy; what a workspace stored in `/confirm settings` wins.
        configuring = Configuring(ports, Policy(self._policy, ReminderPolicy()))
        reminding = Reminding(ports, messenger, configuring)
        digesting = Digesting(ports, messenger, configuring, reminding)
        finder = Finder(self._session_factory, gateway, self._clock, team_id)
        delivery = SlackDelivery(
            self._session_factory,
            gateway,
            self._renderer,
            directory,
            self._clock,
            finder,
            zone=self._settings.digest_timezone,
        )
        return Team(
            team_id,
            token,
            ports,
            capturing,
            answering,
            conversation,
            configuring,
            reminding,
            digesting,
            AppHome(ports, messenger, capturing, configuring),
            finder,
            delivery,
            job_table(capturing, answering, delivery),
        )


def record_uninstall(
    session_factory: sessionmaker[Session], clock: Clock, team_id: str, event_type: str
) -> None:
    now = clock.now()
    with unit_of_work(session_factory) as session:
        workspace = hashchain.lock_workspace(session, team_id, now)
        hashchain.append(session, workspace, None, event_type, "slack", now, {})
    log.info("%s: %s; its records are kept", team_id, event_type)
