"""The error contract at the client boundary: temporary errors retried with backoff and jitter (and the
server's Retry-After), permanent ones not, writes only when the server surely did not act.

httpx.MockTransport stands in for answers a real local server cannot easily give on demand (a 503
then a 200, a 429 with Retry-After). Facts: Argo CD's grpc-gateway maps ResourceExhausted to 429 and
Unavailable to 503 (grpc-gateway runtime/errors.go HTTPStatusFromCode); RFC 9110 §10.2.3: Retry-After
is delta-seconds or an HTTP-date.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from bot import errors
from bot.clients import argocd, retry
from bot.clients import prometheus as prom

Handler = Callable[[httpx.Request], httpx.Response]
APP = {"metadata": {"name": "checkout"}}
GATEWAY_UNAVAILABLE = {"error": "connection refused", "code": 14, "message": "connection refused"}


def _script(*answers: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


def _argo(handler: Handler, policy: retry.Retry) -> argocd.ArgoCDClient:
    http = httpx.Client(base_url="http://argocd.test", transport=httpx.MockTransport(handler))
    return argocd.ArgoCDClient(http, token="t", retry=policy)


def _policy(**kw: float) -> tuple[retry.Retry, list[float], list[tuple[str, str]]]:
    slept: list[float] = []
    heard: list[tuple[str, str]] = []
    policy = retry.Retry(sleep=slept.append, **kw)  # type: ignore[arg-type]
    policy.observe(lambda system, exc: heard.append((system, type(exc).__name__ if exc else "ok")))
    return policy, slept, heard


def test_a_temporary_error_is_retried_with_jittered_backoff() -> None:
    handler, seen = _script(
        httpx.Response(503, json=GATEWAY_UNAVAILABLE),
        httpx.Response(503, json=GATEWAY_UNAVAILABLE),
        httpx.Response(200, json=APP),
    )
    policy, slept, heard = _policy(base=1.0, cap=8.0)
    assert _argo(handler, policy).get("checkout")["metadata"]["name"] == "checkout"
    assert len(seen) == 3
    assert len(slept) == 2 and 0 <= slept[0] <= 1.0 and 0 <= slept[1] <= 2.0
    assert heard == [("argocd", "ok")]  # the observer hears the final outcome once


def test_backoff_is_jittered() -> None:
    policy, slept, _ = _policy(base=1.0, cap=8.0, attempts=2)
    for _ in range(20):
        handler, _seen = _script(httpx.Response(503, json=GATEWAY_UNAVAILABLE), httpx.Response(200, json=APP))
        _argo(handler, policy).get("checkout")
    assert len(set(slept)) > 10


def test_a_permanent_error_is_not_retried() -> None:
    for status, code in ((404, 5), (403, 7), (401, 16)):
        handler, seen = _script(httpx.Response(status, json={"error": "x", "code": code, "message": "x"}))
        policy, slept, heard = _policy()
        with pytest.raises(errors.PermanentError):
            _argo(handler, policy).get("checkout")
        assert (len(seen), slept) == (1, [])
        assert heard[0][0] == "argocd"


def test_retry_after_is_honoured_and_a_long_one_is_left_to_the_next_cycle() -> None:
    handler, seen = _script(
        httpx.Response(429, text="slow down", headers={"Retry-After": "7"}), httpx.Response(200, json=APP)
    )
    policy, slept, _ = _policy(base=0.1, max_wait=30)
    _argo(handler, policy).get("checkout")
    assert len(seen) == 2 and slept == [7.0]

    handler, seen = _script(httpx.Response(429, text="slow down", headers={"Retry-After": "120"}))
    policy, slept, _ = _policy(max_wait=30)
    with pytest.raises(errors.TemporaryError) as info:
        _argo(handler, policy).get("checkout")
    assert len(seen) == 1 and slept == [] and info.value.delay == 120.0


def test_writes_are_repeated_only_when_the_server_did_not_act() -> None:
    # a timed-out sync may have started an operation: sending it again could sync twice
    handler, seen = _script(httpx.ReadTimeout("read timed out"), httpx.Response(200, json=APP))
    policy, _slept, _ = _policy()
    with pytest.raises(errors.ArgoCDUnavailable):
        _argo(handler, policy).sync("checkout")
    assert len(seen) == 1
    # refused connection or a 503: nothing happened on the server, the write goes again
    handler, seen = _script(httpx.ConnectError("refused"), httpx.Response(200, json=APP))
    policy, _slept, _ = _policy()
    _argo(handler, policy).sync("checkout")
    assert len(seen) == 2
    handler, seen = _script(httpx.Response(503, text="unavailable"), httpx.Response(200, json=APP))
    _argo(handler, policy).sync("checkout")
    assert len(seen) == 2


def test_attempts_are_bounded() -> None:
    handler, seen = _script(httpx.Response(502, text="bad gateway"))
    policy, slept, heard = _policy(attempts=4)
    with pytest.raises(errors.ArgoCDUnavailable):
        _argo(handler, policy).list_apps()
    assert len(seen) == 4 and len(slept) == 3 and heard == [("argocd", "ArgoCDUnavailable")]


def test_prometheus_answers_are_retried_too() -> None:
    vector = {"status": "success", "data": {"resultType": "vector", "result": []}}
    handler, seen = _script(
        httpx.Response(503, json={"status": "error", "errorType": "unavailable", "error": "down"}),
        httpx.Response(200, text='{"status": "succ'),  # truncated answer
        httpx.Response(200, json=vector),
    )
    policy, slept, heard = _policy()
    client = prom.PrometheusClient.connect(
        "http://prom.test", transport=httpx.MockTransport(handler), retry=policy
    )
    assert client.query("up", 1000.0).series == ()
    assert len(seen) == 3 and len(slept) == 2 and heard == [("prometheus", "ok")]


def test_without_a_policy_a_client_tries_once() -> None:
    handler, seen = _script(httpx.Response(503, json=GATEWAY_UNAVAILABLE))
    http = httpx.Client(base_url="http://argocd.test", transport=httpx.MockTransport(handler))
    with pytest.raises(errors.ArgoCDUnavailable):
        argocd.ArgoCDClient(http).get("checkout")
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12", 12.0), ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0), ("soon", None), ("", None)],
)
def test_retry_after_header_forms(value: str, expected: float | None) -> None:
    now = 1445412480.0  # 2015-10-21T07:28:00Z
    assert retry.retry_after({"retry-after": value} if value else {}, now=now) == expected


def test_after_a_final_failure_calls_try_once_until_the_cooldown_ends_or_one_succeeds() -> None:
    # a hanging dependency must cost one timeout per call, not ``attempts`` of them, cycle after cycle
    now = [0.0]
    policy, slept, _ = _policy(attempts=3, cooldown=30)
    policy.clock = lambda: now[0]
    handler, seen = _script(httpx.Response(503, json=GATEWAY_UNAVAILABLE))
    client = _argo(handler, policy)
    with pytest.raises(errors.ArgoCDUnavailable):
        client.list_apps()
    assert len(seen) == 3
    with pytest.raises(errors.ArgoCDUnavailable):
        client.list_apps()
    assert len(seen) == 4  # one attempt while failing
    now[0] = 31.0
    with pytest.raises(errors.ArgoCDUnavailable):
        client.list_apps()
    assert len(seen) == 7 and len(slept) == 4
