"""Metric labels, the JSON log format and serving settings."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from prometheus_client import REGISTRY

from bot import metrics
from bot.config import ConfigError, load_settings
from bot.logs import JsonFormatter
from bot.serve.gunicorn_app import MAX_DEFAULT_WORKERS, default_workers


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ({"command": "/confirm", "text": "show 1"}, "command"),
        ({"type": "block_actions", "actions": []}, "action"),
        ({"type": "view_submission"}, "view_submission"),
        ({"type": "message_action"}, "shortcut"),
        ({"type": "shortcut"}, "shortcut"),
        ({"type": "event_callback", "event": {"type": "reaction_added"}}, "event:reaction_added"),
        ({"type": "event_callback", "event": {"type": "x" * 99}}, "event:other"),
        ({"type": "event_callback", "event": "nonsense"}, "event:other"),
        ({"type": "something_new"}, "other"),
        ({}, "other"),
    ],
)
def test_kind_of_a_request(body: dict[str, object], kind: str) -> None:
    assert metrics.kind_of(body) == kind


def test_outcomes_and_error_labels_stay_few() -> None:
    assert [metrics.outcome_of(s) for s in (200, 302, 401, 403, 404, 413, 500)] == [
        "ok",
        "ok",
        "refused",
        "refused",
        "bad_request",
        "bad_request",
        "error",
    ]
    assert metrics.error_label("channel_not_found") == "channel_not_found"
    assert metrics.error_label("network: <urlopen error [Errno 111] refused>") == "network"
    assert metrics.error_label("http 503") == "http_503"
    assert metrics.error_label("the record no longer exists") == "other"
    assert metrics.error_label("RuntimeError('boom')") == "other"


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_failed_deliveries_and_digest_runs_are_counted() -> None:
    labels = {"error": "ratelimited", "given_up": "false"}
    before = _value("sayso_deliveries_failed_total", **labels)
    metrics.delivery_failed("ratelimited", given_up=False)
    assert _value("sayso_deliveries_failed_total", **labels) == before + 1

    runs, queued = _value("sayso_digest_runs_total"), _value("sayso_digests_queued_total")
    metrics.digest_run(0)
    metrics.digest_run(3)
    assert _value("sayso_digest_runs_total") == runs + 1
    assert _value("sayso_digests_queued_total") == queued + 3


def test_json_log_lines() -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("sayso.request", logging.INFO, __file__, 1, "%s done", ("x",), None)
    record.fields = {"team": "T1", "records": [4]}
    line = json.loads(formatter.format(record))
    assert line["message"] == "x done" and line["level"] == "INFO"
    assert (line["team"], line["records"]) == ("T1", [4])
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "bad", (), sys.exc_info())
    text = formatter.format(failed)
    assert "\n" not in text and "ValueError: boom" in json.loads(text)["exception"]


def test_serving_settings() -> None:
    settings = load_settings({"SAYSO_WORKERS": "3", "LOG_FORMAT": "JSON"}, env_file=None)
    assert (settings.workers, settings.log_format) == (3, "json")
    assert load_settings({}, env_file=None).workers is None
    with pytest.raises(ConfigError, match="SAYSO_WORKERS"):
        load_settings({"SAYSO_WORKERS": "0"}, env_file=None)
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        load_settings({"LOG_FORMAT": "xml"}, env_file=None)
    assert default_workers("sqlite:///sayso.db") == 1  # one writer: one process
    assert 1 <= default_workers("postgresql+psycopg://db/sayso") <= MAX_DEFAULT_WORKERS
