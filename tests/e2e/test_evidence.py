"""Evidence files: one record with its history, checkable by anyone, in JSON, Markdown and HTML.

The story: alice asks chen (Globex, Shanghai) to change a timer, with a `<script>` in the text;
chen asks for a change (revision 2), then confirms by replying "确认" in the thread. A day
later alice marks the record done, and the day after both days are sealed.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from bot import evidence
from bot.db import unit_of_work
from bot.emulator.sandbox import Sandbox
from bot.evidence import verify_evidence
from bot.ledger import checkpoints, hashchain
from bot.slack.ids import ActionId, BlockId
from tests.conftest import ALICE, CHANNEL, CHEN, TEAM, WANG, ZHAO, SaveStory
from tests.e2e.helpers import capture, click, record_json, request
from tests.stories import SavedStory
from tests.support import ManualClock, sayso

DOCS = Path(__file__).resolve().parents[2] / "docs" / "evidence.md"
FIRST = '请把 edge-3 的 BGP hold timer 改成30秒 <script>alert("x")</script> & restart'
SECOND = '请把 edge-3 的 BGP hold timer 改成90秒 <script>alert("x")</script> & restart'


@dataclass
class Story:
    sandbox: Sandbox
    clock: ManualClock
    database_url: str
    reply_ts: str

    def document(self, number: int = 1) -> dict[str, Any]:
        assert self.sandbox.runtime is not None
        with self.sandbox.runtime.session_factory() as session:
            return evidence.build_evidence(session, TEAM, number, self.clock.now())


def _event_of(document: dict[str, Any], event_type: str) -> dict[str, Any]:
    return next(e for e in document["events"] if e["type"] == event_type)


def _press(sandbox: Sandbox, user: str, number: int, action: ActionId) -> None:
    """By action id: the request is written in chen's language."""
    assert sandbox.driver is not None
    shown = request(sandbox, number)
    assert sandbox.driver.click(user, CHANNEL, shown["ts"], action).status == 200
    sandbox.settle()


def _request_change(sandbox: Sandbox, user: str, number: int, new_text: str) -> None:
    assert sandbox.driver is not None
    _press(sandbox, user, number, ActionId.CHANGE)
    (modal,) = sandbox.emulator.modals(user)
    values = {BlockId.TEXT: {"value": sandbox.driver.plain_text(new_text)}}
    sandbox.driver.submit_view(user, modal["id"], values)
    sandbox.settle()


@pytest.fixture(scope="module")
def saved_story(save_story: SaveStory[str]) -> SavedStory[str]:
    return save_story(_play_story, None)


@pytest.fixture
def story(saved_story: SavedStory[str], database_url: str, clock: ManualClock) -> Iterator[Story]:
    """Where the story (played once for the module) left off."""
    with saved_story.sandbox(database_url, clock) as sandbox:
        yield Story(sandbox, clock, database_url, saved_story.value)


def _play_story(sandbox: Sandbox, clock: ManualClock) -> str:
    """Returns the ts of chen's confirming reply."""
    assert sandbox.driver is not None and sandbox.runtime is not None
    capture(sandbox, ALICE, CHEN, f'{FIRST} risk:high "may drop traffic for 5 min"')
    clock.advance(minutes=2)
    _request_change(sandbox, CHEN, 1, SECOND)
    clock.advance(minutes=3)
    thread_ts = record_json(sandbox, 1)["thread_ts"]
    reply, _ = sandbox.driver.say(CHEN, CHANNEL, "确认", thread_ts=thread_ts)
    sandbox.settle()
    capture(sandbox, ALICE, WANG, "open port 443 on fw-2")
    assert record_json(sandbox, 1)["status"] == "confirmed"

    clock.advance(days=1)
    _press(sandbox, ALICE, 1, ActionId.DONE)  # on the second day
    clock.advance(days=1)
    with unit_of_work(sandbox.runtime.session_factory) as session:
        for day in checkpoints.pending_days(session, TEAM, clock.now()):
            checkpoints.checkpoint(session, TEAM, day, clock.now())
    return str(reply["ts"])


