"""Each reader's language, all the way: statuses, event names, plural forms and the date
format are translated, and bold or code next to Chinese characters still renders in Slack."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.config import LOCALES
from bot.models import RecordStatus
from bot.slack.i18n import ZERO_WIDTH_SPACE, catalog, with_boundaries
from bot.slack.ids import ActionId, HomeAction
from bot.slack.rendering import Renderer
from tests.templates.test_templates import AT, TEMPLATES, VIEWS, _context, _found, _record

# Every event a record's history can hold (bot/records/lifecycle.py, usecases/delivery.py,
# usecases/converse.py): what `/confirm show` lists under the record.
RECORD_EVENTS = (
    "captured",
    "card_posted",
    "revision_posted",
    "confirmed",
    "rejected",
    "amended",
    "withdrawn",
    "done",
    "cancelled",
    "reopened",
    "expired",
    "reminded",
    "source_edited",
    "source_deleted",
    "reply_edited",
    "reply_deleted",
    "thread_snapshot",
    "exported",
    "unclear_reply",
)
ENGLISH_NAMES = re.compile(
    r"\b(" + "|".join(sorted({*RecordStatus, *RECORD_EVENTS}, key=len, reverse=True)) + r")\b"
)


def _texts(part: Any) -> list[str]:
    """The words a reader sees in rendered blocks or views (no ids, values or URLs)."""
    if isinstance(part, list):
        return [text for item in part for text in _texts(item)]
    if not isinstance(part, dict):
        return []
    found = []
    if part.get("type") in ("mrkdwn", "plain_text") and isinstance(part.get("text"), str):
        found.append(re.sub(r"<[^<>]*>", "", part["text"]))  # links, mentions, dates
    for key, value in part.items():
        if key not in ("action_id", "block_id", "value", "url", "callback_id"):
            found += _texts(value)
    return found


def _shown(name: str, locale: str, status: str, **extra: Any) -> list[str]:
    context = {**_context(name, status), **extra}
    if name in VIEWS:
        return _texts(Renderer().render_view(name, locale, **context))
    message = Renderer().render(name, locale, **context)
    return [re.sub(r"<[^<>]*>", "", message.text), *_texts(message.blocks)]


def test_every_status_and_event_has_a_name_in_every_language() -> None:
    for locale in LOCALES:
        names = catalog(locale)
        assert {f"state.{s}" for s in RecordStatus} <= set(names)
        assert {f"event.{e}" for e in RECORD_EVENTS} <= set(names), locale


@pytest.mark.parametrize("status", [s.value for s in RecordStatus])
@pytest.mark.parametrize("name", TEMPLATES)
def test_no_english_status_or_event_name_leaks_into_chinese(name: str, status: str) -> None:
    events = [(event, "U0ALICE001", AT) for event in RECORD_EVENTS]
    # `/confirm show` lists the last few events (one context block holds ten at most).
    batches = [events[i : i + 9] for i in range(0, len(events), 9)]
    shown = [
        text
        for batch in (batches if name == "record_detail" else [None])
        for text in _shown(name, "zh-CN", status, **({"events": batch} if batch else {}))
    ]
    for text in shown:
        # Emoji shortcodes (:white_check_mark:) are markup, and code spans are commands to
        # type (`status:pending`): neither is a word to translate, nor a filter in a hint.
        words = re.sub(r":[a-z0-9_+-]+:|`[^`]*`|status:\w+", "", text)
        assert not ENGLISH_NAMES.search(words), (name, text)


def test_the_history_names_its_events_in_the_readers_language() -> None:
    events = [("card_posted", "sayso", AT), ("thread_snapshot", "sayso", AT)]
    english = " ".join(_shown("record_detail", "en", "pending", events=events))
    chinese = " ".join(_shown("record_detail", "zh-CN", "pending", events=events))
    assert "card posted by Sayso" in english and "thread copied by Sayso" in english
    assert "Sayso 发布卡片" in chinese and "Sayso 复制话题" in chinese


def test_search_results_and_home_show_translated_statuses() -> None:
    found = [_found(_record("pending"))]
    chinese = Renderer().render("search_results", "zh-CN", query="网络", found=found)
    assert "待确认" in chinese.blocks[1]["text"]["text"]
    home = Renderer().render_view(
        "home",
        "zh-CN",
        # The rows waiting for the reader are all pending and say so in other words.
        home={"to_confirm": [], "owned": [], "awaiting": found, "recent": []},
        actions=ActionId,
        home_actions=HomeAction,
    )
    assert "待确认" in str(home) and "pending" not in str(home)


@pytest.mark.parametrize(
    ("locale", "count", "text"),
    [
        ("en", 1, "1 record found"),
        ("en", 2, "2 records found"),
        ("en", 0, "0 records found"),
        ("zh-CN", 1, "找到 1 条记录"),
        ("zh-CN", 2, "找到 2 条记录"),
    ],
)
def test_counts_take_the_languages_plural_form(locale: str, count: int, text: str) -> None:
    found = [_found(_record("pending"))] * count
    message = Renderer().render("search_results", locale, query="x", found=found)
    assert message.text == text


def test_dates_are_worded_per_language() -> None:
    """Slack fills in the date and time in each reader's zone; the words around are ours:
    no English "at" in front of a Chinese reader."""
    english = Renderer().render("reminder", "en", **_context("reminder", "pending"))
    chinese = Renderer().render("reminder", "zh-CN", **_context("reminder", "pending"))
    stamp = int(AT.timestamp())
    assert f"<!date^{stamp}^{{date_short_pretty}} at {{time}}|2026-11-26 09:30 UTC>" in (
        english.text
    )
    assert f"<!date^{stamp}^{{date_short_pretty}} {{time}}|2026-11-26 09:30 UTC>" in chinese.text
    assert " at " not in chinese.text


_MARKED = re.compile(r"\*[^*\n]+\*|`[^`\n]+`")


@pytest.mark.parametrize("locale", LOCALES)
def test_bold_and_code_next_to_chinese_have_a_boundary(locale: str) -> None:
    """Slack renders `*bold*` only where the asterisks meet a space, ASCII punctuation or
    a zero-width space: `的*指令*，` shows its asterisks."""
    for key, value in catalog(locale).items():
        for found in _MARKED.finditer(value):
            start, end = found.span()
            before = value[start - 1] if start else " "
            after = value[end] if end < len(value) else " "
            for neighbour in (before, after):
                assert (
                    neighbour.isspace() or neighbour.isascii() or neighbour == ZERO_WIDTH_SPACE
                ), (key, value)


def test_the_chinese_card_title_is_bold_in_slack() -> None:
    message = Renderer().render("record_card", "zh-CN", **_context("record_card", "pending"))
    title = message.blocks[0]["text"]["text"]
    assert f"的{ZERO_WIDTH_SPACE}*指令 #42*" in title
    assert with_boundaries("请回复 *确认*。") == f"请回复 *确认*{ZERO_WIDTH_SPACE}。"
    assert with_boundaries("*Risk:* high, see `x`.") == "*Risk:* high, see `x`."
