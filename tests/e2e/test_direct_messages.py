"""Sayso's direct messages: notices that must outlive the moment go there (Slack keeps them,
unlike ephemeral ones), and whoever writes back is answered."""

from __future__ import annotations

import pytest

from bot.emulator.sandbox import Sandbox
from tests.conftest import ALICE, CHEN, WANG
from tests.e2e.helpers import record_count


@pytest.mark.parametrize(
    ("user", "expected"),
    [(ALICE, "type `/confirm @client what they asked for`"), (CHEN, "我是 Sayso")],
)
def test_writing_to_sayso_gets_a_short_help_in_ones_language(
    sandbox: Sandbox, user: str, expected: str
) -> None:
    assert sandbox.driver is not None
    dm = sandbox.emulator.dm_channel(user)
    _, response = sandbox.driver.say(user, dm, "ok, I invited you. confirm")
    assert response.status == 200
    sandbox.settle()

    said, answer = sandbox.emulator.direct_messages(user)
    assert said["user"] == user and "bot_id" not in said
    assert answer.get("bot_id") and expected in answer["text"]
    assert "/invite @Sayso" in answer["text"]
    assert record_count(sandbox) == 0  # "confirm" in a DM confirms nothing


def test_where_no_direct_message_is_possible_the_notice_is_private_in_the_channel(
    sandbox: Sandbox,
) -> None:
    """Slack refuses the DM for good (cannot_dm_bot): the command's response_url still works
    where Sayso may not post, so the capturer hears of the missing invitation there."""
    sandbox.emulator.add_channel("C0NOBOT001", "no-bot", members=[ALICE, WANG], bot_is_member=False)
    sandbox.emulator.fail("conversations.open", error="cannot_dm_bot", times=5)
    assert sandbox.driver is not None

    sandbox.driver.command(ALICE, "C0NOBOT001", f"{sandbox.driver.mention(WANG)} go")
    sandbox.settle()

    assert sandbox.emulator.direct_messages(ALICE) == []
    (told,) = [c.params for c in sandbox.emulator.calls("response_url")]
    assert "/invite @Sayso" in told["text"] and "#1 is recorded" in told["text"]
