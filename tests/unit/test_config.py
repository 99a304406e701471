"""Settings from the environment and .env: defaults, precedence, and one-sentence refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import DEFAULT_DATABASE_URL, ConfigError, load_settings


def test_settings_defaults_and_dotenv(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SLACK_BOT_TOKEN=xoxb-file\nPORT=4000\nSLACK_API_URL=http://x/api\n")
    settings = load_settings({"PORT": "5000"}, env_file)
    assert settings.slack_bot_token == "xoxb-file"
    assert settings.port == 5000  # the environment wins over .env
    assert settings.slack_api_url == "http://x/api/"
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert not settings.socket_mode


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "SLACK_BOT_TOKEN is not set"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET is not set"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-2"}, "starting with xapp-"),
    ],
)
def test_missing_slack_settings_are_one_sentence(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(environ, None).require_slack()
    assert str(caught.value).count(". ") <= 1


def test_socket_mode_needs_no_signing_secret() -> None:
    settings = load_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}, None)
    assert settings.require_slack().socket_mode


@pytest.mark.parametrize("port", ["0", "70000", "abc", "-1"])
def test_bad_port(port: str) -> None:
    with pytest.raises(ConfigError, match="PORT"):
        load_settings({"PORT": port}, None)
