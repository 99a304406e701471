"""Words found the same way on SQLite and on PostgreSQL, whatever their script and case, and
lines that are not words at all (review of issue 17's search)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, insert, text

from bot import db
from bot.db import make_engine, unit_of_work
from bot.ledger import hashchain
from bot.models import Record, search_terms
from bot.records import search
from bot.records.search import Viewer
from bot.slack.query import parse_query
from tests.conftest import TEAM
from tests.support import ManualClock

TEXTS = [
    "İstanbul toplantısı yarın",  # 1: Turkish capital I with a dot
    "ΟΔΟΣ ΑΘΗΝΑΣ κλειστή",  # 2: Greek capitals, a final sigma when lowered
    "please deploy NEAR prod",  # 3
    "100% sure, a_b and back\\slash",  # 4
    'say "hi" now',  # 5
]
VIEWER = Viewer("U0VIEWER01", frozenset({"C0CHAN0001"}))


@pytest.fixture
def written(database_url: str, clock: ManualClock) -> Iterator[Engine]:
    engine = make_engine(database_url)
    with unit_of_work(db.make_session_factory(engine)) as session:
        hashchain.lock_workspace(session, TEAM, clock.now())
    rows = [
        {
            "id": n + 1,
            "team_id": TEAM,
            "number": n + 1,
            "text": words,
            "search_terms": search_terms(words),
            "captured_by_id": "U0ALICE001",
            "owner_id": "U0ALICE001",
            "channel_id": "C0CHAN0001",
            "created_at": clock.now() + timedelta(seconds=n),
        }
        for n, words in enumerate(TEXTS)
    ]
    with engine.begin() as connection:
        connection.execute(insert(Record), rows)
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT setval('records_id_seq', 100)"))
    yield engine
    engine.dispose()


def _found(engine: Engine, line: str) -> list[int]:
    with db.make_session_factory(engine)() as session:
        return [r.id for r in search.newest(session, TEAM, parse_query(line), VIEWER, 10)]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("İstanbul", [1]),  # typed as written
        ("ΟΔΟΣ", [2]),
        ("ΑΘΗΝΑΣ", [2]),
        ("κλειστή", [2]),
        ("οδος", [2]),  # lowercase, as people type it
        ("αθηνασ", [2]),
        ("Toplantısı", [1]),
    ],
)
@pytest.mark.parametrize("plan", [{}, {"WINDOW": 1, "PROBED": 1}])
def test_a_word_typed_as_it_is_written_is_found_on_either_database(
    written: Engine,
    monkeypatch: pytest.MonkeyPatch,
    line: str,
    expected: list[int],
    plan: dict[str, int],
) -> None:
    """Whether the newest records are read or the text indexes asked (`plan`), and by the
    command line's `matching` too."""
    for name, value in plan.items():
        monkeypatch.setattr(search, name, value)
    assert _found(written, line) == expected
    with db.make_session_factory(written)() as session:
        listed = search.matching(session, TEAM, parse_query(line), None)
        assert list(session.execute(listed).scalars()) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('"hi"', [5]),
        ('"', []),
        ("NEAR", [3]),
        ("de*", []),
        ("-prod", []),
        ("^please", []),
        ("text:deploy", []),
        ("100%", [4]),
        ("a_b", [4]),
        ("back\\slash", [4]),
        ("%%%", []),
        ("\\\\\\", []),
        ("x" * 3000, []),
    ],
)
def test_fts_and_like_syntax_is_only_text(written: Engine, line: str, expected: list[int]) -> None:
    assert _found(written, line) == expected
