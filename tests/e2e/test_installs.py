"""Installed into many workspaces: the OAuth flow through `sayso serve` and the emulator's
consent page, each workspace served with its own token and seeing only its own records, and
an uninstall that removes the token, keeps the records and says so in the ledger."""

from __future__ import annotations

from pathlib import Path

import pytest
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from sqlalchemy import MetaData, Table, select

from bot.db import make_engine, make_session_factory
from bot.emulator import SlackDriver, SlackEmulator
from bot.emulator.tenant import Tenant
from bot.ledger.verify import verify
from bot.models import AuditEvent, Record
from tests.conftest import ALICE, CHANNEL, TEAM, WANG
from tests.support import ServeProcess

GLOBEX = "T0GLOBEX01"
GLOBEX_CHANNEL = "C0GLOBEX01"
BOB, SUN = "U0GBOB0001", "U0GSUN0001"
OAUTH = {
    "SLACK_CLIENT_ID": "1234.5678",
    "SLACK_CLIENT_SECRET": "client-secret",
    "SLACK_STATE_SECRET": "state-secret-for-tests",
}


@pytest.fixture
def globex(emulator: SlackEmulator) -> Tenant:
    tenant = emulator.add_workspace(GLOBEX, "Globex", "globex", installed=False)
    tenant.add_user(BOB, "bob")
    tenant.add_user(SUN, "sun")
    tenant.add_channel(GLOBEX_CHANNEL, "core-network", members=[BOB, SUN])
    return tenant


def _records(database_url: str) -> list[tuple[str, int, str]]:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            rows = session.execute(
                select(Record.team_id, Record.number, Record.text).order_by(Record.id)
            )
            return [tuple(row) for row in rows]  # type: ignore[misc]
    finally:
        engine.dispose()


def test_installed_into_two_workspaces_then_uninstalled_from_one(
    emulator: SlackEmulator, globex: Tenant, tmp_path: Path, database_url: str
) -> None:
    server = ServeProcess(tmp_path, emulator, database_url, SAYSO_WORKERS="1", **OAUTH)
    try:
        server.wait_until_healthy()
        # The Slack app's Redirect URL (OAuth & Permissions), as manifest.yml declares it.
        emulator.configure_oauth(
            OAUTH["SLACK_CLIENT_ID"],
            OAUTH["SLACK_CLIENT_SECRET"],
            redirect_urls=[f"http://127.0.0.1:{server.port}/slack/oauth_redirect"],
        )
        acme = SlackDriver(server.events_url, server.secret, emulator)
        globex_driver = SlackDriver(server.events_url, server.secret, globex)

        # Not installed yet: Slack's signed request gets Bolt's "please reinstall" note.
        refused = globex_driver.command(BOB, GLOBEX_CHANNEL, f"{globex_driver.mention(SUN)} reboot")
        assert "Recorded" not in refused.text

        for driver, user in ((acme, ALICE), (globex_driver, BOB)):
            page = driver.install(user)
            assert page.status == 200, page.body
            assert "error" not in page.body.lower()
        cancelled = globex_driver.install(SUN, approve=False)
        assert cancelled.status != 200 or "access_denied" in cancelled.body

        first = acme.command(ALICE, CHANNEL, f"{acme.mention(WANG)} open port 443 on fw-2")
        assert first.text == f"Recorded #1, waiting for <@{WANG}>."
        second = globex_driver.command(
            BOB, GLOBEX_CHANNEL, f"{globex_driver.mention(SUN)} drain the core router"
        )
        assert second.text == f"Recorded #1, waiting for <@{SUN}>."  # numbered per workspace

        # Each card goes out with its own workspace's token, into its own channel.
        emulator.wait_for(lambda: len(emulator.messages(CHANNEL)) == 1, timeout=20)
        globex.wait_for(lambda: len(globex.messages(GLOBEX_CHANNEL)) == 1, timeout=20)
        posts = emulator.calls("chat.postMessage")
        assert {(c.team_id, c.params["channel"]) for c in posts if c.response.get("ok")} == {
            (TEAM, CHANNEL),
            (GLOBEX, GLOBEX_CHANNEL),
        }
        # Each workspace sees only its own #1.
        shown = globex_driver.command(BOB, GLOBEX_CHANNEL, "show 1").text
        assert "core router" in shown and "port 443" not in shown

        for event in globex.uninstall():
            assert globex_driver.event(event).status == 200
        after = globex_driver.command(BOB, GLOBEX_CHANNEL, f"{globex_driver.mention(SUN)} again")
        assert "Recorded" not in after.text
        still = acme.command(ALICE, CHANNEL, f"{acme.mention(WANG)} close port 23")
        assert still.text == f"Recorded #2, waiting for <@{WANG}>."
    finally:
        output = server.stop()
    assert "Traceback" not in output, output

    assert _records(database_url) == [
        (TEAM, 1, "open port 443 on fw-2"),
        (GLOBEX, 1, "drain the core router"),  # kept after the uninstall
        (TEAM, 2, "close port 23"),
    ]
    engine = make_engine(database_url)
    with make_session_factory(engine)() as session:
        gone = session.execute(
            select(AuditEvent.type).where(
                AuditEvent.team_id == GLOBEX, AuditEvent.record_id.is_(None)
            )
        ).scalars()
        assert set(gone) == {"app_uninstalled", "tokens_revoked"}
        bots = session.execute(select(_bots().c.team_id)).scalars()
        assert set(bots) == {TEAM}
        report = verify(session)
    engine.dispose()
    assert report.ok, report.problem


def _bots() -> Table:
    return SQLAlchemyInstallationStore.build_bots_table(MetaData(), "slack_bots")
