"""Confirmation replies are whole-reply whitelist matches; nudges are guarded substrings."""

from __future__ import annotations

import pytest

from bot.records.phrases import (
    ACKNOWLEDGEMENTS,
    CONFIRMATION_REPLIES,
    NUDGE_PHRASES,
    is_confirmation,
    is_near_miss,
    nudge_phrase,
)


@pytest.mark.parametrize(
    "reply",
    [
        "confirm",
        "confirmed",
        "I confirm",
        "yes",
        "yes, go ahead",
        "go ahead",
        "approved",
        "ok, confirmed",
        "确认",
        "确认。",
        "同意",
        "可以",
        "好的，确认",
        "没问题，可以",
        # Case, whitespace, trailing punctuation and emoji are tolerated.
        "Confirmed!",
        "  CONFIRMED  ",
        "Yes, go ahead.",
        "OK confirmed",
        "确认！",
        "同意！！",
        "可以👍",
        "confirmed 👍🏻",
        "approved ✅",
        "确认~",
        "confirmed :+1:",
        "confirmed :white_check_mark::tada:",
        # Leading mentions are ignored, with or without a display name.
        "<@U0SAYSOBOT> confirmed",
        "<@U0SAYSOBOT> <@U0ALICE001> 确认。",
        "<@U0SAYSOBOT|sayso> yes",
        # Full-width Latin from Chinese input methods.
        "ｃｏｎｆｉｒｍｅｄ",
    ],
)
def test_confirmations(reply: str) -> None:
    assert is_confirmation(reply)


@pytest.mark.parametrize(
    "reply",
    [
        "confirm later?",
        "can you confirm the impact?",
        "I can't confirm",
        "not confirmed",
        "yes but wait until Monday",
        "不确认",
        "不同意",
        "可以吗？",
        "确认一下影响范围",
        "我再确认下",
        "ok?",
        "confirm?",
        "confirmed?",
        "确认？",
        "yes?",
        "",
        "   ",
        "👍",
        ":+1:",
        "<@U0SAYSOBOT>",
        # Bare acknowledgements are not consent.
        "ok",
        "好的",
        "noted",
        # Longer sentences, even friendly ones.
        "yes I think so",
        "confirmed, but only after 22:00",
        "I confirm that I have read it",
        "可以，但是要等到周一",
        "确认了吗",
        # A mention elsewhere than at the start is part of the sentence.
        "confirmed <@U0ALICE001>",
        # Leading punctuation is not stripped.
        "?confirm",
    ],
)
def test_not_confirmations(reply: str) -> None:
    assert not is_confirmation(reply)


@pytest.mark.parametrize(
    "reply",
    [
        # The issue's own examples.
        "ok",
        "好的",
        "👍",
        "confirm?",
        # Acknowledgements, alone or with emoji.
        "OK!",
        "okay 👍",
        "sure",
        "noted",
        "lgtm",
        "收到",
        "没问题",
        "嗯嗯",
        "<@U0SAYSOBOT> ok",
        # Approving emoji alone, as characters or shortcodes, with skin tones.
        "👍🏻",
        "👌",
        "✅",
        ":+1:",
        ":thumbsup::skin-tone-3:",
        ":white_check_mark: :ok_hand:",
        # A confirmation or an acknowledgement asked as a question.
        "confirmed?",
        "yes?",
        "ok?",
        "确认？",
        "可以吗",
        "同意吗？",
        # Short replies with a word of assent.
        "confirmed, thanks",
        "yes please",
        "yes I think so",
        "ok confirm",
        "确认了",
        "我已经确认过了",
        "收到，谢谢",
        "ok 同意",
    ],
)
def test_near_misses(reply: str) -> None:
    assert is_near_miss(reply)
    assert not is_confirmation(reply)


@pytest.mark.parametrize(
    "reply",
    [
        # Confirmations are not near misses: they confirm.
        "confirm",
        "确认",
        "yes, go ahead",
        "可以👍",
        # Questions about the request, and the team's own words.
        "can you confirm the impact?",
        "confirm later?",
        "what time?",
        "确认了吗",
        "确认一下影响范围",
        "请确认影响范围和回退方案",
        # Saying no, or holding the answer back.
        "I can't confirm",
        "not confirmed",
        "no",
        "wait",
        "yes but wait until Monday",
        "confirmed, but only after 22:00",
        "ok let me check",
        "不同意",
        "不确认",
        "先别改",
        "等一下",
        "我再确认下",
        "可以，但是要等到周一",
        # Anything else: conversation, other emoji, long sentences.
        "thanks",
        "hmm",
        "😂",
        "👎",
        ":tada:",
        "",
        "   ",
        "<@U0SAYSOBOT>",
        "I confirm that I have read it",
        "ok so about the rollback plan, who is on call tonight in case it goes wrong",
    ],
)
def test_not_near_misses(reply: str) -> None:
    assert not is_near_miss(reply)


