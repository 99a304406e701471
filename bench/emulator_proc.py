"""The Slack emulator in its own process, so the bot's outbox traffic does not compete with
the load generator for one GIL.

Started by the load benchmark (EmulatorProcess) as `python bench/emulator_proc.py`.
Protocol on stdin/stdout, one JSON object a line:

- on start it prints {"api_url", "base_url", "bot_token", "team_id"};
- "stats" -> counts of the calls it answered, and per record number (read from the card's
  fallback text and from the buttons' values) how many cards and confirmation requests were
  posted, with the request's ts;
- "quit" (or end of input) -> stops.

It only ever listens on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

if "PYTHONPATH" not in os.environ:  # the load benchmark sets it (to its snapshot of the code)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.emulator import ApiCall, SlackEmulator

TEAM = "T0BENCH001"
CLIENT_TEAM = "T0CLIENT01"  # the requester is a client from another organization (Slack Connect)
CHANNEL = "C0BENCH001"
REQUESTER = ("U0WANG0001", "wang")
CAPTURERS = [
    ("U0ALICE001", "alice"),
    ("U0BOB00001", "bob"),
    ("U0CAROL001", "carol"),
    ("U0DAVE0001", "dave"),
]
CONFIRM_ACTION = "sayso_confirm"

# A card's fallback text (card.fallback in the English locale): "{kind} #{number} from ..."
_CARD_NUMBER = re.compile(r"^\w+ #(\d+) from ")
_BUTTON_VALUE = re.compile(r"^T[A-Z0-9]+/(\d+)/(\d+)$")


class Tally:
    """What the bot posted, counted as the calls arrive (no deep copies of the call log)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.methods: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.cards: Counter[int] = Counter()
        self.requests: Counter[int] = Counter()
        self.request_ts: dict[int, str] = {}
        self.unattributed_cards = 0
        self.other_posts: Counter[str] = Counter()  # e.g. digests, in the channel or by DM

    def __call__(self, call: ApiCall) -> None:
        ok = call.status == 200 and bool(call.response.get("ok"))
        with self._lock:
            self.methods[call.method] += 1
            if not ok:
                self.failed[f"{call.method}:{call.response.get('error')}"] += 1
                return
            if call.method != "chat.postMessage":
                return
            params = call.params
            if params.get("channel") != CHANNEL:
                self.other_posts[str(params.get("channel"))] += 1
                return
            if not params.get("thread_ts"):
                found = _CARD_NUMBER.search(str(params.get("text") or ""))
                if found:
                    self.cards[int(found.group(1))] += 1
                elif _confirm_button_record(params.get("blocks")) is not None:
                    self.unattributed_cards += 1  # a card-like post we cannot tell apart
                else:
                    self.other_posts["top level, not a card"] += 1
                return
            number = _confirm_button_record(params.get("blocks"))
            if number is not None:
                self.requests[number] += 1
                self.request_ts[number] = str(call.response.get("ts"))

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": sum(self.methods.values()),
                "methods": dict(self.methods),
                "failed": dict(self.failed),
                "cards": {str(k): v for k, v in self.cards.items()},
                "requests": {str(k): v for k, v in self.requests.items()},
                "request_ts": {str(k): v for k, v in self.request_ts.items()},
                "unattributed_cards": self.unattributed_cards,
                "other_posts": dict(self.other_posts),
            }


def _confirm_button_record(blocks: Any) -> int | None:
    for block in blocks if isinstance(blocks, list) else []:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == CONFIRM_ACTION:
                found = _BUTTON_VALUE.match(str(element.get("value") or ""))
                if found:
                    return int(found.group(1))
    return None


def main() -> None:
    emulator = SlackEmulator(team_id=TEAM, team_name="Bench Networks", domain="bench")
    tally = Tally()
    emulator.subscribe(tally)
    emulator.add_team(CLIENT_TEAM, "Client Co", "clientco")
    emulator.add_user(*REQUESTER, team_id=CLIENT_TEAM)
    for user_id, name in CAPTURERS:
        emulator.add_user(user_id, name)
    people = [REQUESTER, *CAPTURERS]
    emulator.add_channel(CHANNEL, "bench-load", members=[u for u, _ in people], is_shared=True)
    emulator.start()
    try:
        hello = {
            "api_url": emulator.api_url,
            "base_url": emulator.base_url,
            "bot_token": emulator.bot_token,
            "team_id": TEAM,
        }
        print(json.dumps(hello), flush=True)
        for line in sys.stdin:  # ends when the parent closes stdin or dies
            command = line.strip()
            if command == "stats":
                print(json.dumps(tally.snapshot()), flush=True)
            elif command == "quit":
                break
            else:
                print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
