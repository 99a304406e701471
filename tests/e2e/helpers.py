from __future__ import annotations

from typing import Any

from bot.emulator.sandbox import Sandbox
from bot.records import lifecycle
from tests.conftest import CHANNEL, TEAM


def record_json(sandbox: Sandbox, number: int, team_id: str = TEAM) -> dict[str, Any]:
    assert sandbox.runtime is not None
    with sandbox.runtime.session_factory() as session:
        return lifecycle.as_dict(lifecycle.get(session, team_id, number))


def record_count(sandbox: Sandbox) -> int:
    assert sandbox.runtime is not None
    with sandbox.runtime.session_factory() as session:
        return len(lifecycle.list_records(session))


def card(sandbox: Sandbox, number: int) -> dict[str, Any]:
    """The message that starts record #number's thread (its card, or the captured message)."""
    thread_ts = record_json(sandbox, number)["thread_ts"]
    found = [m for m in sandbox.emulator.messages(CHANNEL) if m["ts"] == thread_ts]
    assert len(found) == 1, f"expected one card for #{number}, found {len(found)}"
    return found[0]


def request(sandbox: Sandbox, number: int) -> dict[str, Any]:
    """The newest confirmation request (the message with the buttons)."""
    request_ts = _request_ts(sandbox, number)
    message = sandbox.emulator.message(CHANNEL, request_ts)
    assert message is not None, f"no confirmation request for #{number}"
    return message


def _request_ts(sandbox: Sandbox, number: int) -> str:
    assert sandbox.runtime is not None
    with sandbox.runtime.session_factory() as session:
        ts = lifecycle.get(session, TEAM, number).request_ts
    assert ts, f"#{number} has no confirmation request yet"
    return ts


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """Visible button text -> action_id."""
    return {
        element["text"]["text"]: element["action_id"]
        for block in message.get("blocks", [])
        if block["type"] == "actions"
        for element in block["elements"]
    }


def visible_text(message: dict[str, Any]) -> str:
    parts = [message.get("text", "")]
    for block in message.get("blocks", []):
        if "text" in block:
            parts.append(block["text"]["text"])
        if block.get("type") == "rich_text":
            parts.append(rich_text(block))
            continue
        for element in block.get("elements", []):
            if isinstance(element.get("text"), str):
                parts.append(element["text"])
    return "\n".join(parts)


def rich_text(block: dict[str, Any]) -> str:
    """The words a rich_text block shows, as written (its text elements joined)."""
    if isinstance(block.get("text"), str):
        return str(block["text"])
    return "".join(rich_text(element) for element in block.get("elements", []))


def capture(sandbox: Sandbox, user: str, requester: str, instruction: str) -> Any:
    assert sandbox.driver is not None
    response = sandbox.driver.command(
        user, CHANNEL, f"{sandbox.driver.mention(requester)} {instruction}"
    )
    assert response.status == 200, response.body
    sandbox.settle()
    return response


def click(sandbox: Sandbox, user: str, number: int, label: str) -> Any:
    assert sandbox.driver is not None
    message = request(sandbox, number)
    response = sandbox.driver.click(user, CHANNEL, message["ts"], buttons(message)[label])
    assert response.status == 200, response.body
    sandbox.settle()
    return response


def tick(sandbox: Sandbox) -> None:
    """One scheduled pass (reminders, expiry, sealing, digests), and its Slack messages out."""
    assert sandbox.runtime is not None
    sandbox.runtime.team.digesting.tick()
    sandbox.settle()
