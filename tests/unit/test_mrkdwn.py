"""Slack's wire text: turned into plain text, and escaped so it round-trips."""

from __future__ import annotations

import pytest

from bot.slack import mrkdwn


@pytest.mark.parametrize(
    ("wire", "plain"),
    [
        ("<@U0WANG0001|wang> ok", "@wang ok"),
        ("<@U0WANG0001> ok", "@U0WANG0001 ok"),
        ("<#C0EDGE0001|edge> &amp; <!here> <!channel>", "#edge & @here @channel"),
        ("&lt;b&gt;bold&lt;/b&gt;", "<b>bold</b>"),
        ("<https://x.example|x> <https://y.example>", "x (https://x.example) https://y.example"),
        ("<!subteam^S1|@oncall> <!date^1^{date}|Nov 26>", "@oncall Nov 26"),
        ("&amp;lt;", "&lt;"),
    ],
)
def test_slack_text_to_plain(wire: str, plain: str) -> None:
    assert mrkdwn.to_plain(wire) == plain


def test_escape_round_trip() -> None:
    text = "<!channel> & <@U1> > x"
    assert mrkdwn.unescape(mrkdwn.escape(text)) == text
    assert "<" not in mrkdwn.escape(text) and ">" not in mrkdwn.escape(text)
