"""The fixed wording of evidence files in the reader's language (templates/locales/evidence/),
with statuses and event names from the Slack catalogs' [state] and [event] sections."""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from importlib.resources import files
from typing import Any

from markupsafe import Markup

from bot.config import LOCALES
from bot.evidence.document import Document
from bot.slack import i18n

DEFAULT_LANGUAGE = "en"


def language_of(document: Document) -> str:
    """The language the file is written in (`language`, chosen when it was exported)."""
    language = document.get("language")
    return language if language in LOCALES else DEFAULT_LANGUAGE


@functools.cache
def evidence_catalog(language: str) -> Mapping[str, str]:
    path = files("templates").joinpath("locales", "evidence", f"{language}.toml")
    raw = tomllib.loads(path.read_text("utf-8"))
    return {
        f"{section}.{key}": value
        for section, entries in raw.items()
        for key, value in entries.items()
    }


class Wording:
    """`legacy`: the wording of files laid out before a language could be chosen (English,
    the data's own status and event words), so that those files still check."""

    def __init__(self, language: str, legacy: bool = False) -> None:
        self.language = DEFAULT_LANGUAGE if legacy else language
        self.legacy = legacy
        self._texts = evidence_catalog(self.language)
        self._slack = i18n.catalog(self.language)

    def t(self, key: str, **values: Any) -> Markup:
        """For the templates: our own text as markup, each value escaped unless it is."""
        return Markup(self._texts[key]).format(**values)

    def text(self, key: str, **values: Any) -> str:
        """Plain text, escaped later by the template that prints it."""
        return self._texts[key].format(**values)

    def state(self, status: str) -> str:
        return status if self.legacy else self._slack.get(f"state.{status}", status)

    def event(self, kind: str) -> str:
        return kind if self.legacy else self._slack.get(f"event.{kind}", kind)
