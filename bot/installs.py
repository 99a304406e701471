"""Installing Sayso into many workspaces: Slack's OAuth v2 flow, through Bolt, with slack_sdk's
SQLAlchemy installation and state stores on Sayso's own database (tables of migration 0010).

`GET /slack/install` sends the browser to Slack's consent page; Slack sends it back to
`GET /slack/oauth_redirect` with a code, which Bolt exchanges (oauth.v2.access) for the
workspace's bot token and saves. Uninstalling is handled by the `app_uninstalled` listener.
"""

from __future__ import annotations

import hashlib
import hmac

from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Engine

from bot.config import Settings
from bot.db import read_only

# manifest.yml's bot scopes (a test keeps the two lists equal).
BOT_SCOPES = (
    "commands",
    "chat:write",
    "users:read",
    "team:read",
    "channels:read",
    "groups:read",
    "channels:history",
    "groups:history",
    "reactions:read",
    "im:write",
    "im:history",
    "files:write",
)
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
STATE_LIFETIME_SECONDS = 600
SLACK_AUTHORIZE_URL = "https://slack.com/oauth/v2/authorize"


class SignedStates(OAuthStateStore):
    """The store's states, each signed with SLACK_STATE_SECRET: a state that was not issued
    here is refused before the database is asked, and one stolen from the table alone
    (a backup, a replica) is useless without the secret."""

    def __init__(self, store: OAuthStateStore, secret: str) -> None:
        self._store = store
        self._secret = secret.encode()

    @property
    def logger(self):  # type: ignore[no-untyped-def]  # OAuthStateStore's own signature
        return self._store.logger

    def issue(self, *args: object, **kwargs: object) -> str:
        state = self._store.issue(*args, **kwargs)
        return f"{state}.{self._sign(state)}"

    def consume(self, state: str) -> bool:
        raw, _, signature = state.rpartition(".")
        if not raw or not hmac.compare_digest(signature, self._sign(raw)):
            return False
        return self._store.consume(raw)

    def _sign(self, state: str) -> str:
        return hmac.new(self._secret, state.encode(), hashlib.sha256).hexdigest()[:32]


def installation_store(settings: Settings, engine: Engine) -> SQLAlchemyInstallationStore:
    # Looking a bot up must not wait for SQLite's writer: the outbox asks from inside its own
    # transaction. Its rare writes (an install, an uninstall) take the lock as they go.
    return SQLAlchemyInstallationStore(
        client_id=settings.slack_client_id,
        engine=read_only(engine),
        bots_table_name="slack_bots",
        installations_table_name="slack_installations",
    )


def oauth_settings(
    settings: Settings, engine: Engine, store: SQLAlchemyInstallationStore
) -> OAuthSettings:
    states = SQLAlchemyOAuthStateStore(
        expiration_seconds=STATE_LIFETIME_SECONDS, engine=engine, table_name="slack_oauth_states"
    )
    return OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        scopes=list(BOT_SCOPES),
        installation_store=store,
        installation_store_bot_only=True,
        state_store=SignedStates(states, settings.slack_state_secret),
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        authorization_url=authorize_url(settings),
    )


def authorize_url(settings: Settings) -> str:
    """Slack's consent page; beside the Web API when SLACK_API_URL points elsewhere (the
    emulator serves both)."""
    if not settings.slack_api_url:
        return SLACK_AUTHORIZE_URL
    return settings.slack_api_url.removesuffix("/").removesuffix("/api") + "/oauth/v2/authorize"
