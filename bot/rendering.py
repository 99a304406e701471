"""Jinja2 templates that render Block Kit JSON, escaped by default and validated before use.

Every `{{ ... }}` in a template goes through `_finalize`: user text is Slack-escaped and then
JSON-string-escaped, so a template cannot forget either. Markup we build ourselves (mentions,
dates, links) comes from filters that return `Mrkdwn`, which is only JSON-escaped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from slack_sdk.models.blocks import Block

from bot import slacktext

MAX_MESSAGE_BLOCKS = 50
SECTION_TEXT_LIMIT = 3000


class TemplateOutputError(ValueError):
    """A template produced something Slack would refuse."""


class Mrkdwn(str):
    """Slack markup produced by our own filters; passed through without Slack-escaping."""


@dataclass(frozen=True)
class RenderedMessage:
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def as_ack(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks, "response_type": "ephemeral"}


def _finalize(value: Any) -> str:
    if value is None:
        raise TemplateOutputError("a template interpolated None; check the context it was given")
    text = value if isinstance(value, Mrkdwn) else slacktext.escape(str(value))
    return json.dumps(text, ensure_ascii=False)[1:-1]


def mention(user_id: str) -> Mrkdwn:
    if not isinstance(user_id, str) or not slacktext.USER_ID.match(user_id):
        raise TemplateOutputError(f"not a Slack user id: {user_id!r}")
    return Mrkdwn(f"<@{user_id}>")


def as_datetime(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC)


def slack_date(value: datetime | str) -> Mrkdwn:
    """A time every reader sees in their own time zone, with a UTC fallback."""
    moment = as_datetime(value)
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return Mrkdwn(f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>")


def escaped_chunks(text: str, size: int = SECTION_TEXT_LIMIT - 100) -> list[Mrkdwn]:
    """Escape long user text and cut it into pieces that each fit a section block."""
    escaped = slacktext.escape(text)
    chunks: list[Mrkdwn] = []
    while escaped:
        cut = min(size, len(escaped))
        entity_start = escaped.rfind("&", max(cut - 5, 0), cut)
        if cut < len(escaped) and entity_start != -1 and ";" not in escaped[entity_start:cut]:
            cut = entity_start  # never split "&amp;" in two
        chunks.append(Mrkdwn(escaped[:cut]))
        escaped = escaped[cut:]
    return chunks or [Mrkdwn("")]


def preview(text: str, limit: int = 150) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class Renderer:
    def __init__(self) -> None:
        self._env = Environment(
            loader=PackageLoader("templates", "slack"),
            undefined=StrictUndefined,
            finalize=_finalize,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self._env.filters.update(
            mention=mention, slack_date=slack_date, escaped_chunks=escaped_chunks, preview=preview
        )

    def render(self, name: str, **context: Any) -> RenderedMessage:
        source = self._env.get_template(f"{name}.json.j2").render(**context)
        try:
            data = json.loads(source)
        except json.JSONDecodeError as error:
            raise TemplateOutputError(f"{name} did not render valid JSON: {error}") from error
        message = RenderedMessage(text=data["text"], blocks=data.get("blocks", []))
        validate_blocks(name, message.blocks)
        return message


def validate_blocks(name: str, blocks: list[dict[str, Any]]) -> None:
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        raise TemplateOutputError(f"{name} has {len(blocks)} blocks; Slack allows 50")
    for raw, parsed in zip(blocks, Block.parse_all(blocks), strict=True):
        if parsed is None:
            raise TemplateOutputError(f"{name} has a block Slack does not know: {raw!r:.200}")
        parsed.validate_json()