def _export(story: Story, tmp_path: Path, fmt: str) -> Path:
    target = tmp_path / f"evidence.{fmt}"
    result = sayso(
        story.database_url, "export", "1", "--format", fmt, "-o", str(target), cwd=tmp_path
    )
    assert result.exit_code == 0, result.stderr
    return target


def _verify(path: Path, story: Story) -> Result:
    return sayso(story.database_url, "verify-evidence", str(path), cwd=path.parent)


# --- what an evidence file holds ---------------------------------------------------------------


def test_the_document_holds_the_record_its_answers_thread_events_and_proofs(story: Story) -> None:
    document = story.document()
    assert document["format"] == "sayso-evidence/2"
    assert document["generated_at"].endswith("Z") and document["team_id"] == TEAM
    record = document["record"]
    assert (record["number"], record["status"], record["revision"]) == (1, "done", 2)
    assert record["text"] == SECOND and "events" not in record

    (confirmation,) = document["confirmations"]
    assert confirmation["user_id"] == CHEN and confirmation["real_name"] == "陈静"
    assert confirmation["org_name"] == "Globex" and confirmation["via"] == "reply"
    assert confirmation["evidence_ts"] == story.reply_ts
    assert confirmation["evidence_permalink"].startswith("https://")
    assert confirmation["tz"] == "Asia/Shanghai"
    assert confirmation["at"] == "2026-11-26T09:35:00.000000Z"
    assert confirmation["local_time"] == "2026-11-26T17:35:00.000000+08:00"
    assert confirmation["standing"] is True

    first, second = document["revisions"]
    assert first["changes"] == [["insert", FIRST]]
    assert ["delete", "30"] in second["changes"] and ["insert", "90"] in second["changes"]

    thread = document["thread"]
    assert any(m["text"] == "确认" and m["user"] == CHEN for m in thread["messages"])

    # Every event's hash is the ledger's own, recomputed from the exported content.
    for event in document["events"]:
        at = hashchain.datetime.fromisoformat(event["at"])
        assert event["hash"] == hashchain.content_hash(
            TEAM,
            event["seq"],
            1,
            event["type"],
            event["actor"],
            at,
            event["payload"],
            event["prev_hash"],
            event["record_prev"],
            event["record_count"],
        )
    assert {p["status"] for p in document["proofs"]} == {"sealed"}
    done = next(e for e in document["events"] if e["type"] == "done")
    days = {p["seq"]: p["day"] for p in document["proofs"]}
    assert days.pop(done["seq"]) == "2026-11-27" and set(days.values()) == {"2026-11-26"}
    assert document["completeness"]["leaf"]["head"] == done["hash"]

    checked = document["verification"]
    assert checked["ok"] and checked["problem"] is None
    assert checked["workspace_chain"]["ok"]
    assert [c["name"] for c in checked["checks"]] == [
        "format",
        "hashes",
        "links",
        "history",
        "proofs",
        "complete",
        "record",
        "revisions",
        "confirmations",
        "thread",
        "verdict",
    ]


