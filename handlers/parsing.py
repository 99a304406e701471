"""Turn Slack payloads into typed inputs for the use cases; nothing here talks to Slack or SQL."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bot.errors import MalformedPayload, UnstorableText, UsageError
from bot.models import RecordKind, Risk, Source
from bot.records.lifecycle import MAX_INSTRUCTION_LENGTH, MAX_REQUESTERS, Capture
from bot.slack import mrkdwn, richtext
from bot.slack.ids import ActionId, BlockId
from bot.usecases.answer import Click
from bot.usecases.capture import CommandCapture
from bot.usecases.configure import SettingsForm, WorkspaceForm

# A button's value names the record as "<team id>/<number>/<revision>" (templates/_buttons).
_RECORD_REF = re.compile(r"^(T[A-Z0-9]+)/(\d{1,9})/(\d{1,6})$")
# English option names ignore case in ASCII only: Unicode case folding would also accept
# "riſk:" (long s), which is no option anybody typed.
_OPTION = re.compile(r"(?<!\S)((?ai:risk|due|owner)|风险|截止|负责人)[:：]")
_OPTION_NAMES = {
    "risk": "risk",
    "风险": "risk",
    "due": "due",
    "截止": "due",
    "owner": "owner",
    "负责人": "owner",
}
_RISK_WORDS = {
    "none": Risk.NONE,
    "low": Risk.LOW,
    "medium": Risk.MEDIUM,
    "high": Risk.HIGH,
    "无": Risk.NONE,
    "低": Risk.LOW,
    "中": Risk.MEDIUM,
    "高": Risk.HIGH,
}
MAX_RISK_NOTE = 500  # as in the form; it is shown in a context block of the card
_QUOTED = re.compile(r'^["“](.*)["”]$', re.DOTALL)


@dataclass(frozen=True)
class OpenCaptureModal:
    pass


@dataclass(frozen=True)
class Watch:
    on: bool


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Show:
    number: int


@dataclass(frozen=True)
class Search:
    line: str


@dataclass(frozen=True)
class Listing:
    which: str


@dataclass(frozen=True)
class DigestNow:
    pass


@dataclass(frozen=True)
class Export:
    number: int


@dataclass(frozen=True)
class OpenSettings:
    pass


ConfirmCommand = (
    CommandCapture
    | OpenCaptureModal
    | Watch
    | Help
    | Show
    | Search
    | Listing
    | Export
    | DigestNow
    | OpenSettings
)
_EXPORT = re.compile(r"^(?:export|导出)\s+#?(\d{1,9})$", re.IGNORECASE)
_SHOW = re.compile(r"^(?:show|查看)\s+#?(\d{1,9})$", re.IGNORECASE)
_LISTS = ("open", "mine", "pending", "risky", "overdue")


def _field(body: dict[str, Any], *path: str) -> Any:
    value: Any = body
    for key in path:
        if not isinstance(value, dict) or key not in value:
            raise MalformedPayload("missing " + ".".join(path))
        value = value[key]
    return value


def storable(text: str, field: BlockId | None = None) -> str:
    """A person's text as read, refused if a character in it cannot be stored (`field`:
    the form's input it was typed in)."""
    character = mrkdwn.unstorable(text)
    if character is not None:
        raise UnstorableText(character, field.value if field else None)
    return text


