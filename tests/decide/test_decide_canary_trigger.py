"""The ``rollout_aborted`` trigger: fires on an Argo Rollouts canary Argo CD reports aborted while Git
still says that version; never on a paused or progressing Rollout, nor on stale, missing or
contradictory data. Messages are the real ones: Argo CD's Rollout health.lua surfaces the Rollouts
phase message, "RolloutAborted: Rollout aborted update to revision %d" (argo-rollouts rollout/sync.go,
utils/rollout/rolloututil.go CalculateRolloutPhase)."""

from __future__ import annotations

import dataclasses

import pytest
from plankit import BAD, T0, cycles, guardrails, heal, obs, policy, rollback_id, run, status

from bot import model
from bot.decide import canary, triggers
from bot.decide import past as hist
from bot.settings import policy as pol

H = model.HealthStatus
ABORTED = (
    "RolloutAborted: Rollout aborted update to revision 2: Step-based analysis phase error/failed: "
    'Metric "success-rate" assessed Failed due to failed (1) > failureLimit (0)'
)
TRIGGER = pol.RolloutAbortedTrigger()
CANARY = policy("rollback-on-canary-abort", trigger=TRIGGER, remedy=pol.Rollback("revert"))


def rollout(health: H = H.DEGRADED, message: str = ABORTED, **kw: object) -> model.RolloutState:
    base: dict[str, object] = {
        "name": "checkout",
        "namespace": "shop",
        "health": health,
        "message": message,
        "revision": "2",
        "aborted": True,
        "observed": True,
        "stable_hash": "6d4f8c9b7a",
        "current_hash": "59f8666948",
        "stable_images": ("ghcr.io/acme/checkout:1.4.3",),
        "canary_images": ("ghcr.io/acme/checkout:1.5.0",),
    }
    base.update(kw)
    return model.RolloutState(**base)  # type: ignore[arg-type]


def seen(*rollouts: model.RolloutState, error: str = "", **status_kw: object) -> model.AppObservation:
    st = dataclasses.replace(status(health=H.DEGRADED), rollouts=("shop/checkout",), **status_kw)  # type: ignore[arg-type]
    return dataclasses.replace(obs(st=st), rollouts=rollouts, rollout_error=error)


def reading(o: model.AppObservation) -> triggers.Signal:
    return triggers.read(TRIGGER, o)


def test_fires_on_an_aborted_canary_with_the_stable_replicaset_as_evidence() -> None:
    signal = reading(seen(rollout()))
    assert signal.reading is triggers.Reading.FIRING
    assert signal.note == "canary of Rollout checkout revision 2 aborted"
    assert signal.evidence == (
        f"Rollout shop/checkout Degraded: {ABORTED}",
        "stable ReplicaSet checkout-6d4f8c9b7a serves ghcr.io/acme/checkout:1.4.3; "
        "aborted canary checkout-59f8666948 ran ghcr.io/acme/checkout:1.5.0",
    )


def test_fires_on_a_legacy_abort_without_the_phase_message() -> None:
    # pre-1.0 Rollouts: the Lua check returns the condition message; the live status.abort says why
    assert reading(seen(rollout(message="Rollout is aborted"))).reading is triggers.Reading.FIRING
    # ... but a Degraded Rollout that was not aborted (InvalidSpec, ProgressDeadlineExceeded) is not ours
    other = rollout(message='ReplicaSet "x" has timed out progressing.', aborted=False)
    assert reading(seen(other)).reading is triggers.Reading.CLEAR


@pytest.mark.parametrize(
    ("health", "message"),
    [
        (H.SUSPENDED, "CanaryPauseStep"),
        (H.SUSPENDED, "Rollout is paused"),
        (H.PROGRESSING, "more replicas need to be updated"),
        (H.PROGRESSING, "Waiting for rollout spec update to be observed"),
        (H.HEALTHY, ""),
    ],
)
def test_never_fires_on_a_paused_progressing_or_healthy_rollout(health: H, message: str) -> None:
    signal = reading(seen(rollout(health, message, aborted=False)))
    assert signal.reading is triggers.Reading.CLEAR


@pytest.mark.parametrize(
    ("observation", "why"),
    [
        (obs(st=None, error="connection refused"), "Argo CD status unreadable"),
        (seen(rollout(), error="Rollouts of checkout unreadable: 503"), "unreadable"),
        (seen(), "not observed"),
        (seen(rollout(H.UNKNOWN, "failed to get resource health", aborted=None)), "Unknown"),
        (seen(rollout(), sync=model.SyncStatus.OUT_OF_SYNC), "OutOfSync"),
        (seen(rollout(), sync=model.SyncStatus.UNKNOWN), "Unknown"),
        (seen(rollout(), operation_running=True), "sync operation is running"),
        (seen(rollout(aborted=False)), "status.abort is false"),
        (seen(rollout(observed=False)), "not yet observed"),
    ],
)
def test_holds_on_stale_missing_or_contradictory_data(observation: model.AppObservation, why: str) -> None:
    signal = reading(observation)
    assert signal.reading is triggers.Reading.HOLD and why in signal.note


def test_an_app_without_rollouts_is_clear() -> None:
    assert reading(obs()).reading is triggers.Reading.CLEAR


def test_plans_a_rollback_of_the_aborted_revision_with_a_deterministic_heal_id() -> None:
    plan = run(cycles(1, seen(rollout())), [CANARY])
    (action,) = plan.actions
    assert action.kind is model.ActionKind.ROLLBACK and action.policy == "rollback-on-canary-abort"
    assert action.params["bad_revision"] == BAD
    # the act stage goes back to the deployment running the stable ReplicaSet's images
    assert action.params["stable_images"] == ("ghcr.io/acme/checkout:1.4.3",)
    # the incident is the aborted revision: a burn-rate rollback of the same deploy is the same heal
    assert action.heal_id == rollback_id("checkout", BAD)
    assert action.reason.startswith("rollback-on-canary-abort: canary of Rollout checkout revision 2 aborted")
    assert any("stable ReplicaSet" in line for line in action.evidence)
    # the same inputs give the same plan
    assert run(cycles(1, seen(rollout())), [CANARY]) == plan


def test_guardrails_apply_as_for_any_rollback() -> None:
    # a heal with this id already landed: dedupe holds it
    done = hist.History(heals=(heal(heal_id=rollback_id("checkout", BAD), at=T0),))
    plan = run(cycles(1, seen(rollout())), [CANARY], history=done)
    assert not plan.actions and plan.skips
    # a freeze window holds it too
    frozen = guardrails(freezes=(pol.FreezeWindow("0 12 * * *", 3600.0),))
    plan = run(cycles(1, seen(rollout())), [CANARY], rails=frozen)
    assert not plan.actions and "freeze" in plan.skips[0].reason


def test_held_data_says_why_when_it_looked_aborted() -> None:
    plan = run(cycles(1, seen(rollout(), sync=model.SyncStatus.OUT_OF_SYNC)), [CANARY])
    assert not plan.actions
    assert "Git no longer matches" in plan.skips[0].reason


def test_finding_states_are_trigger_readings() -> None:
    assert {triggers.Reading(s) for s in ("firing", "clear", "hold")} == set(triggers.Reading)
    assert canary.read(seen(rollout())).state == "firing"
