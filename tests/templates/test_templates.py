"""Every template renders, in every language and for every state a record can be in, into
Block Kit that Slack accepts; the two catalogs say the same things with the same fields."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any

import pytest

from bot.config import LOCALES
from bot.ledger.published import Published
from bot.models import RecordStatus
from bot.records.changes import word_changes
from bot.slack.i18n import catalog, fields
from bot.slack.ids import ActionId, BlockId, HomeAction
from bot.slack.rendering import Renderer, TemplateOutputError, validate_blocks
from bot.usecases.cards import RecordView, RequesterView

SLACK = files("templates").joinpath("slack")
TEMPLATES = sorted(
    p.name.removesuffix(".json.j2") for p in SLACK.iterdir() if p.name.endswith(".json.j2")
)
VIEWS = {"capture_modal", "amend_modal", "home", "find_modal", "settings_modal"}
AT = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def _record(status: str, text: str = "change <x> & y", revision: int = 2) -> RecordView:
    closed = status in ("withdrawn", "done", "cancelled")
    return RecordView(
        team_id="T0ACME0001",
        number=42,
        kind="instruction",
        status=status,
        revision=revision,
        text=text,
        diff=word_changes("change <x>", text) if revision > 1 else None,
        requesters=[
            RequesterView("U0WANG0001", "confirmed", "Globex"),
            RequesterView("U0ZHAO0001", "pending", None),
        ],
        requester_ids=["U0WANG0001", "U0ZHAO0001"],
        waiting_ids=["U0ZHAO0001"],
        confirmed_ids=["U0WANG0001"],
        captured_by_id="U0ALICE001",
        owner_id="U0LI000001",
        risk="high",
        risk_note="may drop <traffic>",
        due_at=AT,
        decided_at=AT if status != "pending" else None,
        decided_by_id="U0WANG0001" if status != "pending" else None,
        closed_by_id="U0LI000001" if closed else None,
        closed_at=AT if closed else None,
        source_permalink="https://acme.slack.com/archives/C1/p1?a=1&b=2",
        is_open=status in ("pending", "confirmed"),
        revised_by_id="U0WANG0001" if revision > 1 else None,
    )


def _digest(record: RecordView) -> Any:
    from bot.records.digest import Digest, Item

    item = Item(
        record.number,
        record.text,
        record.status,
        record.risk,
        record.requester_ids,
        record.owner_id,
        "C0EDGE0001",
        AT,
        AT,
        "https://x/p?a&b",
        record.captured_by_id,
    )
    return Digest(
        "T0ACME0001",
        AT.date(),
        None,
        [item, item],
        [item],
        [],
        [item],
        [],
        checkpoints=[Published(AT.date(), 12, "ab" * 32)],
    )


def _found(record: RecordView) -> Any:
    from bot.usecases.lookup import Found

    return Found(record, "C0EDGE0001", "https://acme.slack.com/archives/C1/p2", AT)


def _context(name: str, status: str) -> dict[str, Any]:
    record = _record(status)
    base: dict[str, Any] = {"record": record, "actions": ActionId, "blocks": BlockId}
    extra: dict[str, dict[str, Any]] = {
        "answer_reply": {
            "actor_id": "U0WANG0001",
            "answer": "confirmed",
            "via": "reply",
            "waiting_ids": ["U0ZHAO0001"],
        },
        "event_reply": {"event": "source_edited", "actor_id": "U0WANG0001"},
        "usage": {"problem": "too_long", "details": {"length": "12,001", "limit": "12,000"}},
        "error": {"reference": "abc123"},
        "record_not_found": {"number": 42},
        "being_recorded": {"number": 42},
        "not_allowed": {
            "reason": "not_requester",
            "number": 42,
            "requester_ids": record.requester_ids,
            "owner_id": record.owner_id,
            "captured_by_id": record.captured_by_id,
        },
        "stale_revision": {"number": 42, "clicked": 1, "revision": 2},
        "already_answered": {"number": 42, "answer": "confirmed"},
        "not_in_this_state": {"number": 42, "status": status},
        "already_captured": {"number": 42},
        "due_unreadable": {
            "phrase": "whenever <now>",
            "reason": "unreadable",
            "examples": "`fri 17:00`",
            "when": AT.isoformat(),
        },
        "watching": {"watching": True, "channel_id": "C0EDGE0001"},
        "nudge": {
            "channel_id": "C0EDGE0001",
            "phrase": "skip the ticket",
            "author_id": "U0WANG0001",
            "message_ts": "1.2",
        },
        "superseded_request": {"text": "old <text>", "superseded_by": 2},
        "near_miss": {"reply": "ok <!channel> 👍"},
        "delivery_trouble": {
            "reason": "not_in_channel",
            "needs_person": True,
            "channel_id": "C0EDGE0001",
        },
        "capture_modal": {
            "callback_id": "c",
            "private_metadata": '{"a": 1}',
            "author_id": "U0WANG0001",
            "requester_ids": ["U0WANG0001"],
            "text": 'exactly "as" <typed>',
            "owner_id": "U0ALICE001",
            # From the App Home: no channel yet, the form asks for one.
            "choose_channel": status == "pending",
        },
        "amend_modal": {"callback_id": "c", "private_metadata": "{}"},
        "record_detail": {
            "revisions": [(1, "old <text>")],
            "thread_permalink": "https://x/p?a&b",
            "events": [("captured", "U0ALICE001", AT), ("card_posted", "sayso", AT)],
        },
        "search_results": {"query": "网络 <x>", "found": [_found(record)]},
        "not_entitled": {"number": 42},
        "evidence_coming": {"number": 42},
        "reminder": {"waiting_ids": ["U0ZHAO0001"], "since": AT.isoformat()},
        "digest": {
            # Another channel's digest: its records are counted, not shown.
            "digest": _digest(record).shown_to(lambda item: status != "rejected"),
            "change": ", 2 more than yesterday",
            "limit": 1,
        },
        "access_unchecked": {"what": "person" if status == "pending" else "channel"},
        "evidence_sent": {"number": 42, "pending": status == "pending"},
        "find_modal": {"callback_id": "c", "query": "网络 <x>", "found": [_found(record)]},
        "home": {
            "home": {
                "to_confirm": [_found(record)],
                "owned": [],
                "awaiting": [],
                "recent": [_found(record)],
            },
            "home_actions": HomeAction,
        },
        "bad_query": {"problem": "status:<maybe>"},
        "unstorable_text": {"character": "U+0000"},
        "capture_not_stored": {"number": 42, "reference": 7},
        "settings_modal": _settings_context(status),
    }
    return {**base, **extra.get(name, {})}


def _settings_context(status: str) -> dict[str, Any]:
    """The settings form; the status picks a variant: a guest from another organization
    (no workspace part), muted and snoozed, or a workspace that posts nothing when clear."""
    from bot.config import Settings
    from bot.records import settings_store

    shown = settings_store.columns(settings_store.defaults(Settings(digest_channel="C0DIGEST01")))
    if status == "rejected":
        shown["post_all_clear"] = False
    return {
        "callback_id": "c",
        "may_change_workspace": status != "expired",
        "current": shown,
        "chosen_days": shown["digest_days"].split(","),
        "days": settings_store.DAYS,
        "limits": {
            "remind_after": settings_store.REMIND_AFTER_HOURS,
            "most_reminders": settings_store.MOST_REMINDERS,
            "expire_after": settings_store.EXPIRE_AFTER_DAYS,
        },
        "muted": status == "confirmed",
        "snoozed_until": "2026-12-01" if status == "confirmed" else "",
    }


def test_every_template_has_a_sample_context() -> None:
    for name in TEMPLATES:
        Renderer().render_view(name, "en", **_context(name, "pending")) if name in VIEWS else (
            Renderer().render(name, "en", **_context(name, "pending"))
        )


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("status", [s.value for s in RecordStatus])
@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_renders_valid_blocks(name: str, status: str, locale: str) -> None:
    renderer = Renderer()
    if name in VIEWS:
        view = renderer.render_view(name, locale, **_context(name, status))
        assert view["type"] in ("modal", "home")
        return
    message = renderer.render(name, locale, **_context(name, status))
    assert message.text
    assert message.blocks
    # Rich text shows its text elements as they are; everything else is mrkdwn, escaped.
    # People, dates and links in it are Sayso's own (a digest's requesters, its times, the
    # thread's link), never taken from what someone wrote.
    assert {leaf["type"] for leaf in _rich_leaves(message.blocks)} <= {
        "text",
        "user",
        "date",
        "link",
    }
    everything = message.text + str([b for b in message.blocks if b["type"] != "rich_text"])
    assert "<x>" not in everything and "<traffic>" not in everything and "<now>" not in everything


def _rich_leaves(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The elements of rich_text blocks' sections, lists' sections included."""

    def leaves(element: dict[str, Any]) -> list[dict[str, Any]]:
        if element["type"] in ("rich_text", "rich_text_list"):
            return [leaf for child in element["elements"] for leaf in leaves(child)]
        if element["type"].startswith("rich_text_"):
            return list(element["elements"])
        return [element]

    return [leaf for block in blocks if block["type"] == "rich_text" for leaf in leaves(block)]