def parse_confirm_command(body: dict[str, Any]) -> ConfirmCommand:
    raw = storable(str(body.get("text") or "")).strip()
    word = raw.lower()
    if not raw:
        return OpenCaptureModal()
    if word in ("help", "帮助"):
        return Help()
    if word in ("watch", "unwatch"):
        return Watch(on=word == "watch")
    if show := _SHOW.match(raw):
        return Show(int(show.group(1)))
    if word in ("digest", "摘要"):
        return DigestNow()
    if word in ("settings", "设置"):
        return OpenSettings()
    if export := _EXPORT.match(raw):
        return Export(int(export.group(1)))
    first, _, rest = raw.partition(" ")
    if first.lower() in ("search", "find", "搜索"):
        if not rest.strip():
            raise UsageError("no_search")
        return Search(rest.strip())
    if first.lower() in ("list", "列表"):
        which = rest.strip().lower() or "open"
        if which not in _LISTS:
            raise UsageError("bad_list", lists=", ".join(_LISTS))
        return Listing(which)
    requesters, rest = _leading_mentions(raw)
    if not requesters:
        raise UsageError("no_requester")
    if len(requesters) > MAX_REQUESTERS:
        raise UsageError("too_many", limit=MAX_REQUESTERS)
    text, options = _split_options(rest)
    instruction = mrkdwn.to_plain(text).strip()
    if not instruction:
        raise UsageError("no_text")
    if len(instruction) > MAX_INSTRUCTION_LENGTH:
        raise UsageError(
            "too_long", length=f"{len(instruction):,}", limit=f"{MAX_INSTRUCTION_LENGTH:,}"
        )
    risk, note = _risk(options.get("risk"))
    capture = Capture(
        team_id=str(_field(body, "team_id")),
        channel_id=str(_field(body, "channel_id")),
        captured_by_id=str(_field(body, "user_id")),
        requester_ids=tuple(requesters),
        text=instruction,
        risk=risk,
        risk_note=note,
        owner_id=_owner(options.get("owner")),
        source=Source.COMMAND,
        capture_key=f"command:{body['trigger_id']}" if body.get("trigger_id") else None,
        details={"raw": raw},
    )
    due = options.get("due")
    return CommandCapture(
        capture,
        mrkdwn.to_plain(due).strip() if due else None,
        response_url=body.get("response_url"),
    )


def _leading_mentions(text: str) -> tuple[list[str], str]:
    requesters: list[str] = []
    while match := mrkdwn.LEADING_MENTION.match(text):
        requesters.append(match.group(1))
        text = text[match.end() :]
    return list(dict.fromkeys(requesters)), text


def _split_options(text: str) -> tuple[str, dict[str, str]]:
    """`instruction risk:high "note" due:fri 17:00` -> the instruction and its options."""
    markers = list(_OPTION.finditer(text))
    if not markers:
        return text, {}
    options: dict[str, str] = {}
    for marker, following in zip(markers, [*markers[1:], None], strict=True):
        end = following.start() if following else len(text)
        options[_OPTION_NAMES[marker.group(1).lower()]] = text[marker.end() : end].strip()
    return text[: markers[0].start()], options


def _risk(value: str | None) -> tuple[Risk, str | None]:
    if value is None:
        return Risk.NONE, None
    level, _, rest = re.sub(r"\s", " ", value, count=1).partition(" ")
    risk = _RISK_WORDS.get(level.lower())
    note_match = _QUOTED.match(mrkdwn.to_plain(rest).strip()) if rest.strip() else None
    if risk is None or (rest.strip() and note_match is None):
        raise UsageError("bad_risk", value=value)
    note = (note_match.group(1).strip() or None) if note_match else None
    if note and len(note) > MAX_RISK_NOTE:
        raise UsageError("note_too_long", limit=MAX_RISK_NOTE)
    return risk, note


def _owner(value: str | None) -> str | None:
    if value is None:
        return None
    match = mrkdwn.LEADING_MENTION.match(value)
    if match is None or value[match.end() :].strip():
        raise UsageError("bad_owner")
    return match.group(1)


def parse_click(body: dict[str, Any]) -> Click:
    action = (_field(body, "actions") or [{}])[0]
    ref = _RECORD_REF.match(str(action.get("value", "")))
    try:
        action_id = ActionId(action.get("action_id"))
    except ValueError:
        raise MalformedPayload("not one of Sayso's buttons") from None
    if ref is None:
        raise MalformedPayload("the button carries no record reference")
    container = body.get("container") or {}
    # A refusal is told where the button was: in the thread for the request there, in the
    # channel for the card (a thread's parent, which the person may never have opened).
    thread_ts = container.get("thread_ts")
    # A click on the App Home (a view, not a message) comes from no channel.
    on_home = container.get("type") == "view"
    return Click(
        team_id=ref.group(1),
        channel_id=None if on_home else str(_field(body, "channel", "id")),
        user_id=str(_field(body, "user", "id")),
        number=int(ref.group(2)),
        revision=int(ref.group(3)),
        action=action_id,
        thread_ts=thread_ts if thread_ts != container.get("message_ts") else None,
        trigger_id=body.get("trigger_id"),
    )