def test_every_path_through_the_lifecycle_verifies(sandbox: Sandbox, clock: ManualClock) -> None:
    """Rejection, reopening, several requesters, withdrawal, closing, amending a confirmed
    record: the checks replay each exactly as the records module applies it."""
    assert sandbox.driver is not None and sandbox.runtime is not None
    m = sandbox.driver.mention
    sandbox.driver.command(ALICE, CHANNEL, f"{m(WANG)} {m(ZHAO)} drain edge-3")
    sandbox.settle()
    for user, label in (
        (WANG, "Confirm"),
        (ZHAO, "Reject"),
        (ALICE, "Reopen"),
        (WANG, "Confirm"),
        (ZHAO, "Confirm"),
        (ALICE, "Mark done"),
        (ALICE, "Reopen"),
        (ALICE, "Call off"),
    ):
        clock.advance(minutes=1)
        click(sandbox, user, 1, label)
    capture(sandbox, ALICE, WANG, "reboot core-1")
    click(sandbox, ALICE, 2, "Withdraw")
    capture(sandbox, ALICE, WANG, "open port 443 on fw-2")
    click(sandbox, WANG, 3, "Confirm")
    _request_change(sandbox, ALICE, 3, "open ports 443 and 8443 on fw-2")
    sandbox.driver.say(WANG, CHANNEL, "confirmed", thread_ts=record_json(sandbox, 3)["thread_ts"])
    sandbox.settle()

    clock.advance(days=1)  # the day sealed: a file shows a record's history once it is
    with unit_of_work(sandbox.runtime.session_factory) as session:
        for day in checkpoints.pending_days(session, TEAM, clock.now()):
            checkpoints.checkpoint(session, TEAM, day, clock.now())
    story = Story(sandbox, clock, "", "")
    expected = {1: "cancelled", 2: "withdrawn", 3: "confirmed"}
    for number, status in expected.items():
        document = story.document(number)
        assert document["record"]["status"] == status
        assert document["verification"]["ok"], document["verification"]["problem"]
    answers = story.document(1)["confirmations"]
    assert [(c["user_id"], c["answer"], c["standing"]) for c in answers] == [
        (WANG, "confirmed", False),
        (ZHAO, "rejected", False),
        (WANG, "confirmed", True),
        (ZHAO, "confirmed", True),
    ]
    (by_button, by_reply) = story.document(3)["confirmations"]
    assert (by_button["via"], by_button["revision"], by_button["standing"]) == ("button", 1, False)
    assert (by_reply["via"], by_reply["revision"], by_reply["standing"]) == ("reply", 2, True)


# --- exporting and checking files ---------------------------------------------------------------


def test_each_format_exports_and_verifies(story: Story, tmp_path: Path) -> None:
    for fmt in ("json", "md", "html"):
        path = _export(story, tmp_path, fmt)
        result = _verify(path, story)
        assert result.exit_code == 0, result.stdout + result.stderr
        assert result.stdout.startswith("OK: sayso-evidence/2, record #1 of T0ACME0001: ")
        assert "2026-11-26: size 8, root " in result.stdout
        # The function gives the same file as the command (but for the time it was made).
        document = json.loads(path.read_text()) if fmt == "json" else None
        if document is not None:
            assert evidence.render_evidence(document, "json") == path.read_text()

    document = story.document()
    for fmt in ("json", "md", "html"):
        report = evidence.verify_evidence_file(evidence.render_evidence(document, fmt))
        assert report.ok, report.problem
        assert [c.name for c in report.checks][-1] == ("verdict" if fmt == "json" else "readable")


def test_html_goes_to_a_named_file_and_the_rest_to_standard_output(
    story: Story, tmp_path: Path
) -> None:
    made = sayso(story.database_url, "export", "1", cwd=tmp_path)
    assert made.exit_code == 0, made.stderr
    assert (tmp_path / f"sayso-evidence-{TEAM}-1.html").exists()
    assert f"Wrote sayso-evidence-{TEAM}-1.html: record #1;" in made.stdout

    printed = sayso(story.database_url, "export", "1", "--format", "md", cwd=tmp_path)
    assert printed.exit_code == 0 and printed.stdout.startswith("<!-- Sayso evidence file")
    assert "```json" in printed.stdout

    for wrong in (
        ["export"],
        ["export", "1", "--all"],
        ["export", "1", "--format", "csv"],
        ["export", "--all", "--format", "html"],
    ):
        refused = sayso(story.database_url, *wrong, cwd=tmp_path)
        assert refused.exit_code == 2 and "sayso:" in refused.stderr, wrong
    missing = sayso(story.database_url, "export", "9", cwd=tmp_path)
    assert missing.exit_code == 1 and "no record #9" in missing.stderr


