"""The line people type to find records, as Slack sends it, read into a `search.Query`.

`网络参数 status:pending risk:high from:@wang owner:@li in:#edge before:2026-12-01 after:...`
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

from bot.models import RecordStatus, Risk
from bot.records.search import Query
from bot.slack import mrkdwn

_FILTER = re.compile(r"^(status|risk|from|owner|in|before|after):(.+)$", re.IGNORECASE)
_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$|^([UW][A-Z0-9]{2,})$")
_CHANNEL = re.compile(r"^<#([CGD][A-Z0-9]+)(?:\|[^>]*)?>$|^([CGD][A-Z0-9]{2,})$")


# `status:open` as in `/confirm list open`: waiting for an answer, or confirmed and not done.
OPEN = {"open": (RecordStatus.PENDING.value, RecordStatus.CONFIRMED.value)}


class QueryError(ValueError):
    """A filter that cannot be understood; the message names it."""


def parse_query(line: str) -> Query:
    """Slack sends mentions and channels escaped (`<@U1|wang>`, `<#C1|edge>`)."""
    query = Query()
    for token in line.split():
        match = _FILTER.match(token)
        if match is None:
            query.words.append(mrkdwn.to_plain(token))
            continue
        name, value = match.group(1).lower(), match.group(2)
        if name == "status":
            if value in OPEN:
                query.statuses.extend(OPEN[value])
                continue
            if value not in set(RecordStatus):
                raise QueryError(f"status:{value} (one of open, {', '.join(RecordStatus)})")
            query.statuses.append(value)
        elif name == "risk":
            if value not in set(Risk):
                raise QueryError(f"risk:{value} (one of {', '.join(Risk)})")
            query.risks.append(value)
        elif name in ("from", "owner"):
            user = _USER.match(value)
            if user is None:
                raise QueryError(f"{name}:{value} (mention someone, like {name}:@wang)")
            setattr(
                query,
                "requester_id" if name == "from" else "owner_id",
                user.group(1) or user.group(2),
            )
        elif name == "in":
            channel = _CHANNEL.match(value)
            if channel is None:
                raise QueryError(f"in:{value} (name a channel, like in:#edge-upgrade)")
            query.channel_id = channel.group(1) or channel.group(2)
        else:
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise QueryError(f"{name}:{value} (a date like 2026-12-01)") from None
            moment = datetime.combine(day, time(), tzinfo=UTC)
            setattr(query, name, moment)
    return query
