"""Jinja2 templates that render Block Kit JSON, escaped by default and validated before use.

Every `{{ ... }}` in a template goes through `_finalize`: user text is Slack-escaped and then
JSON-string-escaped, so a template cannot forget either. Markup we build ourselves (mentions,
dates, links) comes from filters that return `Mrkdwn`, which is only JSON-escaped. A person's
words shown as they wrote them (an instruction, a revision's change) are rich_text blocks
built by `richtext` and given to the template as `BlockJson`, whole blocks of JSON.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from babel.dates import format_datetime
from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.localtime import babel_locale
from bot.slack import mrkdwn, richtext
from bot.slack.i18n import DEFAULT_LOCALE, catalog, plural_key, translator

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
# A person's words quoted in a sentence ("Nothing found for `…`"): at most this many
# characters, so that a sentence never outgrows a block (see `clip`). As long as the longest
# thing of a record's shown in one (a risk note, `MAX_RISK_NOTE`), so a card loses nothing.
QUOTE_LIMIT = 500


class TemplateOutputError(ValueError):
    """A template produced something Slack would refuse."""


class Mrkdwn(str):
    """Slack markup produced by our own filters; passed through without Slack-escaping."""


class BlockJson(str):
    """Blocks built by our own filters, already JSON: `{{ x|verbatim }},` in a list of blocks."""


def _blocks_json(blocks: list[dict[str, Any]]) -> BlockJson:
    return BlockJson(", ".join(json.dumps(b, ensure_ascii=False) for b in blocks))


@dataclass(frozen=True)
class RenderedMessage:
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def as_ack(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks, "response_type": "ephemeral"}


def _inert(value: Any) -> str:
    """User text made harmless for mrkdwn; our own markup passes unchanged."""
    if value is None:
        raise TemplateOutputError("a template interpolated None; check the context it was given")
    return value if isinstance(value, Mrkdwn) else mrkdwn.escape(str(value))


def clip(text: str, limit: int = QUOTE_LIMIT) -> str:
    """What a person typed, cut to `limit` characters with an ellipsis, before it is escaped:
    quoted in a sentence it must leave that sentence within Slack's limits, or the person
    gets "something went wrong" instead of the explanation (escaped, it is at most five
    times as long: `&` becomes `&amp;`)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quoted(value: Any) -> str:
    """A value filled into a catalog sentence: our own markup as it is, anything else cut
    to fit and made inert."""
    if value is None or isinstance(value, Mrkdwn):
        return _inert(value)
    return _inert(clip(str(value)))


def _finalize(value: Any) -> str:
    if isinstance(value, BlockJson):
        return value
    return json.dumps(_inert(value), ensure_ascii=False)[1:-1]


def mention(user_id: str) -> Mrkdwn:
    if not isinstance(user_id, str) or not mrkdwn.USER_ID.match(user_id):
        raise TemplateOutputError(f"not a Slack user id: {user_id!r}")
    return Mrkdwn(f"<@{user_id}>")


def channel(channel_id: str) -> Mrkdwn:
    if not isinstance(channel_id, str) or not mrkdwn.CHANNEL_ID.match(channel_id):
        raise TemplateOutputError(f"not a Slack channel id: {channel_id!r}")
    return Mrkdwn(f"<#{channel_id}>")


def raw_text(text: str) -> Mrkdwn:
    """For plain_text fields (input values): Slack shows them literally, so no entities."""
    return Mrkdwn(text)


def link(url: str, label: str) -> Mrkdwn:
    return Mrkdwn(f"<{mrkdwn.escape(url)}|{mrkdwn.escape(label)}>")


def as_datetime(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC)


def slack_date(value: datetime | str, locale: str = DEFAULT_LOCALE) -> Mrkdwn:
    """A time every reader's Slack shows in their own time zone, worded in `locale` (the
    format string is the catalog's: English puts "at" between date and time, Chinese
    nothing), with a UTC fallback for clients that cannot."""
    moment = as_datetime(value)
    fallback = format_datetime(
        moment, "yyyy-MM-dd HH:mm 'UTC'", tzinfo=UTC, locale=babel_locale(locale)
    )
    tokens = catalog(locale)["date.format"]
    return Mrkdwn(f"<!date^{int(moment.timestamp())}^{tokens}|{fallback}>")


@pass_context
def _slack_date_filter(context: Context, value: datetime | str) -> Mrkdwn:
    return slack_date(value, context.get("locale") or DEFAULT_LOCALE)


def verbatim(text: str, heading: str | None = None) -> BlockJson:
    """A rich_text block showing `text` exactly as written (no mrkdwn taken from it), after
    `heading` in bold when one is given."""
    if heading is None:
        return _blocks_json([richtext.plain(text)])
    return _blocks_json([richtext.changes(heading, [("equal", text)])])


def instruction(record: Any) -> BlockJson:
    """A record's text: the source message's own rich_text blocks while the text is the one
    captured from it, else the text as written."""
    source = getattr(record, "source_blocks", None)
    return _blocks_json(source) if source else verbatim(record.text)


def changes(pieces: list[tuple[str, str]], heading: str) -> BlockJson:
    """A revision's change (`records.changes.word_changes`) under `heading`."""
    return _blocks_json([richtext.changes(heading, pieces)])


