"""A channel someone left is no longer theirs, even in an answer Slack was giving meanwhile."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy.orm import sessionmaker

from bot.usecases.lookup import Audience, Finder
from tests.conftest import LI, TEAM
from tests.support import ManualClock


@dataclass(frozen=True)
class _Record:
    channel_id: str
    requester_ids: tuple[str, ...] = ()
    captured_by_id: str = "U0ALICE001"
    owner_id: str = "U0ALICE001"


class _SlackAnsweringLate:
    """users.conversations, answered once the test lets it: as it was when asked."""

    def __init__(self) -> None:
        self.asked = threading.Event()
        self.answer = threading.Event()

    def user_channels(self, user: str) -> set[str]:
        self.asked.set()
        assert self.answer.wait(5)
        return {"C0SECRET01", "C0OPEN0001"}


def test_a_channel_left_while_slack_lists_the_persons_channels_is_not_taken_from_it() -> None:
    slack = _SlackAnsweringLate()
    finder = Finder(sessionmaker(), slack, ManualClock(), TEAM)  # type: ignore[arg-type]
    seen: list[bool] = []
    asking = threading.Thread(
        target=lambda: seen.append(finder.may_see(Audience(LI), _Record("C0SECRET01")))
    )
    asking.start()
    assert slack.asked.wait(5)
    finder.left(LI, "C0SECRET01")  # member_left_channel, before Slack's answer arrives
    slack.answer.set()
    asking.join(5)
    assert seen == [False]
    assert not finder.may_see(Audience(LI), _Record("C0SECRET01"))
    assert finder.may_see(Audience(LI), _Record("C0OPEN0001"))
