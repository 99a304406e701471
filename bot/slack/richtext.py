"""A person's words in `rich_text` blocks: shown exactly as written.

In mrkdwn, `*`, `_`, `~` and backticks in what a client wrote become bold, italics, strikes
and code, and nothing escapes them. A rich_text `text` element is shown as it is: no
formatting is taken from its characters, and no `<!channel>`, mention or link either (those
are elements of their own, which Sayso builds only from a source message's own blocks).

When a record was captured from a message, that message's own rich_text blocks are kept with
it (`source_blocks`), reduced to what a message of Sayso's may show: text and its styles,
links, emoji, people, channels and dates, in sections, lists, quotes and code blocks. A
broadcast (`@here`) or a user group becomes words, so that showing the client's message does
not notify a whole channel again.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Iterable
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from bot.slack import mrkdwn

# Slack documents no limit for a rich_text text element; long text is cut into elements of
# this size anyway (they are shown run together), as the section blocks it replaced were.
TEXT_ELEMENT_LIMIT = 3000
# A source message with more blocks than this is shown as its plain text.
MOST_SOURCE_BLOCKS = 10
_STYLES = ("bold", "italic", "strike", "code", "underline")
_CONTAINERS = ("rich_text_section", "rich_text_quote", "rich_text_preformatted")
_LINK_SCHEMES = ("http://", "https://", "mailto:")

RichBlock = dict[str, Any]


def text_elements(text: str, style: dict[str, bool] | None = None) -> list[RichBlock]:
    """`text` as rich_text `text` elements, none longer than TEXT_ELEMENT_LIMIT."""
    pieces = [text[i : i + TEXT_ELEMENT_LIMIT] for i in range(0, len(text), TEXT_ELEMENT_LIMIT)]
    return [
        {"type": "text", "text": piece, **({"style": style} if style else {})}
        for piece in pieces or [""]
    ]


def plain(text: str) -> RichBlock:
    """A rich_text block that shows `text` as written, line breaks included."""
    return {
        "type": "rich_text",
        "elements": [{"type": "rich_text_section", "elements": text_elements(text)}],
    }


def pattern_elements(pattern: str, values: dict[str, list[RichBlock]]) -> list[RichBlock]:
    """A catalog sentence as rich_text elements: its own words as text, each `{field}` the
    elements given for it, so that each language keeps its own order."""
    elements: list[RichBlock] = []
    for literal, field_name, _spec, _conversion in string.Formatter().parse(pattern):
        if literal:
            elements.extend(text_elements(literal.replace("\u200b", "")))
        if field_name:
            elements.extend(values[field_name])
    return elements


def changes(heading: str, pieces: Iterable[tuple[str, str]]) -> RichBlock:
    """A revision's change: `heading` in bold, then the text with what was removed struck
    through and what was added in bold, nothing added between them."""
    styles = {"equal": None, "delete": {"strike": True}, "insert": {"bold": True}}
    # A Chinese heading ends in "：", which needs no space after it.
    spaced = heading if heading.endswith(("：", " ")) else heading + " "
    elements = text_elements(spaced, {"bold": True})
    for op, piece in pieces:
        elements.extend(text_elements(piece, styles[op]))
    return {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": elements}]}


def source_blocks(blocks: Any) -> list[RichBlock] | None:
    """A message's own rich_text blocks, reduced to what Sayso may show (see above); None
    when it has none, too many, or ones Slack would not take back."""
    if not isinstance(blocks, list):
        return None
    kept = []
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") != "rich_text":
            continue
        elements = [e for e in map(_container, _dicts(block.get("elements"))) if e]
        if elements:
            kept.append({"type": "rich_text", "elements": elements})
    if not kept or len(kept) > MOST_SOURCE_BLOCKS:
        return None
    try:
        for parsed in Block.parse_all(kept):
            if parsed is None:
                return None
            parsed.validate_json()
    except (SlackObjectFormationError, TypeError, ValueError, KeyError):
        return None
    return kept


def words_key(text: str) -> str:
    """A short fingerprint of the words a form was filled with: the source message's blocks
    are kept only when the words submitted are still those (nobody edited them in the form)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _container(element: dict[str, Any]) -> RichBlock | None:
    kind = element.get("type")
    if kind == "rich_text_list":
        sections = [s for s in map(_container, _dicts(element.get("elements"))) if s]
        if not sections or element.get("style") not in ("bullet", "ordered"):
            return None
        shaped: RichBlock = {"type": kind, "style": element["style"], "elements": sections}
        for key, most in (("indent", 8), ("offset", 1_000), ("border", 1)):
            if isinstance(element.get(key), int) and 0 <= element[key] <= most:
                shaped[key] = element[key]
        return shaped
    if kind not in _CONTAINERS:
        return None
    leaves = [leaf for leaf in map(_leaf, _dicts(element.get("elements"))) if leaf]
    if not leaves:
        return None
    shaped = {"type": kind, "elements": leaves}
    if kind != "rich_text_section" and element.get("border") in (0, 1):
        shaped["border"] = element["border"]
    return shaped


def _leaf(element: dict[str, Any]) -> RichBlock | None:
    kind = element.get("type")
    style = _style(element.get("style"))
    shaped: RichBlock | None = None
    if kind == "text" and isinstance(element.get("text"), str) and element["text"]:
        shaped = {"type": "text", "text": mrkdwn.storable(element["text"])}
    elif kind == "link" and str(element.get("url", "")).startswith(_LINK_SCHEMES):
        shaped = {"type": "link", "url": mrkdwn.storable(element["url"])}
        if isinstance(element.get("text"), str) and element["text"]:
            shaped["text"] = mrkdwn.storable(element["text"])
    elif kind == "emoji" and isinstance(element.get("name"), str):
        shaped = {"type": "emoji", "name": element["name"]}
        if isinstance(element.get("unicode"), str):
            shaped["unicode"] = element["unicode"]
        if isinstance(element.get("skin_tone"), int):
            shaped["skin_tone"] = element["skin_tone"]
    elif kind == "user" and mrkdwn.USER_ID.match(str(element.get("user_id", ""))):
        shaped = {"type": "user", "user_id": element["user_id"]}
    elif kind == "channel" and mrkdwn.CHANNEL_ID.match(str(element.get("channel_id", ""))):
        shaped = {"type": "channel", "channel_id": element["channel_id"]}
    elif kind == "date" and isinstance(element.get("timestamp"), int):
        shaped = {"type": "date", "timestamp": element["timestamp"]}
        for key in ("format", "fallback"):
            if isinstance(element.get(key), str):
                shaped[key] = element[key]
        shaped.setdefault("format", "{date_short_pretty}")
    elif kind == "broadcast" and element.get("range") in ("here", "channel", "everyone"):
        shaped = {"type": "text", "text": "@" + element["range"]}  # words, not a ping
    elif kind == "usergroup":
        shaped = {"type": "text", "text": "@group"}
    if shaped is not None and style and shaped["type"] != "emoji":
        shaped["style"] = style
    return shaped


def _style(style: Any) -> dict[str, bool] | None:
    if not isinstance(style, dict):
        return None
    kept = {name: True for name in _STYLES if style.get(name) is True}
    return kept or None
