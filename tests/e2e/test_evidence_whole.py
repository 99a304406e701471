"""Evidence files hold against someone who re-renders them: a file must show the record's whole
history (its last event is the record's last as of the newest checkpoint), anything that cannot
be checked fully fails, and the HTML page loads nothing and runs nothing.

The story: alice asks wang to drain edge-3 (#1); wang confirms; zhao is asked to reboot core-1
(#2) and rejects it. The next day alice marks #1 done. Both days are sealed afterwards.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bot import evidence
from bot.db import unit_of_work
from bot.emulator.sandbox import Sandbox
from bot.ledger import checkpoints, hashchain
from bot.ledger.verify import verify
from bot.models import AuditEvent, Checkpoint, Workspace
from tests.conftest import ALICE, TEAM, WANG, ZHAO, SaveStory
from tests.e2e.helpers import capture, click, record_json
from tests.stories import SavedStory
from tests.support import ManualClock, sayso


@dataclass
class Story:
    sandbox: Sandbox
    clock: ManualClock
    database_url: str

    def document(self, number: int) -> dict[str, Any]:
        assert self.sandbox.runtime is not None
        with self.sandbox.runtime.session_factory() as session:
            return evidence.build_evidence(session, TEAM, number, self.clock.now())

    def seal(self) -> None:
        """What the daily checkpoint does: seal every finished day."""
        assert self.sandbox.runtime is not None
        with unit_of_work(self.sandbox.runtime.session_factory) as session:
            for day in checkpoints.pending_days(session, TEAM, self.clock.now()):
                checkpoints.checkpoint(session, TEAM, day, self.clock.now())


@pytest.fixture(scope="module")
def saved_story(save_story: SaveStory[None]) -> SavedStory[None]:
    return save_story(_play_story, None)


@pytest.fixture
def story(saved_story: SavedStory[None], database_url: str, clock: ManualClock) -> Iterator[Story]:
    """Where the story (played once for the module) left off."""
    with saved_story.sandbox(database_url, clock) as sandbox:
        yield Story(sandbox, clock, database_url)


def _play_story(sandbox: Sandbox, clock: ManualClock) -> None:
    capture(sandbox, ALICE, WANG, "drain edge-3 before the maintenance window")
    clock.advance(minutes=2)
    click(sandbox, WANG, 1, "Confirm")
    capture(sandbox, ALICE, ZHAO, "reboot core-1 tonight")
    clock.advance(minutes=2)
    click(sandbox, ZHAO, 2, "Reject")
    clock.advance(days=1)
    click(sandbox, ALICE, 1, "Mark done")
    assert (record_json(sandbox, 1)["status"], record_json(sandbox, 2)["status"]) == (
        "done",
        "rejected",
    )
    clock.advance(days=1)
    Story(sandbox, clock, "").seal()


def _verify_text(story: Story, tmp_path: Path, text: str, name: str) -> Any:
    path = tmp_path / name
    path.write_text(text)
    return sayso(story.database_url, "verify-evidence", str(path), cwd=tmp_path)


def _rendered(document: dict[str, Any]) -> dict[str, str]:
    return {fmt: evidence.render_evidence(document, fmt) for fmt in ("json", "md", "html")}


def _without(document: dict[str, Any], event_type: str) -> dict[str, Any]:
    """The file an insider re-renders with one event of the record left out: the record's
    fields put back as they were before it, the exporter's verdict left out."""
    forged = copy.deepcopy(document)
    gone = next(e for e in forged["events"] if e["type"] == event_type)
    forged["events"].remove(gone)
    forged["proofs"] = [p for p in forged["proofs"] if p["seq"] != gone["seq"]]
    forged["confirmations"] = [c for c in forged["confirmations"] if c["seq"] != gone["seq"]]
    forged.pop("verification")
    record = forged["record"]
    if event_type == "done":
        record["status"] = "confirmed"
    if event_type == "rejected":
        record.update(status="pending", decided_at=None, decided_by_id=None)
        for requester in record["requesters"]:
            requester.update(answer="pending", answered_at=None, answered_revision=None, via=None)
    return forged


# --- 14: the file holds the record's whole history ---------------------------------------------


