"""How fast `/confirm search` finds records in a large workspace, against the bare index query
for the same line; and whether it finds all it should.

    python bench/search.py --records 20000 --searches 100 --check 10     # a quick look, ~1 min
    python bench/search.py                                   # 1,000,000 records, SQLite
    python bench/search.py --searches 100 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/DB
    python bench/search.py --database-file /tmp/search.db --reuse        # load once, time again

The workspace: 200 channels, 2,000 people (most in 2-10 channels, some in 30 or more, a few
in 100 or more), N records (default 1,000,000), each captured in a channel by a member, with
1-2 requesters and an owner from that channel; statuses and risks spread as in real use.
Texts are instructions from templates, half English, half Chinese: "please" is in about a
quarter of them, each host name (`edge-0042`) in a few dozen, 负载均衡 in about 3%, 规则
(two characters) in about 4%. They are written in bulk (Core executemany), then analyzed.

Eight classes of search, each line typed by a person chosen at random (seeded): `cjk4`
负载均衡, `rare` a host name (another each time), `common` please, `word+status` please
status:pending, `word+from` please from:@someone, `in-channel` in:#a channel of theirs alone,
`cjk2` 规则, `word+month` please after:<a month's first day> before:<the next month's>.
Each search runs the whole path, `Finder.search(user_id, line)`: parse, query, access check,
top ten; Slack is a fake that answers from the generated membership (who is in
a channel, which channels a person is in), its cache warmed before the timing. Right after
each search, the bare query the index serves for that line is timed (the ten newest matching
ids, no access check: see searchbench/classes.py). The ratio of the two p95s is what to
read: these machines are noisy.

Then completeness: for a sample of searches (a third by people in at most 3 channels) the ten
newest records the person may see are found by brute force and compared with what the
search returned. `--explain` prints the plan of each class's slowest statement.

On PostgreSQL the records go into a schema of their own, `sayso_bench_search` (dropped and
made again at the start, dropped at the end unless --keep): other tables are never touched.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parent))

from searchbench import TEAM, log
from searchbench.classes import CLASSES, BareQueries, Case, checked_cases, timed_cases
from searchbench.completeness import BruteForce, Tally
from searchbench.loading import Database, Loaded, created_at, load, postgres, stored_records
from searchbench.people import FakeSlack, FixedClock, Population, populate
from searchbench.texts import host_count, host_name
from searchbench.timing import Figures, Statements, percentile, plans, time_class

from bot.db import make_engine, make_session_factory, read_only
from bot.slack.gateway import SlackGateway
from bot.usecases.lookup import Audience, Finder


@dataclass(frozen=True)
class ChannelProbe:
    """A record of that channel with nobody's name on it: asking whether a stranger may see
    it makes the Finder look the channel's members up."""

    channel_id: str
    requester_ids: tuple[str, ...] = ()
    captured_by_id: str = ""
    owner_id: str = ""


def main() -> None:
    args = _parse_args()
    population = populate(args.seed)
    with tempfile.TemporaryDirectory() as scratch:
        database = _database(args, Path(scratch))
        try:
            loaded = _loaded(args, database, population)
            _run(args, database.url, population, loaded)
        finally:
            if database.drop is not None and not args.keep:
                database.drop()


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--searches", type=int, default=1_000, help="timed, per class")
    parser.add_argument("--check", type=int, default=30, help="checked by brute force, per class")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=None, help="PostgreSQL; default SQLite")
    parser.add_argument("--database-file", type=Path, default=None, help="SQLite file (kept)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time a database this bench loaded with as many records, at the same migration",
    )
    parser.add_argument("--explain", action="store_true", help="print each class's plans")
    return parser.parse_args()


def _database(args: argparse.Namespace, scratch: Path) -> Database:
    if args.database_url:
        fresh = not (args.reuse and _has_records(postgres(args.database_url, False).url, args))
        return postgres(args.database_url, fresh)
    path = args.database_file or (Path.cwd() if args.keep else scratch) / "search-bench.db"
    url = f"sqlite:///{path}"
    if path.exists() and not (args.reuse and _has_records(url, args)):
        for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            stale.unlink(missing_ok=True)
    return Database(url, None)


def _has_records(url: str, args: argparse.Namespace) -> bool:
    return stored_records(url) == int(args.records)


def _loaded(args: argparse.Namespace, database: Database, population: Population) -> Loaded | None:
    if args.reuse and _has_records(database.url, args):
        log(f"reusing the {args.records:,} records already stored")
        return None
    log(f"writing {args.records:,} records ...")
    return load(database.url, population, args.records, args.seed + 1)


def _run(args: argparse.Namespace, url: str, population: Population, loaded: Loaded | None) -> None:
    engine = make_engine(url)
    slack = FakeSlack(population)
    clock = FixedClock(created_at(args.records) + timedelta(hours=1))
    finder = Finder(make_session_factory(engine), cast(SlackGateway, slack), clock, TEAM)
    statements = Statements(engine)
    hosts = host_count(args.records)
    rng = random.Random(args.seed + 2)
    timed = timed_cases(population, rng, hosts, args.searches)
    checked = checked_cases(population, rng, hosts, args.check)
    with read_only(make_engine(url)).connect() as connection:
        bare = BareQueries(connection)
        connection.rollback()
        _warm(finder, population, [*_all(timed), *_all(checked)], host_name(0))
        figures: dict[str, Figures] = {}
        for name in CLASSES:
            log(f"timing {name} ({args.searches} searches) ...")
            _warm_class(finder, timed[name][0])
            figures[name] = time_class(finder, statements, slack, bare, connection, timed[name])
        log("checking completeness ...")
        brute = BruteForce(connection, population)
        tallies = {name: _check(finder, brute, population, checked[name]) for name in CLASSES}
        explained = (
            [plans(finder, statements, bare, connection, timed[name][0]) for name in CLASSES]
            if args.explain
            else []
        )
    engine.dispose()
    _report(args, engine.dialect.name, loaded, figures, tallies)
    for plan in explained:
        print("\n" + plan)


