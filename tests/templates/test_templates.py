"""Every template renders, for every state a record can be in, into Block Kit Slack accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.resources import files
from types import SimpleNamespace
from typing import Any

import pytest

from bot.ids import ActionId
from bot.rendering import Renderer, TemplateOutputError, escaped_chunks, validate_blocks

TEMPLATES = sorted(
    p.name.removesuffix(".json.j2")
    for p in files("templates").joinpath("slack").iterdir()
    if p.name.endswith(".json.j2")
)


def _record(status: str, text: str = "change <x> & y") -> SimpleNamespace:
    decided = status != "pending"
    return SimpleNamespace(
        number=42,
        team_id="T0ACME0001",
        text=text,
        status=status,
        requester_id="U0WANG0001",
        captured_by_id="U0ALICE001",
        decided_by_id="U0WANG0001" if decided else None,
        decided_at=datetime(2026, 11, 26, 9, 30, tzinfo=UTC) if decided else None,
    )


def _context(status: str) -> dict[str, Any]:
    return {
        "record": _record(status),
        "actions": ActionId,
        "number": 42,
        "problem": "Start with <@nobody>",
        "reference": "abc123",
    }


def test_the_template_list_is_complete() -> None:
    assert {
        "record_card",
        "confirmation_request",
        "decision_reply",
        "capture_ack",
        "usage",
        "not_requester",
        "already_decided",
        "record_not_found",
        "error",
    } <= set(TEMPLATES)


# A decision reply only exists once there is a decision.
CASES = [
    (name, status)
    for name in TEMPLATES
    for status in ("pending", "confirmed", "rejected")
    if not (name == "decision_reply" and status == "pending")
]


@pytest.mark.parametrize(("name", "status"), CASES)
def test_every_template_renders_valid_blocks(name: str, status: str) -> None:
    message = Renderer().render(name, **_context(status))
    assert message.text
    assert message.blocks
    assert "<x>" not in message.text + str(message.blocks)


def test_user_text_cannot_ping_or_link() -> None:
    hostile = "<!channel> <@U0LI000001> <https://evil.example|click> & done"
    message = Renderer().render("record_card", record=_record("pending", hostile), actions=ActionId)
    text = message.blocks[1]["text"]["text"]
    assert text == (
        "&lt;!channel&gt; &lt;@U0LI000001&gt; &lt;https://evil.example|click&gt; &amp; done"
    )


def test_buttons_only_while_pending() -> None:
    renderer = Renderer()
    pending = renderer.render("confirmation_request", record=_record("pending"), actions=ActionId)
    labels = [
        e["text"]["text"] for b in pending.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert labels == ["Confirm", "Reject"]
    values = {e["value"] for b in pending.blocks if b["type"] == "actions" for e in b["elements"]}
    assert values == {"T0ACME0001/42"}
    for status in ("confirmed", "rejected"):
        done = renderer.render("confirmation_request", record=_record(status), actions=ActionId)
        assert all(b["type"] != "actions" for b in done.blocks)


def test_long_text_is_split_into_sections_without_breaking_entities() -> None:
    text = "a" * 2898 + "&" + "<" * 3000
    chunks = escaped_chunks(text)
    assert "".join(chunks) == "a" * 2898 + "&amp;" + "&lt;" * 3000
    assert all(len(c) <= 2900 for c in chunks)
    assert all(not c.endswith(("&", "&a", "&am", "&amp", "&l", "&lt")) for c in chunks)
    message = Renderer().render(
        "confirmation_request", record=_record("pending", "x" * 12_000), actions=ActionId
    )
    assert sum(len(b["text"]["text"]) for b in message.blocks[1:-2]) == 12_000


def test_validation_refuses_what_slack_would() -> None:
    with pytest.raises(TemplateOutputError):
        validate_blocks("t", [{"type": "no_such_block"}])
    with pytest.raises(TemplateOutputError):
        validate_blocks("t", [{"type": "divider"}] * 51)
    with pytest.raises(Exception, match="3000"):
        validate_blocks("t", [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}])


def test_a_template_cannot_print_none() -> None:
    record = _record("pending")
    record.requester_id = None
    with pytest.raises(TemplateOutputError):
        Renderer().render("not_requester", record=record)