def _alter(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert text.count(old) >= 1, old
    path.write_text(text.replace(old, new, count))


def test_one_changed_character_in_the_data_names_the_event(story: Story, tmp_path: Path) -> None:
    document = story.document()
    confirmed, amended = _event_of(document, "confirmed"), _event_of(document, "amended")
    for fmt in ("json", "md", "html"):
        # The confirmation's time, as the confirmed event holds it: 09:35 becomes 09:34.
        path = _export(story, tmp_path, fmt)
        _alter(
            path,
            f'"at": "2026-11-26T09:35:00.000000Z",\n      "hash": "{confirmed["hash"]}"',
            f'"at": "2026-11-26T09:34:00.000000Z",\n      "hash": "{confirmed["hash"]}"',
        )
        result = _verify(path, story)
        assert result.exit_code == 1, result.stdout
        assert result.stdout.startswith(
            f"FAILED: hashes: event {confirmed['seq']} (confirmed, 2026-11-26T09:34"
        )
        assert "does not match its hash" in result.stdout

        # One digit of the instruction in the amended event's payload: 90 becomes 91.
        path = _export(story, tmp_path, fmt)
        _alter(
            path,
            '"text": "请把 edge-3 的 BGP hold timer 改成90秒',
            '"text": "请把 edge-3 的 BGP hold timer 改成91秒',
        )
        result = _verify(path, story)
        assert result.exit_code == 1
        assert result.stdout.startswith(f"FAILED: hashes: event {amended['seq']} (amended,")


def test_the_record_must_say_what_its_events_say(story: Story) -> None:
    document = story.document()
    document["record"]["text"] = SECOND.replace("90", "60")
    report = verify_evidence(document)
    assert not report.ok
    assert report.problem is not None and report.problem.startswith("record: the record's text")
    assert f"event {_event_of(document, 'amended')['seq']} (amended" in report.problem

    document = story.document()
    document["confirmations"][0]["local_time"] = "2026-11-26T16:35:00.000000+08:00"
    problem = verify_evidence(document).problem
    assert problem is not None and problem.startswith("confirmations: the local time")

    document = story.document()
    document["thread"]["messages"][-1]["text"] = "不确认"
    problem = verify_evidence(document).problem
    assert problem is not None and problem.startswith("thread: the thread copy")


def test_the_readable_part_cannot_be_changed_on_its_own(story: Story, tmp_path: Path) -> None:
    html = _export(story, tmp_path, "html")
    _alter(
        html,
        '<div class="instruction">请把 edge-3 的 BGP hold timer 改成90秒',
        '<div class="instruction">请把 edge-3 的 BGP hold timer 改成30秒',
    )
    result = _verify(html, story)
    assert result.exit_code == 1
    assert result.stdout.startswith("FAILED: readable: line ")
    assert "改成30秒" in result.stdout

    md = _export(story, tmp_path, "md")
    _alter(md, "| Risk | high — may drop traffic for 5 min |", "| Risk | none |")
    result = _verify(md, story)
    assert result.exit_code == 1 and result.stdout.startswith("FAILED: readable: line ")


def test_a_changed_proof_or_root_fails(story: Story, tmp_path: Path) -> None:
    document = story.document()
    seq = _event_of(document, "confirmed")["seq"]
    proof = next(p for p in document["proofs"] if p["seq"] == seq)
    step = proof["path"][1]
    proof["path"][1] = ("0" if step[0] != "0" else "1") + step[1:]  # one character
    problem = verify_evidence(document).problem
    assert problem is not None
    assert problem.startswith(
        f"proofs: event {seq} (confirmed, 2026-11-26T09:35:00.000000Z): its inclusion proof "
        f"(leaf {proof['index']} of {proof['tree_size']}) does not lead to the root"
    )

    document = story.document()
    wrong_root = "ab" * 32
    for proof in document["proofs"]:
        if proof["status"] == "sealed":
            proof["root"] = wrong_root
    path = tmp_path / "wrong-root.json"
    path.write_text(evidence.render_evidence(document, "json"))
    result = _verify(path, story)
    assert result.exit_code == 1
    assert result.stdout.startswith("FAILED: proofs: event 1 (captured,")

    document = story.document()
    document["proofs"][1]["tree_size"] += 1
    problem = verify_evidence(document).problem
    assert problem is not None and "another head for 2026-11-26" in problem


def test_files_that_are_not_evidence_exit_2(story: Story, tmp_path: Path) -> None:
    others = {
        "page.html": "<!DOCTYPE html><html><body><script>var x = 1;</script></body></html>",
        "notes.md": '# Notes\n\n```json\n{"format": "something-else"}\n```\n',
        "data.json": json.dumps({"format": "other", "events": []}),
        "list.json": "[1, 2, 3]",
        "binary.bin": "\udcff",
    }
    for name, text in others.items():
        path = tmp_path / name
        if name == "binary.bin":
            path.write_bytes(b"\xff\xfe\x00garbage")
        else:
            path.write_text(text)
        result = _verify(path, story)
        assert result.exit_code == 2, (name, result.stdout, result.stderr)
        assert "not a Sayso evidence file" in result.stderr, name
    assert _verify(tmp_path / "absent.html", story).exit_code == 2


class _Nesting(HTMLParser):
    """Fails on a closing tag that does not close the innermost open element."""

    VOID = frozenset({"meta", "br", "link", "img", "hr", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1:]}>"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_html_is_well_formed_escaped_and_keeps_chinese(story: Story, tmp_path: Path) -> None:
    html = _export(story, tmp_path, "html").read_text()
    parser = _Nesting()
    parser.feed(html)
    parser.close()
    assert parser.open == []
    assert html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in html
    # Only our own script element, holding data; the user's <script> is text.
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert scripts == [{"type": "application/json", "id": "sayso-evidence"}]
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;x&#34;)" in html
    assert "\\u003cscript\\u003e" in html  # inside the embedded JSON
    assert "请把 edge-3 的 BGP hold timer 改成90秒" in html and "陈静" in html
    shown = "".join(parser.text)
    assert SECOND in shown  # what the reader sees, once entities are decoded
    assert "@page" in html and "size: A4" in html and "@media print" in html
    assert not re.search(r"""(src|href)=["'](?!https://)""", html)  # nothing fetched

    md = _export(story, tmp_path, "md").read_text()
    assert "> 请把 edge-3 的 BGP hold timer 改成90秒 &lt;script&gt;" in md
    assert "<script>" not in md.split("```json")[0]


def test_export_all_gives_one_row_per_record(story: Story, tmp_path: Path) -> None:
    table = tmp_path / "records.csv"
    result = sayso(story.database_url, "export", "--all", "-o", str(table), cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert table.read_bytes().startswith(b"\xef\xbb\xbf")  # spreadsheets then read UTF-8
    rows = list(csv.DictReader(io.StringIO(table.read_text(encoding="utf-8-sig"))))
    assert [(r["number"], r["status"]) for r in rows] == [("1", "done"), ("2", "pending")]
    assert rows[0]["text"] == SECOND and rows[0]["risk"] == "high"
    assert rows[0]["requesters"] == "陈静 <U0CHEN0001> (Globex): confirmed"
    assert rows[0]["thread_permalink"].startswith("https://acme.slack.com/archives/")
    assert rows[0]["confirmed_at"] == "2026-11-26T09:35:00.000000Z"

    lines = sayso(story.database_url, "export", "--all", "--format", "jsonl", cwd=tmp_path)
    assert lines.exit_code == 0, lines.stderr
    # The JSON Lines export is the full backup (`write_backup`); its record lines are the rows.
    found = [json.loads(line) for line in lines.stdout.splitlines()]
    records = [r for r in found if r["type"] == "record"]
    assert [r["number"] for r in records] == [1, 2]
    assert records[1]["requesters"][0]["user_id"] == WANG


def test_a_formula_typed_as_an_instruction_stays_text_in_csv() -> None:
    row = dict.fromkeys(evidence.ROW_FIELDS, "")
    row.update(text='=HYPERLINK("http://evil")', requesters=[])
    written = evidence.render_rows([row], "csv")
    assert "'=HYPERLINK" in written


# --- the hand check in docs/evidence.md, run as written -----------------------------------------


def _doc_blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", DOCS.read_text(), re.MULTILINE | re.DOTALL)


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("bash", "jq", "xxd", "sha256sum", "sed")),
    reason="the hand check needs bash, jq, xxd, sha256sum and sed",
)
def test_the_hand_check_in_the_docs_works(story: Story, tmp_path: Path) -> None:
    blocks = _doc_blocks()
    from_html = next(b for b in blocks if "evidence.html" in b)
    from_md = next(b for b in blocks if "evidence.md" in b and "sed" in b)
    hashing = next(b for b in blocks if "sha256sum event.txt" in b)
    walk = next(b for b in blocks if b.startswith("walk() {"))
    walking = next(b for b in blocks if "'.proofs[]" in b)
    publishing = next(b for b in blocks if b.startswith("printf '02"))
    whole = next(b for b in blocks if "'.completeness'" in b)
    assert hashing.startswith("S=5")  # the event to check is chosen on the first line
    document = json.loads(_export(story, tmp_path, "json").read_text())
    for source, block in (("html", from_html), ("md", from_md)):
        exported = _export(story, tmp_path, source)
        exported.rename(tmp_path / f"evidence.{source}")
        _bash(block, tmp_path)
        assert json.loads((tmp_path / "evidence.json").read_text())["events"] == document["events"]

    proofs = {p["seq"]: p for p in document["proofs"]}
    for event in document["events"]:
        seq = event["seq"]
        proof = proofs[seq]
        assert proof["status"] == "sealed"
        script = hashing + walk + walking + publishing
        out = _bash(script.replace("S=5", f"S={seq}"), tmp_path).splitlines()
        assert out[0] == out[1] == event["hash"], out
        assert out[-2:] == [f"sn=0 root={proof['events_root']}", proof["root"]], out

    # The whole history: counts and links line by line, and the record's leaf to its root.
    out = _bash(walk + whole, tmp_path).splitlines()
    events = document["events"]
    assert out[: len(events)] == [
        f"{e['record_count']} {e['record_prev']} {e['hash']}" for e in events
    ]
    assert out[-1] == f"sn=0 root={document['completeness']['records_root']}", out

    # The same walk over a path with one step replaced does not reach the root.
    seq = _event_of(document, "confirmed")["seq"]
    _alter(tmp_path / "evidence.json", proofs[seq]["path"][0], "00" * 32)
    script = (hashing + walk + walking).replace("S=5", f"S={seq}")
    out = _bash(script, tmp_path).splitlines()
    assert out[-1].startswith("sn=0 root=") and out[-1] != f"sn=0 root={proofs[seq]['events_root']}"


