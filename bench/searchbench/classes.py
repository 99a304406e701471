"""The kinds of search timed, the line a person types for each (after `/confirm search`), and
the bare query the index serves for it, timed beside the search path as its floor.

The bare query is what the index alone does for that line: the ten newest matching ids, with
no access check and no loading of records. On SQLite a word of three characters or more is
an FTS5 MATCH on `records_fts` (when the schema has that table), a shorter one the LIKE the
search falls back to; on PostgreSQL it is an ILIKE, which pg_trgm's index serves.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, inspect

from bot.records.search import Query
from bot.slack.query import parse_query

from . import texts
from .people import Population

SHOWN = 10
COMMON = "please"


@dataclass(frozen=True)
class Case:
    person: str
    line: str

    @property
    def query(self) -> Query:
        return parse_query(self.line)


def _lines(
    population: Population, rng: random.Random, hosts: int
) -> dict[str, Callable[[str], str]]:
    """For each class, how one person's line is written."""
    unused_hosts: list[int] = []

    def rare(_person: str) -> str:
        # A different host each time, until every one has been searched for.
        if not unused_hosts:
            unused_hosts.extend(rng.sample(range(hosts), hosts))
        return texts.host_name(unused_hosts.pop())

    def in_a_month(_person: str) -> str:
        # "the confirmation from March": a month of the data's (2025-01 to 2026-11).
        year, month = divmod(rng.randrange(2025 * 12, 2026 * 12 + 10), 12)
        after = f"{year}-{month + 1:02d}-01"
        year, month = divmod(year * 12 + month + 1, 12)
        return f"{COMMON} after:{after} before:{year}-{month + 1:02d}-01"

    def in_channel(person: str) -> str:
        channel = rng.choice(population.channels_of[person])
        return f"in:<#{channel}|{population.channel_names[channel]}>"

    return {
        "cjk4": lambda _person: "负载均衡",
        "rare": rare,
        "common": lambda _person: COMMON,
        "word+status": lambda _person: f"{COMMON} status:pending",
        "word+from": lambda _person: f"{COMMON} from:<@{rng.choice(population.people)}>",
        "in-channel": in_channel,
        "cjk2": lambda _person: "规则",
        "word+month": in_a_month,
    }


CLASSES = (
    "cjk4",
    "rare",
    "common",
    "word+status",
    "word+from",
    "in-channel",
    "cjk2",
    "word+month",
)


def timed_cases(
    population: Population, rng: random.Random, hosts: int, count: int
) -> dict[str, list[Case]]:
    """`count` searches per class, each by a person chosen at random."""
    lines = _lines(population, rng, hosts)
    cases: dict[str, list[Case]] = {}
    for name in CLASSES:
        people = [rng.choice(population.people) for _ in range(count)]
        cases[name] = [Case(person, lines[name](person)) for person in people]
    return cases


def checked_cases(
    population: Population, rng: random.Random, hosts: int, count: int
) -> dict[str, list[Case]]:
    """`count` searches per class to check for completeness: a third by people in at most
    three channels (whom a search that only looks at the newest matches fails first), a
    third by people in 4-10, a third by anyone."""
    lines = _lines(population, rng, hosts)
    few = population.with_few_channels(3)
    some = [p for p in population.with_few_channels(10) if len(population.channels_of[p]) > 3]
    cases: dict[str, list[Case]] = {}
    for name in CLASSES:
        pools = [few, some, population.people]
        people = [rng.choice(pools[n * 3 // count]) for n in range(count)]
        cases[name] = [Case(person, lines[name](person)) for person in people]
    return cases


class BareQueries:
    """The bare index query for a line, in this database's dialect."""

    def __init__(self, connection: Connection) -> None:
        self._sqlite = connection.dialect.name == "sqlite"
        self._fts = self._sqlite and inspect(connection).has_table("records_fts")
        # Words of one or two characters as the rewrite indexes them (records.search_terms).
        self._terms = "search_terms" in {
            c["name"] for c in inspect(connection).get_columns("records")
        }

    def statement(self, query: Query) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {}
        filters: list[str] = []
        indexed = [word for word in query.words if self._fts and len(word) >= 3]
        short = [word for word in query.words if self._terms and len(word) < 3]
        if short and self._sqlite:
            params["terms"] = " ".join('"' + w.lower() + '"' for w in short)
            return (
                "SELECT rowid FROM records_terms WHERE records_terms MATCH :terms"
                f" ORDER BY rowid DESC LIMIT {SHOWN}",
                params,
            )
        if short:
            params["terms"] = [w.lower() for w in short]
            filters.append("string_to_array(records.search_terms, ' ') @> CAST(:terms AS text[])")
        for n, word in enumerate(w for w in query.words if w not in indexed and w not in short):
            params[f"w{n}"] = "%" + _escape_like(word) + "%"
            filters.append(
                f"lower(records.text) LIKE lower(:w{n}) ESCAPE '\\'"
                if self._sqlite
                else f"records.text ILIKE :w{n} ESCAPE '\\'"
            )
        for column, values in (("status", query.statuses), ("risk", query.risks)):
            if values:
                names = [f"{column}{n}" for n in range(len(values))]
                params.update(zip(names, values, strict=True))
                filters.append(f"records.{column} IN ({', '.join(':' + n for n in names)})")
        if query.requester_id:
            params["requester"] = query.requester_id
            filters.append(
                "EXISTS (SELECT 1 FROM record_requesters WHERE record_requesters.record_id ="
                " records.id AND record_requesters.user_id = :requester)"
            )
        for column, value in (("owner_id", query.owner_id), ("channel_id", query.channel_id)):
            if value:
                params[column] = value
                filters.append(f"records.{column} = :{column}")
        for name, value, operator in (("before", query.before, "<"), ("after", query.after, ">=")):
            if value:
                params[name] = value.replace(tzinfo=None)
                filters.append(f"records.created_at {operator} :{name}")
        if indexed:
            params["phrase"] = " ".join('"' + w.replace('"', '""') + '"' for w in indexed)
            if not filters:
                return (
                    "SELECT rowid FROM records_fts WHERE records_fts MATCH :phrase"
                    f" ORDER BY rowid DESC LIMIT {SHOWN}",
                    params,
                )
            return (
                "SELECT records.id FROM records_fts JOIN records ON records.id ="
                " records_fts.rowid WHERE records_fts MATCH :phrase AND "
                + " AND ".join(filters)
                + f" ORDER BY records_fts.rowid DESC LIMIT {SHOWN}",
                params,
            )
        where = " WHERE " + " AND ".join(filters) if filters else ""
        order = f" ORDER BY records.id DESC LIMIT {SHOWN}"
        return f"SELECT records.id FROM records{where}{order}", params


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
