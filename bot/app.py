"""The composition root: the only place where settings, database, Slack and handlers meet."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.db import make_engine, make_session_factory
from bot.delivery import SlackDelivery
from bot.outbox import OutboxDispatcher
from bot.rendering import Renderer
from bot.services import Sayso
from bot.slack import SlackGateway, make_client
from bot.web import make_wsgi_app
from handlers import actions, commands, errors


@dataclass
class Runtime:
    """Everything a running Sayso owns, so it can be started and stopped as one."""

    app: App
    engine: Engine
    session_factory: sessionmaker[Session]
    dispatcher: OutboxDispatcher
    sayso: Sayso

    def wsgi(self):  # type: ignore[no-untyped-def]
        return make_wsgi_app(self.app, self.engine)

    def close(self) -> None:
        self.dispatcher.stop()
        self.engine.dispose()


def build_app(
    settings: Settings,
    sayso: Sayso,
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
    commands.register(app, sayso, renderer)
    actions.register(app, sayso)
    return app


def build_runtime(
    settings: Settings,
    clock: Clock | None = None,
    *,
    poll_interval: float = 5.0,
) -> Runtime:
    clock = clock or SystemClock()
    engine = make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    client = make_client(settings.slack_bot_token, settings.slack_api_url)
    renderer = Renderer()
    dispatcher = OutboxDispatcher(
        session_factory,
        SlackDelivery(SlackGateway(client), renderer, clock),
        clock,
        poll_interval=poll_interval,
    )
    sayso = Sayso(session_factory, clock, on_commit=dispatcher.wake)
    app = build_app(settings, sayso, renderer, client)
    return Runtime(app, engine, session_factory, dispatcher, sayso)
