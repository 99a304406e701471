"""`sayso serve`: migrate, check the token, start the outbox, then take Slack's requests."""

from __future__ import annotations

import logging
import sys

import waitress
from slack_sdk.errors import SlackApiError

from bot import migrate
from bot.app import build_runtime
from bot.config import Settings
from bot.scheduler import Ticker
from bot.slack import make_client
from bot.web import MAX_BODY_BYTES

log = logging.getLogger("sayso.server")


def serve(settings: Settings, *, host: str, port: int) -> None:
    migrate.upgrade(settings.database_url)
    try:
        identity = make_client(settings.slack_bot_token, settings.slack_api_url).auth_test()
    except SlackApiError as error:
        print(
            f"sayso: Slack refused SLACK_BOT_TOKEN ({error.response.get('error')}); "
            "copy the Bot User OAuth Token again from your app's OAuth & Permissions page.",
            file=sys.stderr,
        )
        sys.exit(2)
    log.info("connected to %s as %s", identity.get("team"), identity.get("user"))
    runtime = build_runtime(settings, str(identity["team_id"]))
    runtime.dispatcher.start()
    ticker = Ticker(runtime.sayso.tick)
    ticker.start()
    try:
        if settings.socket_mode:
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            log.info("Socket Mode: no public URL needed")
            SocketModeHandler(runtime.app, settings.slack_app_token).start()
        else:
            log.info("HTTP mode: POST http://%s:%s/slack/events, GET /healthz", host, port)
            waitress.serve(
                runtime.wsgi(),
                host=host,
                port=port,
                threads=8,
                ident="sayso",
                max_request_body_size=MAX_BODY_BYTES,
            )
    finally:
        ticker.stop()
        runtime.close()