@pass_context
def _listed(context: Context, items: list[Any], key: str) -> BlockJson:
    """Records as one rich_text bulleted list, each line the catalog's `key` (its `{text}`
    the record's words as written, `{requesters}` mentions, `{since}` a date every reader's
    Slack shows in their own zone), then a link to the record's thread."""
    locale = context.get("locale") or DEFAULT_LOCALE
    words = catalog(locale)
    lines = []
    for item in items:
        moment = as_datetime(item.created_at)
        since = {
            "type": "date",
            "timestamp": int(moment.timestamp()),
            "format": words["date.format"],
            "fallback": format_datetime(
                moment, "yyyy-MM-dd HH:mm 'UTC'", tzinfo=UTC, locale=babel_locale(locale)
            ),
        }
        people: list[dict[str, Any]] = []
        for n, user_id in enumerate(item.requester_ids):
            if n:
                people.append({"type": "text", "text": words["list.separator"]})
            people.append({"type": "user", "user_id": user_id})
        values = {
            "number": [{"type": "text", "text": str(item.number)}],
            "text": richtext.text_elements(preview(item.text, 80)),
            "requesters": people,
            "since": [since],
        }
        elements = richtext.pattern_elements(words[key], values)
        if item.thread_permalink:
            elements.append({"type": "text", "text": " "})
            elements.append(
                {"type": "link", "url": item.thread_permalink, "text": words["find.thread"]}
            )
        lines.append({"type": "rich_text_section", "elements": elements})
    listed = {"type": "rich_text_list", "style": "bullet", "elements": lines}
    return _blocks_json([{"type": "rich_text", "elements": [listed]}])


def preview(text: str, limit: int = 150) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@functools.cache
def _environment() -> Environment:
    """One per process: its settings are fixed and the templates ship with the code, so each
    template is compiled once, however many Renderers (runtimes, commands) are built."""
    environment = Environment(
        loader=PackageLoader("templates", "slack"),
        # The templates ship with the code: no stat of the file on every render.
        auto_reload=False,
        undefined=StrictUndefined,
        finalize=_finalize,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    environment.filters.update(
        mention=mention,
        slack_date=_slack_date_filter,
        verbatim=verbatim,
        instruction=instruction,
        changes=changes,
        preview=preview,
        link=link,
        channel=channel,
        raw_text=raw_text,
        clip=clip,
        listed=_listed,
    )
    return environment


class Renderer:
    def __init__(self, default_locale: str = DEFAULT_LOCALE) -> None:
        self.default_locale = default_locale
        self._env = _environment()

    def _data(self, name: str, locale: str | None, context: dict[str, Any]) -> dict[str, Any]:
        locale = locale or self.default_locale
        translate = translator(locale, _quoted)

        def t(key: str, **values: Any) -> Mrkdwn:
            return Mrkdwn(translate(key, **values))

        def tn(key: str, count: int, **values: Any) -> Mrkdwn:
            """The plural form of `key` that `count` takes in this language."""
            return t(plural_key(locale, key, count), count=count, **values)

        def named(section: str, value: str) -> Mrkdwn:
            """A status or event name in this language (as stored, should one be missing)."""
            return Mrkdwn(catalog(locale).get(f"{section}.{value}") or _inert(value))

        def mentions(user_ids: list[str]) -> Mrkdwn:
            return Mrkdwn(catalog(locale)["list.separator"].join(map(mention, user_ids)))

        source = self._env.get_template(f"{name}.json.j2").render(
            t=t, tn=tn, named=named, mentions=mentions, locale=locale, **context
        )
        try:
            data: dict[str, Any] = json.loads(source)
        except json.JSONDecodeError as error:
            raise TemplateOutputError(f"{name} did not render valid JSON: {error}") from error
        return data

    def render(self, name: str, locale: str | None = None, **context: Any) -> RenderedMessage:
        data = self._data(name, locale, context)
        message = RenderedMessage(text=data["text"], blocks=data.get("blocks", []))
        validate_blocks(name, message.blocks)
        return message

    def change_since(self, locale: str, unresolved: int, previous: int | None) -> str:
        """ ", 2 more than the last digest" and the like; empty the first time."""
        if previous is None or previous == unresolved:
            return "" if previous is None else catalog(locale)["digest.same"]
        key = "digest.more_than" if unresolved > previous else "digest.fewer_than"
        return catalog(locale)[key].format(count=abs(unresolved - previous))

    def render_view(self, name: str, locale: str | None = None, **context: Any) -> dict[str, Any]:
        """A modal, checked with slack_sdk's View model before it goes to views.open."""
        view = self._data(name, locale, context)
        validate_blocks(name, view.get("blocks", []), limit=MAX_VIEW_BLOCKS)
        View(**view).validate_json()
        return view


def validate_blocks(
    name: str, blocks: list[dict[str, Any]], limit: int = MAX_MESSAGE_BLOCKS
) -> None:
    if len(blocks) > limit:
        raise TemplateOutputError(f"{name} has {len(blocks)} blocks; Slack allows {limit}")
    for raw, parsed in zip(blocks, Block.parse_all(blocks), strict=True):
        if parsed is None:
            raise TemplateOutputError(f"{name} has a block Slack does not know: {raw!r:.200}")
        parsed.validate_json()
