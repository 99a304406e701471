"""A revision's change, cut into what a reader takes as one thing: numbers, times, dates,
words and single Chinese characters; the pieces spell both texts with nothing added."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.records.changes import tokens, word_changes
from bot.slack import richtext


def test_numbers_times_and_dates_are_one_token_each() -> None:
    assert tokens("at 10:00 on 2026-03-01, set 1.5 or 12,000 on edge3") == [
        "at", " ", "10:00", " ", "on", " ", "2026-03-01", ",", " ", "set", " ", "1.5", " ",
        "or", " ", "12,000", " ", "on", " ", "edge3",
    ]  # fmt: skip


def test_chinese_is_cut_by_character_and_numbers_inside_it_stay_whole() -> None:
    assert tokens("改成30秒") == ["改", "成", "30", "秒"]
    assert tokens("下午3:30前") == ["下", "午", "3:30", "前"]


def test_a_changed_time_is_one_change_not_two() -> None:
    assert word_changes("reboot at 10:00", "reboot at 11:30") == [
        ("equal", "reboot at "),
        ("delete", "10:00"),
        ("insert", "11:30"),
    ]


def test_a_changed_decimal_and_date_read_whole() -> None:
    assert word_changes("drain 1.5% by 2026-03-01", "drain 2.25% by 2026-03-15") == [
        ("equal", "drain "),
        ("delete", "1.5"),
        ("insert", "2.25"),
        ("equal", "% by "),
        ("delete", "2026-03-01"),
        ("insert", "2026-03-15"),
    ]


def test_chinese_change_adds_no_spaces() -> None:
    assert word_changes("请把网络参数改成30秒", "请把网络参数改成60秒") == [
        ("equal", "请把网络参数改成"),
        ("delete", "30"),
        ("insert", "60"),
        ("equal", "秒"),
    ]
    assert word_changes("今天重启", "明天重启") == [
        ("delete", "今"),
        ("insert", "明"),
        ("equal", "天重启"),
    ]


def test_a_rewritten_phrase_is_one_change() -> None:
    before, after = "please reboot the edge router now", "please restart both core switches now"
    assert word_changes(before, after) == [
        ("equal", "please "),
        ("delete", "reboot the edge router"),
        ("insert", "restart both core switches"),
        ("equal", " now"),
    ]


def test_the_change_is_shown_with_rich_text_styles() -> None:
    block = richtext.changes("What changed since revision 1:", word_changes("30秒", "60秒"))
    assert block["elements"][0]["elements"] == [
        {"type": "text", "text": "What changed since revision 1: ", "style": {"bold": True}},
        {"type": "text", "text": "30", "style": {"strike": True}},
        {"type": "text", "text": "60", "style": {"bold": True}},
        {"type": "text", "text": "秒"},
    ]


texts = st.text(alphabet=st.sampled_from("ab 1.:-,请改秒\n🙂"), max_size=40) | st.text(max_size=40)


@settings(max_examples=200, deadline=None)
@given(before=texts, after=texts)
def test_the_pieces_spell_both_texts(before: str, after: str) -> None:
    assert "".join(tokens(before)) == before
    pieces = word_changes(before, after)
    assert "".join(t for op, t in pieces if op != "insert") == before
    assert "".join(t for op, t in pieces if op != "delete") == after
    assert all(t for _, t in pieces)
