"""The /confirm slash command: capture inline, open the form, watch a channel, find, list,
the digest, the settings, or help."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.slack.ids import ActionId, Command
from bot.slack.rendering import Renderer
from bot.usecases.delivery import DIGEST_ITEMS
from bot.usecases.lookup import Audience
from bot.workspaces import Workspaces
from handlers.parsing import (
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


def register(app: App, workspaces: Workspaces, renderer: Renderer) -> None:
    @app.command(Command.CONFIRM)
    def confirm(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
        workspace = workspaces.of(context.team_id)
        sayso, finder = workspace.sayso, workspace.finder
        team, channel, user = command["team_id"], command["channel_id"], command["user_id"]
        match parse_confirm_command(command):
            case OpenCaptureModal():
                sayso.open_capture_modal(
                    command["trigger_id"],
                    team,
                    user,
                    channel,
                    source={"response_url": command.get("response_url")},
                )
                ack()
            case OpenSettings():
                sayso.open_settings_modal(command["trigger_id"], user)
                ack()
            case Help():
                ack(**renderer.render("usage", sayso.locale_of(team, user), problem="").as_ack())
            case Watch(on=on):
                locale = sayso.watch(channel, user, on)
                ack(**renderer.render("watching", locale, watching=on, channel_id=channel).as_ack())
            case Show(number=number):
                detail = finder.show(user, number)
                ack(
                    **renderer.render(
                        "record_detail",
                        sayso.locale_of(team, user),
                        actions=ActionId,
                        record=detail.record,
                        revisions=detail.revisions,
                        events=detail.events,
                        thread_permalink=detail.thread_permalink,
                    ).as_ack()
                )
            case DigestNow():
                locale = sayso.locale_of(team, user)
                ack(
                    **renderer.render(
                        "digest",
                        locale,
                        digest=finder.shown_digest(sayso.digest_for(user), Audience(user_id=user)),
                        change="",
                        limit=DIGEST_ITEMS,
                        actions=ActionId,
                    ).as_ack()
                )
            case Export(number=number):
                finder.show(user, number)  # the same right to see it, or a plain refusal
                sayso.send_evidence(user, number)
                ack(
                    **renderer.render(
                        "evidence_coming", sayso.locale_of(team, user), number=number
                    ).as_ack()
                )
            case Search(line=line):
                found = finder.search(user, line)
                ack(
                    **renderer.render(
                        "search_results", sayso.locale_of(team, user), found=found, query=line
                    ).as_ack()
                )
            case Listing(which=which):
                found = finder.listing(user, which)
                ack(
                    **renderer.render(
                        "search_results",
                        sayso.locale_of(team, user),
                        found=found,
                        query=f"list {which}",
                    ).as_ack()
                )
            case capture:
                # Its number and the capture committed before the ack (bot/intake.py):
                # "Recorded #N" is never a broken promise.
                done = sayso.capture_from_command(capture)
                ack(**renderer.render("capture_ack", done.locale, record=done.record).as_ack())
