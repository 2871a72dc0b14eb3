"""The service's HTTP endpoints over a real socket: probes, metrics, authenticated webhooks."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

from bot.record import metrics
from bot.service import http


@pytest.fixture
def served() -> Iterator[tuple[str, dict[str, Any]]]:
    seen: dict[str, Any] = {"evaluate": [], "events": [], "ready": True}
    m = metrics.Metrics()
    m.heals.labels("checkout", "p", "rollback", "auto", "verified").inc()

    def evaluate(apps: list[str]) -> list[str]:
        seen["evaluate"].append(apps)
        return [a for a in apps if a != "unknown"]

    def event(name: str, payload: Mapping[str, Any]) -> None:
        seen["events"].append((name, payload))

    hooks = http.Hooks(
        ready=lambda: (seen["ready"], {"prometheus": "ok"}),
        metrics=m.render,
        evaluate=evaluate,
        github_event=event,
        alert_token="s3cret",
        github_secret="hook-secret",
    )
    svc = http.HttpService(hooks).start()
    try:
        yield svc.url, seen
    finally:
        svc.stop()


def test_probes_and_metrics(served: tuple[str, dict[str, Any]]) -> None:
    url, seen = served
    assert httpx.get(f"{url}/healthz").status_code == 200
    assert httpx.get(f"{url}/readyz").json() == {"ready": True, "prometheus": "ok"}
    seen["ready"] = False
    assert httpx.get(f"{url}/readyz").status_code == 503
    body = httpx.get(f"{url}/metrics").text
    assert (
        'githeal_heals_total{action="rollback",app="checkout",mode="auto",outcome="verified",policy="p"} 1.0'
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


def test_github_webhook_checks_signature_and_dedupes_deliveries(served: tuple[str, dict[str, Any]]) -> None:
    url, seen = served
    body = json.dumps({"action": "closed", "pull_request": {"number": 3, "merged": False}}).encode()
    headers = {
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": "d-1",
        "Content-Type": "application/json",
    }
    forged = httpx.post(
        f"{url}/webhooks/github", content=body, headers={**headers, "X-Hub-Signature-256": "sha256=00"}
    )
    assert forged.status_code == 401
    signed = {**headers, "X-Hub-Signature-256": http.github_signature("hook-secret", body)}
    assert httpx.post(f"{url}/webhooks/github", content=body, headers=signed).status_code == 202
    again = httpx.post(f"{url}/webhooks/github", content=body, headers=signed)
    assert again.json() == {"duplicate": "d-1"}
    assert [name for name, _ in seen["events"]] == ["pull_request"]


def test_github_signature_matches_documented_example() -> None:
    # The example from GitHub's docs on validating webhook deliveries.
    sig = http.github_signature("It's a Secret to Everybody", b"Hello, World!")
    assert sig == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_webhooks_reject_bodies_that_are_not_json_objects(served: tuple[str, dict[str, Any]]) -> None:
    url, seen = served
    auth = {"Authorization": "Bearer s3cret"}
    assert httpx.post(f"{url}/webhooks/alertmanager", content=b"{nope", headers=auth).status_code == 400
    assert httpx.post(f"{url}/webhooks/alertmanager", json=[1, 2], headers=auth).status_code == 400
    assert httpx.post(f"{url}/nowhere", json={}).status_code == 404
    assert seen["evaluate"] == []
