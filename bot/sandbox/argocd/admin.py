"""Emulator-only admin endpoints under ``/api/emulator/`` (not part of Argo CD; no auth; JSON in and out).

They let drills, the demo and the workload simulator change or read the emulated world: add apps,
read live state, inject live drift, mark images as failing, make syncs fail, force polls and ticks.
They call the same controller methods as the Python API of ``ArgoCDEmulator``; no behaviour of their own.
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.argocd import api, state, wire, workload

ROUTES: list[api.Route] = []
route = api.router(ROUTES)
APP_KEYS = {
    "repoURL": "repo_url",
    "targetRevision": "target_revision",
    "selfHeal": "self_heal",
    "syncOptions": "sync_options",
    "helmParameters": "helm_parameters",
    "appNamespace": "app_namespace",
}


def _app(c: api.Ctx) -> state.App:
    name = c.match["name"]
    if name not in c.emu.controller.apps:
        raise state.RequestError(5, f"no emulated app named {name!r}")
    return c.emu.controller.apps[name]


@route("GET", "/api/emulator/apps", auth=False)
def admin_apps(c: api.Ctx) -> Any:
    return {
        "apps": [
            {
                "name": a.name,
                "project": a.project,
                "sync": a.sync_status,
                "health": a.health,
                "revision": a.sync_revision,
                "revisions": a.sync_revisions,
                "liveRevision": a.live_revision,
                "operation": a.op_state.phase if a.op_state else "",
            }
            for a in c.emu.controller.apps.values()
        ]
    }


@route("POST", "/api/emulator/apps", auth=False)
def admin_add(c: api.Ctx) -> Any:
    kwargs: dict[str, Any] = {
        APP_KEYS.get(k, k): tuple(v) if isinstance(v, list) else v for k, v in c.body.items()
    }
    try:
        config = state.AppConfig(**kwargs)
    except TypeError as exc:
        raise state.RequestError(3, f"bad app: {exc}") from exc
    return wire.application(c.emu.controller.add(config))


@route("GET", "/api/emulator/apps/(?P<name>[^/]+)/live", auth=False)
def admin_live(c: api.Ctx) -> Any:
    app = _app(c)
    return workload.live_view(app.live_revision, app.live, app.rollout_runs)


@route("POST", "/api/emulator/apps/(?P<name>[^/]+)/drift", auth=False)
def admin_drift(c: api.Ctx) -> Any:
    app = _app(c)
    if not ({"configmap", "key", "value"} <= c.body.keys() or c.body.get("workload") or c.body.get("hpa")):
        raise state.RequestError(
            3, "drift needs workload (+image/replicas/annotations), hpa (+min/max) or configmap+key+value"
        )
    c.emu.controller.inject_drift(app, c.body)
    return workload.live_view(app.live_revision, app.live, app.rollout_runs)


@route("POST", "/api/emulator/apps/(?P<name>[^/]+)/poll", auth=False)
def admin_poll(c: api.Ctx) -> Any:
    app = c.emu.controller.refresh(_app(c).name)
    return wire.application(app)


@route("POST", "/api/emulator/apps/(?P<name>[^/]+)/sync-error", auth=False)
def admin_sync_error(c: api.Ctx) -> Any:
    _app(c).sync_error = c.body.get("message") or None
    return {}


@route("POST", "/api/emulator/poll", auth=False)
def admin_poll_all(c: api.Ctx) -> Any:
    for name in list(c.emu.controller.apps):
        c.emu.controller.refresh(name)
    return {}


@route("POST", "/api/emulator/tick", auth=False)
def admin_tick(c: api.Ctx) -> Any:
    c.emu.controller.tick()
    return {}


@route("POST", "/api/emulator/behaviour", auth=False)
def admin_behaviour(c: api.Ctx) -> Any:
    model = c.emu.model
    if not isinstance(model, workload.DefaultModel):
        raise state.RequestError(9, "image behaviours need the default workload model")
    try:
        if c.body.get("image"):
            model.set_image(str(c.body["image"]), str(c.body.get("behaviour", "failing")))
        if c.body.get("rolloutDelay") is not None:
            model.rollout_delay = float(c.body["rolloutDelay"])
        if c.body.get("progressDeadline") is not None:
            model.progress_deadline = float(c.body["progressDeadline"])
    except (TypeError, ValueError) as exc:
        raise state.RequestError(3, str(exc)) from exc
    return {"rolloutDelay": model.rollout_delay, "progressDeadline": model.progress_deadline}