def _all(cases: dict[str, list[Case]]) -> list[Case]:
    return [case for listed in cases.values() for case in listed]


def _warm(finder: Finder, population: Population, cases: list[Case], rare_word: str) -> None:
    """Membership as the Finder caches it, before any timing: every channel's members (asked
    by today's search), then one untimed search of a rare word per person (the rewritten
    search asks for the person's channels)."""
    if hasattr(finder, "may_see"):
        for channel in population.channels:
            finder.may_see(Audience(user_id="U0NOBODY"), ChannelProbe(channel))
    people = sorted({case.person for case in cases})
    log(f"warming the membership cache: {len(people)} people ...")
    for person in people:
        finder.search(person, rare_word)


def _warm_class(finder: Finder, case: Case) -> None:
    """One search of the class untimed: the statements compiled, its pages read once."""
    finder.search(case.person, case.line)


def _check(finder: Finder, brute: BruteForce, population: Population, cases: list[Case]) -> Tally:
    tally = Tally()
    for case in cases:
        returned = [found.record.number for found in finder.search(case.person, case.line)]
        expected = brute.newest_visible(case.person, case.query)  # number = id: one team
        tally.checked += 1
        if returned != expected:
            tally.differed += 1
            if len(tally.examples) < 2:
                tally.examples.append(
                    f"{case.person} ({len(population.channels_of[case.person])} channels)"
                    f" {case.line!r}: returned {len(returned)}, expected {len(expected)}"
                )
        if len(returned) < len(expected):
            tally.fewer += 1
            if len(population.channels_of[case.person]) <= 3:
                tally.fewer_few_channels += 1
    return tally


def _report(
    args: argparse.Namespace,
    dialect: str,
    loaded: Loaded | None,
    figures: dict[str, Figures],
    tallies: dict[str, Tally],
) -> None:
    database = "SQLite" if dialect == "sqlite" else "PostgreSQL"
    print(f"\n{database}, {args.records:,} records, seed {args.seed}")
    if loaded is None:
        print("load: reused a database this bench loaded before (--reuse)")
    else:
        shares = ", ".join(
            f"{word} {count / args.records:.1%}" for word, count in loaded.containing.items()
        )
        print(
            f"load: {loaded.seconds:.0f} s ({loaded.generating_seconds:.0f} s of it generating"
            f" rows), then {loaded.analyzed} in {loaded.analyze_seconds:.1f} s"
        )
        members = "no such table" if loaded.memberships is None else f"{loaded.memberships:,}"
        derived = "merged" if loaded.derived_columns else "none (no search.indexed_columns)"
        print(f"texts containing: {shares}; derived columns: {derived}; ChannelMember: {members}")
    calls = sum(f.slack_calls for f in figures.values())
    print(
        f"\n{args.searches} searches per class, Finder reused, membership cache warmed"
        f" (Slack calls during the timed searches: {calls}); times in ms\n"
    )
    print(
        "| class | search p50 | p95 | p99 | bare p50 | p95 | p99 | p95 search/bare"
        " | statements/search | shown/search |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, f in figures.items():
        search = [percentile(f.search_ms, q) for q in (0.5, 0.95, 0.99)]
        bare = [percentile(f.bare_ms, q) for q in (0.5, 0.95, 0.99)]
        count = len(f.search_ms)
        print(
            f"| {name} | {' | '.join(_ms(v) for v in search)} | {' | '.join(_ms(v) for v in bare)}"
            f" | {search[1] / bare[1]:.1f} | {f.statements / count:.1f} | {f.shown / count:.1f} |"
        )
    print(
        f"\ncompleteness, {args.check} searches per class (a third by people in at most 3"
        " channels, a third in 4-10, a third anyone), against brute force:\n"
    )
    print("| class | checked | fewer than brute force | differed | fewer, people in <= 3 ch. |")
    print("|---|---:|---:|---:|---:|")
    for name, t in tallies.items():
        print(f"| {name} | {t.checked} | {t.fewer} | {t.differed} | {t.fewer_few_channels} |")
    total = Tally(
        checked=sum(t.checked for t in tallies.values()),
        fewer=sum(t.fewer for t in tallies.values()),
        differed=sum(t.differed for t in tallies.values()),
        fewer_few_channels=sum(t.fewer_few_channels for t in tallies.values()),
    )
    print(
        f"| all | {total.checked} | {total.fewer} | {total.differed} | {total.fewer_few_channels} |"
    )
    examples = [example for t in tallies.values() for example in t.examples]
    if examples:
        print("\nfor example:\n" + "\n".join("  " + example for example in examples[:6]))


def _ms(value: float) -> str:
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


if __name__ == "__main__":
    main()
