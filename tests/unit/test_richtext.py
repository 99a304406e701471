"""A source message's rich_text, reduced to what a message of Sayso's may show."""

from __future__ import annotations

from bot.slack import richtext


def _section(*elements: dict) -> dict:  # type: ignore[type-arg]
    section = {"type": "rich_text_section", "elements": list(elements)}
    return {"type": "rich_text", "block_id": "a1", "elements": [section]}


def test_pings_become_words_and_unknown_or_unsafe_parts_are_dropped() -> None:
    kept = richtext.source_blocks(
        [
            {"type": "section", "text": {"type": "mrkdwn", "text": "not the author's words"}},
            _section(
                {"type": "text", "text": "go ", "style": {"bold": True, "client_highlight": True}},
                {"type": "broadcast", "range": "channel"},
                {"type": "usergroup", "usergroup_id": "S0NETOPS01"},
                {"type": "link", "url": "javascript:alert(1)", "text": "x"},
                {"type": "user", "user_id": "U0WANG0001"},
                {"type": "no_such_element", "text": "?"},
            ),
        ]
    )
    assert kept == [
        {
            "type": "rich_text",
            "elements": [
                {
                    "type": "rich_text_section",
                    "elements": [
                        {"type": "text", "text": "go ", "style": {"bold": True}},
                        {"type": "text", "text": "@channel"},
                        {"type": "text", "text": "@group"},
                        {"type": "user", "user_id": "U0WANG0001"},
                    ],
                }
            ],
        }
    ]


def test_lists_quotes_and_code_keep_their_shape() -> None:
    item = {"type": "rich_text_section", "elements": [{"type": "text", "text": "edge-3"}]}
    block = {
        "type": "rich_text",
        "elements": [
            {"type": "rich_text_list", "style": "bullet", "indent": 0, "elements": [item]},
            {"type": "rich_text_preformatted", "elements": [{"type": "text", "text": "a*b*"}]},
            {"type": "rich_text_quote", "elements": [{"type": "text", "text": "said"}]},
        ],
    }
    assert richtext.source_blocks([block]) == [block]


def test_nothing_usable_or_too_much_is_none() -> None:
    assert richtext.source_blocks(None) is None
    assert richtext.source_blocks([{"type": "divider"}]) is None
    assert richtext.source_blocks([_section({"type": "text", "text": "x"})] * 11) is None
