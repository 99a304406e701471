"""manifest.yml lists every command, shortcut, scope and event the bot uses, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from bot.slack.ids import CallbackId, Command

ROOT = Path(__file__).resolve().parents[2]


def _manifest() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def _code() -> str:
    # The bot's own code: the emulator answers every method, so it would vouch for any.
    bot = [p for p in ROOT.glob("bot/**/*.py") if "emulator" not in p.parts]
    return "".join(p.read_text() for p in [*bot, *ROOT.glob("handlers/*.py")])


def test_commands_and_shortcuts_match_the_code() -> None:
    features = _manifest()["features"]
    assert [c["command"] for c in features["slash_commands"]] == [c.value for c in Command]
    assert all(c["should_escape"] for c in features["slash_commands"])
    assert {(s["callback_id"], s["type"]) for s in features["shortcuts"]} == {
        (CallbackId.MESSAGE_SHORTCUT.value, "message"),
        (CallbackId.FIND_SHORTCUT.value, "global"),
    }


def test_events_match_the_listeners() -> None:
    listened = set(re.findall(r'@app\.event\("(\w+)"', _code()))
    subscribed = {
        e.split(".")[0] for e in _manifest()["settings"]["event_subscriptions"]["bot_events"]
    }
    assert subscribed == listened


def test_every_web_api_method_called_has_its_scope() -> None:
    scopes = set(_manifest()["oauth_config"]["scopes"]["bot"])
    code = (ROOT / "bot" / "slack" / "gateway.py").read_text()
    needs = {
        "chat_postMessage": "chat:write",
        "chat_update": "chat:write",
        "chat_postEphemeral": "chat:write",
        "users_info": "users:read",
        "team_info": "team:read",
        "conversations_members": "channels:read",
        "conversations_info": "channels:read",
        "users_conversations": "channels:read",
        "conversations_history": "channels:history",
        "conversations_replies": "channels:history",
        "conversations_open": "im:write",
        "files_upload_v2": "files:write",
    }
    called = set(re.findall(r"self\._client\.(\w+)", code))
    assert called - set(needs) <= {"views_open", "views_publish", "chat_getPermalink"}  # no scope
    assert {needs[m] for m in called if m in needs} <= scopes
    # and nothing more than what is used, its private-channel twin, and the event scopes
    assert scopes <= {needs[m] for m in called if m in needs} | {
        "commands",
        "groups:read",
        "groups:history",
        "im:history",
        "reactions:read",
    }


def test_people_can_read_and_answer_sayso_s_direct_messages() -> None:
    """Failure notices and digests come by DM: the Messages tab shows them, and takes replies
    (each answered with a short help: `message.im`, read with `im:history`)."""
    manifest = _manifest()
    app_home = manifest["features"]["app_home"]
    assert app_home["messages_tab_enabled"] is True
    assert app_home["messages_tab_read_only_enabled"] is False
    assert "message.im" in manifest["settings"]["event_subscriptions"]["bot_events"]
    assert "im:history" in manifest["oauth_config"]["scopes"]["bot"]


def test_the_install_flow_asks_for_the_manifests_scopes() -> None:
    from bot.installs import BOT_SCOPES

    assert list(BOT_SCOPES) == _manifest()["oauth_config"]["scopes"]["bot"]
