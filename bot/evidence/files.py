"""Reading an evidence file (JSON, Markdown or HTML) back, and checking it: first the
embedded document, then that the readable part is exactly what that document renders to."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from bot.evidence.check import verify_evidence
from bot.evidence.document import FORMAT_PREFIX, Check, Document, EvidenceReport
from bot.evidence.render import (
    EMBED_ID,
    LAYOUT,
    LAYOUT_PREFIX,
    LAYOUTS,
    DocumentFormat,
    render_evidence,
)


class NotEvidence(ValueError):
    """The file is not a Sayso evidence file at all (as opposed to a damaged one)."""


class DamagedEvidence(ValueError):
    """An evidence file whose embedded data cannot be read any more."""


class _EmbeddedJson(HTMLParser):
    """The text of <script id="sayso-evidence">; script content is raw text to the parser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found = False
        self._inside = False
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script" and dict(attrs).get("id") == EMBED_ID:
            self.found = self._inside = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.parts.append(data)


_MD_FENCE = re.compile(r"^```json\n(.*?)\n```[ \t]*$", re.MULTILINE | re.DOTALL)


def read_evidence(text: str) -> tuple[Document, DocumentFormat]:
    """The document in a JSON, HTML or Markdown evidence file, and which of the three it is.

    Raises NotEvidence for anything else, DamagedEvidence when the embedded data is there but
    no longer parses."""
    body = text.lstrip("\ufeff").replace("\r\n", "\n")
    raw, fmt = _embedded_text(body)
    try:
        document = json.loads(raw)
    except ValueError as error:
        if fmt == "json" and FORMAT_PREFIX not in raw:
            raise NotEvidence("not a Sayso evidence file (not JSON)") from error
        raise DamagedEvidence(
            f"the embedded evidence is not valid JSON any more: {error}"
        ) from error
    if not isinstance(document, dict) or not str(document.get("format", "")).startswith(
        FORMAT_PREFIX
    ):
        raise NotEvidence('not a Sayso evidence file (no "format": "sayso-evidence/…")')
    # Another version of the format is still evidence: the check fails on it (exit 1), since
    # this Sayso cannot check it fully.
    return document, fmt


def _embedded_text(body: str) -> tuple[str, DocumentFormat]:
    if body.lstrip().startswith("{"):
        return body, "json"
    if "<script" in body:
        parser = _EmbeddedJson()
        parser.feed(body)
        parser.close()
        if parser.found:
            return "".join(parser.parts), "html"
    fences = _MD_FENCE.findall(body)
    if fences and LAYOUT_PREFIX in body:
        return fences[-1], "md"
    raise NotEvidence("not a Sayso evidence file (no embedded evidence data found)")


def verify_evidence_file(text: str) -> EvidenceReport:
    """verify_evidence on the embedded document, then (HTML, Markdown) the readable part."""
    try:
        document, fmt = read_evidence(text)
    except DamagedEvidence as error:
        return EvidenceReport(checks=[Check("format", False, str(error))])
    report = verify_evidence(document)
    if fmt != "json":
        report.checks.append(_check_readable(text, document, fmt))
    return report


def _check_readable(text: str, document: Document, fmt: DocumentFormat) -> Check:
    marker = re.search(re.escape(LAYOUT_PREFIX) + r"\d+", text)
    if marker is None:
        return Check("readable", False, "the file lost its layout marker; it was edited")
    if marker.group() not in LAYOUTS:
        # What cannot be compared cannot be trusted: a reader reads the page, not the data.
        return Check(
            "readable",
            False,
            f"laid out as {marker.group()}, but this Sayso renders {LAYOUT}: the readable part "
            "cannot be compared with its data, so the file is not accepted",
        )
    try:
        expected = render_evidence(document, fmt, marker.group())
    except (KeyError, TypeError, ValueError) as error:
        return Check("readable", False, f"the embedded data cannot be rendered ({error})")
    found, wanted = _lines(text), _lines(expected)
    for number, (got, want) in enumerate(zip(found, wanted, strict=False), 1):
        if got != want:
            return Check(
                "readable",
                False,
                f"line {number} of the file is not what its data renders: found "
                f"{_clip(got)}, expected {_clip(want)}: the readable part was changed",
            )
    if len(found) != len(wanted):
        return Check("readable", False, "the file has lines added or removed after its data")
    return Check("readable", True, "the readable part is exactly what its data renders")


def _lines(text: str) -> list[str]:
    # Editors may add a BOM, CRLF, trailing blanks or a final newline: none of that is content.
    body = text.lstrip("\ufeff").replace("\r\n", "\n").rstrip()
    return [line.rstrip() for line in body.split("\n")]


def _clip(line: str) -> str:
    return repr(line if len(line) <= 70 else line[:69] + "…")
