"""The client's words are shown exactly as written: as rich_text, never as mrkdwn, and, for a
message captured with its own rich_text blocks, as that message showed them (kept with the
record, in its hashed history, checked by `sayso verify`)."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import text

from bot.db import make_session_factory
from bot.emulator.sandbox import Sandbox
from bot.ledger.verify import verify
from bot.slack.ids import BlockId, CallbackId
from tests.conftest import ALICE, CHANNEL, WANG
from tests.e2e.helpers import capture, card, click, record_json, request

WRITTEN = "I confirmed `*.example.com` _all_ of it, please reboot @here, see status"
# What Slack's composer sends with such a message (the shape of a message event's `blocks`:
# slackapi/java-slack-sdk json-logs/samples, bolt-python's tests): the client's own code,
# bold and italics as styles, a broadcast and a link as elements of their own.
COMPOSED: list[dict[str, Any]] = [
    {
        "type": "rich_text",
        "block_id": "Xw5Ki",
        "elements": [
            {
                "type": "rich_text_section",
                "elements": [
                    {"type": "text", "text": "I confirmed "},
                    {"type": "text", "text": "*.example.com", "style": {"code": True}},
                    {"type": "text", "text": " "},
                    {"type": "text", "text": "all", "style": {"italic": True}},
                    {"type": "text", "text": " of it, please "},
                    {"type": "text", "text": "reboot", "style": {"bold": True}},
                    {"type": "text", "text": " "},
                    {"type": "broadcast", "range": "here"},
                    {"type": "text", "text": ", see "},
                    {"type": "link", "url": "https://status.example.com", "text": "status"},
                ],
            }
        ],
    }
]
# As Sayso keeps and shows them: the broadcast as words (the card must not ping the channel
# again), Slack's block id dropped.
KEPT = copy.deepcopy(COMPOSED)
del KEPT[0]["block_id"]
KEPT[0]["elements"][0]["elements"][7] = {"type": "text", "text": "@here"}
# The message's text, as Slack sends it beside the blocks.
WIRE = (
    "I confirmed `*.example.com` _all_ of it, please *reboot* <!here>, "
    "see <https://status.example.com|status>"
)


def _rich(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A message's rich_text blocks, without the ids Slack gives blocks posted without one."""
    rich = [b for b in message["blocks"] if b["type"] == "rich_text"]
    return [{k: v for k, v in b.items() if k != "block_id"} for b in rich]


def _plain(words: str) -> dict[str, Any]:
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": words}]}
    return {"type": "rich_text", "elements": [section]}


def _verified(sandbox: Sandbox) -> dict[str, Any]:
    assert sandbox.runtime is not None
    with make_session_factory(sandbox.runtime.engine)() as session:
        return verify(session).as_dict()


def test_a_typed_instruction_is_shown_as_written_not_as_mrkdwn(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, WANG, WRITTEN)
    assert record_json(sandbox, 1)["text"] == WRITTEN
    for message in (card(sandbox, 1), request(sandbox, 1)):
        assert _rich(message)[0] == _plain(WRITTEN)
        # No mrkdwn block repeats the words, where `*` and `_` would become bold and italics.
        assert not any(
            "example.com" in str(b.get("text", ""))
            for b in message["blocks"]
            if b["type"] != "rich_text"
        )


def test_a_memo_reaction_keeps_the_messages_own_rich_text_in_its_hashed_history(
    sandbox: Sandbox,
) -> None:
    assert sandbox.driver is not None
    message, _ = sandbox.driver.say(WANG, CHANNEL, WIRE, blocks=COMPOSED)
    assert sandbox.driver.react(ALICE, CHANNEL, message["ts"]).status == 200
    sandbox.settle()

    record = record_json(sandbox, 1)
    assert record["text"] == (
        "I confirmed `*.example.com` _all_ of it, please *reboot* @here, "
        "see status (https://status.example.com)"
    )
    (captured,) = [e for e in record["events"] if e["type"] == "captured"]
    assert captured["payload"]["source_blocks"] == KEPT
    # The request in the client's thread shows the message as the client wrote it.
    assert _rich(request(sandbox, 1)) == KEPT
    assert _verified(sandbox)["ok"]

    # The blocks are part of what was recorded: changed behind Sayso's back, verify says so.
    assert sandbox.runtime is not None
    with sandbox.runtime.engine.begin() as connection:
        connection.execute(text("UPDATE records SET source_blocks = NULL WHERE number = 1"))
    problem = _verified(sandbox)["problem"]
    assert "source message blocks differ from those in its history" in problem["what"]


def test_an_amended_record_shows_its_new_words_not_the_old_message(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    message, _ = sandbox.driver.say(WANG, CHANNEL, WIRE, blocks=COMPOSED)
    sandbox.driver.react(ALICE, CHANNEL, message["ts"])
    sandbox.settle()
    click(sandbox, WANG, 1, "Request change")
    (modal,) = sandbox.emulator.modals(WANG)
    amended = "reboot only edge-3, *not* the others"
    values = {BlockId.TEXT: {"value": sandbox.driver.plain_text(amended)}}
    sandbox.driver.submit_view(WANG, modal["id"], values)
    sandbox.settle()

    assert _rich(request(sandbox, 1))[0] == _plain(amended)


def test_the_message_shortcut_keeps_the_blocks_only_for_the_words_as_written(
    sandbox: Sandbox,
) -> None:
    assert sandbox.driver is not None
    driver = sandbox.driver
    kept, _ = driver.say(WANG, CHANNEL, WIRE, blocks=COMPOSED)
    edited, _ = driver.say(WANG, CHANNEL, WIRE, blocks=COMPOSED)
    for message, words in ((kept, None), (edited, "please reboot edge-3 only")):
        driver.message_shortcut(ALICE, CHANNEL, message["ts"], CallbackId.MESSAGE_SHORTCUT)
        (modal,) = sandbox.emulator.modals(ALICE)
        values = {BlockId.TEXT: {"value": driver.plain_text(words)}} if words else {}
        assert driver.submit_view(ALICE, modal["id"], values).status == 200
        sandbox.settle()

    assert _rich(request(sandbox, 1)) == KEPT
    # Edited in the form, the words are no longer the message's: shown as typed.
    assert _rich(request(sandbox, 2))[0] == _plain("please reboot edge-3 only")
    events = {n: record_json(sandbox, n)["events"][0]["payload"] for n in (1, 2)}
    assert events[1]["source_blocks"] == KEPT and "source_blocks" not in events[2]