def test_every_acknowledgement_is_a_near_miss_and_none_confirms() -> None:
    for reply in ACKNOWLEDGEMENTS:
        assert is_near_miss(reply) and not is_confirmation(reply), reply
    assert not set(map(str.casefold, ACKNOWLEDGEMENTS)) & set(
        map(str.casefold, CONFIRMATION_REPLIES)
    )


def test_every_listed_reply_confirms() -> None:
    for reply in CONFIRMATION_REPLIES:
        assert is_confirmation(reply), reply


@pytest.mark.parametrize(
    ("message", "phrase"),
    [
        ("I'll take responsibility", "I'll take responsibility"),
        ("Just change it, I’ll take full responsibility.", "I'll take responsibility"),
        ("I will take responsibility for this", "I'll take responsibility"),
        ("I take responsibility", "I take responsibility"),
        ("it's on me", "on me"),
        ("Do it, that's on me.", "on me"),
        ("on me", "on me"),
        ("please skip the change ticket", "skip the change ticket"),
        ("skip the ticket, the window is now", "skip the ticket"),
        ("Skip ticket.", "skip the ticket"),
        ("no need for a ticket", "no need for a ticket"),
        ("There's no need for a change ticket here", "no need for a ticket"),
        ("just do it now", "just do it now"),
        ("JUST DO IT", "just do it"),
        ("don't tell anyone", "don't tell anyone"),
        ("Do not tell anyone about this change", "don't tell anyone"),
        ("改一下那个参数，出了问题我负责", "出了问题我负责"),
        ("出事我负责", "出了问题我负责"),
        ("我负责", "我负责"),
        ("没事，我负责任", "我负责"),
        ("这个我来负责，改吧", "我负责"),
        ("不用走流程", "不用走流程"),
        ("不用走流程了，直接上", "不用走流程"),
        ("别走流程了", "别走流程了"),
        ("直接改", "直接改"),
        ("没问题，直接改吧。", "直接改"),
        ("先改了再说", "先改了再说"),
        ("别告诉别人", "别告诉别人"),
        # A negation elsewhere in the message does not cancel a later nudge.
        ("no, skip the ticket", "skip the ticket"),
        ("don't worry, I'll take responsibility", "I'll take responsibility"),
    ],
)
def test_nudges(message: str, phrase: str) -> None:
    assert nudge_phrase(message) == phrase


@pytest.mark.parametrize(
    "message",
    [
        # Asking who is responsible is not taking responsibility.
        "who is responsible for edge-3?",
        "responsibility matrix",
        "负责人是谁",
        "这是我负责的模块",
        # Reporting what happened is not asking anyone to skip anything.
        "the ticket was skipped by the bot",
        # Negated just before the phrase.
        "we should not skip the ticket",
        "never skip the change ticket",
        "don't just do it, open a ticket",
        "I won't take responsibility",
        "I can't take responsibility for that",
        "别直接改",
        "不能直接改",
        "不要先改了再说",
        # 直接改成 proposes a change of plan, not skipping the process.
        "直接改成30秒的方案不行",
        # "on me" as an ordinary phrase.
        "you can count on me",
        "it depends on me",
        "it's on me to open the ticket",
        "on meeting notes",
        # Ordinary talk about tickets.
        "I opened the ticket",
        "ticket #123 is approved",
        "",
    ],
)
def test_not_nudges(message: str) -> None:
    assert nudge_phrase(message) is None


def test_every_listed_phrase_is_a_nudge_of_itself() -> None:
    for phrase in NUDGE_PHRASES:
        assert nudge_phrase(phrase) == phrase


def test_lists_have_no_duplicates() -> None:
    assert len(set(CONFIRMATION_REPLIES)) == len(CONFIRMATION_REPLIES)
    assert len(set(NUDGE_PHRASES)) == len(NUDGE_PHRASES)
