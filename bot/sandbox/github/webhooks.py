"""Webhook delivery of the GitHub emulator: ``pull_request`` events signed like GitHub's.

Each delivery is a real HTTP POST with ``X-GitHub-Event``, ``X-GitHub-Delivery`` (a GUID) and
``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with the hook's secret), sent from one
background thread in event order. This module must not read or change emulator state.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Hook:
    id: int
    url: str
    secret: str
    events: tuple[str, ...] = ("pull_request",)


@dataclass
class Delivery:
    guid: str
    hook_id: int
    event: str
    action: str | None
    status: int | None = None
    error: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


class Webhooks:
    def __init__(self, timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s
        self.hooks: list[Hook] = []
        self.deliveries: list[Delivery] = []
        self._queue: queue.Queue[tuple[Hook, Delivery] | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    def add(self, url: str, secret: str, events: tuple[str, ...] = ("pull_request",)) -> Hook:
        with self._lock:
            hook = Hook(len(self.hooks) + 1, url, secret, events)
            self.hooks.append(hook)
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="ghemu-webhooks", daemon=True)
                self._worker.start()
            return hook

    def emit(self, event: str, payload: dict[str, Any]) -> None:
        with self._lock:
            for hook in self.hooks:
                if event in hook.events or "*" in hook.events:
                    delivery = Delivery(
                        str(uuid.uuid4()), hook.id, event, payload.get("action"), payload=payload
                    )
                    self.deliveries.append(delivery)
                    self._queue.put((hook, delivery))

    def wait(self, timeout_s: float = 5.0) -> bool:
        """Block until every queued delivery was attempted (for tests); False on timeout."""
        if self._worker is None:
            return True
        done = threading.Event()

        def drain() -> None:
            self._queue.join()
            done.set()

        waiter = threading.Thread(target=drain, daemon=True)
        waiter.start()
        return done.wait(timeout_s)

    def stop(self) -> None:
        if self._worker is not None:
            self._queue.put(None)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._deliver(*item)
            finally:
                self._queue.task_done()

    def _deliver(self, hook: Hook, delivery: Delivery) -> None:
        body = json.dumps(delivery.payload).encode()
        request = urllib.request.Request(
            hook.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "GitHub-Hookshot/emulator",
                "X-GitHub-Event": delivery.event,
                "X-GitHub-Delivery": delivery.guid,
                "X-GitHub-Hook-ID": str(hook.id),
                "X-Hub-Signature-256": signature(hook.secret, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                delivery.status = response.status
        except urllib.error.HTTPError as exc:
            delivery.status = exc.code
        except (urllib.error.URLError, OSError) as exc:
            delivery.error = str(exc)
