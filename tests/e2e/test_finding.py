"""/confirm show, search and list: the right records, found fast, only for those entitled."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.emulator.sandbox import Sandbox
from tests.conftest import ALICE, BOB, CHANNEL, LI, TEAM, WANG, ZHAO
from tests.e2e.helpers import capture, click
from tests.support import sayso

PRIVATE = "C0PRIVATE1"


def _ask(sandbox: Sandbox, user: str, text: str, channel: str = CHANNEL) -> str:
    assert sandbox.driver is not None
    response = sandbox.driver.command(user, channel, text)
    assert response.status == 200, response.body
    body = response.json()
    assert body["response_type"] == "ephemeral"
    return "\n".join([body["text"], *(str(b) for b in body.get("blocks", []))])


def _story(sandbox: Sandbox) -> None:
    capture(sandbox, ALICE, WANG, "please change the BGP hold timer on edge-3 to 30s")
    capture(sandbox, ALICE, ZHAO, "请把网络参数改成30秒")
    click(sandbox, WANG, 1, "Confirm")
    assert sandbox.driver is not None
    sandbox.emulator.add_channel(PRIVATE, "board-only", members=[ALICE, BOB])
    response = sandbox.driver.command(
        ALICE, PRIVATE, f"{sandbox.driver.mention(BOB)} cut the budget for edge-9 risk:high"
    )
    assert response.status == 200
    sandbox.settle()


def test_show_gives_members_the_whole_record(sandbox: Sandbox) -> None:
    _story(sandbox)
    shown = _ask(sandbox, LI, "show 1")
    assert "please change the BGP hold timer on edge-3 to 30s" in shown
    assert "Confirmed by" in shown
    assert "Open thread" in shown and "https://" in shown
    assert "captured" in shown and "confirmed" in shown  # the last events of its history


def test_show_refuses_plainly_without_revealing_anything(sandbox: Sandbox) -> None:
    _story(sandbox)
    refused = _ask(sandbox, LI, "show 3")  # li is not in #board-only
    missing = _ask(sandbox, LI, "show 99")
    assert "budget" not in refused and "edge-9" not in refused
    assert "#3 is not one you can see" in refused
    # A number that does not exist gets the same words: guessing tells nothing.
    assert missing.replace("99", "3") == refused
    assert "cut the budget" in _ask(sandbox, BOB, "show 3", channel=PRIVATE)


def test_search_finds_chinese_words_inside_chinese_text(sandbox: Sandbox) -> None:
    _story(sandbox)
    for words in ("网络参数", "参数", "改成30秒"):
        found = _ask(sandbox, LI, f"search {words}")
        assert "*#2*" in found and "*#1*" not in found, words
    assert "*#1*" in _ask(sandbox, LI, "search HOLD timer")
    assert "Nothing found" in _ask(sandbox, LI, "search 参数 timer")


def test_search_filters(sandbox: Sandbox) -> None:
    _story(sandbox)
    assert sandbox.driver is not None
    m = sandbox.driver.mention
    found = _ask(sandbox, LI, "search 30 status:pending")
    assert "*#2*" in found and "*#1*" not in found
    found = _ask(sandbox, LI, f"search 30 from:{m(WANG)}")
    assert "*#1*" in found and "*#2*" not in found
    found = _ask(sandbox, ALICE, "search edge risk:high")
    assert "*#3*" in found and "*#1*" not in found
    found = _ask(sandbox, ALICE, f"search edge in:<#{PRIVATE}|board-only>")
    assert "*#3*" in found and "*#1*" not in found
    assert "Nothing found" in _ask(sandbox, LI, "search 30 before:2026-01-01")
    assert "*#1*" in _ask(sandbox, LI, "search 30 after:2026-01-01")
    assert "could not read" in _ask(sandbox, LI, "search 30 status:maybe")


def test_search_leaves_out_records_of_channels_you_are_not_in(sandbox: Sandbox) -> None:
    _story(sandbox)
    assert "*#3*" not in _ask(sandbox, LI, "search edge")
    assert "*#3*" in _ask(sandbox, BOB, "search edge", channel=PRIVATE)


def test_lists(sandbox: Sandbox) -> None:
    _story(sandbox)
    assert "*#2*" in _ask(sandbox, LI, "list pending")
    assert "*#1*" not in _ask(sandbox, LI, "list pending")
    mine = _ask(sandbox, ALICE, "list mine")
    assert all(f"*#{n}*" in mine for n in (1, 2, 3))
    assert "*#3*" in _ask(sandbox, ALICE, "list risky")
    assert "Nothing found" in _ask(sandbox, ALICE, "list overdue")
    assert "Lists are" in _ask(sandbox, ALICE, "list everything")


def test_cli_search_and_filtered_records(
    sandbox: Sandbox, database_url: str, tmp_path: Path
) -> None:
    _story(sandbox)

    def run(*args: str) -> list[dict[str, Any]]:
        done = sayso(database_url, *args, "--json", cwd=tmp_path)
        assert done.exit_code == 0, done.stderr
        result: list[dict[str, Any]] = json.loads(done.stdout)
        return result

    assert [r["number"] for r in run("search", "网络参数")] == [2]
    assert [r["number"] for r in run("search", "edge")] == [3, 1]  # newest first
    assert [r["number"] for r in run("records", "status:pending")] == [2, 3]
    assert [r["number"] for r in run("records", "risk:high", "edge")] == [3]


def test_the_search_index_survives_migrations(database_url: str) -> None:
    """A later migration that copies the records table (SQLite batch mode) would silently
    drop the triggers that keep the trigram index current."""
    from sqlalchemy import inspect, text

    from bot import migrate
    from bot.db import make_engine

    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            triggers = (
                connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
                .scalars()
                .all()
            )
            assert set(triggers) >= {
                "records_fts_insert",
                "records_fts_update",
                "records_fts_delete",
            }
        else:
            indexes = {i["name"] for i in inspect(connection).get_indexes("records")}
            assert "ix_records_text_trgm" in indexes
    engine.dispose()


def test_find_a_confirmation_from_the_global_shortcut(sandbox: Sandbox) -> None:
    from bot.slack.ids import BlockId, CallbackId

    _story(sandbox)
    assert sandbox.driver is not None
    assert sandbox.driver.shortcut(LI, CallbackId.FIND_SHORTCUT.value).status == 200
    (form,) = sandbox.emulator.modals(LI)
    answer = sandbox.driver.submit_view(
        LI, form["id"], {BlockId.QUERY: {"value": sandbox.driver.plain_text("网络参数")}}
    )
    assert answer.json()["response_action"] == "update"
    (results,) = sandbox.emulator.modals(LI)
    shown = str(results["blocks"])
    assert "*#2*" in shown and "*#1*" not in shown and "*#3*" not in shown

    refused = sandbox.driver.submit_view(
        LI, results["id"], {BlockId.QUERY: {"value": sandbox.driver.plain_text("x risk:huge")}}
    )
    assert "could not read" in refused.json()["errors"][BlockId.QUERY]


def test_export_sends_the_evidence_file_by_direct_message(sandbox: Sandbox) -> None:
    import json

    from bot.db import unit_of_work
    from bot.evidence import verify_evidence_file
    from bot.ledger import checkpoints

    _story(sandbox)
    assert sandbox.clock is not None and sandbox.runtime is not None
    # A file shows the record's whole history once its days are sealed: the next day.
    sandbox.clock.advance(days=1)
    with unit_of_work(sandbox.runtime.session_factory) as session:
        for day in checkpoints.pending_days(session, TEAM, sandbox.clock.now()):
            checkpoints.checkpoint(session, TEAM, day, sandbox.clock.now())
    said = _ask(sandbox, LI, "export 1")
    assert "on its way to you by direct message" in said
    sandbox.settle()
    uploads = [c for c in sandbox.emulator.calls("files.completeUploadExternal")]
    assert len(uploads) == 1
    listed = uploads[0].params["files"]
    file_id = (json.loads(listed) if isinstance(listed, str) else listed)[0]["id"]
    sent = sandbox.emulator.file(file_id)
    assert sent is not None and sent["name"] == "sayso-evidence-T0ACME0001-1.html"
    assert sent["shares"] and sent["shares"][0]["channel"].startswith("D")
    page = sent["content"].decode()
    assert "please change the BGP hold timer" in page
    checked = verify_evidence_file(page)
    assert checked.ok, checked.problem

    refused = _ask(sandbox, LI, "export 3")  # #3 is in a channel li is not in
    assert "is not one you can see" in refused
    sandbox.settle()
    assert len(sandbox.emulator.calls("files.completeUploadExternal")) == 1


def test_an_export_of_today_says_it_can_be_checked_in_full_tomorrow(sandbox: Sandbox) -> None:
    import json

    from bot.evidence import verify_evidence_file

    _story(sandbox)
    said = _ask(sandbox, LI, "export 1")  # the same day: no checkpoint has sealed it yet
    assert "on its way to you by direct message" in said
    sandbox.settle()
    (upload,) = sandbox.emulator.calls("files.completeUploadExternal")
    assert "Export it again tomorrow" in upload.params["initial_comment"]
    listed = upload.params["files"]
    file_id = (json.loads(listed) if isinstance(listed, str) else listed)[0]["id"]
    sent = sandbox.emulator.file(file_id)
    assert sent is not None
    page = sent["content"].decode()
    assert "Not checkable in full yet" in page
    checked = verify_evidence_file(page)
    assert not checked.ok and checked.pending, checked.problem


def test_another_workspace_in_the_same_database_is_never_found(
    sandbox: Sandbox, database_url: str
) -> None:
    from bot.db import make_engine, make_session_factory, unit_of_work
    from bot.records import lifecycle
    from bot.records.lifecycle import Capture

    _story(sandbox)
    engine = make_engine(database_url)
    with unit_of_work(make_session_factory(engine)) as session:
        assert sandbox.clock is not None
        lifecycle.capture(
            session,
            sandbox.clock.now(),
            Capture(
                team_id="T0OTHER001",
                channel_id=CHANNEL,
                captured_by_id=LI,
                requester_ids=(LI,),
                text="机密的网络参数 of another company",
            ),
        )
    engine.dispose()
    assert "another company" not in _ask(sandbox, LI, "search 网络参数")
    assert "another company" not in _ask(sandbox, LI, "list mine")
    assert "请把网络参数改成30秒" in _ask(sandbox, LI, "show 2")
