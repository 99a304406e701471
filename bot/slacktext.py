"""Slack's text formats: escaping what users typed, and reading Slack's escaped markup back."""

from __future__ import annotations

import re

_MARKUP = re.compile(r"<([^<>]*)>")
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


def escape(text: str) -> str:
    """Make user text inert in mrkdwn: no pings, fake mentions or links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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


LEADING_MENTION = re.compile(r"^\s*<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>")
