"""What changed between two revisions of a record's text, in pieces a person can read.

The text is cut into tokens a reader takes as one thing: a date (2026-03-01), a time (10:00),
a number (30, 1.5, 12,000), a word, and each Chinese or Japanese character on its own (those
languages put no spaces between words). The pieces are exact substrings, so nothing is added
between them: shown one after the other they spell the texts as written.
"""

from __future__ import annotations

import difflib
import re
from typing import Literal

Op = Literal["equal", "delete", "insert"]
Piece = tuple[Op, str]

# Han (with its extensions and compatibility forms) and kana: one character, one token.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_TOKENS = re.compile(
    r"\d{4}-\d{1,2}-\d{1,2}"  # a date
    r"|\d{1,2}:\d{2}(?::\d{2})?"  # a time
    r"|\d+(?:[.,]\d+)*"  # a number, with its decimals or thousands
    rf"|[{_CJK}]"
    rf"|[^\W\d_{_CJK}][^\W{_CJK}]*"  # a word: a letter, then letters, digits or _
    r"|\s+"
    r"|.",
    re.DOTALL,
)


def tokens(text: str) -> list[str]:
    """`text` cut into tokens; joined, they are `text` again."""
    return _TOKENS.findall(text)


def word_changes(before: str, after: str) -> list[Piece]:
    """The change from `before` to `after`: equal and deleted pieces spell `before`, equal
    and inserted pieces spell `after`. In each changed stretch the deletion comes first."""
    old, new = tokens(before), tokens(after)
    # difflib's "autojunk" heuristic keeps this near-linear; without it, text that repeats a
    # short token takes time cubic in its length (an amendment must never stall a worker).
    opcodes = difflib.SequenceMatcher(None, old, new).get_opcodes()
    stretches: list[tuple[str, str, str]] = [
        (op, "".join(old[a1:a2]), "".join(new[b1:b2])) for op, a1, a2, b1, b2 in opcodes
    ]
    pieces: list[Piece] = []
    deleted, inserted = "", ""
    for i, (op, removed, added) in enumerate(stretches):
        between_changes = 0 < i < len(stretches) - 1
        if op == "equal" and not (between_changes and removed.isspace()):
            if deleted or inserted:
                pieces.extend(_changed(deleted, inserted))
                deleted, inserted = "", ""
            pieces.append(("equal", removed))
            continue
        # A lone space between two changes reads better inside them: "~reboot the~ *restart
        # both*" rather than a strike and a bold word on either side of each space.
        deleted, inserted = deleted + removed, inserted + added
    pieces.extend(_changed(deleted, inserted))
    return pieces


def _changed(deleted: str, inserted: str) -> list[Piece]:
    pieces: list[Piece] = []
    if deleted:
        pieces.append(("delete", deleted))
    if inserted:
        pieces.append(("insert", inserted))
    return pieces
