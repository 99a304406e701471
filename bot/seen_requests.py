"""The Slack requests already answered, so that one sent again is refused.

Slack signs each delivery as it sends it: X-Slack-Signature is an HMAC of
`v0:{X-Slack-Request-Timestamp}:{body}`, and nothing else in the request is signed (not
X-Slack-Retry-Num, which anybody can add). So a request is new only if its signature is:
the same signature again is the same body sent with the same timestamp, whoever sends it.

The signatures live in the database (table seen_requests), so that every replica, every
gunicorn worker and a restarted server refuse the same replays. A signature is kept as long
as its timestamp could still pass the freshness check (five minutes either way of the
receiver's clock, `make_wsgi_app`'s) and a minute more, for replicas whose clocks differ a little.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from bot.db import DriverTransaction, commit_together
from bot.models import SeenRequest

_TABLE = SeenRequest.__table__
_REMEMBER = {
    "postgresql": postgresql.insert(SeenRequest).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(SeenRequest).on_conflict_do_nothing(),
}
_FORGET = delete(SeenRequest).where(
    _TABLE.c.expires_at < bindparam("now", type_=_TABLE.c.expires_at.type)
)


class SeenRequests:
    FRESH_FOR = 300  # seconds: Slack's window, within which a timestamp is accepted
    KEPT_FOR = FRESH_FOR + 60  # past the request's own timestamp
    SWEEP_EVERY = 500  # requests (per process) between two sweeps of what went stale

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        wall_clock: Callable[[], float] = time.time,
        sweep_every: int = SWEEP_EVERY,
    ) -> None:
        """`wall_clock` must be the clock freshness is judged by (`make_wsgi_app`'s). Not the
        runtime's injected clock, which tests pin to a day of their own while Slack stamps
        requests with the wall time; and not the database's, which freshness is not checked
        against: a row is swept only once its request is stale by that same clock."""
        self._session_factory = session_factory
        self._wall_clock = wall_clock
        self._sweep_every = sweep_every
        self._count = itertools.count()

    def first_time(self, signature: str, timestamp: int) -> bool:
        """Remembers a verified request's signature; False if it was remembered already.
        One statement on the ack path, committed with the others that come at the same time
        (`db.commit_together`); now and then a sweep of the stale ones too."""
        expires_at = datetime.fromtimestamp(timestamp + self.KEPT_FOR, UTC)
        sweep = next(self._count) % self._sweep_every == 0

        def remember(turn: DriverTransaction) -> bool:
            if sweep:
                now = datetime.fromtimestamp(self._wall_clock(), UTC)
                turn.execute(_FORGET, {"now": now})
            statement = _REMEMBER["postgresql" if turn.dialect_name == "postgresql" else "sqlite"]
            values = {"signature": signature, "expires_at": expires_at}
            return bool(turn.execute(statement, values).rowcount == 1)

        return commit_together(self._session_factory, remember)