def test_a_whole_history_passes_and_says_as_of_which_checkpoint(
    story: Story, tmp_path: Path
) -> None:
    for number in (1, 2):
        document = story.document(number)
        assert document["verification"]["ok"], document["verification"]["problem"]
        assert [e["record_count"] for e in document["events"]] == list(
            range(1, len(document["events"]) + 1)
        )
        assert document["events"][0]["record_prev"] == hashchain.GENESIS_HASH
        complete = document["completeness"]
        assert (complete["status"], complete["day"]) == ("sealed", "2026-11-27")
        assert complete["leaf"] == {
            "record": number,
            "head": document["events"][-1]["hash"],
            "count": len(document["events"]),
        }
        for fmt, text in _rendered(document).items():
            result = _verify_text(story, tmp_path, text, f"whole.{fmt}")
            assert result.exit_code == 0, result.stdout + result.stderr
            assert "complete as of the checkpoint of 2026-11-27" in result.stdout
            assert "Not covered by any hash: people's names" in result.stdout


@pytest.mark.parametrize(("number", "event_type"), [(1, "done"), (2, "rejected")])
def test_a_file_without_the_records_last_event_fails(
    story: Story, tmp_path: Path, number: int, event_type: str
) -> None:
    document = story.document(number)
    forged = _without(document, event_type)
    # The forgery is consistent in every other way: only the whole-history check catches it.
    report = evidence.verify_evidence(forged)
    assert [c.name for c in report.checks if not c.ok] == ["complete"], report.problem
    for fmt, text in _rendered(forged).items():
        result = _verify_text(story, tmp_path, text, f"forged.{fmt}")
        assert result.exit_code == 1, (fmt, result.stdout)
        assert result.stdout.startswith("FAILED: complete: the checkpoint of 2026-11-27 counts ")
        assert "events of the record are missing" in result.stdout

    # Making the leaf say so too breaks its proof to the published root.
    last = forged["events"][-1]
    forged["completeness"]["leaf"].update(head=last["hash"], count=len(forged["events"]))
    problem = evidence.verify_evidence(forged).problem
    assert problem is not None and problem.startswith(
        "complete: the record's leaf in the records tree of 2026-11-27 does not lead"
    )


def test_a_file_without_a_middle_event_fails(story: Story) -> None:
    document = story.document(1)
    forged = copy.deepcopy(document)
    posted = next(e for e in forged["events"] if e["type"] == "card_posted")
    forged["events"].remove(posted)
    forged["proofs"] = [p for p in forged["proofs"] if p["seq"] != posted["seq"]]
    problem = evidence.verify_evidence(forged).problem
    assert problem is not None and problem.startswith("history: event ")
    assert "events of the record are missing" in problem


def test_an_older_checkpoint_cannot_show_the_whole_history(story: Story, tmp_path: Path) -> None:
    """A checkpoint made before records trees publishes the events root alone: its events'
    proofs still hold, but nothing shows that the file lists every event, so it fails."""
    assert story.sandbox.runtime is not None
    with unit_of_work(story.sandbox.runtime.session_factory) as session:
        for made in session.execute(select(Checkpoint)).scalars():
            assert made.events_root is not None
            made.root, made.events_root, made.records_root = made.events_root, None, None
            made.records_size = None
    with story.sandbox.runtime.session_factory() as session:
        assert verify(session).ok  # an older checkpoint still checks
    document = story.document(1)
    assert document["completeness"] == {"status": "not yet sealed"}
    assert {p["status"] for p in document["proofs"]} == {"sealed"}
    report = evidence.verify_evidence(document)
    assert [c.name for c in report.checks if not c.ok] == ["complete"]
    assert report.problem is not None and "no checkpoint with a records tree" in report.problem
    result = _verify_text(story, tmp_path, _rendered(document)["html"], "older.html")
    assert result.exit_code == 1 and result.stdout.startswith("FAILED: complete: ")