def test_catalogs_have_the_same_keys_and_fields() -> None:
    english, chinese = catalog("en"), catalog("zh-CN")
    assert set(english) == set(chinese)
    for key in english:
        assert fields(english[key]) == fields(chinese[key]), key


def test_every_catalog_key_is_used_by_a_template_or_the_code() -> None:
    sources = "".join(p.read_text("utf-8") for p in SLACK.iterdir() if p.name.endswith(".j2"))
    from pathlib import Path

    code = "".join(p.read_text("utf-8") for p in Path("bot").rglob("*.py"))
    unused = []
    for key in catalog("en"):
        section, name = key.split(".")
        # Keys chosen by status, kind, risk, button or reason are built as "section." ~ value.
        dynamic = any(f'"{section}.{name[:i]}" ~' in sources for i in range(len(name)))
        # Event names by `named("event", type)`; plural forms by `tn("find.count", n)`.
        dynamic |= f'named("{section}",' in sources
        dynamic |= f'tn("{section}.{name.rsplit("_", 1)[0]}",' in sources
        if key not in sources and key not in code and not dynamic:
            unused.append(key)
    assert unused == []


def test_chinese_requester_sees_chinese_card_and_buttons() -> None:
    message = Renderer().render("confirmation_request", "zh-CN", **_context("c", "pending"))
    labels = [
        e["text"]["text"] for b in message.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert labels == ["确认", "拒绝", "要求修改", "撤回"]
    assert "请按原文确认" in message.blocks[0]["text"]["text"]


def test_user_text_cannot_ping_or_link() -> None:
    hostile = "<!channel> <@U0LI000001> <https://evil.example|click> & done"
    message = Renderer().render(
        "record_card", "en", record=_record("pending", hostile), actions=ActionId
    )
    # A rich_text text element is shown as it is: no ping, mention or link.
    assert message.blocks[1] == {
        "type": "rich_text",
        "elements": [
            {"type": "rich_text_section", "elements": [{"type": "text", "text": hostile}]}
        ],
    }


def test_the_instruction_is_shown_as_written_not_as_mrkdwn() -> None:
    written = "I confirmed `*.example.com` and _all_ of ~old~ *rules*"
    for name in ("record_card", "confirmation_request", "record_detail"):
        context = {**_context(name, "pending"), "record": _record("pending", written)}
        message = Renderer().render(name, "en", **context)
        shown = next(b for b in message.blocks if b["type"] == "rich_text")
        assert shown["elements"][0]["elements"] == [{"type": "text", "text": written}], name
        assert not any(written in str(b.get("text")) for b in message.blocks), name
    modal = Renderer().render_view("amend_modal", "en", **_context("amend_modal", "pending"))
    assert modal["blocks"][1]["type"] == "rich_text"


@pytest.mark.parametrize(
    ("status", "labels"),
    [
        ("pending", ["Confirm", "Reject", "Request change", "Withdraw"]),
        ("confirmed", ["Mark done", "Call off", "Request change"]),
        ("rejected", ["Reopen"]),
        ("done", ["Reopen"]),
    ],
)
def test_buttons_follow_the_status_and_name_the_revision(status: str, labels: list[str]) -> None:
    message = Renderer().render("confirmation_request", "en", **_context("c", status))
    elements = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    assert [e["text"]["text"] for e in elements] == labels
    assert {e["value"] for e in elements} == {"T0ACME0001/42/2"}


@pytest.mark.parametrize(
    ("status", "labels"),
    [("pending", ["Confirm", "Reject"]), ("confirmed", []), ("rejected", []), ("done", [])],
)
def test_the_card_carries_the_answer_buttons_while_pending(status: str, labels: list[str]) -> None:
    message = Renderer().render("record_card", "en", **_context("c", status))
    elements = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    assert [e["text"]["text"] for e in elements] == labels
    assert [e["action_id"] for e in elements] == [ActionId.CONFIRM, ActionId.REJECT][: len(labels)]
    assert {e["value"] for e in elements} <= {"T0ACME0001/42/2"}


DIALOGS = {
    "en": {
        "Reject": ("Reject #42?", "Reject", "Go back"),
        "Withdraw": ("Withdraw #42?", "Withdraw", "Go back"),
        "Call off": ("Call off #42?", "Call off", "Go back"),
    },
    "zh-CN": {
        "拒绝": ("拒绝 #42？", "拒绝", "返回"),
        "撤回": ("撤回 #42？", "撤回", "返回"),
        "叫停": ("叫停 #42？", "叫停", "返回"),
    },
}


@pytest.mark.parametrize("locale", sorted(DIALOGS))
def test_destructive_buttons_ask_first_and_only_they_do(locale: str) -> None:
    shown = {}
    for template in ("record_card", "confirmation_request"):
        for status in ("pending", "confirmed", "rejected"):
            message = Renderer().render(template, locale, **_context(template, status))
            for block in message.blocks:
                for element in block.get("elements", []) if block["type"] == "actions" else []:
                    shown[element["text"]["text"]] = element.get("confirm")
    asking = {label: dialog for label, dialog in shown.items() if dialog}
    assert set(asking) == set(DIALOGS[locale])
    for label, dialog in asking.items():
        title, yes, no = DIALOGS[locale][label]
        assert (dialog["title"]["text"], dialog["confirm"]["text"], dialog["deny"]["text"]) == (
            title,
            yes,
            no,
        )
        assert dialog["style"] == "danger"
        assert dialog["text"]["text"]
    # The record's "Cancel" is renamed: the word stays the modals' own close button.
    modal_close = Renderer().render_view(
        "amend_modal", locale, **_context("amend_modal", "pending")
    )
    assert modal_close["close"]["text"] not in shown


def test_a_revision_shows_what_changed() -> None:
    record = replace(
        _record("pending", "change <y> now"), diff=word_changes("change <x>", "change <y> now")
    )
    message = Renderer().render("confirmation_request", "en", record=record, actions=ActionId)
    assert "revision 2" in message.blocks[0]["text"]["text"]
    assert (
        "<@U0WANG0001> changed instruction *#42*: <@U0WANG0001>, <@U0ZHAO0001>, please"
        in message.blocks[0]["text"]["text"]
    )
    changed = [b for b in message.blocks if b["type"] == "rich_text"][1]
    assert changed["elements"][0]["elements"] == [
        {"type": "text", "text": "What changed since revision 1: ", "style": {"bold": True}},
        {"type": "text", "text": "change <"},
        {"type": "text", "text": "x", "style": {"strike": True}},
        {"type": "text", "text": "y", "style": {"bold": True}},
        {"type": "text", "text": ">"},
        {"type": "text", "text": " now", "style": {"bold": True}},
    ]


def test_a_chinese_revision_shows_its_change_with_no_added_spaces() -> None:
    record = replace(
        _record("pending", "请把网络参数改成60秒"),
        diff=word_changes("请把网络参数改成30秒", "请把网络参数改成60秒"),
    )
    message = Renderer().render("confirmation_request", "zh-CN", record=record, actions=ActionId)
    changed = [b for b in message.blocks if b["type"] == "rich_text"][1]
    assert changed["elements"][0]["elements"] == [
        {"type": "text", "text": "与第 1 版相比的改动：", "style": {"bold": True}},
        {"type": "text", "text": "请把网络参数改成"},
        {"type": "text", "text": "30", "style": {"strike": True}},
        {"type": "text", "text": "60", "style": {"bold": True}},
        {"type": "text", "text": "秒"},
    ]


def test_validation_refuses_what_slack_would() -> None:
    with pytest.raises(TemplateOutputError):
        validate_blocks("t", [{"type": "no_such_block"}])
    with pytest.raises(TemplateOutputError):
        validate_blocks("t", [{"type": "divider"}] * 51)
    with pytest.raises(Exception, match="3000"):
        validate_blocks("t", [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}])


