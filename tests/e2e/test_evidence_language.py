"""Evidence files read well in the reader's language: English or Chinese, with the workspace
and channel named; and files made before that (layout 2) still render and check."""

from __future__ import annotations

import json
from pathlib import Path

from bot import evidence
from bot.emulator.sandbox import Sandbox
from bot.evidence.wording import evidence_catalog
from bot.slack import i18n
from tests.conftest import ALICE, CHANNEL, CHEN, WANG
from tests.e2e.helpers import capture, click
from tests.support import ManualClock, sayso

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _sent_file(sandbox: Sandbox) -> str:
    (upload,) = sandbox.emulator.calls("files.completeUploadExternal")
    listed = upload.params["files"]
    file_id = (json.loads(listed) if isinstance(listed, str) else listed)[0]["id"]
    sent = sandbox.emulator.file(file_id)
    assert sent is not None
    return str(sent["content"].decode())


def test_a_file_sent_in_slack_names_the_workspace_and_channel_in_the_askers_language(
    sandbox: Sandbox,
) -> None:
    """chen reads Slack in Chinese: the file he asks for is in Chinese, and its header names
    the workspace and #edge-upgrade beside their IDs."""
    assert sandbox.driver is not None
    capture(sandbox, ALICE, CHEN, "open port 443 on edge-3")
    assert sandbox.driver.command(CHEN, CHANNEL, "export 1").status == 200
    sandbox.settle()
    page = _sent_file(sandbox)
    document, _ = evidence.read_evidence(page)
    assert document["language"] == "zh-CN"
    assert document["channel_name"] == "edge-upgrade" and document["workspace_name"]
    header = page.split("</header>")[0]
    assert f"#edge-upgrade ({CHANNEL})" in header
    assert f"{document['workspace_name']} ({document['team_id']})" in header
    assert '<html lang="zh-CN">' in page and "指令原文" in page and "记录 #1" in page
    assert ">待确认<" in page  # the status, from [state]
    assert "<td>发布卡片</td>" in page  # card_posted, from [event]
    # Names are words for the reader, not data any hash covers: the file still checks,
    # and a changed name is caught as a changed readable part.
    checked = evidence.verify_evidence_file(page)
    assert checked.checks[-1].ok, checked.checks[-1].detail
    forged = page.replace("#edge-upgrade (", "#other (", 1)
    assert not evidence.verify_evidence_file(forged).checks[-1].ok


def test_export_lang_writes_chinese_that_verifies(
    sandbox: Sandbox, clock: ManualClock, database_url: str, tmp_path: Path
) -> None:
    capture(sandbox, ALICE, WANG, "drain edge-3 before the window")
    click(sandbox, WANG, 1, "Confirm")
    clock.advance(days=1)
    sayso(database_url, "checkpoint", cwd=tmp_path)
    for fmt in ("md", "html"):
        target = tmp_path / f"zh.{fmt}"
        made = sayso(
            database_url,
            "export",
            "1",
            "--format",
            fmt,
            "--lang",
            "zh-CN",
            "-o",
            str(target),
            cwd=tmp_path,
        )
        assert made.exit_code == 0, made.stderr
        text = target.read_text()
        assert "## 记录的完整历史" in text or "<h2>记录的完整历史</h2>" in text
        assert "如何核验本文件" in text and "已确认" in text and "发布卡片" in text
        assert "The instruction, exactly as confirmed" not in text
        checked = sayso(database_url, "verify-evidence", str(target), cwd=tmp_path)
        assert checked.exit_code == 0, checked.stdout + checked.stderr
        # Offline, the command line has no names from Slack: the IDs stand alone.
        assert "channel_name" not in evidence.read_evidence(text)[0]
    english = sayso(database_url, "export", "1", "--format", "md", "--lang", "en", cwd=tmp_path)
    assert "## The instruction, exactly as confirmed" in english.stdout
    assert "| card posted |" in english.stdout  # event names read as words in English too


def test_files_laid_out_before_languages_still_render_and_check() -> None:
    for fmt in ("md", "html"):
        text = (FIXTURES / f"evidence-layout2.{fmt}").read_text()
        assert evidence.LEGACY_LAYOUT in text
        document, _ = evidence.read_evidence(text)
        assert "language" not in document and "workspace_name" not in document
        checked = evidence.verify_evidence_file(text)
        assert checked.ok, checked.problem
        assert evidence.render_evidence(document, fmt, evidence.LEGACY_LAYOUT) == text
        # Rendered anew, the same data reads in the new layout, still in English.
        again = evidence.verify_evidence_file(evidence.render_evidence(document, fmt))
        assert again.ok, again.problem


def test_both_catalogs_have_the_same_keys_and_fields() -> None:
    english, chinese = evidence_catalog("en"), evidence_catalog("zh-CN")
    assert english.keys() == chinese.keys()
    for key, text in english.items():
        assert i18n.fields(text) == i18n.fields(chinese[key]), key
    # The English statement is the one the data holds and the checks compare word for word.
    assert english["evidence.not_covered"] == evidence.NOT_COVERED
