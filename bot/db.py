"""Engine and unit of work. Nothing here runs at import time."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import IO, Any, Generic, TypeVar, cast

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

T = TypeVar("T")

# The outbox claims a message with UPDATE ... RETURNING (SQLite 3.35, 2021).
MIN_SQLITE = (3, 35)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 kept: one text per value. JSON columns are stored this
    way, so the ledger can hash a payload as it is stored."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    if not database_url.startswith("sqlite"):
        # One process needs a connection per request thread (4, `gunicorn_app.THREADS`), one
        # for the outbox and one for the ticker: 6, and 2 more for a burst. Connections that the
        # server or a failover closed are noticed before use, not by a failed request.
        kwargs = {"pool_size": 6, "max_overflow": 2, "pool_pre_ping": True, **kwargs}
    engine = create_engine(database_url, json_serializer=canonical_json, **kwargs)
    if engine.dialect.name == "sqlite":
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise RuntimeError(
                f"Sayso needs SQLite {'.'.join(map(str, MIN_SQLITE))} or newer (UPDATE ... "
                f"RETURNING); this Python has {sqlite3.sqlite_version}. Use a newer Python "
                "build, or PostgreSQL (DATABASE_URL=postgresql+psycopg://...)."
            )
        event.listen(engine, "connect", _sqlite_durability)
        event.listen(engine, "begin", _sqlite_begin)
        _WRITER_TURNS[engine] = WriterTurn(engine.url.database)
    return engine


class WriterTurn:
    """SQLite has one writer, and a writer that finds the file locked polls for it, sleeping
    up to 100 ms between tries: under load the waits, not the work, make the latency. So
    Sayso's writers take turns instead, handed over the moment the previous one commits:
    the threads of a process on a lock, the processes sharing the file (gunicorn's workers,
    a CLI command) on an flock of a file named after the database's."""

    def __init__(self, database: str | None) -> None:
        self._threads = threading.RLock()
        self._depth = 0
        self._path: Path | None = None
        if database and database != ":memory:":
            name = hashlib.sha256(str(Path(database).resolve()).encode()).hexdigest()[:16]
            self._path = Path(tempfile.gettempdir()) / f"sayso-writer-{name}.lock"
        self._file: IO[bytes] | None = None
        self._pid = 0

    def __enter__(self) -> None:
        self._threads.acquire()
        self._depth += 1
        if self._depth == 1 and self._path is not None:
            try:
                fcntl.flock(self._lock_file(), fcntl.LOCK_EX)
            except BaseException:
                self._depth -= 1
                self._threads.release()
                raise

    def __exit__(self, *exc_info: object) -> None:
        self._depth -= 1
        if self._depth == 0 and self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
        self._threads.release()

    def _lock_file(self) -> IO[bytes]:
        # flock belongs to an open file: a process forked from this one opens its own.
        if self._file is None or self._pid != os.getpid():
            assert self._path is not None
            self._file = open(self._path, "ab")  # noqa: SIM115  # open for the process's life
            self._pid = os.getpid()
        return self._file


_WRITER_TURNS: weakref.WeakKeyDictionary[Engine, WriterTurn] = weakref.WeakKeyDictionary()


def _sqlite_begin(connection: Any) -> None:
    if connection.get_execution_options().get("sayso_read_only"):
        # A snapshot of the last commit; it neither waits for the writer nor holds it up.
        connection.exec_driver_sql("BEGIN")
        return
    # A transaction that reads and then writes must hold the write lock from its start:
    # otherwise, in WAL mode, a concurrent commit makes its first write fail at once with
    # "database is locked" instead of waiting.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_durability(dbapi_connection: Any, _record: Any) -> None:
    # A record acknowledged to Slack must survive a power cut: WAL with a full fsync per
    # commit; wait for the single writer instead of failing with "database is locked".
    # Let SQLAlchemy's "begin" event issue BEGIN itself (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# Below this many records any plan is fast, and statistics would only be noise.
ANALYZE_FROM = 1000


