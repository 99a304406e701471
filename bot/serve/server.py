"""`sayso serve`: migrate, check the token, then take Slack's requests: over Socket Mode in
this one process, or over HTTP with gunicorn workers (`gunicorn_app.SaysoServer`)."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from slack_sdk.errors import SlackApiError

from bot import migrate
from bot.config import Settings
from bot.slack.gateway import make_client

log = logging.getLogger("sayso.server")

# Nothing that imports prometheus-client (bot.app, bot.metrics...) is imported at the top of
# this module: in HTTP mode PROMETHEUS_MULTIPROC_DIR must be set before it is, by `_serve_http`.


def serve(settings: Settings, *, host: str, port: int, workers: int | None = None) -> None:
    migrate.upgrade(settings.database_url)
    if settings.installs_many:
        log.info("installs into many workspaces: %s/slack/install", f"http://{host}:{port}")
        _serve_http(settings, None, host, port, workers or settings.workers)
        return
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
    team_id = str(identity["team_id"])
    if settings.socket_mode:
        _serve_socket_mode(settings, team_id)
    else:
        _serve_http(settings, team_id, host, port, workers or settings.workers)


def _serve_socket_mode(settings: Settings, team_id: str) -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import build_runtime
    from bot.serve.ticker import Ticker

    runtime = build_runtime(settings, team_id)
    runtime.dispatcher.start()
    ticker = Ticker(runtime.tick)
    ticker.start()
    try:
        log.info("Socket Mode: no public URL needed")
        SocketModeHandler(runtime.app, settings.slack_app_token).start()
    finally:
        ticker.stop()
        runtime.close()


def _serve_http(
    settings: Settings, team_id: str | None, host: str, port: int, workers: int | None
) -> None:
    shared_dir = Path(tempfile.mkdtemp(prefix="sayso-serve-"))
    (shared_dir / "metrics").mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(shared_dir / "metrics")
    from bot.serve.gunicorn_app import Serving, default_workers, serve_http

    master = os.getpid()
    try:
        serve_http(
            Serving(
                settings,
                team_id,
                host,
                port,
                workers or default_workers(settings.database_url),
                shared_dir,
            )
        )
    finally:
        # A worker leaves through here too (gunicorn forks inside serve_http, and a worker
        # ends with sys.exit): only the master removes what all of them share.
        if os.getpid() == master:
            shutil.rmtree(shared_dir, ignore_errors=True)
