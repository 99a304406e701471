"""The message catalogs (templates/locales/*.toml) and how a Slack locale picks one."""

from __future__ import annotations

import functools
import string
import tomllib
from collections.abc import Callable, Mapping
from importlib.resources import files
from typing import Any

from bot.config import DEFAULT_LOCALE, LOCALES


def normalize_locale(slack_locale: str | None, default: str = DEFAULT_LOCALE) -> str:
    """Slack says `zh-CN`, `zh-TW`, `en-US`...; we speak English and Simplified Chinese."""
    if not slack_locale:
        return default if default in LOCALES else DEFAULT_LOCALE
    return "zh-CN" if slack_locale.lower().startswith("zh") else "en"


@functools.cache
def catalog(locale: str) -> Mapping[str, str]:
    raw = tomllib.loads(files("templates").joinpath("locales", f"{locale}.toml").read_text("utf-8"))
    return {
        f"{section}.{key}": value
        for section, entries in raw.items()
        for key, value in entries.items()
    }


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def translator(locale: str, escape: Callable[[Any], str]) -> Callable[..., str]:
    """`t(key, **values)`: the catalog text with each value escaped by `escape`."""
    texts = catalog(locale)

    def t(key: str, **values: Any) -> str:
        return texts[key].format_map({name: escape(value) for name, value in values.items()})

    return t
