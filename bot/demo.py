"""`sayso demo`: the story of a day, played against the built-in Slack emulator and printed.

Everything goes through the real bot over HTTP: signed slash commands, clicks, form
submissions and events; what Sayso sends back is read off the emulator's call log.
"""

from __future__ import annotations

import shlex
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import MetaData, select

from bot import migrate
from bot.db import make_engine, make_session_factory
from bot.emulator.driver import DriverResponse
from bot.emulator.sandbox import Sandbox
from bot.localtime import shown
from bot.records import digest, lifecycle
from bot.slack.ids import ActionId, BlockId, CallbackId
from bot.slack.rendering import Renderer
from bot.usecases.delivery import DIGEST_ITEMS

Echo = Callable[[str], None]

TEAM, CLIENT_TEAM = "T0ACME0001", "T0GLOBEX01"
CHANNEL = "C0EDGE0001"
ALICE, LI = "U0ALICE001", "U0LI000001"
WANG, ZHAO, CHEN = "U0WANG0001", "U0ZHAO0001", "U0CHEN0001"


class DemoRefused(Exception):
    """The database given to the demo holds something other than an earlier demo's story."""


def start_afresh(database_url: str) -> None:
    """Empties the demo's database, so that each run tells the same story with the same
    numbers, then brings it to the current schema. Refuses (DemoRefused) a database that
    holds any workspace but the demo's own: whatever else is in it is someone's real data."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            schema = MetaData()
            schema.reflect(connection)
            if schema.tables and "audit_events" not in schema.tables:
                raise DemoRefused("it holds tables that are not Sayso's")
            # Every table that names a workspace, slack_sdk's installations included.
            teams = {
                team
                for table in schema.tables.values()
                if "team_id" in table.columns
                for team in connection.execute(select(table.c.team_id).distinct()).scalars()
            }
            if others := sorted(str(t) for t in teams - {TEAM, None}):
                raise DemoRefused(f"it holds the data of {', '.join(others)}")
            schema.drop_all(connection)
    finally:
        engine.dispose()
    migrate.upgrade(database_url)


# Acme's engineers work from Shanghai: the workspace's zone, and the transcript's by default.
WORKSPACE_ZONE = "Asia/Shanghai"


def run_demo(
    database_url: str,
    echo: Echo,
    summary: Echo | None = None,
    reading_from: str = "",
    tz: str | None = None,
) -> None:
    """Plays the story into `database_url` (emptied first, `start_afresh`); `echo` gets the
    transcript, `summary` (default `echo`) the records kept and what to try next, with
    `DATABASE_URL=reading_from` in front when `sayso records` alone would read another.
    `tz`: the zone the transcript shows times in (the demo workspace's by default)."""
    summary = summary or echo
    start_afresh(database_url)
    with Sandbox(
        database_url,
        team_id=TEAM,
        team_name="Acme Networks",
        settings={"digest_timezone": WORKSPACE_ZONE},
    ) as sandbox:
        _cast(sandbox)
        story = _Story(sandbox, echo, tz or WORKSPACE_ZONE)
        echo("Sayso demo: a local Slack workspace, the real bot, and these people:")
        echo("  @alice (engineer) and @li (project manager) of Acme Networks;")
        echo("  @wang, @zhao and @chen (who reads Chinese) of Globex, the client,")
        echo("  in the shared channel #edge-upgrade.")
        echo(f"Times are shown in {story.zone_label()}; Slack shows each reader their own.")
        m = story.mention

        story.scene("A client asks for a risky change; alice captures it with /confirm.")
        first = story.command(
            ALICE,
            f"{m(WANG)} please change the BGP hold timer on edge-3 to 30s "
            f'risk:high "may drop traffic for 5 min" due:fri 17:00 owner:{m(LI)}',
        )
        story.scene("li is not the requester: the click changes nothing.")
        story.click(LI, first, "Confirm")
        story.scene("wang wants 90s instead: Request change makes revision 2.")
        story.request_change(WANG, first, "please change the BGP hold timer on edge-3 to 90s")
        story.scene("wang answers “ok” in the thread: that confirms nothing, and he is told so.")
        story.reply(WANG, first, "ok")
        story.scene("wang confirms revision 2 on the card itself, and double-clicks as people do.")
        story.click(WANG, first, "Confirm", times=2, on_card=True)

        story.scene("alice asks to be nudged when someone here skips the process.")
        story.command(ALICE, "watch")
        story.scene("chen writes an instruction in Chinese, taking responsibility for it.")
        source = story.say(CHEN, "请把 core-1 的网络参数改成30秒，出了问题我负责")
        story.scene("alice uses the shortcut “Confirm this instruction” on chen's message.")
        second = story.shortcut(ALICE, source)
        story.scene("chen confirms by replying in the thread.")
        story.reply(CHEN, second, "确认")
        story.scene("Later chen edits the message: the record keeps what was confirmed.")
        story.edit(CHEN, source, "请把 core-1 的网络参数改成60秒")

        story.scene("zhao's request is captured with a :memo: reaction, then rejected.")
        third_source = story.say(ZHAO, "reboot core-2 tonight, skip the maintenance window")
        third = story.react(ALICE, third_source)
        story.click(ZHAO, third, "Reject")

        story.scene("A command without a requester stores nothing and explains itself.")
        story.command(ALICE, "reboot everything")
        story.scene("The next morning at 09:00 in Shanghai, the project manager's digest.")
        story.next_mornings_digest(LI)
        kept = story.records()
        posted = story.posted_in_channel()
    echo("")
    echo(
        f"Sayso's messages in #edge-upgrade: {sum(posted.values())} "
        f"({posted['card']} in the channel itself, {posted['thread']} in threads)."
    )
    echo("")
    summary(f"Records kept in {database_url}:")
    for record in kept:
        summary(
            f"  #{record['number']} {record['status']:<9} rev {record['revision']}  "
            f"{record['text']}"
        )
    echo("")
    env = f"DATABASE_URL={shlex.quote(reading_from)} " if reading_from else ""
    summary(
        f"Next: `{env}sayso records`, `{env}sayso show {first}`, `{env}sayso show {second} --json`."
    )


def _cast(sandbox: Sandbox) -> None:
    emulator = sandbox.emulator
    emulator.add_team(CLIENT_TEAM, "Globex", "globex")
    emulator.add_user(ALICE, "alice", "Alice Chen", tz="Asia/Shanghai")
    emulator.add_user(LI, "li", "Li Na", tz="Asia/Shanghai")
    emulator.add_user(WANG, "wang", "Wang Wei", team_id=CLIENT_TEAM, tz="Asia/Shanghai")
    emulator.add_user(ZHAO, "zhao", "Zhao Lei", team_id=CLIENT_TEAM, tz="Europe/London")
    emulator.add_user(CHEN, "chen", "陈静", team_id=CLIENT_TEAM, locale="zh-CN")
    emulator.add_channel(
        CHANNEL, "edge-upgrade", members=[ALICE, LI, WANG, ZHAO, CHEN], is_shared=True
    )


class _Story:
    def __init__(self, sandbox: Sandbox, echo: Echo, zone: str) -> None:
        self._zone = zone
        self._sandbox = sandbox
        self._emulator = sandbox.emulator
        assert sandbox.driver is not None
        self._driver = sandbox.driver
        self._echo = echo
        self._seen_calls = 0
        self._scene = 0

    def mention(self, user_id: str) -> str:
        return self._driver.mention(user_id)

    def zone_label(self) -> str:
        offset = shown(datetime.now(UTC), self._zone)[-6:]
        return f"{self._zone} (UTC{offset})"

    def scene(self, title: str) -> None:
        self._scene += 1
        self._echo("")
        self._echo(f"── {self._scene}. {title}")

    # -- what people do --------------------------------------------------------------------

    def command(self, user_id: str, text: str) -> int:
        """Type /confirm; returns the newest record's number afterwards."""
        self._say(user_id, "types", "/confirm " + self._emulator.render_mrkdwn(text))
        response = self._driver.command(user_id, CHANNEL, text)
        self._show_ack(user_id, response)
        self._show_slack_side()
        return self._newest()

    def click(
        self, user_id: str, number: int, label: str, times: int = 1, on_card: bool = False
    ) -> None:
        # A repeated click is sent from the message as the person saw it, before the update.
        message = self._card(number) if on_card else self._request(number)
        button = next(
            element
            for block in message.get("blocks", [])
            if block["type"] == "actions"
            for element in block["elements"]
            if element["text"]["text"] in (label, _CHINESE_LABELS.get(label))
        )
        where = "the card of" if on_card else ""
        for _ in range(times):
            self._say(user_id, "clicks", f"[{label}] on {where} #{number}".replace("  ", " "))
            if "confirm" in button:  # Slack asks first, and sends the click once they agree
                dialog = button["confirm"]
                self._show(
                    "Slack asks first:",
                    f"{dialog['title']['text']} {dialog['text']['text']}\n"
                    f"[{dialog['deny']['text']}] [{dialog['confirm']['text']}]",
                )
                self._say(user_id, "clicks", f"[{dialog['confirm']['text']}]")
            self._check(
                self._driver.click(
                    user_id, CHANNEL, message["ts"], button["action_id"], message=message
                )
            )
        self._show_slack_side()

    def request_change(self, user_id: str, number: int, new_text: str) -> None:
        self.click(user_id, number, "Request change")
        (form,) = self._emulator.modals(user_id)
        self._say(user_id, "writes in the form", new_text)
        self._check(
            self._driver.submit_view(
                user_id, form["id"], {BlockId.TEXT: {"value": self._driver.plain_text(new_text)}}
            )
        )
        self._show_slack_side()

    def say(self, user_id: str, text: str, thread_ts: str | None = None) -> str:
        self._say(user_id, "writes", text)
        message, response = self._driver.say(user_id, CHANNEL, text, thread_ts=thread_ts)
        self._check(response)
        self._show_slack_side()
        return str(message["ts"])

    def reply(self, user_id: str, number: int, text: str) -> None:
        self.say(user_id, text, thread_ts=self._record(number)["thread_ts"])

    def edit(self, user_id: str, ts: str, text: str) -> None:
        self._say(user_id, "edits that message to", text)
        self._check(self._driver.edit(user_id, CHANNEL, ts, text))
        self._show_slack_side()

    def react(self, user_id: str, ts: str) -> int:
        self._say(user_id, "reacts with", ":memo:")
        self._check(self._driver.react(user_id, CHANNEL, ts))
        self._show_slack_side()
        return self._newest()

    def shortcut(self, user_id: str, ts: str) -> int:
        self._check(
            self._driver.message_shortcut(user_id, CHANNEL, ts, CallbackId.MESSAGE_SHORTCUT.value)
        )
        self._show_slack_side()
        (form,) = self._emulator.modals(user_id)
        self._say(user_id, "submits the form", "as pre-filled")
        self._check(self._driver.submit_view(user_id, form["id"]))
        self._show_slack_side()
        return self._newest()

    def next_mornings_digest(self, owner_id: str) -> None:
        """What the owner's DM will say tomorrow at 09:00 in Shanghai (built, not sent)."""
        zone = ZoneInfo("Asia/Shanghai")
        tomorrow = datetime.now(zone).date() + timedelta(days=1)
        morning = datetime.combine(tomorrow, time(9), tzinfo=zone)
        engine = make_engine(self._sandbox.settings.database_url)
        try:
            with make_session_factory(engine)() as session:
                channel, owners = digest.build(
                    session, TEAM, morning, "Asia/Shanghai", morning - timedelta(days=1)
                )
        finally:
            engine.dispose()
        built = owners.get(owner_id, channel)
        message = Renderer().render(
            "digest", "en", digest=built, change="", limit=DIGEST_ITEMS, actions=ActionId
        )
        self._show(
            f"Sayso writes to @{self._name(owner_id)}:",
            self._readable({"text": message.text, "blocks": message.blocks}),
        )

    # -- what we read back -----------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        engine = make_engine(self._sandbox.settings.database_url)
        try:
            with make_session_factory(engine)() as session:
                return [lifecycle.as_dict(r) for r in lifecycle.list_records(session, TEAM)]
        finally:
            engine.dispose()

    def _record(self, number: int) -> dict[str, Any]:
        return next(r for r in self.records() if r["number"] == number)

    def _newest(self) -> int:
        kept = self.records()
        return int(kept[-1]["number"]) if kept else 0

    def posted_in_channel(self) -> dict[str, int]:
        """How many messages Sayso posted in the channel: cards, and replies in threads."""
        posts = [
            call.params
            for call in self._emulator.calls("chat.postMessage")
            if call.params.get("channel") == CHANNEL and call.response.get("ok")
        ]
        threaded = sum(1 for post in posts if post.get("thread_ts"))
        return {"card": len(posts) - threaded, "thread": threaded}

    def _card(self, number: int) -> dict[str, Any]:
        card = self._emulator.message(CHANNEL, self._record(number)["thread_ts"])
        assert card is not None, f"#{number} has no card"
        return card

    def _request(self, number: int) -> dict[str, Any]:
        record = self._record(number)
        requests = [
            m
            for m in self._emulator.thread(CHANNEL, record["thread_ts"])
            if any(b["type"] == "actions" for b in m.get("blocks", []))
        ]
        return requests[-1]

    def _check(self, response: DriverResponse) -> None:
        if response.status != 200:
            self._echo(f"   !! the bot answered HTTP {response.status}: {response.body}")

    def _name(self, user_id: str) -> str:
        user = self._emulator.user(user_id)
        return user["name"] if user else user_id

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
            elif call.method == "views.open":
                title = params.get("view", {}).get("title", {}).get("text", "")
                self._show("Sayso opens a form:", title)
        self._seen_calls = len(calls)

    def _readable(self, params: dict[str, Any]) -> str:
        return self._emulator.message_text_for_transcript(params)

    def _show(self, who: str, text: str) -> None:
        self._echo(f"   {who}")
        for line in self._emulator.render_mrkdwn(text, self._zone).splitlines() or [""]:
            for piece in textwrap.wrap(line, 88) or [""]:
                self._echo(f"      {piece}")


_CHINESE_LABELS = {
    "Confirm": "确认",
    "Reject": "拒绝",
    "Request change": "要求修改",
    "Call off": "叫停",
}
