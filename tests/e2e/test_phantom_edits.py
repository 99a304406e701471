"""Slack says a message changed when nothing its author wrote did: a link unfurled, a thread
grew under it, Sayso's own card was updated. Only a change of the words is an edit; the
event payloads follow Slack's own (the unfurl below is one Slack sent, serokell/tzbot#108)."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from bot.emulator.sandbox import Sandbox
from bot.slack.ids import BlockId, CallbackId
from tests.conftest import ALICE, CHANNEL, WANG
from tests.e2e.helpers import capture, card, record_json

UNFURL = {
    "fallback": "GitHub: GitHub: Let’s build from here",
    "from_url": "http://www.github.com/",
    "id": 1,
    "image_bytes": 309453,
    "image_height": 630,
    "image_url": "https://github.githubassets.com/images/modules/site/social-cards/campaign-social.png",
    "image_width": 1200,
    "original_url": "http://www.github.com",
    "service_icon": "https://github.com/favicon.ico",
    "service_name": "GitHub",
    "text": "GitHub is where over 100 million developers shape the future of software.",
    "title": "GitHub: Let’s build from here",
    "title_link": "http://www.github.com/",
}


_TICKS = itertools.count(1)


def _ts() -> str:
    """An event's own ts (the bot reads the message's, not this one)."""
    return f"{1_900_000_000 + next(_TICKS)}.000200"


def _rich_text(words: str) -> list[dict[str, Any]]:
    section = {"type": "rich_text_section", "elements": [{"type": "text", "text": words}]}
    return [{"type": "rich_text", "block_id": "yLL", "elements": [section]}]


def _changed(previous: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    event_ts = _ts()
    return {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": CHANNEL,
        "channel_type": "channel",
        "ts": event_ts,
        "event_ts": event_ts,
        "message": message,
        "previous_message": previous,
    }


def _source(sandbox: Sandbox, words: str) -> dict[str, Any]:
    """Wang's message, captured with :memo: as #1 and confirmed: its thread holds the card."""
    assert sandbox.driver is not None
    message, _ = sandbox.driver.say(WANG, CHANNEL, words)
    sandbox.driver.react(ALICE, CHANNEL, message["ts"])
    sandbox.settle()
    stored = sandbox.emulator.message(CHANNEL, message["ts"])
    assert stored is not None
    return copy.deepcopy(stored)


def _history_and_thread(sandbox: Sandbox, number: int) -> tuple[list[str], list[str]]:
    record = record_json(sandbox, number)
    thread = sandbox.emulator.thread(CHANNEL, record["thread_ts"])
    return [e["type"] for e in record["events"]], [m.get("text", "") for m in thread]


def _unfurled(source: dict[str, Any]) -> dict[str, Any]:
    return {**source, "attachments": [UNFURL]}


def _thread_grew(source: dict[str, Any]) -> dict[str, Any]:
    grown = {**source, "reply_count": 3, "reply_users": [ALICE], "reply_users_count": 1}
    return {**grown, "latest_reply": "1694190803.567119", "is_locked": False}


def _file_added(source: dict[str, Any]) -> dict[str, Any]:
    shared = {"id": "F0FILE0001", "name": "runbook.pdf", "mimetype": "application/pdf"}
    return {**source, "files": [shared], "upload": False}


@pytest.mark.parametrize(
    "change", [_unfurled, _thread_grew, _file_added], ids=["unfurl", "thread-grew", "file-added"]
)
def test_a_change_that_leaves_the_words_alone_is_no_edit(sandbox: Sandbox, change: Any) -> None:
    source = _source(sandbox, "change the hold timer to 30s, see www.github.com")
    before = _history_and_thread(sandbox, 1)
    assert sandbox.driver is not None

    response = sandbox.driver.event(_changed(source, change(source)))
    sandbox.settle()

    assert response.status == 200
    assert _history_and_thread(sandbox, 1) == before  # no history event, no notice


def test_rich_text_words_are_compared_when_the_text_is_empty(sandbox: Sandbox) -> None:
    source = _source(sandbox, "change the hold timer to 30s")
    assert sandbox.driver is not None
    same = {**source, "text": "", "blocks": _rich_text("change the hold timer to 30s")}
    sandbox.driver.event(_changed({**same}, {**same, "attachments": [UNFURL]}))
    sandbox.settle()
    assert "source_edited" not in _history_and_thread(sandbox, 1)[0]

    edited = {**same, "blocks": _rich_text("change the hold timer to 90s")}
    edited["edited"] = {"user": WANG, "ts": _ts()}
    sandbox.driver.event(_changed(same, edited))
    sandbox.settle()
    record = record_json(sandbox, 1)
    change = record["events"][-1]
    assert change["type"] == "source_edited"
    assert (change["payload"]["old_text"], change["payload"]["new_text"]) == (
        "change the hold timer to 30s",
        "change the hold timer to 90s",
    )


def test_a_source_deleted_under_its_thread_is_a_deletion_not_an_edit(sandbox: Sandbox) -> None:
    source = _source(sandbox, "change the hold timer to 30s")
    assert sandbox.driver is not None
    # The card's thread hangs under it: Slack leaves a tombstone, announced as a change.
    sandbox.driver.delete(WANG, CHANNEL, source["ts"])
    sandbox.settle()
    types, thread = _history_and_thread(sandbox, 1)
    assert types[-1] == "source_deleted" and "source_edited" not in types
    assert "was deleted" in thread[-1]
    assert record_json(sandbox, 1)["events"][-1]["actor_id"] == WANG


def test_sayso_updating_its_own_card_is_no_edit_of_a_source(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, WANG, "reboot edge-3 tonight")
    assert sandbox.driver is not None
    shown = copy.deepcopy(card(sandbox, 1))
    # Someone captures Sayso's card itself, as #2.
    sandbox.driver.message_shortcut(ALICE, CHANNEL, shown["ts"], CallbackId.MESSAGE_SHORTCUT)
    (form,) = sandbox.emulator.modals(ALICE)
    sandbox.driver.submit_view(
        ALICE, form["id"], {BlockId.REQUESTERS: {"value": sandbox.driver.multi_users([WANG])}}
    )
    sandbox.settle()
    assert record_json(sandbox, 2)["source_ts"] == shown["ts"]
    before = _history_and_thread(sandbox, 2)

    updated = {**shown, "text": shown["text"] + " (confirmed)"}
    updated["edited"] = {"user": shown["user"], "ts": _ts()}
    sandbox.driver.event(_changed(shown, updated))
    # The same, shaped as a message an app posted without a user (a bot_message).
    as_app = {k: v for k, v in updated.items() if k != "user"} | {"subtype": "bot_message"}
    sandbox.driver.event(_changed(shown, as_app))
    sandbox.settle()

    assert _history_and_thread(sandbox, 2) == before


def test_an_edit_is_kept_even_with_characters_no_database_can_store(sandbox: Sandbox) -> None:
    """Slack's report is evidence, not input to refuse: what cannot be stored is marked."""
    source = _source(sandbox, "change the hold timer to 30s")
    assert sandbox.driver is not None
    edited = {**source, "text": "change the hold timer to 90s\x00 \ud800"}
    edited["edited"] = {"user": WANG, "ts": _ts()}
    assert sandbox.driver.event(_changed(source, edited)).status == 200
    sandbox.settle()
    change = record_json(sandbox, 1)["events"][-1]
    assert change["type"] == "source_edited"
    assert change["payload"]["new_text"] == "change the hold timer to 90s\ufffd \ufffd"
