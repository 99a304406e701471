"""The composition root: the only place where settings, database, Slack and handlers meet."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import time, timedelta

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.db import make_engine, make_session_factory
from bot.delivery import Kind, SlackDelivery
from bot.directory import Directory
from bot.finding import Finder
from bot.models import OutboxMessage
from bot.outbox import OutboxDispatcher
from bot.rendering import Renderer
from bot.scheduler import DigestPolicy
from bot.services import Sayso
from bot.slack import SlackGateway, make_client
from bot.web import WsgiApp, make_wsgi_app
from handlers import actions, commands, errors, events, home, shortcuts, views


@dataclass
class Runtime:
    """Everything a running Sayso owns, so it can be started and stopped as one."""

    app: App
    engine: Engine
    session_factory: sessionmaker[Session]
    dispatcher: OutboxDispatcher
    sayso: Sayso

    def wsgi(self) -> WsgiApp:
        return make_wsgi_app(self.app, self.engine)

    def close(self) -> None:
        self.dispatcher.stop()
        self.engine.dispose()


def build_app(
    settings: Settings,
    sayso: Sayso,
    finder: Finder,
    renderer: Renderer,
    client: WebClient,
) -> App:
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret or None,
        # Listeners store and ack in one go; Web API calls wait for the outbox, after the ack.
        process_before_response=True,
        # auth.test runs at start-up in build_runtime; do not repeat it here.
        token_verification_enabled=False,
        logger=logging.getLogger("sayso.bolt"),
    )
    errors.register(app, renderer)
    events.register(app, sayso)
    commands.register(app, sayso, finder, renderer)
    actions.register(app, sayso)
    views.register(app, sayso)
    shortcuts.register(app, sayso, finder, renderer)
    home.register(app, sayso)
    return app


def build_runtime(
    settings: Settings,
    team_id: str,
    clock: Clock | None = None,
    *,
    poll_interval: float = 5.0,
) -> Runtime:
    """Everything for one installation: `team_id` is its workspace (auth.test says which)."""
    clock = clock or SystemClock()
    engine = make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    client = make_client(settings.slack_bot_token, settings.slack_api_url)
    renderer = Renderer(settings.locale)
    gateway = SlackGateway(client)
    directory = Directory(session_factory, gateway, settings.locale)
    finder = Finder(session_factory, gateway, clock, team_id)
    delivery = SlackDelivery(
        session_factory,
        gateway,
        renderer,
        directory,
        clock,
        finder,
        zone=settings.digest_timezone,
    )

    def deliver(message: OutboxMessage) -> None:
        # Capturing a fetched message is domain work; everything else is a Slack delivery.
        if message.kind == Kind.CAPTURE_MESSAGE:
            sayso.capture_fetched_message(message)
        else:
            delivery(message)

    dispatcher = OutboxDispatcher(
        session_factory,
        deliver,
        clock,
        poll_interval=poll_interval,
        on_trouble=delivery.on_trouble,
        lease=timedelta(seconds=settings.outbox_lease_seconds),
    )
    sayso = Sayso(
        session_factory,
        clock,
        directory,
        gateway,
        renderer,
        team_id,
        on_commit=dispatcher.wake,
        policy=digest_policy(settings),
    )
    app = build_app(settings, sayso, finder, renderer, client)
    return Runtime(app, engine, session_factory, dispatcher, sayso)


def digest_policy(settings: Settings) -> DigestPolicy:
    hour, minute = (int(part) for part in settings.digest_time.split(":"))
    return DigestPolicy(
        zone=settings.digest_timezone,
        at=time(hour, minute),
        days=tuple(settings.digest_days.split(",")),
        channel_id=settings.digest_channel or None,
    )
