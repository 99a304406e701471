"""`sayso serve` for real teams: gunicorn workers, health and readiness, metrics, logs, and a
shutdown that delivers what the outbox holds."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from bot import migrate
from bot.db import make_engine, make_session_factory, unit_of_work
from bot.emulator import SlackDriver, SlackEmulator
from bot.emulator.sandbox import Sandbox
from bot.models import OutboxMessage
from bot.outbox import queue
from bot.outbox.dispatcher import OutboxDispatcher
from bot.serve.gunicorn_app import GRACEFUL_TIMEOUT
from bot.web import make_wsgi_app
from tests.conftest import ALICE, CHANNEL, TEAM, WANG
from tests.e2e.helpers import buttons, capture, click
from tests.support import ManualClock, ServeProcess

INSTRUCTION = "raise the BGP hold timer on edge-3 to 30s"


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _sample(exposition: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in exposition.splitlines():
        metric, _, value = line.rpartition(" ")
        if metric == (f"{name}{{{wanted}}}" if labels else name):
            return float(value)
    return None


def _poll(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("not true in time")
        time.sleep(0.05)


def _capture_and_confirm(emulator: SlackEmulator, server: ServeProcess) -> None:
    driver = SlackDriver(server.events_url, server.secret, emulator)
    response = driver.command(ALICE, CHANNEL, f"{driver.mention(WANG)} {INSTRUCTION}")
    assert response.json()["text"] == f"Recorded #1, waiting for <@{WANG}>."
    emulator.wait_for(
        lambda: any(emulator.thread(CHANNEL, card["ts"]) for card in emulator.messages(CHANNEL)),
        timeout=15,
    )
    (card,) = emulator.messages(CHANNEL)
    (asking,) = emulator.thread(CHANNEL, card["ts"])
    clicked = driver.click(WANG, CHANNEL, asking["ts"], buttons(asking)["Confirm"])
    assert clicked.status == 200


def test_two_workers_serve_health_readiness_metrics_and_json_logs(
    emulator: SlackEmulator, database_url: str, tmp_path: Path
) -> None:
    server = ServeProcess(tmp_path, emulator, database_url, SAYSO_WORKERS="2", LOG_FORMAT="json")
    try:
        assert server.wait_until_healthy() == {"ok": True}
        status, body = _get(server.port, "/readyz")
        assert status == 200 and json.loads(body)["ok"] is True
        _capture_and_confirm(emulator, server)

        def settled() -> bool:
            scraped = _get(server.port, "/metrics")[1]
            return _sample(scraped, "sayso_outbox_depth") == 0.0 and (
                _sample(scraped, "sayso_records", status="confirmed") == 1.0
            )

        _poll(settled)
        # Each scrape is answered by whichever worker accepts it; every one counts them all.
        for _ in range(6):
            scraped = _get(server.port, "/metrics")[1]
            assert _sample(scraped, "sayso_requests_total", kind="command", outcome="ok") == 1
            assert _sample(scraped, "sayso_requests_total", kind="action", outcome="ok") == 1
            assert _sample(scraped, "sayso_ack_seconds_count", kind="command") == 1
            assert _sample(scraped, "sayso_records", status="pending") == 0
            assert _sample(scraped, "sayso_outbox_oldest_age_seconds") == 0
    finally:
        output = server.stop()
    assert server.process.returncode == 0, output
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    requests = [line for line in lines if line["logger"] == "sayso.request"]
    assert [(r["kind"], r["team"], r["records"], r["status"]) for r in requests] == [
        ("command", TEAM, [1], 200),
        ("action", TEAM, [1], 200),
    ]
    assert all(isinstance(r["ms"], float) for r in requests)
    for secret in (INSTRUCTION, "BGP", emulator.bot_token, server.secret):
        assert secret not in output


def test_sigterm_delivers_what_the_outbox_holds_then_exits_0(
    emulator: SlackEmulator, database_url: str, tmp_path: Path
) -> None:
    server = ServeProcess(tmp_path, emulator, database_url, SAYSO_WORKERS="2")
    holding, terminated = threading.Event(), threading.Event()

    def hold_the_card(call: Any) -> None:
        # The card is on its way to Slack when SIGTERM comes; the request in its thread is
        # still queued behind it.
        if call.method == "chat.postMessage" and call.params.get("channel") == CHANNEL:
            unsubscribe()
            holding.set()
            terminated.wait(10)

    unsubscribe = emulator.subscribe(hold_the_card)
    try:
        server.wait_until_healthy()
        driver = SlackDriver(server.events_url, server.secret, emulator)
        response = driver.command(ALICE, CHANNEL, f"{driver.mention(WANG)} reboot edge-3")
        assert response.status == 200
        assert holding.wait(15)
        started = time.monotonic()
        server.process.terminate()
        _poll(lambda: _refused(server.port))  # gunicorn stopped listening: shutting down
        terminated.set()
        output, _ = server.process.communicate(timeout=GRACEFUL_TIMEOUT + 5)
        took = time.monotonic() - started
    finally:
        terminated.set()
        server.stop()
    assert server.process.returncode == 0, output
    assert took < GRACEFUL_TIMEOUT
    (card,) = emulator.messages(CHANNEL)
    assert len(emulator.thread(CHANNEL, card["ts"])) == 1, output
    assert "Traceback" not in output, output


# Run in the server's process, around whatever post_fork hook gunicorn calls (Sayso's
# handlers are set there, gunicorn's own only later): each worker's boot pauses until the
# deploy's SIGTERM has come, either before that hook or right after it.
_WORKERS_BOOT_UNTIL_SIGNALLED = """
import time
from gunicorn.config import Config

