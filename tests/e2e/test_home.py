"""App Home: what waits for me, what I carry, what I asked for, what is new in my channels."""

from __future__ import annotations

from bot.emulator.sandbox import Sandbox
from tests.conftest import ALICE, CHANNEL, LI, WANG, ZHAO
from tests.e2e.helpers import capture, click
from tests.support import ManualClock


def _home_text(sandbox: Sandbox, user: str) -> str:
    view = sandbox.emulator.home_view(user)
    assert view is not None, f"no Home tab published for {user}"
    return str(view["blocks"])


def _section(text: str, title: str, next_title: str | None) -> str:
    start = text.index(title)
    return text[start : text.index(next_title, start) if next_title else None]


def test_home_shows_each_persons_records_and_follows_changes(sandbox: Sandbox) -> None:
    assert sandbox.driver is not None
    capture(sandbox, ALICE, WANG, "open port 443 on fw-2")
    m = sandbox.driver.mention
    sandbox.driver.command(ALICE, CHANNEL, f"{m(ZHAO)} drain edge-3 owner:{m(LI)}")
    sandbox.settle()

    for person in (WANG, ALICE, LI):
        assert sandbox.driver.open_home(person).status == 200
    sandbox.settle()
    wang = _home_text(sandbox, WANG)
    waiting = _section(wang, "Waiting for you to confirm", "Yours to carry out")
    assert "*#1*" in waiting and "*#2*" not in waiting

    alice = _home_text(sandbox, ALICE)
    assert "*#1*" in _section(alice, "Yours to carry out", "You asked")
    assert "*#2*" not in _section(alice, "Yours to carry out", "You asked")
    asked = _section(alice, "You asked", "Recent in your channels")
    assert "*#1*" in asked and "*#2*" in asked
    assert "*#2*" in _section(_home_text(sandbox, LI), "Yours to carry out", "You asked")

    click(sandbox, WANG, 1, "Confirm")  # the Home tabs follow without being opened again
    wang = _home_text(sandbox, WANG)
    assert "*#1*" not in _section(wang, "Waiting for you to confirm", "Yours to carry out")
    assert "*#1*" not in _section(_home_text(sandbox, ALICE), "You asked", "Recent")


def test_only_home_tabs_opened_lately_are_redrawn(sandbox: Sandbox, clock: ManualClock) -> None:
    """A tab nobody has opened is drawn when it is opened; one opened over a week ago is no
    longer redrawn as records move (it is drawn afresh on the next opening)."""
    assert sandbox.driver is not None
    assert sandbox.driver.open_home(WANG).status == 200
    sandbox.settle()
    capture(sandbox, ALICE, WANG, "open port 443 on fw-2")
    assert sandbox.emulator.home_view(ALICE) is None  # alice never opened hers
    assert "*#1*" in _home_text(sandbox, WANG)

    clock.advance(days=8)
    capture(sandbox, ALICE, WANG, "open port 8443 on fw-2")
    assert "*#2*" not in _home_text(sandbox, WANG)  # not redrawn: not looked at for 8 days

    assert sandbox.driver.open_home(WANG).status == 200
    sandbox.settle()
    assert "*#2*" in _home_text(sandbox, WANG)
    click(sandbox, WANG, 2, "Confirm")
    waiting = _section(
        _home_text(sandbox, WANG), "Waiting for you to confirm", "Yours to carry out"
    )
    assert "*#2*" not in waiting
