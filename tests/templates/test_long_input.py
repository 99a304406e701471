"""Whatever a person typed, however long, a reply quoting it renders into blocks Slack takes:
the quote is cut to fit (`rendering.clip`), so the person reads the real explanation
rather than "something went wrong"."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import LOCALES
from bot.slack.rendering import QUOTE_LIMIT, Renderer, clip
from tests.templates.test_templates import VIEWS, _context

# Long, and heavy in what escaping lengthens (`&` becomes five characters).
typed = st.text(alphabet=st.sampled_from("&<>x 网`*\n"), min_size=0, max_size=4000) | st.text(
    max_size=4000
)

# Each template, and where in its context the person's own words go.
QUOTING: dict[str, list[tuple[str, ...]]] = {
    "search_results": [("query",)],
    "find_modal": [("query",)],
    "due_unreadable": [("phrase",)],
    "bad_query": [("problem",)],
    "usage": [("details", "value")],
    "nudge": [("phrase",)],
    "delivery_trouble": [("reason",)],
}
RENDERER = Renderer()


def _with(context: dict[str, Any], path: tuple[str, ...], value: str) -> dict[str, Any]:
    if len(path) == 1:
        return {**context, path[0]: value}
    return {**context, path[0]: _with(context[path[0]], path[1:], value)}


def _render(name: str, locale: str, context: dict[str, Any]) -> None:
    if name in VIEWS:
        RENDERER.render_view(name, locale, **context)
    else:
        RENDERER.render(name, locale, **context)


@settings(max_examples=25, deadline=None)
@given(words=typed, locale=st.sampled_from(LOCALES))
def test_every_reply_quoting_a_person_renders_however_long_the_quote(
    words: str, locale: str
) -> None:
    for name, paths in QUOTING.items():
        context = _context(name, "pending")
        if name == "usage":
            context = {**context, "problem": "bad_risk", "details": {"value": "x"}}
        if name == "due_unreadable":
            for reason in ("unreadable", "past"):
                _render(name, locale, {**context, "reason": reason, "phrase": words})
            continue
        for path in paths:
            _render(name, locale, _with(context, path, words))


def test_a_cut_quote_says_it_was_cut() -> None:
    assert clip("x" * QUOTE_LIMIT) == "x" * QUOTE_LIMIT
    assert clip("x" * (QUOTE_LIMIT + 1)) == "x" * (QUOTE_LIMIT - 1) + "…"
    shown = RENDERER.render("search_results", "en", found=[], query="&" * 3000)
    assert shown.blocks[0]["text"]["text"].count("&amp;") == QUOTE_LIMIT - 1