def test_events_from_before_record_links_are_accepted_only_first(
    sandbox: Sandbox, clock: ManualClock, database_url: str
) -> None:
    """A ledger from before migration 0015: the record's first events have no record_prev
    and record_count. The file passes (the records leaf counts them); a legacy event after a
    linked one does not."""
    assert sandbox.runtime is not None
    capture(sandbox, ALICE, WANG, "drain edge-3")
    with unit_of_work(sandbox.runtime.session_factory) as session:
        prev = hashchain.GENESIS_HASH
        for event in session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars():
            event.record_prev = event.record_count = None
            event.prev_hash = prev
            event.hash = hashchain.event_hash(event, event.record.number if event.record else None)
            prev = event.hash
        session.execute(update(Workspace).values(head_hash=prev))
    clock.advance(minutes=1)
    click(sandbox, WANG, 1, "Confirm")
    clock.advance(days=1)
    story = Story(sandbox, clock, database_url)
    story.seal()
    document = story.document(1)
    legacy = [e for e in document["events"] if e["record_count"] is None]
    assert legacy and document["events"][0] is legacy[0]
    assert document["verification"]["ok"], document["verification"]["problem"]
    (history,) = [c for c in document["verification"]["checks"] if c["name"] == "history"]
    assert f"the first {len(legacy)} predate these links" in history["detail"]

    mixed = copy.deepcopy(document)
    mixed["events"][0]["record_prev"] = hashchain.GENESIS_HASH
    mixed["events"][0]["record_count"] = 1
    problem = evidence.verify_evidence(mixed).problem
    assert problem is not None and problem.startswith("hashes: event 1")  # it is hashed
    # A legacy event after a linked one: its hash no longer holds, and the record's own chain
    # refuses it as well.
    unlinked = copy.deepcopy(document)
    unlinked["events"][-1].update(record_prev=None, record_count=None)
    checks = {c.name: c for c in evidence.verify_evidence(unlinked).checks}
    assert not checks["hashes"].ok and not checks["history"].ok
    assert "only the record's first events may predate" in checks["history"].detail


# --- 13: what cannot be checked fully fails ----------------------------------------------------


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_an_edited_page_under_an_unknown_layout_fails(
    story: Story, tmp_path: Path, fmt: str
) -> None:
    """The attack of issue 15: the visible text edited, the layout marker changed to a version
    this Sayso does not render, so that the page is not compared."""
    text = _rendered(story.document(1))[fmt]
    edited = text.replace("drain edge-3", "do NOT drain edge-3", 1)
    edited = edited.replace(evidence.LAYOUT, f"{evidence.LAYOUT_PREFIX}9")
    assert edited.count("do NOT drain") == 1
    result = _verify_text(story, tmp_path, edited, f"edited.{fmt}")
    assert result.exit_code == 1, result.stdout
    assert result.stdout.startswith(
        f"FAILED: readable: laid out as {evidence.LAYOUT_PREFIX}9, but this Sayso renders "
    )
    # The marker alone changed: still not accepted, the page cannot be compared.
    unchanged = text.replace(evidence.LAYOUT, f"{evidence.LAYOUT_PREFIX}9")
    result = _verify_text(story, tmp_path, unchanged, f"unchanged.{fmt}")
    assert result.exit_code == 1 and "cannot be compared" in result.stdout


def test_an_unknown_format_version_fails_with_exit_1(story: Story, tmp_path: Path) -> None:
    document = story.document(1)
    document["format"] = "sayso-evidence/9"
    for fmt in ("json", "md", "html"):
        text = _rendered(document)[fmt]
        result = _verify_text(story, tmp_path, text, f"future.{fmt}")
        assert result.exit_code == 1, (fmt, result.stdout, result.stderr)
        assert result.stdout.startswith(
            "FAILED: format: 'sayso-evidence/9' is a format this Sayso cannot check fully"
        )


def test_an_event_not_sealed_yet_fails_and_says_when_to_export_again(
    story: Story, tmp_path: Path
) -> None:
    click(story.sandbox, ALICE, 1, "Reopen")  # today: no checkpoint yet
    target = tmp_path / "today.html"
    made = sayso(story.database_url, "export", "1", "-o", str(target), cwd=tmp_path)
    assert made.exit_code == 1 and "not sealed yet" in made.stderr, made.stderr
    result = sayso(story.database_url, "verify-evidence", str(target), cwd=tmp_path)
    assert result.exit_code == 1
    # No pass, yet no accusation of forgery either: the reader is told to wait for the day.
    assert re.match(r"NOT CHECKABLE YET: proofs: event \d+ \(reopened, 2026-11-28", result.stdout)
    assert "export the file again once 2026-11-28 has its checkpoint" in result.stdout
    page = target.read_text("utf-8")
    assert "Not checkable in full yet" in page and "FAILED" not in page


