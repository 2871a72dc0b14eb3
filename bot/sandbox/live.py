"""Where the workload simulator reads the LIVE state of each app: the Argo CD emulator, or memory.

The shape is what the Argo CD emulator serves at ``GET /api/emulator/apps/{name}/live``. Sources are
plain callables returning ``{app: LiveApp | None}`` (None: not deployed); they raise ``ArgoCDError``
subclasses when unreadable and must not cache, decide or simulate anything themselves.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TypedDict

import httpx

from bot import errors

SERVING_KINDS = ("Deployment", "StatefulSet", "Rollout", "DaemonSet")
_ERRORS: dict[int, type[errors.ArgoCDError]] = {
    401: errors.ArgoCDUnauthenticated,
    403: errors.ArgoCDPermissionDenied,
}


class LiveWorkload(TypedDict, total=False):
    kind: str
    name: str
    namespace: str
    images: dict[str, str]  # container -> image
    replicas: int
    annotations: dict[str, str]
    canary: LiveCanary  # an Argo Rollouts canary in progress: its images get ``weight`` % of traffic


class LiveCanary(TypedDict):
    images: dict[str, str]
    weight: int  # percent; 0 once the rollout aborted


class LiveApp(TypedDict, total=False):
    """What ``GET {argocd}/api/emulator/apps/{name}/live`` returns."""

    revision: str
    workloads: list[LiveWorkload]
    configmaps: dict[str, dict[str, str]]
    hpas: dict[str, dict[str, int]]  # name -> {"min": n, "max": n}


LiveSource = Callable[[], Mapping[str, LiveApp | None]]


class StaticLiveSource:
    """In-memory live state for tests and offline demos; mutate it to simulate deploys and drift."""

    def __init__(self, apps: Mapping[str, LiveApp] | None = None) -> None:
        self._apps: dict[str, LiveApp] = copy.deepcopy(dict(apps or {}))
        self._lock = threading.Lock()

    def __call__(self) -> dict[str, LiveApp | None]:
        with self._lock:
            return copy.deepcopy(dict(self._apps))

    def set(self, app: str, live: LiveApp) -> None:
        with self._lock:
            self._apps[app] = copy.deepcopy(live)

    def set_image(self, app: str, image: str, container: str | None = None) -> None:
        """Point every workload's container (or the one named) at ``image``."""
        with self._lock:
            for workload in self._apps[app].get("workloads", []):
                images = workload.setdefault("images", {})
                for name in list(images) if container is None else [container]:
                    images[name] = image

    def set_replicas(self, app: str, replicas: int) -> None:
        with self._lock:
            for workload in self._apps[app].get("workloads", []):
                workload["replicas"] = replicas

    def set_config(self, app: str, configmap: str, key: str, value: str) -> None:
        with self._lock:
            self._apps[app].setdefault("configmaps", {}).setdefault(configmap, {})[key] = value


class ArgoLiveSource:
    """Polls the Argo CD emulator's live-state endpoint for each app; 404 means not deployed."""

    def __init__(
        self,
        argocd_url: str,
        apps: Iterable[str],
        *,
        token: str | None = None,
        client: httpx.Client | None = None,
        timeout: float = 2.0,
    ) -> None:
        self.base = argocd_url.rstrip("/")
        self.apps = tuple(apps)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._own = client is None
        self._client = client or httpx.Client(timeout=timeout, headers=headers)

    def __call__(self) -> dict[str, LiveApp | None]:
        out: dict[str, LiveApp | None] = {}
        for app in self.apps:
            url = f"{self.base}/api/emulator/apps/{app}/live"
            try:
                response = self._client.get(url)
            except httpx.HTTPError as exc:
                raise errors.ArgoCDUnavailable(f"live state unreadable: {exc}", app=app, url=url) from exc
            if response.status_code == 404:
                out[app] = None
                continue
            if response.status_code != 200:
                error = _ERRORS.get(response.status_code, errors.ArgoCDUnavailable)
                raise error(
                    "live state unreadable",
                    app=app,
                    url=url,
                    status=response.status_code,
                    payload=response.text,
                )
            try:
                out[app] = response.json()
            except ValueError as exc:
                raise errors.ArgoCDUnavailable("live state is not JSON", app=app, url=url) from exc
        return out

    def close(self) -> None:
        if self._own:
            self._client.close()


def images(live: LiveApp | None) -> tuple[str, ...]:
    """Every container image of the app's workloads, sorted and unique."""
    if live is None:
        return ()
    return tuple(sorted({i for w in live.get("workloads", []) for i in (w.get("images") or {}).values()}))


def replicas(live: LiveApp) -> tuple[int, tuple[int, int] | None]:
    """Declared replicas of the serving workloads, and the summed HPA bounds when an HPA owns them."""
    serving = [w for w in live.get("workloads", []) if w.get("kind", "Deployment") in SERVING_KINDS]
    declared = sum(int(w.get("replicas", 1)) for w in serving)
    hpas = live.get("hpas") or {}
    if not hpas:
        return declared, None
    return declared, (sum(int(h["min"]) for h in hpas.values()), sum(int(h["max"]) for h in hpas.values()))


def canary(live: LiveApp | None) -> tuple[tuple[str, ...], float]:
    """The images of a canary in progress and its share of the traffic (0..1); ((), 0.0) when none."""
    for w in (live or {}).get("workloads", []):
        if (c := w.get("canary")) is not None and c.get("weight", 0) > 0:
            return tuple(sorted(set(c["images"].values()))), min(1.0, c["weight"] / 100.0)
    return (), 0.0
