"""Settings read once from the environment (and `.env`), validated before anything starts."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

DEFAULT_DATABASE_URL = "sqlite:///sayso.db"
# `sayso demo`'s own database, in the directory it runs in: never DATABASE_URL, which may be a
# team's real one. The read-only commands read it where there is no other (bot.cli.common).
DEMO_DATABASE_FILE = "sayso-demo.db"
DEMO_DATABASE_URL = f"sqlite:///{DEMO_DATABASE_FILE}"
DEFAULT_PORT = 3000
LOG_FORMATS = ("text", "json")
# The languages Sayso speaks: one message catalog each (templates/locales/).
LOCALES = ("en", "zh-CN")
DEFAULT_LOCALE = "en"


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one sentence meant for the operator."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    slack_bot_token: str = ""
    slack_signing_secret: str = ""
    slack_app_token: str = ""
    slack_api_url: str = ""
    # Installs into many workspaces (the OAuth flow, `oauth_settings`) when all three are set.
    slack_client_id: str = ""
    slack_client_secret: str = ""
    slack_state_secret: str = ""
    port: int = DEFAULT_PORT
    locale: str = "en"
    outbox_lease_seconds: float = 60.0
    digest_timezone: str = "UTC"
    digest_time: str = "09:00"
    digest_days: str = "MO,TU,WE,TH,FR"
    digest_channel: str = ""
    # gunicorn worker processes in HTTP mode; None: chosen from the CPUs (`default_workers`).
    workers: int | None = None
    log_format: str = "text"

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    @property
    def installs_many(self) -> bool:
        return bool(self.slack_client_id)

    def require_slack(self) -> Settings:
        """Fail with one clear sentence when the tokens needed to talk to Slack are absent."""
        if self.installs_many:
            if self.socket_mode:
                raise ConfigError(
                    "Installing into many workspaces (SLACK_CLIENT_ID) needs HTTP mode for "
                    "/slack/install and /slack/oauth_redirect: unset SLACK_APP_TOKEN."
                )
            if not self.slack_signing_secret:
                raise ConfigError(
                    "SLACK_SIGNING_SECRET is not set: paste it from your Slack app's Basic "
                    "Information page into .env."
                )
            return self
        if not self.slack_bot_token:
            raise ConfigError(
                "SLACK_BOT_TOKEN is not set: copy .env.example to .env and paste the bot token "
                "(xoxb-...) from your Slack app's OAuth & Permissions page."
            )
        if self.socket_mode:
            if not self.slack_app_token.startswith("xapp-"):
                raise ConfigError(
                    "SLACK_APP_TOKEN must be an app-level token starting with xapp- "
                    "(Basic Information > App-Level Tokens, scope connections:write)."
                )
        elif not self.slack_signing_secret:
            raise ConfigError(
                "SLACK_SIGNING_SECRET is not set: paste it from your Slack app's Basic "
                "Information page into .env, or set SLACK_APP_TOKEN to use Socket Mode."
            )
        return self


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> Settings:
    """Read settings; real environment variables win over `.env`."""
    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)

    raw_port = values.get("PORT", "").strip() or str(DEFAULT_PORT)
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise ConfigError(f"PORT must be a TCP port number between 1 and 65535, not {raw_port!r}.")

    api_url = values.get("SLACK_API_URL", "").strip()
    if api_url and not api_url.endswith("/"):
        api_url += "/"

    locale = values.get("SAYSO_LOCALE", "").strip() or "en"
    if locale not in LOCALES:
        raise ConfigError(f"SAYSO_LOCALE must be one of {', '.join(LOCALES)}, not {locale!r}.")

    raw_lease = values.get("SAYSO_OUTBOX_LEASE", "").strip() or "60"
    try:
        lease = float(raw_lease)
    except ValueError:
        lease = -1.0
    if not 1 <= lease <= 3600:
        raise ConfigError(
            f"SAYSO_OUTBOX_LEASE must be seconds between 1 and 3600, not {raw_lease!r}."
        )

    digest = _digest_settings(values)

    raw_workers = values.get("SAYSO_WORKERS", "").strip()
    if raw_workers and not (raw_workers.isdigit() and 1 <= int(raw_workers) <= 64):
        raise ConfigError(f"SAYSO_WORKERS must be a number from 1 to 64, not {raw_workers!r}.")

    oauth = {
        name: values.get(name, "").strip()
        for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_STATE_SECRET")
    }
    if any(oauth.values()) and not all(oauth.values()):
        unset = [name for name, value in oauth.items() if not value]
        missing = " and ".join(unset) + (" is" if len(unset) == 1 else " are")
        raise ConfigError(
            f"{missing} not set: installing into many workspaces needs SLACK_CLIENT_ID, "
            "SLACK_CLIENT_SECRET (Basic Information > App Credentials) and SLACK_STATE_SECRET "
            "(any long random string, e.g. from `openssl rand -hex 32`)."
        )

    log_format = values.get("LOG_FORMAT", "").strip().lower() or "text"
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be text or json, not {log_format!r}.")

    return Settings(
        **digest,
        workers=int(raw_workers) if raw_workers else None,
        log_format=log_format,
        locale=locale,
        outbox_lease_seconds=lease,
        database_url=values.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
        slack_bot_token=values.get("SLACK_BOT_TOKEN", "").strip(),
        slack_signing_secret=values.get("SLACK_SIGNING_SECRET", "").strip(),
        slack_app_token=values.get("SLACK_APP_TOKEN", "").strip(),
        slack_api_url=api_url,
        slack_client_id=oauth["SLACK_CLIENT_ID"],
        slack_client_secret=oauth["SLACK_CLIENT_SECRET"],
        slack_state_secret=oauth["SLACK_STATE_SECRET"],
        port=int(raw_port),
    )


def _digest_settings(values: Mapping[str, str]) -> dict[str, str]:
    zone = values.get("SAYSO_TIMEZONE", "").strip() or "UTC"
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"SAYSO_TIMEZONE must be a time zone name like Asia/Shanghai, not {zone!r}."
        ) from None
    at = values.get("SAYSO_DIGEST_TIME", "").strip() or "09:00"
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", at):
        raise ConfigError(f"SAYSO_DIGEST_TIME must be HH:MM on a 24-hour clock, not {at!r}.")
    days = (values.get("SAYSO_DIGEST_DAYS", "").strip() or "MO,TU,WE,TH,FR").upper()
    if not all(d in ("MO", "TU", "WE", "TH", "FR", "SA", "SU") for d in days.split(",")):
        raise ConfigError(f"SAYSO_DIGEST_DAYS must be days like MO,TU,WE,TH,FR, not {days!r}.")
    channel = values.get("SAYSO_DIGEST_CHANNEL", "").strip()
    return {
        "digest_timezone": zone,
        "digest_time": at,
        "digest_days": days,
        "digest_channel": channel,
    }
