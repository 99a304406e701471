"""Kept so that `from bot.evidence_check import ...` goes on working: checking an evidence
document without the database lives in bot/evidence/check.py, its format in
bot/evidence/document.py."""

from bot.evidence.check import verify_evidence
from bot.evidence.document import (
    ANSWER_TYPES,
    FORMAT,
    FORMAT_PREFIX,
    HASH_RULE,
    NOT_SEALED,
    SEALED,
    TEXT_TYPES,
    Check,
    Document,
    Event,
    EvidenceReport,
    History,
    canonical_event,
    event_content,
    event_digest,
    replay,
    thread_digest,
)

__all__ = [
    "ANSWER_TYPES",
    "FORMAT",
    "FORMAT_PREFIX",
    "HASH_RULE",
    "NOT_SEALED",
    "SEALED",
    "TEXT_TYPES",
    "Check",
    "Document",
    "Event",
    "EvidenceReport",
    "History",
    "canonical_event",
    "event_content",
    "event_digest",
    "replay",
    "thread_digest",
    "verify_evidence",
]
