"""Small pieces with sharp edges: settings, Slack text, the ledger's hashes, backoff."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import DEFAULT_DATABASE_URL, ConfigError, load_settings
from bot.ledger import hashchain
from bot.models import AuditEvent
from bot.outbox.dispatcher import backoff
from bot.slack import mrkdwn


def test_settings_defaults_and_dotenv(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SLACK_BOT_TOKEN=xoxb-file\nPORT=4000\nSLACK_API_URL=http://x/api\n")
    settings = load_settings({"PORT": "5000"}, env_file)
    assert settings.slack_bot_token == "xoxb-file"
    assert settings.port == 5000  # the environment wins over .env
    assert settings.slack_api_url == "http://x/api/"
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert not settings.socket_mode


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "SLACK_BOT_TOKEN is not set"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET is not set"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-2"}, "starting with xapp-"),
    ],
)
def test_missing_slack_settings_are_one_sentence(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(environ, None).require_slack()
    assert str(caught.value).count(". ") <= 1


def test_socket_mode_needs_no_signing_secret() -> None:
    settings = load_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}, None)
    assert settings.require_slack().socket_mode


@pytest.mark.parametrize("port", ["0", "70000", "abc", "-1"])
def test_bad_port(port: str) -> None:
    with pytest.raises(ConfigError, match="PORT"):
        load_settings({"PORT": port}, None)


@pytest.mark.parametrize(
    ("wire", "plain"),
    [
        ("<@U0WANG0001|wang> ok", "@wang ok"),
        ("<@U0WANG0001> ok", "@U0WANG0001 ok"),
        ("<#C0EDGE0001|edge> &amp; <!here> <!channel>", "#edge & @here @channel"),
        ("&lt;b&gt;bold&lt;/b&gt;", "<b>bold</b>"),
        ("<https://x.example|x> <https://y.example>", "x (https://x.example) https://y.example"),
        ("<!subteam^S1|@oncall> <!date^1^{date}|Nov 26>", "@oncall Nov 26"),
        ("&amp;lt;", "&lt;"),
    ],
)
def test_slack_text_to_plain(wire: str, plain: str) -> None:
    assert mrkdwn.to_plain(wire) == plain


def test_escape_round_trip() -> None:
    text = "<!channel> & <@U1> > x"
    assert mrkdwn.unescape(mrkdwn.escape(text)) == text
    assert "<" not in mrkdwn.escape(text) and ">" not in mrkdwn.escape(text)


def _event(seq: int, prev: str, payload: dict[str, str]) -> AuditEvent:
    return AuditEvent(
        team_id="T0ACME0001",
        seq=seq,
        type="captured",
        actor_id="U0ALICE001",
        at=datetime(2026, 11, 26, 9, 30, 0, 123456, tzinfo=UTC),
        payload=payload,
        prev_hash=prev,
    )


def test_event_hash_covers_content_and_predecessor() -> None:
    first = _event(1, hashchain.GENESIS_HASH, {"text": "请改"})
    digest = hashchain.event_hash(first, 1)
    assert digest == hashchain.event_hash(_event(1, hashchain.GENESIS_HASH, {"text": "请改"}), 1)
    assert len(digest) == 64
    assert digest != hashchain.event_hash(_event(1, hashchain.GENESIS_HASH, {"text": "请改!"}), 1)
    assert digest != hashchain.event_hash(_event(1, "f" * 64, {"text": "请改"}), 1)
    assert digest != hashchain.event_hash(_event(2, hashchain.GENESIS_HASH, {"text": "请改"}), 1)
    assert digest != hashchain.event_hash(first, 2)
    assert hashchain.canonical_bytes({"b": 1, "a": "改"}) == '{"a":"改","b":1}'.encode()


def test_iso_utc_is_z_terminated_with_microseconds() -> None:
    moment = datetime(2026, 11, 26, 17, 30, tzinfo=UTC) + timedelta(microseconds=5)
    assert hashchain.iso_utc(moment) == "2026-11-26T17:30:00.000005Z"


def test_backoff_grows_caps_and_honours_retry_after() -> None:
    assert [backoff(n, None).total_seconds() for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(20, None) == timedelta(seconds=300)
    assert backoff(1, 42.0) == timedelta(seconds=42)


@given(
    payload=st.dictionaries(
        st.text(),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=5,
    ),
    actor=st.text(),
    event_type=st.text(),
    team=st.text(),
    record=st.none() | st.integers(min_value=0, max_value=10**9),
)
def test_hash_from_stored_json_equals_hash_from_content(
    payload: dict[str, object], actor: str, event_type: str, team: str, record: int | None
) -> None:
    """`verify` hashes the payload as stored; that must be the very hash `append` made."""
    at = datetime(2026, 11, 26, 9, 30, 0, 1, tzinfo=UTC)
    content = {
        "team_id": team,
        "seq": 7,
        "record": record,
        "type": event_type,
        "actor": actor,
        "at": hashchain.iso_utc(at),
        "payload": payload,
        "prev": "ab" * 32,
    }
    by_content = hashlib.sha256(hashchain.canonical_bytes(content)).hexdigest()
    by_json = hashchain.content_hash_of_json(
        team, 7, record, event_type, actor, at, hashchain.canonical_json(payload), "ab" * 32
    )
    assert by_json == by_content


class _Monotonic:
    """A monotonic clock that only moves when the test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _outbox_waiting(requests: Any) -> tuple[Any, Any]:
    import threading

    delivered = threading.Event()

    def deliver() -> None:
        requests.wait_for_quiet()
        delivered.set()

    outbox = threading.Thread(target=deliver, daemon=True)
    outbox.start()
    return outbox, delivered


def test_the_outbox_waits_for_a_lull_in_the_requests() -> None:
    from bot.outbox.gate import AckGate

    clock = _Monotonic()
    requests = AckGate(monotonic=clock)
    requests.STEP_ASIDE = 30.0  # longer than this test: only a lull lets it go
    requests.wait_for_quiet()  # nothing answered yet: no wait at all
    with requests.answering():
        outbox, delivered = _outbox_waiting(requests)
        assert not delivered.wait(0.2)  # stepping aside while the request runs
    assert not delivered.wait(0.2)  # the request is over, but no lull yet
    clock.now += AckGate.LULL / 2
    with requests.answering():  # the next one comes: the lull starts again
        pass
    clock.now += AckGate.LULL * 0.9
    assert not delivered.wait(0.2)
    clock.now += AckGate.LULL * 0.2
    outbox.join(5)
    assert delivered.is_set()


def test_under_requests_with_no_lull_the_outbox_still_moves() -> None:
    from bot.outbox.gate import AckGate

    clock = _Monotonic()
    requests = AckGate(monotonic=clock)
    requests.STEP_ASIDE = 0.05
    with requests.answering():
        _, delivered = _outbox_waiting(requests)
        assert not delivered.wait(0.2)  # its deadline is on the clock, which stands still
        clock.now += requests.STEP_ASIDE
        assert delivered.wait(5)  # past its deadline: it goes while the request still runs
