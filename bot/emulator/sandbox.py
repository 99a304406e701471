"""A whole local Slack setup in one process: the emulator, the real bot on a real port, and
a driver playing the people. The demo and the end-to-end tests both stand on it."""

from __future__ import annotations

import secrets
import threading
from dataclasses import replace
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from sqlalchemy import Engine

from bot import migrate as migrations
from bot.app import Runtime, build_runtime
from bot.clock import Clock
from bot.config import Settings
from bot.emulator.driver import SlackDriver
from bot.emulator.server import SlackEmulator
from bot.emulator.transport import PromptShutdown


class Sandbox:
    def __init__(
        self,
        database_url: str,
        clock: Clock | None = None,
        settings: dict[str, Any] | None = None,
        dispatch: bool = True,
        emulator: SlackEmulator | None = None,
        migrate: bool = True,
        engine: Engine | None = None,
        **emulator_options: Any,
    ):
        """`dispatch=False`: the outbox runs only when a test calls deliver_due. `emulator`:
        a stopped one to start, on `clock` (a copy of one a story filled); otherwise a new
        one made with `emulator_options`. `migrate=False`: the database is known to be at
        the schema's head (a test's), so it is not even looked at. `engine`: one for
        `database_url` that outlives the sandbox (`build_runtime`)."""
        self.clock = clock
        self.dispatch = dispatch
        self.migrate = migrate
        self.engine = engine
        self.emulator = emulator or SlackEmulator(clock=clock, **emulator_options)
        self.settings = Settings(
            database_url=database_url,
            slack_bot_token=self.emulator.bot_token,
            slack_signing_secret=secrets.token_hex(16),
            **(settings or {}),
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.runtime: Runtime | None = None
        self.driver: SlackDriver | None = None

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        self.emulator.start()
        self.settings = replace(self.settings, slack_api_url=self.emulator.api_url)
        if self.migrate:
            migrations.upgrade(self.settings.database_url)
        self.runtime = build_runtime(
            self.settings, self.emulator.team_id, self.clock, engine=self.engine
        )
        # The stdlib server stops cleanly and at once; `sayso serve` (gunicorn) has its own tests.
        self._server = make_server(
            "127.0.0.1",
            0,
            self.runtime.wsgi(),
            server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sayso-http", daemon=True
        )
        self._thread.start()
        if self.dispatch:
            self.runtime.dispatcher.start()
        self.driver = SlackDriver(
            self.events_url, self.settings.slack_signing_secret, self.emulator
        )

    @property
    def events_url(self) -> str:
        return f"{self.base_url}/slack/events"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the bot has delivered everything the last requests caused."""
        assert self.runtime is not None
        self.runtime.dispatcher.wait_idle(timeout)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        if self.runtime is not None:
            self.runtime.close()
        self.emulator.stop()


class _ThreadingWSGIServer(PromptShutdown, ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """The transcript and the tests say what happened; no access log on stderr."""