def keep_statistics(engine: Engine) -> None:
    """The planner's statistics kept current as the records grow: without them SQLite chose
    a two-second plan for a search that takes a millisecond. The tables searches read are
    analyzed again when they were never analyzed or have changed by more rows than they had
    then. On SQLite that is the whole database, read whole (6 s at a million records, once
    each time they double): statistics read from a sample, as PRAGMA optimize takes them,
    count a workspace's records as no more than the sample, and the planner then reads a
    whole index for one workspace instead of walking its newest ids. On PostgreSQL, whose
    autovacuum may be off, the tables themselves."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            for table, live, changed, analyzed in connection.exec_driver_sql(
                "SELECT relname, n_live_tup, n_mod_since_analyze, "
                "coalesce(last_analyze, last_autoanalyze) IS NOT NULL FROM pg_stat_user_tables "
                "WHERE schemaname = current_schema() AND relname IN ('records', "
                "'record_requesters')"
            ):
                if changed >= ANALYZE_FROM and (not analyzed or changed > live // 2):
                    connection.exec_driver_sql(f"ANALYZE {table}")
        return
    if engine.dialect.name != "sqlite":
        return
    with engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA analysis_limit=0")
        records = connection.exec_driver_sql("SELECT max(id) FROM records").scalar() or 0
        analyzed = 0
        if connection.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
        ).first():
            stat = connection.exec_driver_sql(
                "SELECT stat FROM sqlite_stat1 WHERE tbl = 'records' LIMIT 1"
            ).scalar()
            analyzed = int(str(stat).split()[0]) if stat else 0
        if records >= 2 * max(analyzed, ANALYZE_FROM // 2):
            connection.exec_driver_sql("ANALYZE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    engine = _engine_of(session_factory)
    with (
        _WRITER_TURNS.get(engine) or nullcontext(),
        session_factory() as session,
        session.begin(),
    ):
        yield session


@contextmanager
def transaction(session_factory: sessionmaker[Session]) -> Iterator[DriverTransaction]:
    """One short transaction on the driver's own connection, for the ack path (`intake`,
    through commit_together): committed when the block ends, rolled back if it raises;
    writers take turns as in unit_of_work. Its statements are Core's, compiled once per
    engine's dialect and bound as SQLAlchemy binds them. Only SQLAlchemy's execution is left
    out (a Connection, its transaction, an execution context and a result per statement),
    which cost the ack more than its statements did (the ack-path benchmark). Driver errors are
    raised as SQLAlchemy's."""
    engine = _engine_of(session_factory)
    with _WRITER_TURNS.get(engine) or nullcontext():
        # From the pool, checked as any connection is (pool_pre_ping), and reset on return.
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            if engine.dialect.name == "sqlite":
                # What _sqlite_begin says for a writer; PostgreSQL's driver begins by itself.
                cursor.execute("BEGIN IMMEDIATE")
            yield DriverTransaction(engine.dialect, cursor)
            connection.commit()
        except engine.dialect.loaded_dbapi.Error as error:
            _roll_back(connection)
            raise DBAPIError.instance(
                None, None, error, engine.dialect.loaded_dbapi.Error, dialect=engine.dialect
            ) from error
        except BaseException:
            _roll_back(connection)
            raise
        finally:
            connection.close()


def commit_together(
    session_factory: sessionmaker[Session], work: Callable[[DriverTransaction], T]
) -> T:
    """Runs `work` in a transaction (as `transaction` does) and returns what it returns once
    that is committed. Works that arrive while another commit is under way wait for it, then
    share the next one: one transaction, one fsync, one turn of the writer. So under a burst
    of acks the commits keep pace with the requests (group commit), and alone an ack commits
    at once, as before. A work that fails gets its own error and nothing it did is kept; the
    others in its group are carried out again, each in a transaction of its own, so `work`
    must only run statements."""
    engine = _engine_of(session_factory)
    group = _COMMIT_GROUPS.get(engine) or _COMMIT_GROUPS.setdefault(engine, _CommitGroup())
    return group.run(session_factory, work)


