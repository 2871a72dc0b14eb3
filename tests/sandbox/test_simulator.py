"""The simulator's arithmetic, driven by step() with a static live world (no ticker, no sleeping)."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot import errors
from bot.sandbox import behaviour, live, simulator


def sim_for(specs: list[behaviour.AppSpec], world: live.LiveSource, **kw: object) -> simulator.Simulator:
    return simulator.Simulator(specs, world, tick=None, **kw)  # type: ignore[arg-type]


def samples(sim: simulator.Simulator) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(sim.metrics_text()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_healthy_app_serves_every_request_with_200(specs, world) -> None:
    sim = sim_for(specs, world)
    sim.step(10)
    assert sim.requests("checkout") == {"200": 1000, "500": 0, "503": 0}
    assert sim.requests("cart") == {"200": 600, "500": 0, "503": 0}
    assert sim.health("checkout") == "Healthy"


def test_error_share_is_exact_for_a_bad_image(specs, world) -> None:
    sim = sim_for(specs, world)
    world.set_image("checkout", "ghcr.io/acme/checkout:1.5.0")
    sim.set_behaviour("ghcr.io/acme/checkout:1.5.*", {"kind": "errors", "error_rate": 0.3})
    for _ in range(20):
        sim.step(0.5)
    assert sim.requests("checkout") == {"200": 700, "500": 300, "503": 0}
    assert sim.health("checkout") == "Healthy"  # pods run; only the SLO sees the errors


def test_fractional_rates_accumulate_without_drift(world) -> None:
    sim = sim_for([behaviour.AppSpec("cart", rps=3.3, capacity=100)], world)
    sim.set_behaviour("*cart*", {"error_rate": "10%"})
    for _ in range(1000):
        sim.step(0.1)
    counts = sim.requests("cart")
    assert sum(counts.values()) == 330
    assert counts["500"] == 33


def test_metrics_expose_counters_histogram_and_gauges(specs, world) -> None:
    sim = sim_for(specs, world)
    sim.step(4)
    got = samples(sim)
    assert got[("http_requests_total", (("app", "checkout"), ("code", "200")))] == 400
    assert got[("http_requests_total", (("app", "checkout"), ("code", "503")))] == 0
    assert got[("http_request_duration_seconds_count", (("app", "checkout"),))] == 400
    # 0.05 s base latency falls in the le=0.05 bucket and every bucket above it.
    assert got[("http_request_duration_seconds_bucket", (("app", "checkout"), ("le", "0.025")))] == 0
    assert got[("http_request_duration_seconds_bucket", (("app", "checkout"), ("le", "0.05")))] == 400
    assert got[("http_request_duration_seconds_bucket", (("app", "checkout"), ("le", "+Inf")))] == 400
    assert math.isclose(got[("http_request_duration_seconds_sum", (("app", "checkout"),))], 20.0)
    assert got[("githeal_sim_replicas", (("app", "cart"),))] == 2
    assert got[("githeal_sim_inflight_load", (("app", "cart"),))] == 30.0


def test_overload_sheds_the_excess_as_503_and_raises_latency(specs, world) -> None:
    sim = sim_for(specs, world)
    sim.spike("cart", multiplier=4, duration=10)  # 240 rps against 2 x 50 rps of capacity
    sim.step(10)
    counts = sim.requests("cart")
    assert counts == {"200": 1000, "500": 0, "503": 1400}
    state = sim.state()["apps"]["cart"]
    assert state["multiplier"] == 1.0  # the spike ended exactly at t=10
    got = samples(sim)
    # served requests are slow (2.4x capacity: 0.05 * (1 + 10 * 1.6) = 0.85 s), refused ones fast
    assert got[("http_request_duration_seconds_bucket", (("app", "cart"), ("le", "0.75")))] == 1400
    assert got[("http_request_duration_seconds_bucket", (("app", "cart"), ("le", "1.0")))] == 2400


def test_spike_ending_mid_step_is_split_exactly(specs, world) -> None:
    sim = sim_for(specs, world)
    sim.spike("catalog", multiplier=3, duration=4)
    sim.step(10)  # 4 s at 30 rps, then 6 s at 10 rps
    assert sum(sim.requests("catalog").values()) == 180


def test_more_replicas_absorb_the_spike(specs, world) -> None:
    sim = sim_for(specs, world)
    sim.set_traffic("cart", rps=240)
    world.set_replicas("cart", 5)
    sim.step(10)
    assert sim.requests("cart")["503"] == 0
    assert sim.state()["apps"]["cart"]["load_per_replica"] == 48.0


def test_hpa_bounds_cap_replicas(specs, world) -> None:
    app = world()["cart"]
    assert app is not None
    app["hpas"] = {"cart": {"min": 2, "max": 3}}
    world.set("cart", app)
    sim = sim_for(specs, world)
    sim.set_traffic("cart", rps=240)
    sim.step(1)
    assert sim.state()["apps"]["cart"]["replicas"] == 3  # wants ceil(240 / 40) = 6, capped at max
    assert sim.requests("cart")["503"] == 90


def test_image_swap_changes_behaviour(specs, world) -> None:
    sim = sim_for(specs, world, behaviours={"*:1.5.0": behaviour.Behaviour("errors", 0.5)})
    sim.step(1)
    world.set_image("checkout", "ghcr.io/acme/checkout:1.5.0")
    sim.step(1)
    world.set_image("checkout", "ghcr.io/acme/checkout:1.4.2")  # the rollback
    sim.step(1)
    assert sim.requests("checkout") == {"200": 250, "500": 50, "503": 0}


def test_slow_image_adds_latency(specs, world) -> None:
    sim = sim_for(specs, world, behaviours={"*catalog:3.1*": behaviour.Behaviour.parse({"latency": "2s"})})
    world.set_image("catalog", "ghcr.io/acme/catalog:3.1.0")
    sim.step(1)
    got = samples(sim)
    assert got[("http_request_duration_seconds_bucket", (("app", "catalog"), ("le", "1.0")))] == 0
    assert got[("http_request_duration_seconds_bucket", (("app", "catalog"), ("le", "2.5")))] == 10


def test_crash_loop_serves_nothing_and_is_degraded(specs, world) -> None:
    sim = sim_for(
        specs, world, behaviours={"ghcr.io/acme/cart:2.2.0": behaviour.Behaviour.parse("crash-loop")}
    )
    world.set_image("cart", "ghcr.io/acme/cart:2.2.0")
    sim.step(2)
    assert sim.requests("cart") == {"200": 0, "500": 0, "503": 120}
    assert sim.health("cart") == "Degraded"
    assert sim.health("checkout") == "Healthy"


def test_bad_config_value_causes_errors(specs, world) -> None:
    rule = behaviour.ConfigRule.parse(
        {
            "configmap": "checkout-config",
            "key": "PAYMENTS_TIMEOUT_MS",
            "bad_values": ["50"],
            "error_rate": 0.2,
        }
    )
    sim = sim_for(specs, world, config_rules=[rule])
    sim.step(1)
    world.set_config("checkout", "checkout-config", "PAYMENTS_TIMEOUT_MS", "50")
    sim.step(1)
    assert sim.requests("checkout") == {"200": 180, "500": 20, "503": 0}
    assert sim.state()["apps"]["checkout"]["bad_config"] == ["checkout-config/PAYMENTS_TIMEOUT_MS=50"]


def test_rollout_window_reports_progressing(specs, world) -> None:
    sim = sim_for(specs, world, rollout_seconds=3)
    world.set_image("checkout", "ghcr.io/acme/checkout:1.4.3")
    sim.step(1)
    assert sim.health("checkout") == "Progressing"
    sim.step(3)
    assert sim.health("checkout") == "Healthy"


def test_undeployed_app_has_no_traffic(specs) -> None:
    sim = sim_for(specs, live.StaticLiveSource({}))
    sim.step(5)
    assert sim.requests("checkout") == {"200": 0, "500": 0, "503": 0}
    assert sim.health("checkout") == "Progressing"
    assert sim.health("payments") == "Healthy"  # not simulated: no opinion for the emulator


def test_unreadable_live_source_keeps_the_last_world(specs, world) -> None:
    calls = {"n": 0}

    def flaky() -> dict[str, live.LiveApp | None]:
        calls["n"] += 1
        if calls["n"] > 1:
            raise errors.ArgoCDUnavailable("emulator down", url="http://x")
        return dict(world())

    sim = sim_for(specs, flaky)
    sim.step(1)
    assert sim.requests("cart")["200"] == 60
    assert "emulator down" in sim.last_error


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"kind": "errors"}, "needs an error_rate"),
        ({"kind": "bogus"}, "not one of"),
        ({"error_rate": 1.5}, "between 0 and 1"),
        ({"latency": "fast"}, "not a duration"),
        ({"colour": "red"}, "unknown behaviour keys"),
        (3, "kind name or a mapping"),
    ],
)
def test_bad_behaviours_are_rejected(raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        behaviour.Behaviour.parse(raw)


def test_unknown_app_and_negative_values_are_rejected(specs, world) -> None:
    sim = sim_for(specs, world)
    with pytest.raises(KeyError, match="unknown app"):
        sim.set_traffic("payments", rps=1)
    with pytest.raises(ValueError, match="non-negative"):
        sim.set_traffic("cart", multiplier=-2)


def test_behaviours_of_several_images_combine() -> None:
    behaviours = {
        "*/api:*": behaviour.Behaviour("errors", 0.5),
        "*/sidecar:*": behaviour.Behaviour("errors", 0.5, 0.2),
        "*/init:*": behaviour.Behaviour.parse("crash-loop"),
    }
    both = behaviour.behaviour_for(["x/api:1", "x/sidecar:1"], behaviours)
    assert (both.kind, both.error_rate, both.latency) == ("errors", 0.75, 0.2)
    assert behaviour.behaviour_for(["x/api:1", "x/init:1"], behaviours).kind == "crash-loop"
    assert behaviour.behaviour_for(["x/other:1"], behaviours) == behaviour.Behaviour()
    assert behaviour.compound([0.3]) == 0.3
    assert behaviour.compound([]) == 0.0


def test_bad_image_and_bad_config_stack(specs, world) -> None:
    rule = behaviour.ConfigRule("checkout-config", "PAYMENTS_TIMEOUT_MS", ("2000",), 0.5, app="checkout")
    other = behaviour.ConfigRule("checkout-config", "PAYMENTS_TIMEOUT_MS", ("2000",), 0.9, app="cart")
    sim = sim_for(
        specs,
        world,
        config_rules=[rule, other],
        behaviours={"*checkout*": behaviour.Behaviour("errors", 0.5)},
    )
    sim.step(1)
    assert sim.requests("checkout") == {"200": 25, "500": 75, "503": 0}
    assert sim.requests("cart")["500"] == 0  # the rule for cart matches no ConfigMap of cart


def test_set_behaviours_replace_and_remove(specs, world) -> None:
    sim = sim_for(specs, world)
    sim.set_behaviours({"*checkout*": "crash-loop", "*cart*": {"error_rate": 0.1}})
    assert sim.health("checkout") == "Degraded"
    sim.set_behaviour("*checkout*", None)
    assert sim.health("checkout") == "Healthy"
    sim.set_behaviours({"*catalog*": "healthy"}, replace=True)
    assert list(sim.behaviours) == ["*catalog*"]


def test_last_failed_request_is_when_the_workload_stopped_failing(specs, world) -> None:
    """A drill's "recovered" (issue 12 §2): the last failed request, not an error-ratio window draining."""
    sim = sim_for(specs, world)
    sim.step(5)
    assert sim.since_last_failure("checkout") is None  # never failed
    world.set_image("checkout", "ghcr.io/acme/checkout:1.5.0")
    sim.set_behaviour("ghcr.io/acme/checkout:1.5.*", {"kind": "errors", "error_rate": 0.3})
    for _ in range(4):
        sim.step(0.5)
    assert sim.since_last_failure("checkout") == 0.0  # failing now
    world.set_image("checkout", "ghcr.io/acme/checkout:1.4.3")  # rolled back
    for _ in range(6):
        sim.step(0.5)
    assert sim.since_last_failure("checkout") == pytest.approx(3.0)
    assert sim.state()["apps"]["checkout"]["last_failure"] == pytest.approx(7.0)
