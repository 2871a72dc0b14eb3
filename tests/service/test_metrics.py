"""One test per metric a dashboard reads, on an injected registry, plus how crashes are logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot import errors
from bot.record import log, metrics
from bot.service import scheduler


def _value(m: metrics.Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_circuit_open_goes_back_to_zero_when_the_escalation_closes() -> None:
    m = metrics.Metrics()
    m.open_circuit("checkout")  # the verifier escalated
    m.set_circuits({"checkout": "o/r#1"}, ["checkout", "cart"])
    assert _value(m, "githeal_circuit_open", app="checkout") == 1
    assert _value(m, "githeal_circuit_open", app="cart") == 0
    assert _value(m, "githeal_circuits_open") == 1
    m.set_circuits({}, ["checkout", "cart"])  # a human closed the issue
    assert _value(m, "githeal_circuit_open", app="checkout") == 0
    assert _value(m, "githeal_circuits_open") == 0


def test_a_heal_is_counted_once_and_its_verdict_separately() -> None:
    m = metrics.Metrics()
    m.heal("checkout", "bad-deploy", "rollback", "auto", "committed")
    m.verified("checkout", "rollback", True, 42.0)
    heals = [
        s.value
        for fam in m.registry.collect()
        if fam.name == "githeal_heals"
        for s in fam.samples
        if s.name == "githeal_heals_total"
    ]
    assert heals == [1.0]
    assert _value(m, "githeal_verifications_total", app="checkout", action="rollback", result="success") == 1
    assert _value(m, "githeal_verify_duration_seconds_count", result="success") == 1
    assert _value(m, "githeal_verify_duration_seconds_sum", result="success") == 42.0


@pytest.mark.parametrize(
    ("given", "label"),
    [
        ("prometheus", "prometheus"),
        ("git", "git"),
        ("Act", "act"),
        ("PrometheusError", "other"),
        ("GitHubRateLimited", "other"),
        ("KeyError", "other"),
    ],
)
def test_errors_total_carries_system_names_only(given: str, label: str) -> None:
    m = metrics.Metrics()
    m.error(given)
    assert _value(m, "githeal_errors_total", system=label) == 1


@pytest.mark.parametrize(
    ("exc", "system"),
    [
        (errors.GitHubRateLimited("slow down", retry_after=5), "github"),
        (errors.PushRejected("non-fast-forward"), "git"),
        (errors.ArgoCDUnavailable("down"), "argocd"),
        (errors.PrometheusError("down"), "prometheus"),
        (errors.ConfigError("bad"), "config"),
        (errors.ManifestError("bad yaml", file="a.yaml"), "act"),
        (RuntimeError("boom"), "ledger"),
    ],
)
def test_system_of_an_error(exc: BaseException, system: str) -> None:
    assert metrics.system_of(exc, default="ledger") == system


def test_cycle_apps_and_dependency_gauges() -> None:
    m = metrics.Metrics()
    m.cycle_seconds.observe(0.3)
    m.observed.set(4)
    m.breaching.set(1)
    m.dependency("prometheus", False)
    m.dependency("git:apps", True)
    m.github_rate_remaining.set(4999)
    assert _value(m, "githeal_cycle_duration_seconds_count") == 1
    assert _value(m, "githeal_apps_observed") == 4
    assert _value(m, "githeal_apps_breaching") == 1
    assert _value(m, "githeal_dependency_up", dependency="prometheus") == 0
    assert _value(m, "githeal_dependency_up", dependency="git:apps") == 1
    assert _value(m, "githeal_github_rate_limit_remaining") == 4999


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[_Records]:
    handler = _Records()
    old = log.LOGGER.level
    log.LOGGER.addHandler(handler)
    log.LOGGER.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        log.LOGGER.removeHandler(handler)
        log.LOGGER.setLevel(old)


def test_a_crash_is_logged_once_per_cause_at_error_level_with_its_traceback(records: _Records) -> None:
    m = metrics.Metrics()
    fail: list[type[Exception] | None] = [ValueError]

    def cycle(apps: list[str] | None) -> object:
        if fail[0] is not None:
            raise fail[0](f"bad byte in file {len(records.records)}")  # text varies, the cause does not
        return None

    sched = scheduler.Scheduler(cycle, interval=3600, metrics=m)
    for _ in range(3):
        sched._run(None)
    fail[0] = KeyError
    sched._run(None)
    fail[0] = None
    sched._run(None)
    sched.stop(wait=False)
    crashed = [r for r in records.records if r.getMessage() == "cycle.crashed"]
    assert [r.levelno for r in crashed] == [logging.ERROR, logging.ERROR]
    fields = [r.__dict__["githeal_fields"] for r in crashed]
    assert [f["kind"] for f in fields] == ["ValueError", "KeyError"]
    assert all("Traceback (most recent call last)" in f["traceback"] for f in fields)
    again = [r for r in records.records if r.getMessage() == "cycle.crashed_again"]
    assert [r.levelno for r in again] == [logging.DEBUG, logging.DEBUG]
    assert [r.getMessage() for r in records.records][-1] == "cycle.recovered"
    assert _value(m, "githeal_cycle_crashes_total") == 4


def test_a_circuit_opened_by_an_escalation_closes_on_the_next_cycle() -> None:
    m = metrics.Metrics()
    m.set_circuits({}, ["checkout"])
    m.open_circuit("checkout")  # the escalation issue was opened between two cycles
    assert m.registry.get_sample_value("githeal_circuit_open", {"app": "checkout"}) == 1
    m.set_circuits({}, ["checkout"])  # a human closed it
    assert m.registry.get_sample_value("githeal_circuit_open", {"app": "checkout"}) == 0
