"""Who people are, as far as Sayso needs to know: name, time zone, language, organization.

users.info is asked at most once a day per person; the answer is kept in `slack_users`.
When Slack cannot answer, the person is treated as unknown (UTC, the default language)
rather than failing the request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.db import unit_of_work
from bot.i18n import normalize_locale
from bot.models import SlackUser
from bot.outbox import DeliveryError
from bot.slack import SlackGateway

log = logging.getLogger(__name__)

FRESH_FOR = timedelta(hours=24)


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    tz: str
    locale: str
    org_team_id: str | None
    org_name: str | None

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

    def person(self, team_id: str, user_id: str, now: datetime) -> Person:
        # Its own short transaction: a cache write must never abort the caller's work.
        try:
            with unit_of_work(self._session_factory) as session:
                return self._person(session, team_id, user_id, now)
        except IntegrityError:  # someone cached the same person at the same moment
            with unit_of_work(self._session_factory) as session:
                return self._person(session, team_id, user_id, now)

    def locale(self, team_id: str, user_id: str, now: datetime) -> str:
        return self.person(team_id, user_id, now).locale

    def _person(self, session: Session, team_id: str, user_id: str, now: datetime) -> Person:
        cached = session.get(SlackUser, (team_id, user_id))
        if cached is None or now - cached.fetched_at > FRESH_FOR:
            cached = self._refresh(session, team_id, user_id, now, cached)
        if cached is None:
            return Person(user_id, user_id, "UTC", self._default_locale, None, None)
        return Person(
            user_id=user_id,
            name=cached.name,
            tz=cached.tz or "UTC",
            locale=normalize_locale(cached.locale, self._default_locale),
            org_team_id=cached.org_team_id if cached.is_external else None,
            org_name=cached.org_name if cached.is_external else None,
        )

    def _refresh(
        self,
        session: Session,
        team_id: str,
        user_id: str,
        now: datetime,
        cached: SlackUser | None,
    ) -> SlackUser | None:
        try:
            info = self._gateway.user_info(user_id)
        except DeliveryError as error:
            log.warning("users.info %s failed (%s); using what we had", user_id, error.reason)
            return cached
        org_team = info.get("team_id")
        # Slack Connect: someone from another organization (compare team ids, the flag
        # alone is not always set).
        external = bool(info.get("is_stranger")) or bool(org_team and org_team != team_id)
        org_name = self._org_name(org_team) if external and org_team else None
        row = cached or SlackUser(team_id=team_id, user_id=user_id)
        row.name = str(info.get("name") or user_id)
        row.real_name = (info.get("profile") or {}).get("real_name") or info.get("real_name")
        row.tz = info.get("tz")
        row.locale = info.get("locale")
        row.org_team_id = org_team
        row.org_name = org_name
        row.is_external = external
        row.fetched_at = now
        session.add(row)
        return row

    def _org_name(self, team: str) -> str:
        try:
            return self._gateway.team_name(team)
        except DeliveryError:
            return team
