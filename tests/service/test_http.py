"""The service's HTTP endpoints over a real socket: probes, metrics, authenticated webhooks, and what a
hostile or broken client does to the server (bad Content-Length, slow clients, floods, replays).

Facts: GitHub signs the raw body with HMAC-SHA256 in X-Hub-Signature-256 and names each delivery in
X-GitHub-Delivery (GitHub docs, "Validating webhook deliveries"); RFC 9112 §6.3: a Content-Length that
is not a non-negative decimal is unrecoverable and the server must answer 400 and close.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

from bot.record import metrics
from bot.service import http


def _serve(**kw: Any) -> tuple[http.HttpService, dict[str, Any]]:
    seen: dict[str, Any] = {"evaluate": [], "events": [], "ready": True}
    m = metrics.Metrics()
    m.heal("checkout", "p", "rollback", "auto", "committed")

    def evaluate(apps: list[str]) -> list[str]:
        seen["evaluate"].append(apps)
        return [a for a in apps if a != "unknown"]

    def event(name: str, payload: Mapping[str, Any]) -> None:
        seen["events"].append((name, payload))

    hooks = http.Hooks(
        ready=lambda: (seen["ready"], {"dependencies": {"prometheus": {"up": True}}}),
        metrics=m.render,
        evaluate=evaluate,
        github_event=event,
        **kw,
    )
    return http.HttpService(hooks).start(), seen


@pytest.fixture
def served() -> Iterator[tuple[str, dict[str, Any]]]:
    svc, seen = _serve(alert_token="s3cret", github_secret="hook-secret")
    try:
        yield svc.url, seen
    finally:
        svc.stop()


def _raw(url: str, data: bytes, wait: float = 5.0) -> bytes:
    """Send raw bytes, return whatever comes back until the server closes or ``wait`` passes."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=wait) as sock:
        sock.sendall(data)
        out = b""
        try:
            while chunk := sock.recv(65536):
                out += chunk
                if b"\r\n\r\n" in out and b"connection: close" not in out.lower():
                    break
        except TimeoutError:
            pass
        return out


def test_probes_and_metrics(served: tuple[str, dict[str, Any]]) -> None:
    url, seen = served
    assert httpx.get(f"{url}/healthz").status_code == 200
    assert httpx.get(f"{url}/readyz").json() == {
        "ready": True,
        "dependencies": {"prometheus": {"up": True}},
    }
    seen["ready"] = False
    assert httpx.get(f"{url}/readyz").status_code == 503
    body = httpx.get(f"{url}/metrics").text
    assert (
        'githeal_heals_total{action="rollback",app="checkout",mode="auto",outcome="committed",policy="p"} 1.0'
        in body
    )


ALERT = {
    "version": "4",
    "status": "firing",
    "alerts": [
        {"status": "firing", "labels": {"alertname": "Burn", "app": "checkout"}},
        {"status": "resolved", "labels": {"alertname": "Burn", "app": "cart"}},
        {"status": "firing", "labels": {"alertname": "Burn", "argocd_app": "unknown"}},
    ],
}


