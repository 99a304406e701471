"""Writing an evidence document as JSON, Markdown or a printable HTML page.

The HTML and Markdown embed the full JSON; `read_evidence` reads it back."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from bot.evidence.document import Document
from bot.evidence.view import view_of, when, zone_of
from bot.evidence.wording import Wording, language_of

DocumentFormat = Literal["json", "md", "html"]
# Bumped whenever the templates change what they print: a file rendered by another layout
# cannot be compared with this one's rendering, and the report says so.
LAYOUT_PREFIX = "sayso-evidence-layout/"
LAYOUT = f"{LAYOUT_PREFIX}3"
# Files laid out before a reader could choose their language and see names: English, with the
# data's own status and event words. Still rendered exactly as they were, so they still check.
LEGACY_LAYOUT = f"{LAYOUT_PREFIX}2"
LAYOUTS = (LAYOUT, LEGACY_LAYOUT)
EMBED_ID = "sayso-evidence"


def document_json(document: Document) -> str:
    """Canonical and pretty: sorted keys, two-space indent, UTF-8 text kept as it is."""
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True)


def render_evidence(document: Document, fmt: DocumentFormat, layout: str = LAYOUT) -> str:
    """The document as `json`, `md` or `html`, in its `language`; the same document always
    renders the same. `layout` is LAYOUT, or LEGACY_LAYOUT to check an older file."""
    if fmt == "json":
        return document_json(document) + "\n"
    if fmt not in ("md", "html"):
        raise ValueError(f"unknown evidence format {fmt!r}; use json, md or html")
    environment = _environment()
    style = environment.get_template("_style.css.j2").render()
    template = environment.get_template(f"evidence.{fmt}.j2")
    words = Wording(language_of(document), legacy=layout == LEGACY_LAYOUT)
    return template.render(
        doc=document,
        view=view_of(document, words),
        t=words.t,
        state=words.state,
        event=words.event,
        lang=words.language,
        layout=layout,
        embed_id=EMBED_ID,
        embedded=_embedded(document, fmt),
        style=Markup(style),
        csp=content_security_policy(style),
    )


def content_security_policy(style: str, scripts: tuple[str, ...] = ()) -> str:
    """The HTML page's policy: nothing from the network, no script but the page's own.

    A page opened from disk has no origin to call 'self', so inline code is allowed by its
    hash alone: the one <style> element and any inline scripts given (none so far; the
    embedded data is a JSON block, which no browser runs)."""
    script_src = " ".join(_source_hash(script) for script in scripts) or "'none'"
    return (
        f"default-src 'none'; style-src {_source_hash(style)}; script-src {script_src}; "
        "base-uri 'none'; form-action 'none'"
    )


def _source_hash(text: str) -> str:
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def _embedded(document: Document, fmt: DocumentFormat) -> Markup:
    text = document_json(document)
    # "<", ">" and "&" only ever occur inside JSON strings, where \u escapes mean the same:
    # inside <script> no entity is decoded and "</script" would end the element. In Markdown
    # a run of backticks inside a string could close the fence.
    if fmt == "html":
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    else:
        text = text.replace("`", "\\u0060")
    return Markup(text)


@functools.cache
def _environment() -> Environment:
    # Not the Slack renderer's environment: that one escapes for mrkdwn; this one for HTML,
    # always on, so user text can never become markup in an export.
    environment = Environment(
        loader=PackageLoader("templates", "exports"),
        autoescape=select_autoescape(default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(when=_when_in_files_zone, md=md_inline, mdquote=md_quote)
    return environment


@pass_context
def _when_in_files_zone(context: Context, value: str | None) -> str:
    return when(value, zone_of(context["doc"]))


# Characters that start Markdown syntax anywhere in a line, and those that do at its start.
_MD_INLINE = re.compile(r"([\\`*_\[\]|~!])")
_MD_LINE_START = re.compile(r"^(\s*\d*)([#=+-]|(?<=\d)[.)])")


def md_inline(value: Any) -> Markup:
    """User text for a Markdown table cell: HTML-escaped (entities are valid Markdown), its
    syntax characters backslash-escaped, line breaks kept as <br>."""
    lines = str(value).replace("\r\n", "\n").split("\n")
    return Markup("<br>".join(_md_line(line) for line in lines))


def md_quote(value: Any) -> Markup:
    """User text as a Markdown block quote, line by line, nothing in it live."""
    lines = str(value).replace("\r\n", "\n").split("\n")
    return Markup("\n".join(f"> {_md_line(line)}".rstrip() for line in lines))


def _md_line(line: str) -> str:
    # Entities for what HTML would read as markup; quotes stay, Markdown shows them as typed.
    html = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = _MD_INLINE.sub(r"\\\1", html)
    return _MD_LINE_START.sub(r"\1\\\2", escaped)