def test_a_template_cannot_print_none() -> None:
    record = replace(_record("pending"), owner_id=None)
    with pytest.raises(TemplateOutputError):
        Renderer().render("record_card", "en", record=record, actions=ActionId)


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_text_is_inert_mrkdwn(locale: str) -> None:
    """Catalog text is sent as mrkdwn: a bare <, > or & there would become markup."""
    import re

    for key, value in catalog(locale).items():
        assert not re.search(r"[<>]|&(?!lt;|gt;|amp;)", value), key


@pytest.mark.parametrize("name", ["search_results", "find_modal", "home", "record_detail"])
def test_lists_show_each_instruction_as_written(name: str) -> None:
    written = "`*.example.com` _all_"
    context = {**_context(name, "pending"), "record": _record("pending", written)}
    for key in ("found", "home"):
        if key == "found" and "found" in context:
            context["found"] = [_found(context["record"])]
        if key == "home" and "home" in context:
            context["home"] = {**context["home"], "to_confirm": [_found(context["record"])]}
    if name == "record_detail":
        context["revisions"] = [(1, written)]
    renderer = Renderer()
    shown = (
        renderer.render_view(name, "en", **context)["blocks"]
        if name in VIEWS
        else renderer.render(name, "en", **context).blocks
    )
    texts = ["".join(leaf["text"] for leaf in _rich_leaves([b])) for b in shown]
    assert any(t.endswith(written) for t in texts), texts
    assert not any(written in str(b.get("text", "")) for b in shown if b["type"] != "rich_text")


@pytest.mark.parametrize("locale", LOCALES)
def test_the_digest_shows_each_instruction_as_written_with_people_and_dates_as_elements(
    locale: str,
) -> None:
    written = "`*.example.com` _all_ <!channel>"
    digest = _digest(_record("pending", written)).shown_to(lambda item: True)
    shown = Renderer().render("digest", locale, digest=digest, change="", limit=10).blocks
    listed = next(b for b in shown if b["type"] == "rich_text")  # the first section's
    (bullets,) = listed["elements"]
    assert bullets["type"] == "rich_text_list" and len(bullets["elements"]) == 2
    line = bullets["elements"][0]["elements"]
    assert {"type": "text", "text": written} in line
    assert {"type": "user", "user_id": "U0WANG0001"} in line
    (since,) = [e for e in line if e["type"] == "date"]
    assert since["timestamp"] == int(AT.timestamp())
    assert (" at " in since["format"]) == (locale == "en")
    assert line[-1] == {
        "type": "link",
        "url": "https://x/p?a&b",
        "text": catalog(locale)["find.thread"],
    }
    assert not any(written in str(b.get("text", "")) for b in shown if b["type"] != "rich_text")