def test_alertmanager_webhook_requires_bearer_and_requests_evaluation(
    served: tuple[str, dict[str, Any]],
) -> None:
    url, seen = served
    assert httpx.post(f"{url}/webhooks/alertmanager", json=ALERT).status_code == 401
    bad = httpx.post(f"{url}/webhooks/alertmanager", json=ALERT, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and seen["evaluate"] == []
    ok = httpx.post(f"{url}/webhooks/alertmanager", json=ALERT, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 202
    assert ok.json() == {"evaluating": ["checkout"]}
    assert seen["evaluate"] == [["checkout", "unknown"]]


def _signed(body: bytes, delivery: str, secret: str = "hook-secret") -> dict[str, str]:
    return {
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": delivery,
        "Content-Type": "application/json",
        "X-Hub-Signature-256": http.github_signature(secret, body),
    }


def test_github_webhook_checks_signature_and_dedupes_deliveries(served: tuple[str, dict[str, Any]]) -> None:
    url, seen = served
    body = json.dumps({"action": "closed", "pull_request": {"number": 3, "merged": False}}).encode()
    signed = _signed(body, "d-1")
    forged = httpx.post(
        f"{url}/webhooks/github", content=body, headers={**signed, "X-Hub-Signature-256": "sha256=00"}
    )
    assert forged.status_code == 401
    assert httpx.post(f"{url}/webhooks/github", content=body, headers=signed).status_code == 202
    again = httpx.post(f"{url}/webhooks/github", content=body, headers=signed)
    assert again.json() == {"duplicate": "d-1"}
    assert [name for name, _ in seen["events"]] == ["pull_request"]


def test_a_replayed_body_under_a_new_delivery_id_is_refused(served: tuple[str, dict[str, Any]]) -> None:
    # the signature covers the body only, so a captured delivery re-sent with a fresh id still verifies
    url, seen = served
    body = json.dumps({"action": "closed", "pull_request": {"number": 4, "merged": True}}).encode()
    assert httpx.post(f"{url}/webhooks/github", content=body, headers=_signed(body, "d-1")).status_code == 202
    replay = httpx.post(f"{url}/webhooks/github", content=body, headers=_signed(body, "d-2"))
    assert replay.status_code == 200 and replay.json() == {"duplicate": "body"}
    assert len(seen["events"]) == 1
    auth = {"Authorization": "Bearer s3cret"}
    assert httpx.post(f"{url}/webhooks/alertmanager", json=ALERT, headers=auth).status_code == 202
    assert httpx.post(f"{url}/webhooks/alertmanager", json=ALERT, headers=auth).json() == {
        "duplicate": "body"
    }
    assert len(seen["evaluate"]) == 1


def test_a_forged_delivery_cannot_burn_a_delivery_id(served: tuple[str, dict[str, Any]]) -> None:
    url, seen = served
    body = json.dumps({"action": "opened", "pull_request": {"number": 5}}).encode()
    forged = _signed(b"other", "d-7")
    assert httpx.post(f"{url}/webhooks/github", content=body, headers=forged).status_code == 401
    assert httpx.post(f"{url}/webhooks/github", content=body, headers=_signed(body, "d-7")).status_code == 202
    assert len(seen["events"]) == 1


def test_replay_window_expires() -> None:
    now = [0.0]
    replays = http.Replays(window=60, clock=lambda: now[0])
    assert replays.claim("a", "b") is None
    assert replays.claim("c", "b") == "b" and not replays.seen("c")
    now[0] = 61.0
    assert replays.claim("b") is None


def test_github_signature_matches_documented_example() -> None:
    # The example from GitHub's docs on validating webhook deliveries.
    sig = http.github_signature("It's a Secret to Everybody", b"Hello, World!")
    assert sig == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_webhooks_reject_bodies_that_are_not_json_objects(served: tuple[str, dict[str, Any]]) -> None:
    url, seen = served
    auth = {"Authorization": "Bearer s3cret"}
    assert httpx.post(f"{url}/webhooks/alertmanager", content=b"{nope", headers=auth).status_code == 400
    assert httpx.post(f"{url}/webhooks/alertmanager", json=[1, 2], headers=auth).status_code == 400
    assert httpx.post(f"{url}/webhooks/alertmanager", content=b"\xff\xfe", headers=auth).status_code == 400
    assert httpx.post(f"{url}/nowhere", json={}).status_code == 404
    assert httpx.get(f"{url}/webhooks/github").status_code == 405
    assert seen["evaluate"] == []


def test_webhooks_without_credentials_are_refused_unless_insecure() -> None:
    svc, seen = _serve()
    try:
        body = json.dumps({"action": "opened"}).encode()
        gh = httpx.post(f"{svc.url}/webhooks/github", content=body, headers={"X-GitHub-Event": "ping"})
        am = httpx.post(f"{svc.url}/webhooks/alertmanager", json=ALERT)
        assert (gh.status_code, am.status_code) == (403, 403)
        assert "insecure" in gh.json()["error"]
        assert seen["events"] == [] and seen["evaluate"] == []
    finally:
        svc.stop()
    svc, seen = _serve(insecure=True)
    try:
        am = httpx.post(f"{svc.url}/webhooks/alertmanager", json=ALERT)
        assert am.status_code == 202 and seen["evaluate"] == [["checkout", "unknown"]]
    finally:
        svc.stop()


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1e3", b"5, 7"])
def test_a_bad_content_length_is_a_400_and_the_server_lives_on(
    served: tuple[str, dict[str, Any]], length: bytes
) -> None:
    url, _ = served
    head = b"POST /webhooks/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Length: "
    answer = _raw(url, head + length + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400"), answer[:80]
    assert httpx.get(f"{url}/healthz").status_code == 200


def test_credentials_and_size_are_checked_before_the_body_is_read(served: tuple[str, dict[str, Any]]) -> None:
    # the client announces a body and never sends it: the answer must come anyway, at once
    url, _ = served
    head = b"POST /webhooks/alertmanager HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
    started = time.monotonic()
    assert _raw(url, head + b"Authorization: Bearer nope\r\n\r\n", wait=3).startswith(b"HTTP/1.1 401")
    big = b"Authorization: Bearer s3cret\r\n\r\n"
    huge = head.replace(b"1000", str(http.MAX_BODY + 1).encode())
    assert _raw(url, huge + big, wait=3).startswith(b"HTTP/1.1 413")
    unsigned = b"POST /webhooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
    assert _raw(url, unsigned, wait=3).startswith(b"HTTP/1.1 401")
    assert time.monotonic() - started < 2


def test_a_chunked_body_past_the_limit_is_refused(served: tuple[str, dict[str, Any]]) -> None:
    url, seen = served

    def chunks() -> Iterator[bytes]:
        for _ in range(http.MAX_BODY // 65536 + 2):
            yield b" " * 65536

    r = httpx.post(
        f"{url}/webhooks/alertmanager", content=chunks(), headers={"Authorization": "Bearer s3cret"}
    )
    assert r.status_code == 413 and seen["evaluate"] == []


def test_slow_clients_are_cut_off_and_do_not_block_others(
    served: tuple[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "REQUEST_TIMEOUT", 1.0)
    url, _ = served
    host, port = url.removeprefix("http://").split(":")
    slow = []
    for i in range(60):  # slowloris: a few header bytes each, never the blank line
        s = socket.create_connection((host, int(port)), timeout=5)
        s.sendall(b"POST /webhooks/alertmanager HTTP/1.1\r\nHost: x\r\n" if i % 2 else b"GE")
        slow.append(s)
    body_stall = socket.create_connection((host, int(port)), timeout=5)
    body_stall.sendall(
        b"POST /webhooks/alertmanager HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n"
        b"Content-Length: 100\r\n\r\n{"
    )
    slow.append(body_stall)
    try:
        started = time.monotonic()
        assert httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        assert time.monotonic() - started < 0.5
        closed = 0
        deadline = started + 4
        for s in slow:  # each is closed by the server within its deadline (recv gives b"")
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = s.recv(1024)
            except (TimeoutError, ConnectionResetError):
                data = b"still open"
            closed += data == b"" or data.startswith(b"HTTP/1.1 4")
        assert closed == len(slow)
        assert time.monotonic() - started < 6
    finally:
        for s in slow:
            s.close()


def test_connections_past_the_cap_are_closed(
    served: tuple[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "MAX_CONNECTIONS", 5)
    url, _ = served
    host, port = url.removeprefix("http://").split(":")
    held = [socket.create_connection((host, int(port)), timeout=3) for _ in range(5)]
    try:
        time.sleep(0.2)
        extra = socket.create_connection((host, int(port)), timeout=3)
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            got = extra.recv(1024)
        except ConnectionResetError:
            got = b""
        extra.close()
        assert got == b""
    finally:
        for s in held:
            s.close()
    time.sleep(0.2)
    assert httpx.get(f"{url}/healthz", timeout=2).status_code == 200


def test_clients_that_hang_up_early_leave_no_tracebacks(
    served: tuple[str, dict[str, Any]], capfd: pytest.CaptureFixture[str]
) -> None:
    url, _ = served
    host, port = url.removeprefix("http://").split(":")

    def rude() -> None:
        for _ in range(20):
            s = socket.create_connection((host, int(port)), timeout=3)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            s.close()  # RST before the answer is written

    threads = [threading.Thread(target=rude) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(0.3)
    assert httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err
