"""The /confirm slash command: capture inline, open the form, watch a channel, find, list,
the digest, the settings, or help."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.slack.ids import ActionId, Command
from bot.slack.rendering import Renderer
from bot.usecases.delivery import DIGEST_ITEMS
from bot.usecases.lookup import Audience
from bot.workspaces import Team
from handlers.context import team_of
from handlers.parsing import (
    ConfirmCommand,
    DigestNow,
    Export,
    Help,
    Listing,
    OpenCaptureModal,
    OpenSettings,
    Search,
    Show,
    Watch,
    parse_confirm_command,
)


@dataclass(frozen=True)
class Reply:
    """What /confirm answers, privately, in its ack: a template and what it shows."""

    template: str
    locale: str
    values: dict[str, Any] = field(default_factory=dict)


def register(app: App, renderer: Renderer) -> None:
    @app.command(Command.CONFIRM)
    def confirm(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
        reply = carry_out(team_of(context), command, parse_confirm_command(command))
        if reply is None:  # a form opened: Slack shows it
            ack()
        else:
            ack(**renderer.render(reply.template, reply.locale, **reply.values).as_ack())


def carry_out(team: Team, command: dict[str, Any], parsed: ConfirmCommand) -> Reply | None:
    """Each /confirm to the one use case it asks for."""
    team_id, channel, user = command["team_id"], command["channel_id"], command["user_id"]
    finder = team.finder

    def locale() -> str:
        return team.ports.locale_of(team_id, user)

    match parsed:
        case OpenCaptureModal():
            source = {"response_url": command.get("response_url")}
            team.capturing.open_capture_modal(
                command["trigger_id"], team_id, user, channel, source=source
            )
            return None
        case OpenSettings():
            team.configuring.open_settings_modal(command["trigger_id"], user)
            return None
        case Help():
            return Reply("usage", locale(), {"problem": ""})
        case Watch(on=on):
            said_in = team.conversation.watch(channel, user, on)
            return Reply("watching", said_in, {"watching": on, "channel_id": channel})
        case Show(number=number):
            detail = finder.show(user, number)
            shown = {
                "actions": ActionId,
                "record": detail.record,
                "revisions": detail.revisions,
                "events": detail.events,
                "thread_permalink": detail.thread_permalink,
            }
            return Reply("record_detail", locale(), shown)
        case DigestNow():
            said_in = locale()
            digest = finder.shown_digest(team.digesting.digest_for(user), Audience(user_id=user))
            shown = {"digest": digest, "change": "", "limit": DIGEST_ITEMS, "actions": ActionId}
            return Reply("digest", said_in, shown)
        case Export(number=number):
            finder.show(user, number)  # the same right to see it, or a plain refusal
            team.answering.send_evidence(user, number)
            return Reply("evidence_coming", locale(), {"number": number})
        case Search(line=line):
            found = finder.search(user, line)
            return Reply("search_results", locale(), {"found": found, "query": line})
        case Listing(which=which):
            found = finder.listing(user, which)
            return Reply("search_results", locale(), {"found": found, "query": f"list {which}"})
        case capture:
            # Its number and the capture committed before the ack: "Recorded #N" is never
            # a broken promise.
            done = team.capturing.capture_from_command(capture)
            return Reply("capture_ack", done.locale, {"record": done.record})
