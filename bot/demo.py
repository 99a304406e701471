"""`sayso demo`: the core story, played against the built-in Slack emulator and printed."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

from bot import records
from bot.config import Settings
from bot.db import make_engine, make_session_factory
from bot.emulator.driver import DriverResponse
from bot.emulator.sandbox import Sandbox

Echo = Callable[[str], None]

TEAM = "T0ACME0001"
CHANNEL = "C0EDGE0001"
ALICE, LI, WANG, ZHAO = "U0ALICE001", "U0LI000001", "U0WANG0001", "U0ZHAO0001"


def run_demo(settings: Settings, echo: Echo) -> None:
    with Sandbox(settings.database_url, team_id=TEAM, team_name="Acme Networks") as sandbox:
        _cast(sandbox)
        story = _Story(sandbox, echo)
        echo("Sayso demo: a local Slack workspace, the real bot, and these people:")
        echo("  @alice (engineer) and @li (project manager) of Acme Networks;")
        echo("  @wang and @zhao of Globex, the client, in the shared channel #edge-upgrade.")
        story.scene("A client asks for a risky change; alice captures it with /confirm.")
        first = story.command(
            ALICE, f"{story.mention(WANG)} please change the BGP hold timer on edge-3 to 30s"
        )
        story.scene("li is not the requester: the click changes nothing.")
        story.click(LI, first, "Confirm")
        story.scene("wang confirms in the thread, and double-clicks as people do.")
        story.click(WANG, first, "Confirm", times=2)
        story.scene("Another instruction; this time the client rejects it.")
        second = story.command(
            ALICE, f"{story.mention(ZHAO)} skip the change ticket and reboot core-1 now"
        )
        story.click(ZHAO, second, "Reject")
        story.scene("A command without a requester stores nothing and explains itself.")
        story.command(ALICE, "reboot everything")
        team_records = story.records()
    echo("")
    echo(f"Records kept in {settings.database_url}:")
    for record in team_records:
        echo(f"  #{record['number']} {record['status']:<9} {record['text']}")
    echo("")
    echo(f"Next: `sayso records`, `sayso show {first}`, `sayso show {first} --json`.")


def _cast(sandbox: Sandbox) -> None:
    emulator = sandbox.emulator
    emulator.add_team("T0GLOBEX01", "Globex", "globex")
    emulator.add_user(ALICE, "alice", "Alice Chen", tz="Asia/Shanghai")
    emulator.add_user(LI, "li", "Li Na", tz="Asia/Shanghai")
    emulator.add_user(WANG, "wang", "Wang Wei", team_id="T0GLOBEX01", tz="Asia/Shanghai")
    emulator.add_user(ZHAO, "zhao", "Zhao Lei", team_id="T0GLOBEX01", tz="Europe/London")
    emulator.add_channel(CHANNEL, "edge-upgrade", members=[ALICE, LI, WANG, ZHAO])


class _Story:
    def __init__(self, sandbox: Sandbox, echo: Echo) -> None:
        self._sandbox = sandbox
        self._emulator = sandbox.emulator
        assert sandbox.driver is not None
        self._driver = sandbox.driver
        self._echo = echo
        self._seen_calls = 0
        self._scene = 0

    def mention(self, user_id: str) -> str:
        return self._driver.mention(user_id)

    def scene(self, title: str) -> None:
        self._scene += 1
        self._echo("")
        self._echo(f"── {self._scene}. {title}")

    def command(self, user_id: str, text: str) -> int:
        """Type /confirm; returns the newest record's number afterwards."""
        self._say(user_id, "types", "/confirm " + self._emulator.render_mrkdwn(text))
        response = self._driver.command(user_id, CHANNEL, text)
        self._show_ack(user_id, response)
        self._show_slack_side()
        kept = self.records()
        return kept[-1]["number"] if kept else 0

    def click(self, user_id: str, number: int, label: str, times: int = 1) -> None:
        # A repeated click is sent from the message as the person saw it, before the update.
        message = self._confirmation_request(number)
        action_id = next(
            element["action_id"]
            for block in message.get("blocks", [])
            if block["type"] == "actions"
            for element in block["elements"]
            if element["text"]["text"] == label
        )
        for _ in range(times):
            self._say(user_id, "clicks", f"[{label}] on #{number}")
            response = self._driver.click(
                user_id, CHANNEL, message["ts"], action_id, message=message
            )
            if response.status != 200:
                self._echo(f"   !! the bot answered HTTP {response.status}")
        self._show_slack_side()

    def records(self) -> list[dict[str, Any]]:
        engine = make_engine(self._sandbox.settings.database_url)
        try:
            with make_session_factory(engine)() as session:
                return [records.as_dict(r) for r in records.list_records(session, TEAM)]
        finally:
            engine.dispose()

    def _confirmation_request(self, number: int) -> dict[str, Any]:
        # The first reply under the record's card, whatever state it is in now.
        for parent in self._emulator.messages(CHANNEL):
            if parent.get("text", "").startswith(f"Instruction #{number} "):
                return self._emulator.thread(CHANNEL, parent["ts"])[0]
        raise LookupError(f"no card for #{number} in the channel")

    def _say(self, user_id: str, verb: str, what: str) -> None:
        self._echo(f"   @{self._name(user_id)} {verb}: {what}")

    def _show_ack(self, user_id: str, response: DriverResponse) -> None:
        body = response.json() or {}
        if body:
            self._show(f"(only @{self._name(user_id)} sees)", self._readable(body))

    def _show_slack_side(self) -> None:
        self._sandbox.settle()
        calls = self._emulator.calls()
        for call in calls[self._seen_calls :]:
            params = call.params
            if call.method == "chat.postMessage":
                where = "in the thread" if params.get("thread_ts") else "in #edge-upgrade"
                self._show(f"Sayso posts {where}:", self._readable(params))
            elif call.method == "chat.update":
                self._show("Sayso updates its message:", self._readable(params))
            elif call.method == "chat.postEphemeral":
                self._show(
                    f"(only @{self._name(params['user'])} sees) Sayso:", self._readable(params)
                )
        self._seen_calls = len(calls)

    def _name(self, user_id: str) -> str:
        user = self._emulator.user(user_id)
        return user["name"] if user else user_id

    def _readable(self, params: dict[str, Any]) -> str:
        return self._emulator.message_text_for_transcript(params)

    def _show(self, who: str, text: str) -> None:
        self._echo(f"   {who}")
        for line in self._emulator.render_mrkdwn(text).splitlines() or [""]:
            for piece in textwrap.wrap(line, 88) or [""]:
                self._echo(f"      {piece}")