def _bash(script: str, cwd: Path) -> str:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_day_not_sealed_yet_is_said_plainly(
    sandbox: Sandbox, database_url: str, tmp_path: Path
) -> None:
    capture(sandbox, ALICE, WANG, "reboot edge-3")
    for fmt in ("md", "html"):
        exported = sayso(database_url, "export", "1", "--format", fmt, "-o", "-", cwd=tmp_path)
        assert "not sealed yet: the next daily checkpoint seals it" in exported.stdout, fmt
        # The data embedded in the file keeps its status word: checkers read that.
        assert '"status": "not yet sealed"' in exported.stdout, fmt


def test_the_thread_shows_emoji_not_shortcodes(
    sandbox: Sandbox, database_url: str, tmp_path: Path
) -> None:
    capture(sandbox, ALICE, WANG, "reboot edge-3")
    assert sandbox.driver is not None
    thread_ts = record_json(sandbox, 1)["thread_ts"]
    sandbox.driver.say(WANG, CHANNEL, "looks fine :+1: :memo:", thread_ts=thread_ts)
    click(sandbox, WANG, 1, "Confirm")
    exported = sayso(database_url, "export", "1", "--format", "md", "-o", "-", cwd=tmp_path)
    assert "looks fine 👍 📝" in exported.stdout
    # What was hashed and embedded keeps Slack's text.
    assert "looks fine :+1: :memo:" in exported.stdout
