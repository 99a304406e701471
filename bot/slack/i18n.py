"""The message catalogs (templates/locales/*.toml) and how a Slack locale picks one."""

from __future__ import annotations

import functools
import re
import string
import tomllib
import unicodedata
from collections.abc import Callable, Mapping
from importlib.resources import files
from typing import Any

from babel import Locale

from bot.config import DEFAULT_LOCALE, LOCALES
from bot.localtime import babel_locale

# Slack reads `*bold*` and `` `code` `` only where the marker meets a space or punctuation
# it knows: next to a Chinese character (的*指令*，) the asterisks print as they are. An
# invisible zero-width space is a boundary it accepts, and Chinese needs no visible one.
ZERO_WIDTH_SPACE = "\u200b"
_MARKED = re.compile(r"\*[^*\n]+\*|`[^`\n]+`")


def normalize_locale(slack_locale: str | None, default: str = DEFAULT_LOCALE) -> str:
    """Slack says `zh-CN`, `zh-TW`, `en-US`...; we speak English and Simplified Chinese."""
    if not slack_locale:
        return default if default in LOCALES else DEFAULT_LOCALE
    return "zh-CN" if slack_locale.lower().startswith("zh") else "en"


@functools.cache
def catalog(locale: str) -> Mapping[str, str]:
    raw = tomllib.loads(files("templates").joinpath("locales", f"{locale}.toml").read_text("utf-8"))
    return {
        f"{section}.{key}": with_boundaries(value)
        for section, entries in raw.items()
        for key, value in entries.items()
    }


def with_boundaries(text: str) -> str:
    """`text` with a zero-width space wherever a bold or code marker touches a character
    Slack does not take as a word boundary (Chinese characters and full-width punctuation,
    outside the marker or just inside it), so the markup renders as intended."""
    out: list[str] = []
    last = 0
    for found in _MARKED.finditer(text):
        start, end = found.span()
        marker, inner = found.group()[0], found.group()[1:-1]
        out.append(text[last:start])
        if start > 0 and _needs_boundary(text[start - 1]):
            out.append(ZERO_WIDTH_SPACE)
        if marker == "*" and _needs_boundary(inner[-1]) and _is_punctuation(inner[-1]):
            inner += ZERO_WIDTH_SPACE
        out.append(marker + inner + marker)
        if end < len(text) and _needs_boundary(text[end]):
            out.append(ZERO_WIDTH_SPACE)
        last = end
    out.append(text[last:])
    return "".join(out)


def _needs_boundary(char: str) -> bool:
    return not char.isspace() and not char.isascii() and char != ZERO_WIDTH_SPACE


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith("P")


def plural_key(locale: str, key: str, count: int) -> str:
    """`key_one` or `key_other` (CLDR's plural categories, by Babel): "1 record found",
    "2 records found"; Chinese has one form for every number."""
    form = Locale.parse(babel_locale(locale)).plural_form(abs(count))
    texts = catalog(locale)
    return f"{key}_{form}" if f"{key}_{form}" in texts else f"{key}_other"


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def translator(locale: str, escape: Callable[[Any], str]) -> Callable[..., str]:
    """`t(key, **values)`: the catalog text with each value escaped by `escape`."""
    texts = catalog(locale)

    def t(key: str, **values: Any) -> str:
        return texts[key].format_map({name: escape(value) for name, value in values.items()})

    return t
