"""The composition root: the only place where settings, database, Slack and handlers meet."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from slack_bolt import App
from slack_bolt.oauth.oauth_settings import OAuthSettings
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot import installs, logs, metrics
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.db import keep_statistics, make_engine, make_session_factory
from bot.outbox import queue
from bot.outbox.dispatcher import OutboxDispatcher
from bot.outbox.gate import AckGate
from bot.records.cadence import DigestPolicy
from bot.seen_requests import SeenRequests
from bot.slack.gateway import make_client
from bot.slack.rendering import Renderer
from bot.web import WsgiApp, make_wsgi_app
from bot.workspaces import (
    InstalledBotAuthorize,
    InstalledWorkspaces,
    OneWorkspace,
    Team,
    Workspaces,
)
from handlers import actions, admission, commands, context, errors, events, home, shortcuts, views

# How often the schedule's pass also looks after the planner's statistics.
STATISTICS_EVERY = timedelta(hours=1)


@dataclass
class Runtime:
    """Everything a running Sayso owns, so it can be started and stopped as one."""

    app: App
    engine: Engine
    session_factory: sessionmaker[Session]
    dispatcher: OutboxDispatcher
    workspaces: Workspaces
    clock: Clock = field(default_factory=SystemClock)
    # The workspace of SLACK_BOT_TOKEN; None when installed into many (OAuth).
    team_id: str | None = None
    # Requests being answered, which the outbox lets go first.
    ack_gate: AckGate = field(default_factory=AckGate)
    # What Slack signs requests with (HTTP mode).
    signing_secret: str = ""
    # When the planner's statistics were last looked after (`keep_statistics`).
    statistics_kept_at: datetime | None = None
    # Disposed of on close (not when the caller passed the engine in).
    owns_engine: bool = True

    @property
    def team(self) -> Team:
        """What serves the one workspace (single installation)."""
        return self.workspaces.of(self.team_id)

    def tick(self, force: bool = False) -> int:
        """One pass of the schedule in every workspace served; digests queued. Delivered
        outbox messages past their keeping time go too."""
        queued = self.workspaces.tick(force=force)
        queue.prune_delivered(self.session_factory, self.clock.now())
        now = self.clock.now()
        if self.statistics_kept_at is None or now - self.statistics_kept_at >= STATISTICS_EVERY:
            keep_statistics(self.engine)
            self.statistics_kept_at = now
        return queued

    def wsgi(self) -> WsgiApp:
        """The HTTP app. The requests it has seen are kept in the database, so every replica
        (and gunicorn worker) refuses the same replays, and so does a restarted server."""
        return make_wsgi_app(
            self.app,
            self.engine,
            self.clock,
            self.ack_gate,
            signing_secret=self.signing_secret,
            seen=SeenRequests(self.session_factory),
        )

    def close(self, drain_seconds: float = 5.0) -> None:
        """Stops the outbox after delivering what is due (for at most `drain_seconds`)."""
        self.dispatcher.stop(drain_seconds)
        if self.owns_engine:
            self.engine.dispose()


def build_app(
    settings: Settings,
    workspaces: Workspaces,
    renderer: Renderer,
    oauth: OAuthSettings | None = None,
) -> App:
    app = App(
        # Sayso's own Web API calls go through each workspace's gateway (built by `Workspaces`);
        # Bolt's client only answers OAuth (oauth.v2.access) and its single-team auth.test.
        client=make_client(None if oauth else settings.slack_bot_token, settings.slack_api_url),
        signing_secret=settings.slack_signing_secret or None,
        # Listeners store and ack in one go; Web API calls wait for the outbox, after the ack.
        process_before_response=True,
        # auth.test runs at start-up (`server.serve`); do not repeat it here.
        token_verification_enabled=False,
        oauth_settings=oauth,
        installation_store_bot_only=True if oauth else None,
        logger=logging.getLogger("sayso.bolt"),
        # Before Bolt reads the payload for its authorization and listeners: only shapes Slack
        # sends, for a workspace served.
        before_authorize=admission.Admission(workspaces.installations),
        # A request no listener takes goes to the one error handler, for one line in the log.
        raise_error_for_unhandled_request=True,
    )
    errors.register(app, renderer)
    context.register(app, workspaces)
    # Bolt tries the listeners in this order on every request: the busiest ones first.
    commands.register(app, renderer)
    actions.register(app)
    events.register(app, workspaces)
    views.register(app)
    shortcuts.register(app, renderer)
    home.register(app)
    return app


def build_runtime(
    settings: Settings,
    team_id: str | None = None,
    clock: Clock | None = None,
    *,
    poll_interval: float = 5.0,
    engine: Engine | None = None,
) -> Runtime:
    """Everything Sayso runs: for the workspace of SLACK_BOT_TOKEN (`team_id`, as auth.test
    names it), or, with SLACK_CLIENT_ID and co. set, for every workspace it is installed in.
    `engine`: one made by `make_engine` for `settings.database_url` that outlives the runtime
    (the tests', whose PostgreSQL connections are kept from one test to the next); by default
    the runtime makes its own and disposes of it when it closes."""
    clock = clock or SystemClock()
    owns_engine = engine is None
    engine = engine or make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    logs.track_records(session_factory)
    renderer = Renderer(settings.locale)
    installations: OneWorkspace | InstalledWorkspaces
    oauth = None
    if settings.installs_many:
        store = installs.installation_store(settings, engine)
        installations = InstalledWorkspaces(store, session_factory)
        oauth = installs.oauth_settings(settings, engine, store)
        # The stored bot, remembered a minute, instead of an auth.test on every request.
        oauth.authorize = InstalledBotAuthorize(installations)
    else:
        assert team_id, "one installation serves the workspace auth.test names"
        installations = OneWorkspace(team_id, settings.slack_bot_token)
    ack_gate = AckGate()
    dispatcher = OutboxDispatcher(
        session_factory,
        lambda message: workspaces.deliver(message),
        clock,
        poll_interval=poll_interval,
        on_trouble=lambda session, message, error: workspaces.on_trouble(session, message, error),
        lease=timedelta(seconds=settings.outbox_lease_seconds),
        on_failure=metrics.delivery_failed,
        ack_gate=ack_gate,
    )
    workspaces = Workspaces(
        installations,
        settings,
        session_factory,
        clock,
        renderer,
        on_commit=dispatcher.wake,
        policy=digest_policy(settings),
    )
    app = build_app(settings, workspaces, renderer, oauth)
    return Runtime(
        app,
        engine,
        session_factory,
        dispatcher,
        workspaces,
        clock,
        team_id if not oauth else None,
        ack_gate,
        settings.slack_signing_secret,
        owns_engine=owns_engine,
    )


def digest_policy(settings: Settings) -> DigestPolicy:
    """The environment's digest policy: the default for workspaces that stored none in
    `/confirm settings` (Sayso reads theirs on every pass, `settings_store.policy`)."""
    from bot.records.settings_store import defaults

    return defaults(settings).digest