def parse_nudge_click(body: dict[str, Any]) -> tuple[str, str, str]:
    """(channel, message ts, clicker) from a nudge's Capture button."""
    value = str(((_field(body, "actions") or [{}])[0]).get("value", ""))
    channel, _, ts = value.partition("/")
    if not mrkdwn.CHANNEL_ID.match(channel) or not ts:
        raise MalformedPayload("the nudge carries no message")
    return channel, ts, str(_field(body, "user", "id"))


@dataclass(frozen=True)
class CaptureSubmission:
    capture: Capture
    due_date: str | None
    due_time: str | None
    response_url: str | None


def parse_capture_submission(body: dict[str, Any]) -> CaptureSubmission:
    view = _field(body, "view")
    values = (view.get("state") or {}).get("values") or {}
    metadata = json.loads(view.get("private_metadata") or "{}")
    user_id = str(_field(body, "user", "id"))
    from_message = bool(metadata.get("ts"))
    text = _typed(values, BlockId.TEXT)
    as_written = from_message and metadata.get("words") == richtext.words_key(text)
    capture = Capture(
        team_id=str(_field(body, "team", "id")),
        # Opened in a channel, the form asks there; from the App Home, where it is told.
        channel_id=str(
            metadata.get("channel")
            or _value(values, BlockId.CHANNEL, "selected_conversation")
            or ""
        ),
        captured_by_id=user_id,
        requester_ids=tuple(_value(values, BlockId.REQUESTERS, "selected_users") or ()),
        text=text,
        kind=RecordKind(_selected(values, BlockId.KIND) or RecordKind.INSTRUCTION),
        risk=Risk(_selected(values, BlockId.RISK) or Risk.NONE),
        risk_note=_typed(values, BlockId.RISK_NOTE) or None,
        owner_id=_value(values, BlockId.OWNER, "selected_user") or user_id,
        source=Source.SHORTCUT if from_message else Source.MODAL,
        source_ts=metadata.get("ts"),
        source_thread_ts=metadata.get("thread_ts"),
        capture_key=f"view:{view['id']}" if view.get("id") else None,
        source_blocks=richtext.source_blocks(metadata.get("blocks")) if as_written else None,
    )
    return CaptureSubmission(
        capture,
        _value(values, BlockId.DUE_DATE, "selected_date"),
        _value(values, BlockId.DUE_TIME, "selected_time"),
        metadata.get("response_url"),
    )


@dataclass(frozen=True)
class AmendSubmission:
    team_id: str
    number: int
    revision: int
    user_id: str
    text: str
    # Where the form was opened from, for a refusal to reach the person there.
    channel_id: str
    thread_ts: str | None


def parse_amend_submission(body: dict[str, Any]) -> AmendSubmission:
    view = _field(body, "view")
    metadata = json.loads(view.get("private_metadata") or "{}")
    values = (view.get("state") or {}).get("values") or {}
    try:
        return AmendSubmission(
            team_id=str(metadata["team"]),
            number=int(metadata["number"]),
            revision=int(metadata["revision"]),
            user_id=str(_field(body, "user", "id")),
            text=_typed(values, BlockId.TEXT),
            channel_id=metadata.get("channel", ""),
            thread_ts=metadata.get("thread_ts"),
        )
    except (KeyError, ValueError, TypeError) as error:
        raise MalformedPayload(f"amend form without its record: {error}") from error


def message_source(body: dict[str, Any]) -> dict[str, Any]:
    """What the message shortcut was used on, to pre-fill the capture form."""
    message = _field(body, "message")
    text = mrkdwn.storable(mrkdwn.to_plain(str(message.get("text", ""))).strip())
    blocks = richtext.source_blocks(message.get("blocks"))
    return {
        "ts": str(_field(message, "ts")),
        "thread_ts": message.get("thread_ts"),
        "author": message.get("user"),
        # Pre-filled as shown, with what cannot be stored visibly replaced (U+FFFD).
        "text": text,
        "response_url": body.get("response_url"),
        # The message's own rich_text blocks, kept if the form is sent with its words as
        # they were (`parse_capture_submission`).
        **({"blocks": blocks, "words": richtext.words_key(text)} if blocks else {}),
    }


def _value(values: dict[str, Any], block: BlockId, key: str) -> Any:
    return ((values.get(block.value) or {}).get("value") or {}).get(key)