def test_the_uncovered_parts_are_marked_and_the_verdict_is_checked(
    story: Story, tmp_path: Path
) -> None:
    document = story.document(1)
    html = _rendered(document)["html"]
    assert evidence.NOT_COVERED in html.replace("&#39;", "'")
    assert "no hash covers it" in html

    # A name changed and re-rendered: no hash covers it, and the output says so.
    renamed = copy.deepcopy(document)
    renamed["people"][WANG]["real_name"] = "Somebody Else"
    result = _verify_text(story, tmp_path, _rendered(renamed)["html"], "renamed.html")
    assert result.exit_code == 0 and "Not covered by any hash: people's names" in result.stdout

    # The statement of what is not covered cannot be dropped to make the names look covered.
    silent = copy.deepcopy(document)
    silent.pop("not_covered")
    result = _verify_text(story, tmp_path, _rendered(silent)["md"], "silent.md")
    assert result.exit_code == 1
    assert result.stdout.startswith("FAILED: format: its statement of what no hash covers")

    # The verdict printed at the top is checked against the checks run again.
    boasting = copy.deepcopy(document)
    boasting["verification"]["summary"] = "Every event was signed by the client."
    result = _verify_text(story, tmp_path, _rendered(boasting)["html"], "boasting.html")
    assert result.exit_code == 1
    assert result.stdout.startswith("FAILED: verdict: the verdict written when the file was")


# --- 15: the HTML page loads nothing and runs nothing ------------------------------------------


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.data: dict[int, str] = {}
        self._inside: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._inside = len(self.elements) - 1

    def handle_endtag(self, tag: str) -> None:
        self._inside = None

    def handle_data(self, data: str) -> None:
        if self._inside is not None:
            self.data[self._inside] = self.data.get(self._inside, "") + data


def test_the_html_page_has_a_policy_that_loads_nothing_and_runs_nothing(story: Story) -> None:
    html = evidence.render_evidence(story.document(1), "html")
    page = _Page()
    page.feed(html)
    page.close()
    tags = [tag for tag, _ in page.elements]
    head = tags.index("head")
    tag, attrs = page.elements[head + 1]
    assert (tag, attrs.get("http-equiv")) == ("meta", "Content-Security-Policy")
    policy = {
        part.split()[0]: part.split()[1:] for part in str(attrs["content"]).split(";") if part
    }
    assert policy["default-src"] == ["'none'"] and policy["script-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"] and policy["form-action"] == ["'none'"]
    assert not re.search(r"https?:|\*|'self'|'unsafe", str(attrs["content"]))
    # The one style element is allowed by its hash, and nothing else is.
    (style_at,) = [i for i, (tag, _) in enumerate(page.elements) if tag == "style"]
    style = page.data[style_at]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert policy["style-src"] == [f"'sha256-{digest}'"]
    # Nothing that a browser would fetch: no src, no stylesheet link, no url() or @import.
    assert not [a for _, a in page.elements if "src" in a or "srcset" in a]
    assert not {"link", "img", "iframe", "object", "embed", "base", "form"} & set(tags)
    assert "url(" not in style and "@import" not in style
    assert [a for t, a in page.elements if t == "script"] == [
        {"type": "application/json", "id": "sayso-evidence"}
    ]
    assert all(str(a.get("href", "https:")).startswith("https:") for _, a in page.elements)
    # The policy is part of what the page must look like: taking it out fails the check.
    stripped = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>\n', "", html)
    assert stripped != html
    report = evidence.verify_evidence_file(stripped)
    assert report.problem is not None and report.problem.startswith("readable: line ")
    assert json.loads(page.data[tags.index("script")])["format"] == evidence.FORMAT
