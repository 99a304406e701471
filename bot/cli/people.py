"""People as the command line prints them: by name, where Sayso has learnt it from Slack,
with the Slack id where it helps; and `from:@wang` read as the person called wang."""

from __future__ import annotations

import re

import wcwidth
from sqlalchemy.orm import Session

from bot.cli.common import fail
from bot.models import SlackUser
from bot.slack import directory

# A filter naming someone by name rather than by a Slack id or mention, as typed in a shell.
_BY_NAME = re.compile(r"^(from|owner):(@?)(.+)$", re.IGNORECASE)
_SLACK_ID = re.compile(r"^[UW][A-Z0-9]{2,}$|^<@")


class Names:
    """The names of everyone Sayso has asked Slack about (table slack_users)."""

    def __init__(self, session: Session, team_id: str | None = None) -> None:
        self._known = directory.known_names(session, team_id)

    def _user(self, team_id: str, user_id: str) -> SlackUser | None:
        return self._known.get((team_id, user_id))

    def short(self, team_id: str, user_id: str) -> str:
        """Their real name (else Slack name); the id itself for someone never described."""
        user = self._user(team_id, user_id)
        if user is None:
            return user_id
        return user.real_name or user.name

    def full(self, team_id: str, user_id: str) -> str:
        """`Wang Wei (@wang, U0WANG0001, Globex)`: enough to find them in Slack."""
        user = self._user(team_id, user_id)
        if user is None:
            return user_id
        parts = [f"@{user.name}", user_id]
        if user.is_external and user.org_name:
            parts.append(user.org_name)
        return f"{user.real_name or user.name} ({', '.join(parts)})"


def with_ids(session: Session, line: str, team_id: str | None) -> str:
    """`from:@wang` and `owner:li` with the Slack id of the person so called (`from:U0…`);
    fails naming the choices when nobody, or several people, are."""
    tokens = []
    for token in line.split():
        match = _BY_NAME.match(token)
        if match is None or (not match.group(2) and _SLACK_ID.match(match.group(3))):
            tokens.append(token)
            continue
        which, name = match.group(1).lower(), match.group(3)
        people = directory.people_named(session, name, team_id)
        ids = sorted({p.user_id for p in people})
        if not ids:
            fail(
                f"nobody called {name} has used Sayso here (names are learnt as people do); "
                f"give their Slack id, like {which}:U0WANG0001.",
            )
        if len(ids) > 1:
            choices = ", ".join(
                f"{p.user_id} ({p.real_name or p.name}, {p.team_id})" for p in people
            )
            fail(f"{which}:{name} could be any of {choices}; give the Slack id.")
        tokens.append(f"{which}:{ids[0]}")
    return " ".join(tokens)


def aligned(rows: list[list[str]]) -> list[str]:
    """Rows as lines of columns that line up in a terminal: a Chinese character is as wide
    as two Latin ones (wcwidth). The last column is not padded."""
    widths = (
        [max(_width(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
        if rows
        else []
    )
    return [
        "  ".join(
            [cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row[:-1])] + [row[-1]]
        ).rstrip()
        for row in rows
    ]


def _width(text: str) -> int:
    return max(wcwidth.wcswidth(text), len(text))