def _typed(values: dict[str, Any], block: BlockId) -> str:
    """A text input's value, stripped; refused if it cannot be stored."""
    return storable(str(_value(values, block, "value") or ""), block).strip()


def _selected(values: dict[str, Any], block: BlockId) -> str | None:
    option = _value(values, block, "selected_option")
    return option.get("value") if option else None


def parse_find_submission(body: dict[str, Any]) -> str:
    values = ((_field(body, "view").get("state") or {}).get("values")) or {}
    return _typed(values, BlockId.QUERY)


def parse_settings_submission(body: dict[str, Any]) -> SettingsForm:
    """The settings form; its workspace part is absent for those who may not change it."""
    values = ((_field(body, "view").get("state") or {}).get("values")) or {}
    workspace = None
    if BlockId.TIMEZONE.value in values:
        days = _value(values, BlockId.DIGEST_DAYS, "selected_options") or []
        workspace = WorkspaceForm(
            channel_id=_value(values, BlockId.DIGEST_CHANNEL, "selected_conversation"),
            at=_value(values, BlockId.DIGEST_TIME, "selected_time"),
            days=tuple(str(option.get("value")) for option in days),
            zone=storable(str(_value(values, BlockId.TIMEZONE, "value") or ""), BlockId.TIMEZONE),
            remind_after=_typed(values, BlockId.REMIND_AFTER),
            most_reminders=_typed(values, BlockId.MOST_REMINDERS),
            expire_after=_typed(values, BlockId.EXPIRE_AFTER),
            all_clear=_selected(values, BlockId.ALL_CLEAR),
        )
    return SettingsForm(
        user_id=str(_field(body, "user", "id")),
        workspace=workspace,
        snooze_until=_value(values, BlockId.SNOOZE_UNTIL, "selected_date"),
        muted=bool(_value(values, BlockId.MUTE, "selected_options")),
    )


@dataclass(frozen=True)
class MessageChange:
    """An edit (new_text) or a deletion (new_text None) of the words of a message."""

    channel_id: str
    ts: str
    old_text: str
    new_text: str | None
    editor_id: str


def parse_message_change(event: dict[str, Any], bot_id: str | None) -> MessageChange | None:
    """What a person changed, from message_changed or message_deleted; None when the words
    stayed as they were. Slack says a message changed when a link unfurls, a file or an
    attachment is added, a thread grows under it, or an app updates its own message: none
    of that is an edit of what the person wrote."""
    channel = event["channel"]
    old = event.get("previous_message") or {}
    if event.get("subtype") == "message_deleted":
        return MessageChange(
            channel, event.get("deleted_ts", ""), mrkdwn.words(old), None, old.get("user", "")
        )
    new = event.get("message") or {}
    if bot_id and new.get("bot_id") == bot_id:
        return None  # Sayso's own card or reply, updated by Sayso
    if new.get("subtype") == "tombstone":
        # A message deleted under its thread stays as a placeholder written by Slack.
        return MessageChange(
            channel, new.get("ts", ""), mrkdwn.words(old), None, old.get("user", "")
        )
    before, after = mrkdwn.words(old), mrkdwn.words(new)
    if before == after:
        return None
    editor = (new.get("edited") or {}).get("user") or new.get("user", "")
    return MessageChange(channel, new.get("ts", ""), before, after, editor)


@dataclass(frozen=True)
class PostedMessage:
    channel_id: str
    user_id: str
    text: str
    ts: str
    thread_ts: str | None
    # Written to Sayso itself, in its Messages tab (a direct message), not in a channel.
    direct: bool = False


# Plain messages, and the subtypes that are still a person writing.
_HUMAN_SUBTYPES = {None, "thread_broadcast", "file_share"}


def parse_message_event(
    event: dict[str, Any], bot_id: str | None
) -> PostedMessage | MessageChange | None:
    """A person's message, or a change to one; None for what no person wrote (a bot's
    message, a channel join) and for changes that left the words as they were."""
    subtype = event.get("subtype")
    if subtype in ("message_changed", "message_deleted"):
        return parse_message_change(event, bot_id)
    if subtype in _HUMAN_SUBTYPES and event.get("user") and not event.get("bot_id"):
        return PostedMessage(
            event["channel"],
            event["user"],
            event.get("text", ""),
            event["ts"],
            event.get("thread_ts"),
            direct=event.get("channel_type") == "im",
        )
    return None
