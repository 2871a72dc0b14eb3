"""The fleet listing (issue 10 P1/P2): ``list_statuses`` asks Argo CD to leave out ``status.resources``,
which nothing parsed from a list reads, and parses exactly what the full list would give."""

from __future__ import annotations

import httpx
from argokit import API_TOKEN

from bot.clients import argocd
from bot.sandbox.argocd import server


def test_list_statuses_leaves_out_resources_and_parses_the_same(emulator: server.ArgoCDEmulator) -> None:
    seen: list[httpx.Request] = []
    with httpx.Client(base_url=emulator.url, timeout=5.0, event_hooks={"request": [seen.append]}) as http:
        client = argocd.ArgoCDClient(http, token=API_TOKEN)
        full = client.list_apps()
        assert full and all(app["status"].get("resources") for app in full)
        statuses = client.list_statuses()
    # argocd-api.md, List applications: a leading "-" excludes a whitelisted field server-side
    assert seen[-1].url.params["fields"] == "-items.status.resources"
    assert statuses == [argocd.parse_app(app) for app in full]
