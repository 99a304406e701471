"""What Slack sends: signed `/confirm` commands and "Confirm" clicks, as the bench's people."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from emulator_proc import CAPTURERS, CHANNEL, CLIENT_TEAM, REQUESTER, TEAM

SIGNING_SECRET = "bench-" + secrets.token_hex(16)
FORM = "application/x-www-form-urlencoded"


def signed_headers(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    base = b"v0:" + stamp.encode() + b":" + body
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": FORM,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }


@dataclass(frozen=True)
class Request:
    kind: str  # "command" | "click"
    body: bytes
    tag: str  # the unique word in a command's text, or the record number clicked
    number: int | None = None  # the record a click is for


def command_request(emulator_base: str, index: int, phase: str) -> Request:
    user_id, name = CAPTURERS[index % len(CAPTURERS)]
    tag = f"{phase}-{index:06d}"
    requester_id, requester_name = REQUESTER
    text = f"<@{requester_id}|{requester_name}> bench {tag}: reboot edge-{index % 7} after 22:00"
    fields = {
        "token": "bench-verification-token",
        "team_id": TEAM,
        "team_domain": "bench",
        "channel_id": CHANNEL,
        "channel_name": "bench-load",
        "user_id": user_id,
        "user_name": name,
        "command": "/confirm",
        "text": text,
        "api_app_id": "A0SAYSO01",
        "is_enterprise_install": "false",
        "response_url": f"{emulator_base}/response/bench-{tag}",
        "trigger_id": f"bench.{index}.{secrets.token_hex(8)}",
    }
    return Request("command", urlencode(fields).encode(), tag)


def click_request(emulator_base: str, number: int, message_ts: str | None) -> Request:
    """A block_actions payload as Slack sends it when the requester presses Confirm."""
    requester_id, requester_name = REQUESTER
    ts = message_ts or f"{int(time.time())}.{number:06d}"
    button = {
        "action_id": "sayso_confirm",
        "block_id": "answer",
        "text": {"type": "plain_text", "text": "Confirm", "emoji": True},
        "value": f"{TEAM}/{number}/1",
        "style": "primary",
        "type": "button",
        "action_ts": f"{time.time():.6f}",
    }
    payload: dict[str, Any] = {
        "type": "block_actions",
        "token": "bench-verification-token",
        "user": {
            "id": requester_id,
            "username": requester_name,
            "name": requester_name,
            "team_id": CLIENT_TEAM,
        },
        "api_app_id": "A0SAYSO01",
        "trigger_id": f"bench.click.{number}.{secrets.token_hex(8)}",
        "team": {"id": TEAM, "domain": "bench"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": CHANNEL, "name": "bench-load"},
        "container": {
            "type": "message",
            "message_ts": ts,
            "channel_id": CHANNEL,
            "is_ephemeral": False,
        },
        "state": {"values": {}},
        "actions": [button],
        "message": {"type": "message", "ts": ts, "user": "U0SAYSOBOT", "text": f"#{number}"},
        "response_url": f"{emulator_base}/response/bench-click-{number}",
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return Request("click", body, str(number), number)
