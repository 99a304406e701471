"""Sending the requests: open loop at a fixed rate, or closed loop on K connections."""

from __future__ import annotations

import http.client
import itertools
import re
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from . import HOST, log
from .payloads import Request, signed_headers

HTTP_TIMEOUT = 15.0  # per request; Slack itself gives up after 3 s
RECORDED = re.compile(r"Recorded #(\d+)\b")


@dataclass
class Result:
    request: Request
    due: float  # perf_counter when it should have gone out
    sent: float = 0.0
    done: float = 0.0
    status: int = 0
    body: str = ""
    error: str = ""

    @property
    def latency(self) -> float:
        return self.done - self.due

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.error

    @property
    def number(self) -> int | None:
        found = RECORDED.search(self.body)
        return int(found.group(1)) if found else None


class Connection:
    """One persistent HTTP/1.1 connection to the server under test."""

    def __init__(self, port: int) -> None:
        self._http = http.client.HTTPConnection(HOST, port, timeout=HTTP_TIMEOUT)

    def send(self, result: Result) -> None:
        body = result.request.body
        result.sent = time.perf_counter()
        try:
            self._http.request("POST", "/slack/events", body=body, headers=signed_headers(body))
            response = self._http.getresponse()
            data = response.read()
            result.status = response.status
            result.body = data.decode("utf-8", errors="replace")
            if response.will_close:
                self._http.close()
        except (OSError, http.client.HTTPException) as error:
            # Never retried: a command that may have been received must not be sent twice.
            result.error = f"{type(error).__name__}: {error}"
            self._http.close()
        result.done = time.perf_counter()

    def close(self) -> None:
        self._http.close()


def run_fixed_rate(
    ports: Sequence[int], requests: Sequence[Request], rate: float, senders: int
) -> tuple[list[Result], float]:
    """Open loop: request i is due at start + i/rate whatever happened to the earlier ones.

    With several servers (replicas), request i goes to ports[i % N], and sender thread j
    keeps its connection to ports[j % N] (at least one sender per server).

    Returns the results and the achieved sending rate."""
    replicas = len(ports)
    senders = max(senders, replicas)
    # One queue and one condition per server, so a request wakes a sender of its server.
    jobs: list[deque[Result | None]] = [deque() for _ in ports]
    locks = [threading.Condition() for _ in ports]
    results: list[Result] = []

    def sender(replica: int) -> None:
        queue, lock = jobs[replica], locks[replica]
        connection = Connection(ports[replica])
        try:
            while True:
                with lock:
                    while not queue:
                        lock.wait(1.0)
                    job = queue.popleft()
                if job is None:
                    return
                connection.send(job)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=sender, args=(i % replicas,), name=f"sender-{i}", daemon=True)
        for i in range(senders)
    ]
    for thread in threads:
        thread.start()
    start = time.perf_counter() + 0.1
    for index, request in enumerate(requests):
        due = start + index / rate
        while (wait := due - time.perf_counter()) > 0:
            time.sleep(min(wait, 0.05) if wait > 0.002 else 0)  # sleep, then spin the last ms
        result = Result(request, due)
        results.append(result)
        with locks[index % replicas]:
            jobs[index % replicas].append(result)
            locks[index % replicas].notify()
    for i in range(senders):
        with locks[i % replicas]:
            jobs[i % replicas].append(None)
            locks[i % replicas].notify_all()
    deadline = time.monotonic() + HTTP_TIMEOUT + 30
    for thread in threads:
        thread.join(max(0.1, deadline - time.monotonic()))
    stuck = sum(thread.is_alive() for thread in threads)
    if stuck:
        log(f"warning: {stuck} sender threads still busy at the deadline")
    span = results[-1].sent - results[0].sent if len(results) > 1 else 0.0
    achieved = (len(results) - 1) / span if span > 0 else float("nan")
    return results, achieved


def run_closed_loop(
    ports: Sequence[int], requests: Sequence[Request], concurrency: int, max_seconds: float
) -> tuple[list[Result], float]:
    """K connections, each sending its next request when the previous one is answered;
    connection k goes to ports[k % N].

    Returns the results (in sending order) and the requests per second over the run."""
    counter = itertools.count()
    results: list[Result | None] = [None] * len(requests)
    barrier = threading.Barrier(concurrency + 1)
    deadline = [0.0]

    def worker(port: int) -> None:
        connection = Connection(port)
        try:
            barrier.wait(30)
            while time.perf_counter() < deadline[0]:
                index = next(counter)  # atomic under the GIL
                if index >= len(requests):
                    return
                result = Result(requests[index], time.perf_counter())
                connection.send(result)
                results[index] = result
        finally:
            connection.close()

    threads = [
        threading.Thread(
            target=worker, args=(ports[i % len(ports)],), name=f"closed-{i}", daemon=True
        )
        for i in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    deadline[0] = start + max_seconds
    barrier.wait(30)
    start = time.perf_counter()
    for thread in threads:
        thread.join(max_seconds + HTTP_TIMEOUT + 5)
    done = [r for r in results if r is not None]
    end = max((r.done for r in done), default=start)
    if len(done) < len(requests):
        log(f"warning: closed loop stopped at its time limit after {len(done)} requests")
    return done, (len(done) / (end - start) if end > start else float("nan"))
