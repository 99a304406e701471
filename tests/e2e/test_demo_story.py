"""`sayso demo` shows the client's path: the card with its buttons, the near miss answered,
the dialog before a rejection, a silent double click, and how few messages it took."""

from __future__ import annotations

from pathlib import Path

from bot.demo import run_demo


def test_the_demo_shows_the_card_with_its_buttons_and_counts_the_messages(
    sqlite_folder: Path,
) -> None:
    lines: list[str] = []
    run_demo(f"sqlite:///{sqlite_folder / 'demo.db'}", lines.append)
    transcript = "\n".join(lines)

    card = transcript.split("Sayso posts in #edge-upgrade:", 1)[1].split("Sayso posts", 1)[0]
    assert "[Confirm] [Reject]" in card
    assert "@wang clicks: [Confirm] on the card of #1" in transcript
    assert "Nothing was recorded: “ok” does not answer #1" in transcript
    assert "Slack asks first:\n      Reject #3?" in transcript
    assert "no longer applies" not in transcript  # the double click is silent
    assert "Sayso's messages in #edge-upgrade: 9 (1 in the channel itself, 8 in threads)." in (
        transcript
    )
