"""Who people are, as far as Sayso needs to know: name, time zone, language, organization.

users.info is asked at most once a day per person; the answer is kept in `slack_users`.
When someone changes their name, time zone or language, Slack sends `user_change`
(`person_changed`): what it says is kept at once, and users.info is asked again the next
time that person matters. When Slack cannot answer, an earlier answer is used; with none,
the person is unknown (UTC, the default language) rather than failing the request. Unknown
is not "a member of the workspace": whatever depends on who someone is asks
`known_person`, which refuses.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db import reading, unit_of_work
from bot.errors import AccessUnchecked
from bot.models import SlackUser
from bot.slack.gateway import DeliveryError, SlackGateway
from bot.slack.i18n import normalize_locale

log = logging.getLogger(__name__)

FRESH_FOR = timedelta(hours=24)
IN_MEMORY_FOR = timedelta(minutes=10)
# Someone Slack could not describe is asked about again this soon ("try again in a minute").
UNKNOWN_FOR = timedelta(seconds=30)


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    tz: str
    locale: str
    org_team_id: str | None
    org_name: str | None
    known: bool = True  # False: Slack never said who this is (the rest are defaults)

    @property
    def is_external(self) -> bool:
        return self.org_name is not None


class Directory:
    def __init__(
        self, session_factory: sessionmaker[Session], gateway: SlackGateway, default_locale: str
    ) -> None:
        self._session_factory = session_factory
        self._gateway = gateway
        self._default_locale = default_locale
        self._memory: dict[tuple[str, str], tuple[Person, datetime]] = {}
        # Each workspace's Enterprise Grid organization (None: not part of one), once asked.
        self._enterprises: dict[str, str | None] = {}
        self._memory_lock = threading.Lock()

    def person(self, team_id: str, user_id: str, now: datetime) -> Person:
        # Held in memory for a few minutes too: the ack path asks about the typist on every
        # command, and on SQLite even a read waits its turn behind the writers.
        with self._memory_lock:
            remembered = self._memory.get((team_id, user_id))
        if remembered and now - remembered[1] < (
            IN_MEMORY_FOR if remembered[0].known else UNKNOWN_FOR
        ):
            return remembered[0]
        person = self._person_from_cache(team_id, user_id, now)
        with self._memory_lock:
            self._memory[(team_id, user_id)] = (person, now)
        return person

    def known_person(self, team_id: str, user_id: str, now: datetime) -> Person:
        """The person, for a decision that depends on who they are (a member of the workspace
        or a guest from another organization): AccessUnchecked when Slack could not say."""
        person = self.person(team_id, user_id, now)
        if not person.known:
            raise AccessUnchecked("users.info failed", what="person")
        return person

    def _person_from_cache(self, team_id: str, user_id: str, now: datetime) -> Person:
        # Short transactions of its own, and none open while Slack answers: on SQLite an
        # open transaction holds the write lock, and a cache must never slow the ack path.
        with reading(self._session_factory) as session:
            cached = session.get(SlackUser, (team_id, user_id))
            if cached is not None:
                session.expunge(cached)
        if cached is None or now - cached.fetched_at > FRESH_FOR:
            cached = self._refresh(team_id, user_id, now) or cached
        if cached is None:
            return Person(user_id, user_id, "UTC", self._default_locale, None, None, known=False)
        return Person(
            user_id=user_id,
            name=cached.name,
            tz=cached.tz or "UTC",
            locale=normalize_locale(cached.locale, self._default_locale),
            org_team_id=cached.org_team_id if cached.is_external else None,
            org_name=cached.org_name if cached.is_external else None,
        )

    def person_changed(self, team_id: str, user: dict[str, Any], now: datetime) -> None:
        """Slack says `user` changed (`user_change`): keep what it says now, forget what this
        process remembers, and have users.info asked again the next time (its answer, with
        the organization, is the one Sayso relies on). Someone never seen is not stored."""
        user_id = str(user.get("id") or "")
        with self._memory_lock:
            self._memory.pop((team_id, user_id), None)
        told = {
            "name": user.get("name"),
            "real_name": (user.get("profile") or {}).get("real_name") or user.get("real_name"),
            "tz": user.get("tz"),
            "locale": user.get("locale"),
        }
        with unit_of_work(self._session_factory) as session:
            row = session.get(SlackUser, (team_id, user_id))
            if row is None:
                return
            for name, value in told.items():
                if value:
                    setattr(row, name, value)
            row.fetched_at = now - FRESH_FOR - timedelta(seconds=1)

    def locale(self, team_id: str, user_id: str, now: datetime) -> str:
        return self.person(team_id, user_id, now).locale

    def _refresh(self, team_id: str, user_id: str, now: datetime) -> SlackUser | None:
        try:
            info = self._gateway.user_info(user_id)
        except DeliveryError as error:
            log.warning("users.info %s failed (%s); using what we had", user_id, error.reason)
            return None
        org_team = info.get("team_id")
        # Slack Connect: someone from another organization (compare team ids, the flag
        # alone is not always set). In an Enterprise Grid the organization's workspaces have
        # team ids of their own: someone of the same enterprise is a colleague.
        external = (
            bool(info.get("is_stranger")) or bool(org_team and org_team != team_id)
        ) and not self._same_enterprise(team_id, info)
        values = {
            "name": str(info.get("name") or user_id),
            "real_name": (info.get("profile") or {}).get("real_name") or info.get("real_name"),
            "tz": info.get("tz"),
            "locale": info.get("locale"),
            "org_team_id": org_team,
            "org_name": self._org_name(org_team) if external and org_team else None,
            "is_external": external,
            "fetched_at": now,
        }
        try:
            with unit_of_work(self._session_factory) as session:
                row = session.get(SlackUser, (team_id, user_id)) or SlackUser(
                    team_id=team_id, user_id=user_id
                )
                for name, value in values.items():
                    setattr(row, name, value)
                session.add(row)
                session.flush()
                session.expunge(row)
                return row
        except IntegrityError:  # cached by someone else at the same moment: theirs is as good
            return SlackUser(team_id=team_id, user_id=user_id, **values)

    def _same_enterprise(self, team_id: str, info: dict[str, Any]) -> bool:
        """Whether the person (users.info's `enterprise_user`) belongs to the Enterprise Grid
        organization the workspace is part of (team.info's `enterprise_id`)."""
        theirs = (info.get("enterprise_user") or {}).get("enterprise_id")
        if not theirs:
            return False
        with self._memory_lock:
            known = team_id in self._enterprises
            ours = self._enterprises.get(team_id)
        if not known:
            try:
                ours = self._gateway.team_info(team_id).get("enterprise_id") or None
            except DeliveryError as error:
                # Not known to be a colleague: treated as external, as before, until asked again.
                log.warning("team.info %s failed (%s)", team_id, error.reason)
                return False
            with self._memory_lock:
                self._enterprises[team_id] = ours
        return ours == theirs

    def _org_name(self, team: str) -> str:
        try:
            return self._gateway.team_name(team)
        except DeliveryError:
            return team


# --- names as last learnt, for readers of the records (the command line) ------------------


def known_names(session: Session, team_id: str | None = None) -> dict[tuple[str, str], SlackUser]:
    """Everyone Sayso has asked Slack about (of `team_id`, or of every workspace), by
    (team, user): the command line prints their names where the records keep ids."""
    query = select(SlackUser)
    if team_id is not None:
        query = query.where(SlackUser.team_id == team_id)
    return {(u.team_id, u.user_id): u for u in session.execute(query).scalars()}


def people_named(session: Session, name: str, team_id: str | None = None) -> list[SlackUser]:
    """The people whose Slack name or real name is `name` (case aside), of `team_id` or of
    every workspace."""
    wanted = name.casefold()
    return sorted(
        (
            user
            for user in known_names(session, team_id).values()
            if wanted in (user.name.casefold(), (user.real_name or "").casefold())
        ),
        key=lambda u: (u.team_id, u.user_id),
    )
