"""The ledger's hashes: what an event's hash covers, and the one textual form of a time."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.ledger import hashchain
from bot.models import AuditEvent


def _event(seq: int, prev: str, payload: dict[str, str]) -> AuditEvent:
    return AuditEvent(
        team_id="T0ACME0001",
        seq=seq,
        type="captured",
        actor_id="U0ALICE001",
        at=datetime(2026, 11, 26, 9, 30, 0, 123456, tzinfo=UTC),
        payload=payload,
        prev_hash=prev,
    )


def test_event_hash_covers_content_and_predecessor() -> None:
    first = _event(1, hashchain.GENESIS_HASH, {"text": "请改"})
    digest = hashchain.event_hash(first, 1)
    assert digest == hashchain.event_hash(_event(1, hashchain.GENESIS_HASH, {"text": "请改"}), 1)
    assert len(digest) == 64
    assert digest != hashchain.event_hash(_event(1, hashchain.GENESIS_HASH, {"text": "请改!"}), 1)
    assert digest != hashchain.event_hash(_event(1, "f" * 64, {"text": "请改"}), 1)
    assert digest != hashchain.event_hash(_event(2, hashchain.GENESIS_HASH, {"text": "请改"}), 1)
    assert digest != hashchain.event_hash(first, 2)
    assert hashchain.canonical_bytes({"b": 1, "a": "改"}) == '{"a":"改","b":1}'.encode()


def test_iso_utc_is_z_terminated_with_microseconds() -> None:
    moment = datetime(2026, 11, 26, 17, 30, tzinfo=UTC) + timedelta(microseconds=5)
    assert hashchain.iso_utc(moment) == "2026-11-26T17:30:00.000005Z"


@given(
    payload=st.dictionaries(
        st.text(),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=5,
    ),
    actor=st.text(),
    event_type=st.text(),
    team=st.text(),
    record=st.none() | st.integers(min_value=0, max_value=10**9),
)
def test_hash_from_stored_json_equals_hash_from_content(
    payload: dict[str, object], actor: str, event_type: str, team: str, record: int | None
) -> None:
    """`verify` hashes the payload as stored; that must be the very hash `append` made."""
    at = datetime(2026, 11, 26, 9, 30, 0, 1, tzinfo=UTC)
    content = {
        "team_id": team,
        "seq": 7,
        "record": record,
        "type": event_type,
        "actor": actor,
        "at": hashchain.iso_utc(at),
        "payload": payload,
        "prev": "ab" * 32,
    }
    by_content = hashlib.sha256(hashchain.canonical_bytes(content)).hexdigest()
    by_json = hashchain.content_hash_of_json(
        team, 7, record, event_type, actor, at, hashchain.canonical_json(payload), "ab" * 32
    )
    assert by_json == by_content
