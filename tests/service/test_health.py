"""Readiness from recorded state: /readyz answers fast while a dependency hangs, and names each
dependency (Prometheus, Argo CD, GitHub, every git remote) with its last success and last error."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from bot import errors
from bot.clients import prometheus as prom
from bot.clients import retry
from bot.record import metrics
from bot.service import health, http


@pytest.fixture
def hanging() -> Iterator[str]:
    """A server that accepts connections and never answers (a wedged Prometheus)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except TimeoutError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        srv.close()


def test_readyz_answers_fast_while_prometheus_hangs(hanging: str) -> None:
    m = metrics.Metrics()
    state = health.Health(["prometheus", "argocd"], m)
    state.success("argocd")
    state.cycle_done([], [], github=False)
    policy = retry.Retry(attempts=1)
    policy.observe(state.observe)
    client = prom.PrometheusClient.connect(hanging, timeout=1.0, retry=policy)
    client.margin = 0.5
    svc = http.HttpService(
        http.Hooks(ready=state.status, metrics=m.render, evaluate=list, github_event=lambda e, p: None)
    ).start()
    failures: list[BaseException] = []

    def query() -> None:
        try:
            client.query("up", time.time())
        except errors.PrometheusError as exc:
            failures.append(exc)

    worker = threading.Thread(target=query)
    worker.start()
    try:
        with httpx.Client() as web:
            web.get(f"{svc.url}/healthz")  # connection warm: the probe below measures the answer
            took = []
            for _ in range(5):
                started = time.perf_counter()
                answer = web.get(f"{svc.url}/readyz", timeout=2)
                took.append(time.perf_counter() - started)
            assert worker.is_alive(), "the query should still be hanging while /readyz answers"
            assert max(took) < 0.05, took
            worker.join(timeout=10)
            assert failures, "the hanging query must end in a PrometheusError"
            down = web.get(f"{svc.url}/readyz", timeout=2)
            text = web.get(f"{svc.url}/metrics", timeout=2).text
    finally:
        svc.stop()
        client.close()
    assert answer.status_code == 503  # never succeeded yet: not ready
    body = down.json()
    assert down.status_code == 503 and body["down"] == ["prometheus"]
    assert "timed out" in body["dependencies"]["prometheus"]["last_error"]
    assert body["dependencies"]["argocd"]["up"] is True
    assert 'githeal_dependency_up{dependency="prometheus"} 0.0' in text
    assert 'githeal_dependency_up{dependency="argocd"} 1.0' in text


def test_github_and_each_git_remote_come_from_the_cycle_report() -> None:
    now = [1000.0]
    state = health.Health(
        ["prometheus", "argocd", "github", health.git("apps"), health.git("infra")], clock=lambda: now[0]
    )
    state.success("prometheus")
    state.success("argocd")
    problems = ["git: infra: git: fetch failed: connection refused", "github: github: 502 Bad Gateway"]
    state.cycle_done(problems, ["apps", "infra"], github=True)
    ready, detail = state.status()
    assert not ready and detail["down"] == ["git:infra", "github"]
    assert detail["dependencies"]["git:infra"]["last_error"] == "git: fetch failed: connection refused"
    assert detail["dependencies"]["git:apps"]["last_success"] == "1970-01-01T00:16:40+00:00"
    now[0] = 1030.0
    state.cycle_done([], ["apps", "infra"], github=True)
    ready, detail = state.status()
    assert ready and detail["down"] == []
    assert detail["dependencies"]["github"]["last_error"] == "github: 502 Bad Gateway"  # kept for humans


def test_stale_or_crashed_cycles_are_not_ready() -> None:
    now = [0.0]
    state = health.Health(["prometheus"], max_age=60, clock=lambda: now[0])
    state.success("prometheus")
    assert state.status()[0] is False  # no cycle yet
    state.cycle_done([], [], github=False)
    assert state.status()[0] is True
    state.crashed(RuntimeError("boom"))
    ready, detail = state.status()
    assert not ready and detail["last_cycle_crash"] == "RuntimeError: boom"
    state.cycle_done([], [], github=False)
    now[0] = 61.0
    assert state.status()[0] is False


@pytest.mark.parametrize(
    ("exc", "down"),
    [
        (errors.ArgoCDNotFound("no app", status=404), False),  # Argo CD answered: it is up
        (errors.PrometheusRejected("bad_data", status=400), False),
        (errors.ArgoCDUnauthenticated("token expired", status=401), True),
        (errors.ArgoCDPermissionDenied("denied", status=403), True),
        (errors.ArgoCDUnavailable("rate limited", status=429), True),
        (errors.ArgoCDUnavailable("bad gateway", status=502), True),
        (errors.PrometheusUnavailable("timed out"), True),
    ],
)
def test_which_failures_mean_the_dependency_is_down(exc: errors.BotError, down: bool) -> None:
    assert health.counts_as_down(exc) is down
