"""Slack's text formats: escaping what users typed, and reading Slack's escaped markup back."""

from __future__ import annotations

import re
from typing import Any

_MARKUP = re.compile(r"<([^<>]*)>")
# What no database of Sayso's can keep: PostgreSQL's text and jsonb refuse NUL, and a lone
# surrogate (JSON's "\ud800" without its pair) has no UTF-8 form for either driver to send.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


def escape(text: str) -> str:
    """Make user text inert in mrkdwn: no pings, fake mentions or links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unstorable(text: str) -> str | None:
    """The first character of `text` that no database can store, named as U+XXXX; None
    when there is none. Checked wherever a person's text is read, before anything is kept
    or promised."""
    found = _UNSTORABLE.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def storable(text: str) -> str:
    """`text` with each character no database can store replaced by U+FFFD: for text Slack
    reports (an edit kept as evidence, a form pre-filled) rather than text a person submits,
    which is refused instead."""
    return _UNSTORABLE.sub("\ufffd", text)


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def to_plain(slack_text: str) -> str:
    """Turn Slack's escaped text (what a command or message carries) into what people saw.

    `<@U1|wang>` becomes `@wang`, `<!here>` `@here`, `<url|label>` `label (url)`, and the
    entities are decoded; markup we do not know is kept as it came.
    """
    return unescape(_MARKUP.sub(lambda m: _markup_to_plain(m.group(1)), slack_text))


def _markup_to_plain(inner: str) -> str:
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return "@" + (label or target[1:])
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!subteam^"):
        return label or "@group"
    if target.startswith("!date^"):
        return label or target
    if target.startswith("!"):
        return "@" + target[1:]
    if target.startswith(("http://", "https://", "mailto:")):
        return target if not label or label == target else f"{label} ({target})"
    return f"<{inner}>"


def words(message: dict[str, Any]) -> str:
    """The words of a message: its text, or, when a client sent only rich text, the text of
    its rich_text blocks (attachments and unfurls are not the author's words)."""
    text = str(message.get("text") or "")
    if text.strip():
        return text
    blocks = [b for b in message.get("blocks") or [] if b.get("type") == "rich_text"]
    return "\n".join(_rich_text_words(block) for block in blocks)


def _rich_text_words(element: dict[str, Any]) -> str:
    kind = element.get("type")
    if isinstance(element.get("text"), str):
        return str(element["text"])
    if kind == "user":
        return f"<@{element.get('user_id', '')}>"
    if kind == "channel":
        return f"<#{element.get('channel_id', '')}>"
    if kind == "emoji":
        return f":{element.get('name', '')}:"
    if kind == "link":
        return str(element.get("url", ""))
    children = [c for c in element.get("elements") or [] if isinstance(c, dict)]
    return "".join(_rich_text_words(child) for child in children)


LEADING_MENTION = re.compile(r"^\s*<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>")
