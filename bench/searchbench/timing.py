"""Searches and bare queries timed in turn; the statements a search runs, and their plans.

Each search is timed through the whole path a person's `/confirm search` takes once the
command is parsed: `Finder.search(user_id, line)` (parse, query, access check, top ten).
Right after it, the bare index query for the same line is timed on a connection kept open:
the two share the machine's state of the moment, which drifts over minutes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, event, text

from bot.usecases.lookup import Finder

from .classes import BareQueries, Case
from .people import FakeSlack


@dataclass
class Figures:
    search_ms: list[float] = field(default_factory=list)
    bare_ms: list[float] = field(default_factory=list)
    statements: int = 0  # run by the timed searches
    shown: int = 0  # results the timed searches returned
    slack_calls: int = 0  # made by the timed searches (0 once the cache is warm)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


class Statements:
    """Counts the statements run on an engine; captures them, with their durations, when
    asked."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        self._captured: list[tuple[str, Any, float]] | None = None
        self._started = 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *args: Any) -> None:
        self.count += 1
        self._started = time.perf_counter()

    def _after(
        self,
        _connection: Any,
        _cursor: Any,
        statement: str,
        parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        if self._captured is not None:
            self._captured.append((statement, parameters, time.perf_counter() - self._started))

    def capture(self, run: Callable[[], object]) -> list[tuple[str, Any, float]]:
        self._captured = []
        try:
            run()
            return self._captured
        finally:
            self._captured = None


def time_class(
    finder: Finder,
    statements: Statements,
    slack: FakeSlack,
    bare: BareQueries,
    connection: Connection,
    cases: list[Case],
) -> Figures:
    figures = Figures()
    calls_before = slack.calls
    for case in cases:
        counted = statements.count
        began = time.perf_counter()
        found = finder.search(case.person, case.line)
        figures.search_ms.append((time.perf_counter() - began) * 1000)
        figures.statements += statements.count - counted
        figures.shown += len(found)
        sql, params = bare.statement(case.query)
        began = time.perf_counter()
        connection.execute(text(sql), params).fetchall()
        figures.bare_ms.append((time.perf_counter() - began) * 1000)
        connection.rollback()  # a fresh snapshot for the next, as each search has
    figures.slack_calls = slack.calls - calls_before
    return figures


def plans(
    finder: Finder,
    statements: Statements,
    bare: BareQueries,
    connection: Connection,
    case: Case,
) -> str:
    """The plan of the slowest statement one search runs, and of the bare query."""
    captured = statements.capture(lambda: finder.search(case.person, case.line))
    slowest, parameters, seconds = max(captured, key=lambda c: c[2])
    sql, params = bare.statement(case.query)
    lines = [
        f"search {case.line!r}: {len(captured)} statements, the slowest {seconds * 1000:.0f} ms:",
        "  " + " ".join(slowest.split()),
        *_plan(connection, slowest, parameters, driver=True),
        f"bare query: {sql}",
        *_plan(connection, sql, params, driver=False),
    ]
    connection.rollback()
    return "\n".join(lines)


def _plan(connection: Connection, sql: str, params: Any, *, driver: bool) -> list[str]:
    sqlite = connection.dialect.name == "sqlite"
    explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, BUFFERS) "
    if driver:
        rows = connection.exec_driver_sql(explain + sql, params).fetchall()
    else:
        rows = connection.execute(text(explain + sql), params).fetchall()
    if not sqlite:
        return ["    " + row[0] for row in rows]
    depth = {0: 0}
    shown = []
    for node, parent, _, detail in rows:
        depth[node] = depth.get(parent, 0) + 1
        shown.append("  " + "  " * depth[node] + str(detail))
    return shown
