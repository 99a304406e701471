"""Bad input gets a clear answer and loses nothing."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request

import pytest
from slack_sdk import WebClient

from bot.emulator.sandbox import Sandbox
from tests.conftest import ALICE, CHANNEL, TEAM, WANG
from tests.e2e.helpers import capture, card, record_count, record_json, request, visible_text


def _command_body(text: str) -> bytes:
    return urllib.parse.urlencode(
        {
            "command": "/confirm",
            "text": text,
            "team_id": TEAM,
            "channel_id": CHANNEL,
            "user_id": ALICE,
            "trigger_id": "1.2.3",
            "response_url": "http://127.0.0.1:9/x",
        }
    ).encode()


FORM = "application/x-www-form-urlencoded"


def test_bad_signature_is_refused(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    response = sandbox.driver.send_raw(_command_body("<@U0WANG0001> x"), FORM, signature="v0=00")
    assert response.status == 401
    assert record_count(sandbox) == 0


def test_stale_timestamp_is_refused(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    body = _command_body("<@U0WANG0001> x")
    response = sandbox.driver.send_raw(body, FORM, timestamp=int(time.time()) - 6 * 60)
    assert response.status == 401
    assert record_count(sandbox) == 0


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"payload=%7Bbroken", FORM),
        (b"payload=" + urllib.parse.quote(json.dumps({"type": "block_actions"})).encode(), FORM),
        (
            b"payload="
            + urllib.parse.quote(
                json.dumps(
                    {
                        "type": "block_actions",
                        "team": {"id": TEAM},
                        "user": {"id": WANG},
                        "actions": [{"action_id": "sayso_confirm", "value": "nonsense"}],
                    }
                )
            ).encode(),
            FORM,
        ),
        (b"\xff\xfe\x00garbage", "application/octet-stream"),
        (b"", FORM),
    ],
    ids=["bad-json", "bad-payload", "empty-actions", "bad-value", "binary", "empty"],
)
def test_malformed_signed_bodies_get_a_4xx(
    sandbox: Sandbox, body: bytes, content_type: str
) -> None:
    assert sandbox.driver is not None
    response = sandbox.driver.send_raw(body, content_type)
    assert 400 <= response.status < 500, (response.status, response.body)
    # ... and the bot is still there.
    capture(sandbox, ALICE, WANG, "still alive")
    assert record_json(sandbox, 1)["text"] == "still alive"


def test_long_chinese_and_hostile_instructions_are_kept_exactly_and_shown_escaped(
    sandbox: Sandbox,
) -> None:
    long_text = ("edge-3 BGP hold timer 30s; " * 400)[:10_000]
    chinese = "请把网络参数改成30秒，出了问题我负责"
    # What Slack sends when someone types: @channel & <script>x</script> @here @li > <https:...|ok>
    # (typed <, > and & escaped, mentions as markup).
    hostile_wire = (
        "<!channel> &amp; &lt;script&gt;x&lt;/script&gt; <!here> <@U0LI000001|li> &gt; "
        "&lt;https://evil.example|ok&gt;"
    )
    assert sandbox.driver is not None
    mention = sandbox.driver.mention(WANG)
    for wire in (long_text, chinese, hostile_wire):
        response = sandbox.driver.command(ALICE, CHANNEL, f"{mention} {wire}")
        assert response.status == 200
    sandbox.settle()

    assert record_json(sandbox, 1)["text"] == long_text.strip()
    assert record_json(sandbox, 2)["text"] == chinese
    assert record_json(sandbox, 3)["text"] == (
        "@channel & <script>x</script> @here @li > <https://evil.example|ok>"
    )
    assert len(visible_text(card(sandbox, 1))) > 10_000
    assert chinese in visible_text(request(sandbox, 2))
    # The instruction is a rich_text block of text elements, which Slack shows literally: no
    # ping, mention or link can be built from what was typed; the rest is escaped mrkdwn.
    hostile = record_json(sandbox, 3)["text"]
    for message in (card(sandbox, 3), request(sandbox, 3)):
        rich = [b for b in message["blocks"] if b["type"] == "rich_text"]
        assert rich[0]["elements"] == [
            {"type": "rich_text_section", "elements": [{"type": "text", "text": hostile}]}
        ]
        mrkdwn_parts = visible_text(
            {**message, "blocks": [b for b in message["blocks"] if b not in rich]}
        )
        for live in ("<!channel>", "<!here>", "<@U0LI000001>", "<https://"):
            assert all(live not in c.params.get("text", "") for c in sandbox.emulator.calls())
            assert live not in mrkdwn_parts


def test_too_long_instruction_is_refused_before_storing(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    response = sandbox.driver.command(
        ALICE, CHANNEL, f"{sandbox.driver.mention(WANG)} {'x' * 12_001}"
    )
    assert response.status == 200
    assert "12,001 characters" in response.json()["blocks"][0]["text"]["text"]
    assert record_count(sandbox) == 0


def test_click_on_a_record_that_does_not_exist_answers_politely(sandbox: Sandbox) -> None:
    # A card left behind by an earlier database: its button names record #99.
    slack = WebClient(base_url=sandbox.emulator.api_url, token=sandbox.emulator.bot_token)
    slack.chat_postMessage(
        channel=CHANNEL,
        text="Instruction #99",
        blocks=[
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "sayso_confirm",
                        "value": f"{TEAM}/99/1",
                        "text": {"type": "plain_text", "text": "Confirm"},
                    }
                ],
            }
        ],
    )
    assert sandbox.driver is not None
    old = sandbox.emulator.messages(CHANNEL)[-1]
    response = sandbox.driver.click(WANG, CHANNEL, old["ts"], "sayso_confirm")
    assert response.status == 200
    sandbox.settle()
    told = sandbox.emulator.ephemerals(user_id=WANG)
    assert [e["text"] for e in told] == [":mag: There is no record #99 in this workspace."]
    assert record_count(sandbox) == 0


def test_alive_and_ready(sandbox: Sandbox) -> None:
    with urllib.request.urlopen(sandbox.base_url + "/healthz", timeout=5) as response:
        assert response.status == 200
        assert json.loads(response.read()) == {"ok": True}
    with urllib.request.urlopen(sandbox.base_url + "/readyz", timeout=5) as response:
        assert response.status == 200
        assert json.loads(response.read())["database"] == "reachable"


def test_unknown_paths_and_methods(sandbox: Sandbox) -> None:
    for path, method, status in (("/nope", "GET", 404), ("/slack/events", "GET", 405)):
        req = urllib.request.Request(sandbox.base_url + path, method=method)
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(req, timeout=5)
        assert caught.value.code == status