class _Work(Generic[T]):
    def __init__(self, run: Callable[[DriverTransaction], T]) -> None:
        self.run = run
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None

    def settle(self, result: T | None = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.done = result, error, True

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return cast(T, self.result)


class _CommitGroup:
    """Per engine; it holds no reference to it, so the engine can go."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._waiting: list[_Work[Any]] = []
        self._committing = False

    def run(
        self, session_factory: sessionmaker[Session], work: Callable[[DriverTransaction], T]
    ) -> T:
        mine = _Work(work)
        with self._changed:
            self._waiting.append(mine)
            while self._committing and not mine.done:
                self._changed.wait()
            if mine.done:  # committed (or failed) in the group another thread led
                return mine.outcome()
            self._committing = True
            group, self._waiting = self._waiting, []
        try:
            self._commit(session_factory, group)
        finally:
            with self._changed:
                self._committing = False
                self._changed.notify_all()
        return mine.outcome()

    def _commit(self, session_factory: sessionmaker[Session], group: list[_Work[Any]]) -> None:
        try:
            with transaction(session_factory) as turn:
                results = [work.run(turn) for work in group]
        except Exception as error:
            if len(group) == 1:
                group[0].settle(error=error)
                return
            # Whose failure it was is not known; alone, each meets only its own.
            for work in group:
                self._commit(session_factory, [work])
            return
        except BaseException as error:  # interrupted: nothing was committed
            for work in group:
                work.settle(error=error)
            raise
        for work, result in zip(group, results, strict=True):
            work.settle(result)


_COMMIT_GROUPS: weakref.WeakKeyDictionary[Engine, _CommitGroup] = weakref.WeakKeyDictionary()


def _roll_back(connection: Any) -> None:
    try:
        connection.rollback()
    except Exception:
        # A connection that cannot even roll back (the server went away) is thrown away here,
        # not left to fail the pool's reset too (a second traceback in the log); the error
        # that brought us here is the one raised.
        connection.invalidate()


class DriverTransaction:
    def __init__(self, dialect: Dialect, cursor: Any) -> None:
        self._dialect = dialect
        self._cursor = cursor
        self.dialect_name: str = dialect.name

    def execute(self, statement: ClauseElement, values: Mapping[str, Any]) -> Any:
        """Runs `statement` (built once, at import) with `values`; returns the driver's
        cursor, to fetch what it returns."""
        compiled = _compiled_for(self._dialect, statement, tuple(values))
        compiled.run(self._cursor, values)
        return self._cursor


class _DriverStatement:
    """A statement compiled for one dialect, and the conversions SQLAlchemy applies to its
    values on the way to the driver (JSON, dates, booleans)."""

    def __init__(self, dialect: Dialect, statement: ClauseElement, keys: tuple[str, ...]) -> None:
        self._compiled = cast(
            SQLCompiler, statement.compile(dialect=dialect, column_keys=list(keys))
        )
        self._sql = self._compiled.string
        self._order = self._compiled.positiontup  # None for named parameters (PostgreSQL)
        self._conversions = [
            (name, convert)
            for name, bind in self._compiled.binds.items()
            if (convert := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        ]

    def run(self, cursor: Any, values: Mapping[str, Any]) -> None:
        bound = self._compiled.construct_params(dict(values)) or {}
        for name, convert in self._conversions:
            if name in bound:
                bound[name] = convert(bound[name])
        if self._order is None:
            cursor.execute(self._sql, bound)
        else:
            cursor.execute(self._sql, tuple(bound[name] for name in self._order))


# Keyed by the statement's id: the statement is kept beside its compiled form, so no other
# object can take that id while the entry lives. Kept on the dialect itself: a compiled
# statement refers to its dialect, so in a weak mapping keyed by the dialect it held the
# dialect alive for good; on the dialect they go together, with its engine.
_COMPILED = "_sayso_driver_statements"
_COMPILING = threading.Lock()


def _compiled_for(
    dialect: Dialect, statement: ClauseElement, keys: tuple[str, ...]
) -> _DriverStatement:
    compiled_here: dict[tuple[int, tuple[str, ...]], tuple[ClauseElement, _DriverStatement]]
    compiled_here = getattr(dialect, _COMPILED, {})
    found = compiled_here.get((id(statement), keys))
    if found is not None:
        return found[1]
    compiled = _DriverStatement(dialect, statement, keys)
    with _COMPILING:
        compiled_here = dialect.__dict__.setdefault(_COMPILED, {})
        compiled_here[(id(statement), keys)] = (statement, compiled)
    return compiled


@contextmanager
def reading(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction that only reads: on SQLite it takes no write lock."""
    engine = _engine_of(session_factory)
    with session_factory(bind=read_only(engine)) as session, session.begin():
        yield session


def read_only(engine: Engine) -> Engine:
    """The same engine for connections that only read (on SQLite: no write lock). Made on
    each call (a few microseconds): kept in a weak mapping beside the engine, it held the
    engine, and so the engine itself, alive for good."""
    return engine.execution_options(sayso_read_only=True)


def _engine_of(session_factory: sessionmaker[Session]) -> Engine:
    engine = session_factory.kw.get("bind")
    assert isinstance(engine, Engine), "session factories are made by make_session_factory"
    return engine
