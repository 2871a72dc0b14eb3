"""An Argo Rollouts canary in the workload simulator: the canary's images take their weight of the
requests, an aborted canary (weight 0) stops failing at once, and the AnalysisRun hook judges images."""

from __future__ import annotations

import copy

from bot.sandbox import behaviour, live, simulator

BAD = "ghcr.io/acme/checkout:1.5.0"


def _canary(world: live.StaticLiveSource, weight: int) -> None:
    apps = world()
    checkout = copy.deepcopy(apps["checkout"])
    assert checkout is not None
    checkout["workloads"][0]["kind"] = "Rollout"
    checkout["workloads"][0]["canary"] = {"images": {"checkout": BAD}, "weight": weight}
    world.set("checkout", checkout)


def test_canary_weight_of_requests_fail_then_none_once_aborted(specs, world) -> None:
    sim = simulator.Simulator(specs, world, tick=None)
    sim.set_behaviour("ghcr.io/acme/checkout:1.5.*", {"kind": "errors", "error_rate": 0.3})
    _canary(world, 20)
    sim.step(10)  # 1000 requests, 200 to the canary, 30% of those fail
    assert sim.requests("checkout") == {"200": 940, "500": 60, "503": 0}
    assert sim.state()["apps"]["checkout"]["images"] == ["ghcr.io/acme/checkout:1.4.2", BAD]
    _canary(world, 0)  # aborted: the stable ReplicaSet takes every request again
    sim.step(10)
    assert sim.requests("checkout") == {"200": 1940, "500": 60, "503": 0}
    assert sim.state()["apps"]["checkout"]["images"] == ["ghcr.io/acme/checkout:1.4.2"]


def test_analysis_fails_erroring_or_crashing_canaries_only(specs, world) -> None:
    sim = simulator.Simulator(specs, world, tick=None)
    sim.set_behaviour("ghcr.io/acme/checkout:1.5.*", {"kind": "errors", "error_rate": 0.3})
    sim.set_behaviour("ghcr.io/acme/checkout:1.6.*", "crash-loop")
    sim.set_behaviour("ghcr.io/acme/checkout:1.7.*", {"kind": "errors", "error_rate": 0.01})
    assert sim.analysis("checkout", {"checkout": BAD}) == "Failed"
    assert sim.analysis("checkout", {"checkout": "ghcr.io/acme/checkout:1.6.0"}) == "Failed"
    assert sim.analysis("checkout", {"checkout": "ghcr.io/acme/checkout:1.7.0"}) == "Successful"
    assert sim.analysis("checkout", {"checkout": "ghcr.io/acme/checkout:1.4.3"}) == "Successful"


def test_mix_is_exact_at_the_weights() -> None:
    spec = behaviour.AppSpec("a", rps=10, capacity=100)
    good = behaviour.serve(spec, 10, 1, ("g",), {})
    bad = behaviour.serve(spec, 10, 1, ("b",), {"b": behaviour.Behaviour("errors", 0.5)})
    assert behaviour.mix(good, bad, 0.0).share == good.share
    assert behaviour.mix(good, bad, 1.0).share == bad.share
    assert behaviour.mix(good, bad, 0.5).share["500"] == 0.25
