"""Evidence files: one record, its whole history and the proofs that tie it to published heads.

`build_evidence` gathers a self-contained document (JSON-serializable, described in
docs/evidence.md); `render_evidence` writes it as JSON, Markdown or a printable HTML page. The
HTML and Markdown embed the full JSON, so `verify_evidence_file` checks any of the three:
first the embedded document (`verify_evidence`), then that the readable part is exactly
what that document renders to, so nobody can change what a reader sees and leave the data be.

`export_rows` and `render_rows` are the other export: one row per record, for spreadsheets
(CSV) and backups (JSON Lines).

Where each part lives:

- document.py: the format's constants, the check report, event hashing, replaying events;
- build.py: the document from the database;
- check.py: every check on a document alone, no database, no Slack;
- sealed.py: the checks that tie the events to the checkpoints (the record's own chain, the
  inclusion proofs, the record's leaf in the records tree: its whole history);
- view.py and render.py: what the templates print, and the JSON, Markdown and HTML files;
- files.py: reading a file back and checking its readable part against its data;
- rows.py: one row per record, CSV and JSON Lines.
"""

from bot.evidence.build import Names, build_evidence, word_changes
from bot.evidence.check import verify_evidence
from bot.evidence.document import FORMAT, NOT_COVERED, Check, Document, Event, EvidenceReport
from bot.evidence.files import (
    DamagedEvidence,
    NotEvidence,
    read_evidence,
    verify_evidence_file,
)
from bot.evidence.render import (
    EMBED_ID,
    LAYOUT,
    LAYOUT_PREFIX,
    LEGACY_LAYOUT,
    DocumentFormat,
    document_json,
    md_inline,
    md_quote,
    render_evidence,
)
from bot.evidence.rows import ROW_FIELDS, RowFormat, export_rows, render_rows
from bot.evidence.view import when

__all__ = [
    "EMBED_ID",
    "FORMAT",
    "LAYOUT",
    "LAYOUT_PREFIX",
    "LEGACY_LAYOUT",
    "NOT_COVERED",
    "ROW_FIELDS",
    "Check",
    "DamagedEvidence",
    "Document",
    "DocumentFormat",
    "Event",
    "EvidenceReport",
    "Names",
    "NotEvidence",
    "RowFormat",
    "build_evidence",
    "document_json",
    "export_rows",
    "md_inline",
    "md_quote",
    "read_evidence",
    "render_evidence",
    "render_rows",
    "verify_evidence",
    "verify_evidence_file",
    "when",
    "word_changes",
]
