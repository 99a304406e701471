"""Property-based tests: the /confirm parser, Slack escaping, and the confirmation card.

The command text is modelled as Slack sends it with `should_escape: true`: what a person typed
is escaped (`&`, `<`, `>` become entities) and only real mentions arrive as `<@U…|name>`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.errors import SaysoError, UnstorableText, UsageError
from bot.ledger.hashchain import canonical_json
from bot.models import RecordKind, RecordStatus, Risk, Source
from bot.records.changes import word_changes
from bot.records.lifecycle import MAX_INSTRUCTION_LENGTH, Capture
from bot.slack import mrkdwn
from bot.slack.ids import ActionId
from bot.slack.rendering import Renderer
from bot.usecases.capture import CommandCapture
from bot.usecases.cards import RecordView, RequesterView
from handlers.parsing import (
    DigestNow,
    Export,
    Help,
    Listing,
    OpenCaptureModal,
    OpenSettings,
    Search,
    Show,
    Watch,
    parse_confirm_command,
)

TEAM, CHANNEL = "T0ACME0001", "C0EDGE0001"
WANG, ZHAO, ALICE, LI = "U0WANG0001", "U0ZHAO0001", "U0ALICE001", "U0LI000001"
WANG_MENTION = f"<@{WANG}|wang>"
AT = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
PERMALINK = "https://acme.slack.com/archives/C1/p1?a=1&b=2"

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Written here independently of the parser: an option starts at the beginning of the text or
# after whitespace, its name in any ASCII letter case, with an ASCII or full-width colon.
_NAMES = ["".join(f"[{c}{c.upper()}]" for c in name) for name in ("risk", "due", "owner")]
OPTION_MARKER = re.compile(r"(?<!\S)(?:" + "|".join([*_NAMES, "风险", "截止", "负责人"]) + ")[:：]")
RISK_LEVELS = {
    "none": Risk.NONE,
    "low": Risk.LOW,
    "medium": Risk.MEDIUM,
    "high": Risk.HIGH,
    "无": Risk.NONE,
    "低": Risk.LOW,
    "中": Risk.MEDIUM,
    "高": Risk.HIGH,
}

# Non-ASCII letters that Python's re.IGNORECASE (Unicode) treats as equal to an ASCII letter of
# an option name (checked over all of Unicode). A parser matching option names that way once
# crashed on "riſk:"; now they are not options, so such words belong to the instruction.
CASE_TWINS = {"i": "İı", "s": "ſ", "k": "\u212a"}

SPECIAL = [
    "<", ">", "&", "|", '"', "“", "”", ":", "：", "&amp;", "&lt;", "&gt;", "&amp;lt;", "&#60;",
    " ", "  ", "\t", "\n", "\r\n", "\u3000", "\u00a0", "\x00", "\x1f", "\x85", "\u2028",
    "\u200b", "\ufeff", "🙂", "👩‍💻", "🇨🇳", "e\u0301", "请把网络参数改成30秒", "不要", "help",
    "watch", "<@U0ZHAO0001|zhao>", "<@W0ZHAO0001>", "<#C0EDGE0001|edge>", "<!here>",
    "<!channel>", "<!subteam^S0TEAM0001|@ops>", "<https://evil.example|click>", "<mailto:a@b.c>",
    "<!date^1700000000^{date}|Nov 14>", "high", "HIGH", "low", "none", "medium", "高", "中",
]  # fmt: skip


@st.composite
def option_markers(draw: st.DrawFn) -> str:
    """An option name in any letter case, or spelled with a Unicode case twin of a letter."""
    name = draw(st.sampled_from(["risk", "due", "owner", "风险", "截止", "负责人"]))
    letters = [draw(st.sampled_from(sorted({c, c.upper(), *CASE_TWINS.get(c, "")}))) for c in name]
    return "".join(letters) + draw(st.sampled_from([":", "："]))


fragments = st.one_of(st.text(max_size=8), st.sampled_from(SPECIAL))
command_fragments = st.one_of(fragments, option_markers())


def joined(parts: st.SearchStrategy[str], max_size: int = 10) -> st.SearchStrategy[str]:
    """Fragments glued together, sometimes with a space between them."""
    pieces = st.lists(st.tuples(parts, st.sampled_from(["", " "])), max_size=max_size)
    return pieces.map(lambda items: "".join(a + b for a, b in items))


command_texts = st.one_of(
    st.text(),
    st.tuples(
        st.sampled_from(
            ["", WANG_MENTION + " ", f"{WANG_MENTION} <@{ZHAO}> ", f" <@{ZHAO}>", "<@U1>"]
        ),
        joined(command_fragments),
    ).map("".join),
)


def body(text: str) -> dict[str, Any]:
    return {"text": text, "team_id": TEAM, "channel_id": CHANNEL, "user_id": ALICE}


def parse(text: str) -> Any:
    return parse_confirm_command(body(text))


# Whatever /confirm's text asks for: a capture, or one of its words of command.
COMMANDS = (
    CommandCapture,
    OpenCaptureModal,
    Watch,
    Help,
    Show,
    Search,
    Listing,
    DigestNow,
    Export,
    OpenSettings,
)


def _never_crashes(text: str) -> None:
    try:
        result = parse(text)
    except SaysoError:
        return
    assert isinstance(result, COMMANDS)


# --- 1. The parser never crashes -----------------------------------------------------------


# Once a bug: Unicode case folding made "riſk:" an option name the parser did not know.
@FAST
@given(text=command_texts)
@example(text=f"{WANG_MENTION} x riſk:high")
@example(text="<@U00>riſk:")
@example(text="列表")  # once drawn: a word of command the test did not know
def test_parser_never_crashes(text: str) -> None:
    _never_crashes(text)


# --- 2. What it stores is exactly what was typed -------------------------------------------

typed_texts = st.one_of(st.text(), joined(command_fragments)).filter(
    lambda typed: not OPTION_MARKER.search(typed)
)


def _assert_stored_as_typed(typed: str) -> None:
    wire = f"{WANG_MENTION} {mrkdwn.escape(typed)}"
    if mrkdwn.unstorable(typed) is not None:  # refused before a number is promised
        with pytest.raises(UnstorableText):
            parse(wire)
        return
    expected = typed.strip()
    if not expected or len(expected) > MAX_INSTRUCTION_LENGTH:
        with pytest.raises(UsageError):
            parse(wire)
        return
    result = parse(wire)
    assert isinstance(result, CommandCapture)
    assert result.capture.text == expected
    assert result.capture.requester_ids == (WANG,)
    assert result.capture.captured_by_id == ALICE
    assert (result.capture.risk, result.capture.risk_note) == (Risk.NONE, None)
    assert result.capture.owner_id is None
    assert result.due_phrase is None
    # Accepted before the ack, the capture waits in the outbox as JSON (`intake.accept_capture`).
    assert _through_the_outbox(result.capture) == result.capture


def _through_the_outbox(capture: Capture) -> Capture:
    return Capture.from_payload(json.loads(canonical_json(capture.as_payload())))


def test_a_capture_with_every_field_set_comes_back_from_the_outbox_the_same() -> None:
    capture = Capture(
        team_id="T0ACME0001",
        channel_id="C0EDGE0001",
        captured_by_id=ALICE,
        requester_ids=(WANG, "U0ZHAO0001"),
        text="把网络参数改成30秒 & <b>",
        kind=RecordKind.DECISION,
        risk=Risk.HIGH,
        risk_note="outage if wrong",
        due_at=datetime(2026, 12, 1, 14, 30, 0, 123456, tzinfo=UTC),
        owner_id="U0LI000001",
        source=Source.SHORTCUT,
        source_ts="1764000000.000100",
        source_thread_ts="1764000000.000001",
        capture_key="view:V123",
        details={"files": ["F1"]},
    )
    assert _through_the_outbox(capture) == capture


@FAST
@given(typed=typed_texts)
@example(typed="<@U0LI000001> & <!channel> <https://evil.example|click>")
@example(typed="&lt; is how you write <")
@example(typed="  请把网络参数改成30秒  ")
@example(typed=" \u3000 ")
@example(typed="x riſk:high RİSK：low ris\u212a: due")
@example(typed="reboot\x00 edge-3")
def test_the_instruction_is_stored_exactly_as_typed(typed: str) -> None:
    _assert_stored_as_typed(typed)


@settings(max_examples=20, deadline=None)
@given(
    filler=st.sampled_from(["a", "请", "&", "<", "🙂", "x y", "&lt;"]),
    length=st.integers(MAX_INSTRUCTION_LENGTH - 3, MAX_INSTRUCTION_LENGTH + 3),
    padding=st.sampled_from(["", " ", "\n\u3000"]),
)
def test_the_length_limit_counts_what_was_typed(filler: str, length: int, padding: str) -> None:
    typed = padding + (filler * length)[:length].strip() + padding
    _assert_stored_as_typed(typed)


# --- 3. Escaping round-trips -----------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(s=st.one_of(st.text(), joined(fragments)))
@example(s="&amp;lt;")
@example(s="&<>&gt;<&lt;>")
def test_escape_round_trips(s: str) -> None:
    escaped = mrkdwn.escape(s)
    assert "<" not in escaped and ">" not in escaped
    assert mrkdwn.unescape(escaped) == s
    assert mrkdwn.to_plain(escaped) == s


# --- 4. Rendering never turns stored text into live markup ---------------------------------

RENDERER = Renderer()
KNOWN_USERS = (WANG, ZHAO, ALICE, LI)
SAYSO_MARKUP = re.compile(
    r"<@(?:" + "|".join(KNOWN_USERS) + r")>"
    r"|<!date\^\d+\^\{date_short_pretty\}(?: at)? \{time\}\|[^<>]*>"  # en, zh-CN
    r"|<" + re.escape(mrkdwn.escape(PERMALINK)) + r"\|[^<>]*>"
)


def _texts(node: Any) -> list[str]:
    """Every mrkdwn or plain `text` string in rendered Block Kit, at any depth (a rich_text
    block's text elements are shown literally: see `_rich_leaves`)."""
    if isinstance(node, dict) and node.get("type") == "rich_text":
        return []
    if isinstance(node, dict):
        found = [node["text"]] if isinstance(node.get("text"), str) else []
        return found + [t for value in node.values() for t in _texts(value)]
    if isinstance(node, list):
        return [t for item in node for t in _texts(item)]
    return []


def _rich_leaves(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The elements rich_text blocks show, in order."""
    return [
        leaf
        for block in blocks
        if block["type"] == "rich_text"
        for section in block["elements"]
        for leaf in section["elements"]
    ]


def _instruction_parts(blocks: list[dict[str, Any]]) -> list[str]:
    """The text elements of the first rich_text block: the instruction, as written."""
    first = next(b for b in blocks if b["type"] == "rich_text")
    return [leaf["text"] for leaf in _rich_leaves([first])]


def _record(
    text: str, status: str, previous: str | None, risk_note: str | None, closed: bool
) -> RecordView:
    return RecordView(
        team_id=TEAM,
        number=42,
        kind="instruction",
        status=status,
        revision=2 if previous is not None else 1,
        text=text,
        diff=word_changes(previous, text) if previous is not None else None,
        requesters=[
            RequesterView(WANG, "confirmed", "Globex"),
            RequesterView(ZHAO, "pending", None),
        ],
        requester_ids=[WANG, ZHAO],
        waiting_ids=[ZHAO],
        confirmed_ids=[WANG],
        captured_by_id=ALICE,
        owner_id=LI,
        risk="high" if risk_note else "none",
        risk_note=risk_note,
        due_at=AT,
        decided_at=AT if status != "pending" else None,
        decided_by_id=WANG if status != "pending" else None,
        closed_by_id=LI if closed else None,
        closed_at=AT if closed else None,
        source_permalink=PERMALINK,
        is_open=status in ("pending", "confirmed"),
    )


user_texts = st.one_of(st.text(min_size=1), joined(fragments, max_size=15)).filter(str.strip)


@settings(max_examples=120, deadline=None)
@given(
    text=user_texts,
    previous=st.none() | user_texts,
    risk_note=st.none() | user_texts,
    status=st.sampled_from([s.value for s in RecordStatus]),
    locale=st.sampled_from(["en", "zh-CN"]),
)
@example(
    text="<!channel> <@U0LI000001> <#C0EDGE0001> <https://evil.example|click> & done",
    previous="<!here>",
    risk_note="<!everyone>",
    status="pending",
    locale="en",
)
def test_rendering_user_text_produces_no_live_markup(
    text: str, previous: str | None, risk_note: str | None, status: str, locale: str
) -> None:
    closed = status in ("withdrawn", "done", "cancelled")
    record = _record(text, status, previous, risk_note, closed)
    message = RENDERER.render("confirmation_request", locale, record=record, actions=ActionId)
    for shown in [message.text, *_texts(message.blocks)]:
        assert "<" not in SAYSO_MARKUP.sub("", shown), shown
    # No mention, link or broadcast is built from what a person typed: only text elements.
    assert {leaf["type"] for leaf in _rich_leaves(message.blocks)} == {"text"}
    assert "".join(_instruction_parts(message.blocks)) == text
    json.dumps(message.blocks)  # what is posted serializes as it is


@settings(max_examples=15, deadline=None)
@given(
    unit=st.sampled_from(["a", "&", "<", "a&", "a<b", "请&", "🙂>", "x & y "]),
    length=st.integers(1, MAX_INSTRUCTION_LENGTH),
)
def test_long_instructions_are_shown_whole_in_pieces_slack_takes(unit: str, length: int) -> None:
    text = ("z" + unit * length)[:length].strip() or "z"
    record = _record(text, "pending", None, None, closed=False)
    message = RENDERER.render("confirmation_request", "en", record=record, actions=ActionId)
    instruction = _instruction_parts(message.blocks)
    assert "".join(instruction) == text
    assert all(len(part) <= 3000 for part in instruction)


# --- 5. Options: risk levels and notes ---------------------------------------------------

risk_notes = st.one_of(st.text(), joined(fragments)).filter(
    lambda note: (
        not (set(note) & set('"“”\n\r'))
        and not OPTION_MARKER.search(note)
        and mrkdwn.unstorable(note) is None  # refused whole (see _assert_stored_as_typed)
    )
)


@FAST
@given(
    note=risk_notes,
    marker=st.sampled_from(["risk:", "Risk:", "RISK：", "risk：", "风险:", "风险："]),
    level=st.sampled_from([*RISK_LEVELS, "HIGH", "Medium", "LoW"]),
    quotes=st.sampled_from(['""', "“”", '"”', '“"']),
    instruction=st.sampled_from(["do it", "请把网络参数改成30秒", "a & <b>"]),
)
@example(
    note="may drop <traffic> & more", marker="risk:", level="high", quotes='""', instruction="x"
)
@example(note="  padded  ", marker="风险：", level="高", quotes="“”", instruction="do it")
def test_a_quoted_risk_note_is_kept_as_typed(
    note: str, marker: str, level: str, quotes: str, instruction: str
) -> None:
    typed = f"{instruction} {marker}{level} {quotes[0]}{note}{quotes[1]}"
    result = parse(f"{WANG_MENTION} {mrkdwn.escape(typed)}")
    assert isinstance(result, CommandCapture)
    assert result.capture.text == instruction
    assert result.capture.risk == RISK_LEVELS[level.lower()]
    assert result.capture.risk_note == (note.strip() or None)


bad_levels = st.one_of(st.text(min_size=1), joined(fragments).filter(bool)).filter(
    lambda word: (
        not any(c.isspace() for c in word)
        and word.lower() not in RISK_LEVELS
        and word.casefold() not in RISK_LEVELS
        and not OPTION_MARKER.search(word)
    )
)


@FAST
@given(level=bad_levels, note=st.sampled_from(["", ' "a note"', " “说明”"]))
@example(level="hi", note="")
@example(level="highest", note=' "x"')
@example(level="高风险", note="")
@example(level="hi\x00gh", note="")
def test_a_level_outside_the_allowed_set_is_refused(level: str, note: str) -> None:
    refusal = UnstorableText if mrkdwn.unstorable(level) else UsageError
    with pytest.raises(refusal):
        parse(f"{WANG_MENTION} do it risk:{mrkdwn.escape(level)}{note}")