SIGNAL_COMES = "%s"
setting = Config.__getattr__

def pause_until(came):
    deadline = time.monotonic() + 30
    while not came():
        assert time.monotonic() < deadline, "no signal came"
        time.sleep(0.01)

def boot_until_signalled_then(hook):
    def post_fork(server, worker):
        queued = server.SIG_QUEUE  # the master's handlers queue it here
        if SIGNAL_COMES == "before the hook":
            pause_until(lambda: queued if isinstance(queued, list) else not queued.empty())
        hook(server, worker)
        if SIGNAL_COMES == "after the hook":
            pause_until(lambda: not worker.alive)
    return post_fork

def with_slow_boot(config, name):
    value = setting(config, name)
    return boot_until_signalled_then(value) if name == "post_fork" else value

Config.__getattr__ = with_slow_boot
"""


@pytest.mark.parametrize("signal_comes", ["before the hook", "after the hook"])
def test_sigterm_while_a_worker_boots_stops_it_without_waiting_for_the_kill(
    emulator: SlackEmulator, database_url: str, tmp_path: Path, signal_comes: str
) -> None:
    prelude = _WORKERS_BOOT_UNTIL_SIGNALLED % signal_comes
    server = ServeProcess(tmp_path, emulator, database_url, prelude=prelude)
    try:
        assert server.process.stdout is not None
        booting = []
        for line in server.process.stdout:
            booting.append(line)
            if "Booting worker" in line:
                break
        started = time.monotonic()
        server.process.terminate()
        output, _ = server.process.communicate(timeout=GRACEFUL_TIMEOUT + 10)
        took = time.monotonic() - started
    finally:
        server.stop()
    output = "".join(booting) + output
    assert server.process.returncode == 0, output
    # Lost, the SIGTERM would leave the worker serving until the master killed it.
    assert took < GRACEFUL_TIMEOUT / 2, output
    assert "Worker exiting" in output and "Traceback" not in output, output


def _refused(port: int) -> bool:
    try:
        _get(port, "/healthz")
    except OSError:
        return True
    return False


# In-process: the WSGI app on its own, against databases in every state.


def _call(wsgi: Any, path: str) -> tuple[int, str]:
    seen: dict[str, str] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"] = status

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "wsgi.input": BytesIO()}
    body = b"".join(wsgi(environ, start_response))
    return int(seen["status"].split()[0]), body.decode()


def test_readyz_wants_the_schema_at_head(sandbox: Sandbox, tmp_path: Path) -> None:
    assert sandbox.runtime is not None
    app = sandbox.runtime.app
    assert _call(sandbox.runtime.wsgi(), "/readyz")[0] == 200

    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    status, body = _call(make_wsgi_app(app, empty), "/readyz")
    assert status == 503
    assert json.loads(body)["schema"] == [] and "sayso db upgrade" in json.loads(body)["reason"]

    behind_url = f"sqlite:///{tmp_path / 'behind.db'}"
    migrate.upgrade(behind_url, "0001")
    status, body = _call(make_wsgi_app(app, make_engine(behind_url)), "/readyz")
    assert (status, json.loads(body)["schema"]) == (503, ["0001"])

    nowhere = make_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    wsgi = make_wsgi_app(app, nowhere)
    status, body = _call(wsgi, "/readyz")
    assert (status, json.loads(body)["database"]) == (503, "unreachable")
    # Alive all the same, and the counters are still scraped without the database's gauges.
    assert _call(wsgi, "/healthz") == (200, '{"ok": true}')
    status, scraped = _call(wsgi, "/metrics")
    assert status == 200
    assert _sample(scraped, "sayso_database_up") == 0
    assert _sample(scraped, "sayso_records", status="pending") is None


def test_metrics_in_one_process(sandbox: Sandbox, clock: ManualClock) -> None:
    assert sandbox.runtime is not None
    wsgi = sandbox.runtime.wsgi()
    before = _call(wsgi, "/metrics")[1]
    capture(sandbox, ALICE, WANG, INSTRUCTION)
    click(sandbox, WANG, 1, "Confirm")
    sandbox.settle()
    scraped = _call(wsgi, "/metrics")[1]
    labels = {"kind": "command", "outcome": "ok"}
    counted = _sample(scraped, "sayso_requests_total", **labels) or 0
    assert counted - (_sample(before, "sayso_requests_total", **labels) or 0) == 1
    assert _sample(scraped, "sayso_records", status="confirmed") == 1
    assert _sample(scraped, "sayso_outbox_depth") == 0


def _failed_deliveries() -> float:
    return sum(
        sample.value
        for family in REGISTRY.collect()
        if family.name == "sayso_deliveries_failed"
        for sample in family.samples
        if sample.name.endswith("_total")
    )


def test_a_delivery_slack_refused_is_counted(sandbox: Sandbox) -> None:
    before = _failed_deliveries()
    sandbox.emulator.fail("chat.postMessage", status=500)
    capture(sandbox, ALICE, WANG, INSTRUCTION)
    assert _failed_deliveries() == before + 1


def test_request_lines_carry_ids_and_numbers_never_text_or_secrets(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    capture(sandbox, ALICE, WANG, INSTRUCTION)
    click(sandbox, WANG, 1, "Confirm")
    sandbox.settle()
    lines = [r.getMessage() for r in caplog.records if r.name == "sayso.request"]
    assert len(lines) == 2
    assert re.fullmatch(rf"command team={TEAM} records=#1 status=200 [\d.]+ms", lines[0])
    assert re.fullmatch(rf"action team={TEAM} records=#1 status=200 [\d.]+ms", lines[1])
    informed = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    for secret in ("BGP", sandbox.settings.slack_bot_token, sandbox.settings.slack_signing_secret):
        assert secret not in informed


def test_stopping_delivers_what_is_due_even_unannounced(database_url: str) -> None:
    """Queued by another replica, so nobody woke this dispatcher: it still goes on the
    last pass. And past its deadline a stop claims nothing: the message stays unleased."""
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    clock = ManualClock()
    delivered: list[int] = []

    def enqueue() -> int:
        with unit_of_work(sessions) as session:
            message = queue.enqueue(
                session, clock.now(), team_id=TEAM, kind="ephemeral", payload={}
            )
            session.flush()
            return message.id

    def deliver(message: OutboxMessage) -> None:
        delivered.append(message.id)

    dispatcher = OutboxDispatcher(sessions, deliver, clock, poll_interval=60)
    dispatcher.start()
    dispatcher.wait_idle()
    first = enqueue()
    dispatcher.stop(timeout=5)
    assert delivered == [first]

    late = OutboxDispatcher(sessions, deliver, clock, lease=timedelta(seconds=60))
    second = enqueue()
    late.stop(timeout=0)  # never started: just the deadline
    assert late.deliver_due() == 0
    with sessions() as session:
        stored = session.get(OutboxMessage, second)
        assert stored is not None
        assert (stored.lease_until, stored.attempts, stored.delivered_at) == (None, 0, None)
    engine.dispose()
