"""How Slack messages read to a person: mrkdwn markup resolved, blocks flattened to lines."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.emulator.errors import Params
from bot.emulator.modals import STATE_KEYS
from bot.localtime import shown

_MARKUP = re.compile(r"<([^<>]+)>")
_BROADCASTS = ("here", "channel", "everyone")


def render_mrkdwn(
    text: str, users: Mapping[str, str], channels: Mapping[str, str], zone: str | None = None
) -> str:
    """Slack markup as a person would read it; `users`/`channels` map ids to names. With a
    `zone`, a `<!date^…>` shows its time there (as Slack shows each reader theirs), with the
    offset; without, its fallback text."""

    def plain(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if zone and target.startswith("!date^") and target.split("^")[1].isdigit():
            return shown(int(target.split("^")[1]), zone)
        if target.startswith("@"):
            return "@" + users.get(target[1:], label or target[1:])
        if target.startswith("#"):
            return "#" + (label or channels.get(target[1:], target[1:]))
        if target.startswith("!"):
            name = target[1:]
            return f"@{name}" if name in _BROADCASTS else label or name
        return f"{label} ({target})" if label else target

    return _MARKUP.sub(plain, text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def blocks_text(message: Mapping[str, Any]) -> str:
    """The words a message's (or view's) blocks show, still as mrkdwn; buttons as `[Label]`,
    inputs as `Label: value` (from the view's state, else the initial value). A modal adds its
    title above and its close and submit buttons below."""
    blocks = message.get("blocks") or []
    state = (message.get("state") or {}).get("values") or {}
    lines = [line for block in blocks for line in _block_lines(block, state) if line]
    if message.get("type") == "modal":
        buttons = [f"[{_words(message.get(k))}]" for k in ("close", "submit")]
        lines = [_words(message.get("title")), *lines, " ".join(b for b in buttons if b != "[]")]
        lines = [line for line in lines if line]
    return "\n".join(lines) if lines else str(message.get("text") or "")


def _block_lines(block: Params, state: Params) -> list[str]:
    kind = block.get("type")
    if kind in ("section", "header"):
        parts = [block.get("text"), *block.get("fields", []), block.get("accessory")]
        return [_words(part) for part in parts if _words(part)]
    if kind in ("context", "actions"):
        line = " ".join(_words(e) for e in block.get("elements", []) if _words(e))
        return [line] if line else []
    if kind == "input":
        label, element = _words(block.get("label")), block.get("element") or {}
        entered = _entered(element, state.get(str(block.get("block_id")), {}))
        return [f"{label}: {entered}" if entered else label]
    if kind == "rich_text":
        return _rich(block).splitlines() or [""]
    return []


def _words(part: Any) -> str:
    if not isinstance(part, dict):
        return ""
    if part.get("type") == "button":
        return f"[{_words(part.get('text'))}]"
    text = part.get("text")
    return text if isinstance(text, str) else ""


def _entered(element: Params, block_state: Params) -> str:
    """What an input shows: what was entered, else its initial value; "" when empty."""
    key, initial, _ = STATE_KEYS.get(element.get("type", ""), ("value", "initial_value", None))
    held = block_state.get(str(element.get("action_id")), {}).get(key, element.get(initial))
    if held in (None, "", []):
        return ""
    items = held if isinstance(held, list) else [held]
    if "user" in key:
        return ", ".join(f"<@{u}>" for u in items)
    if "conversation" in key or "channel" in key:
        return ", ".join(f"<#{c}>" for c in items)
    if "option" in key:
        return ", ".join(_words(o.get("text")) or str(o.get("value")) for o in items)
    return ", ".join(str(i) for i in items)


def _rich(element: Params) -> str:
    """Rich text as the mrkdwn it would read as (so that `render_mrkdwn` reads it): its text
    escaped, its styles as markers (a revision's change reads `~30~*60*`), its sections and
    lists one per line."""
    if "elements" in element:
        inner = element["elements"]
        separator = "\n" if element.get("type") in ("rich_text", "rich_text_list") else ""
        return separator.join(_rich(e) for e in inner)
    kind = element.get("type")
    if kind == "user":
        return f"<@{element.get('user_id')}>"
    if kind == "channel":
        return f"<#{element.get('channel_id')}>"
    if kind == "emoji":
        return f":{element.get('name')}:"
    if kind == "date":  # read as the mrkdwn date token it stands for
        fallback = _escaped(str(element.get("fallback") or ""))
        return f"<!date^{element.get('timestamp')}^{element.get('format')}|{fallback}>"
    if kind == "link":
        return f"<{element.get('url')}|{_escaped(str(element.get('text') or element.get('url')))}>"
    shown = _escaped(str(element.get("text") or ""))
    style = element.get("style") or {}
    for name, marker in (("code", "`"), ("italic", "_"), ("strike", "~"), ("bold", "*")):
        if style.get(name) and shown.strip():
            shown = f"{marker}{shown}{marker}"
    return shown


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
