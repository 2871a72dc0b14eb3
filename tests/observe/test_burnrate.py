"""Pure table tests for the burn-rate maths (slo-math.md sections 1.4, 1.6, 8)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bot import errors, model
from bot.observe import burnrate

S = model.SampleState
DAY = 86400.0
PAGE, TICKET = model.Severity.PAGE, model.Severity.TICKET


def slo(objective: float = 0.999, period: float = 30 * DAY, **kw: Any) -> model.SLO:
    kw.setdefault("windows", burnrate.windows_for(period))
    return model.SLO(name="avail", objective=objective, period=period, source="slos.yaml:12", **kw)


@pytest.mark.parametrize(
    ("period", "factors"),
    [(30 * DAY, (14.4, 6.0, 3.0, 1.0)), (28 * DAY, (13.44, 5.6, 2.8, 0.9333))],
)
def test_factors_follow_the_period(period: float, factors: tuple[float, ...]) -> None:
    windows = burnrate.windows_for(period)
    assert [w.factor for w in windows] == pytest.approx(factors, abs=1e-4)
    assert [w.name for w in windows] == ["1h/5m", "6h/30m", "1d/2h", "3d/6h"]
    assert [w.severity for w in windows] == [PAGE, PAGE, TICKET, TICKET]


def test_custom_short_windows_keep_the_budget_fraction() -> None:
    tier = burnrate.Tier(PAGE, 0.02, long=120.0, short=30.0)
    (window,) = burnrate.windows_for(30 * DAY, [tier])
    assert window.factor == pytest.approx(0.02 * 30 * DAY / 120)
    assert window.name == "2m/30s"


@pytest.mark.parametrize(
    ("factor", "budget", "expected"),
    [(14.4, 0.001, 209), (6, 0.001, 500), (3, 0.001, 1000), (1, 0.001, 3000), (14.4, 0.01, 21)],
)
def test_min_events(factor: float, budget: float, expected: int) -> None:
    pair = model.BurnWindow(PAGE, 3600, 300, factor)
    assert burnrate.min_events(pair, budget) == expected == math.ceil(3 / (factor * budget))


def test_window_guard_is_the_smallest_of_the_pairs_using_it() -> None:
    guards = burnrate.window_min_events(burnrate.windows_for(30 * DAY), 0.001, 3.0)
    # 6h is the long window of the 6x page pair (500) and the short one of the 1x ticket pair (3000).
    assert guards[6 * 3600] == 500
    assert guards[300] == 209
    assert guards[3 * DAY] == 3000


def test_distinct_windows() -> None:
    got = burnrate.distinct_windows(burnrate.windows_for(30 * DAY))
    assert got == (300, 1800, 3600, 7200, 21600, 86400, 259200)


def test_valid_slo_has_no_problems() -> None:
    assert burnrate.validate(slo()) == []
    burnrate.check(slo())


def test_tier_that_can_never_fire_is_named() -> None:
    # 90%: 14.4 x 10% = 144% error ratio, impossible; 6 x 10% = 60% is still possible.
    problems = burnrate.validate(slo(objective=0.9))
    assert len(problems) == 1
    (p,) = problems
    assert (p.file, p.line, p.key) == ("slos.yaml", 12, "slos.avail.windows[0]")
    assert "1h/5m" in p.message and "never fire" in p.message


@pytest.mark.parametrize(
    ("kw", "key", "fragment"),
    [
        ({"objective": 1.0}, "slos.avail.objective", "strictly between"),
        ({"objective": 0.0}, "slos.avail.objective", "strictly between"),
        ({"period": 0.0, "windows": burnrate.windows_for(DAY)}, "slos.avail.period", "positive"),
        (
            {"windows": (model.BurnWindow(PAGE, 300, 300, 14.4),)},
            "slos.avail.windows[0]",
            "shorter than the long",
        ),
        ({"windows": (model.BurnWindow(PAGE, 3600, 300, 0),)}, "slos.avail.windows[0]", "positive"),
        ({"windows": ()}, "slos.avail.windows", "at least one"),
    ],
)
def test_invalid_slos(kw: dict[str, Any], key: str, fragment: str) -> None:
    problems = burnrate.validate(slo(**kw))
    assert any(p.key == key and fragment in p.message for p in problems), problems


def test_check_raises_config_error_with_every_problem() -> None:
    with pytest.raises(errors.ConfigError) as info:
        burnrate.check(slo(objective=0.9, windows=(model.BurnWindow(PAGE, 60, 600, 14.4),)))
    assert info.value.exit_code == 2
    assert len(info.value.problems) == 2


def test_notes_warn_about_budgets_shorter_than_ten_minutes() -> None:
    assert burnrate.notes(slo(objective=0.99999))  # 26 s of full outage over 30 days
    assert burnrate.notes(slo()) == []


def sample(
    window: float, state: model.SampleState = S.OK, value: float | None = 0.0, total: float = 1e6
) -> model.Sample:
    return model.Sample("app", "avail", window, state, value=value, total=total)


FAST = model.BurnWindow(PAGE, 3600, 300, 14.4)  # threshold 1.44% at 99.9%


@pytest.mark.parametrize(
    ("long", "short", "firing", "short_state"),
    [
        (sample(3600, value=0.02), sample(300, value=0.05), True, S.OK),
        (sample(3600, value=0.02), sample(300, value=0.001), False, S.OK),  # reset: short is clean
        (sample(3600, value=0.001), sample(300, value=0.05), False, S.OK),  # detection: long not yet
        (sample(3600, value=0.0144), sample(300, value=0.05), False, S.OK),  # strictly above
        (sample(3600, value=0.02), sample(300, S.NO_TRAFFIC, None), False, S.NO_TRAFFIC),
        (sample(3600, S.QUERY_ERROR, None), sample(300, value=0.05), False, S.OK),
        (sample(3600, value=0.02), sample(300, value=0.05, total=208), False, S.NO_TRAFFIC),  # guard
        (sample(3600, value=0.02), sample(300, value=0.05, total=209), True, S.OK),
    ],
)
def test_pair_verdict(
    long: model.Sample, short: model.Sample, firing: bool, short_state: model.SampleState
) -> None:
    v = burnrate.verdict(FAST, long, short, 0.001)
    assert v.firing is firing
    assert v.short.state is short_state
    if long.state is S.OK and long.value is not None:
        assert v.burn_long == pytest.approx(long.value / 0.001)
    else:
        assert v.burn_long is None


def test_or_across_pairs_of_one_severity() -> None:
    slow = model.BurnWindow(PAGE, 21600, 1800, 6)
    ticket = model.BurnWindow(TICKET, 86400, 7200, 3)
    hot, cold = sample(0, value=0.05), sample(0, value=0.0)
    verdicts = [
        burnrate.verdict(FAST, cold, cold, 0.001),
        burnrate.verdict(slow, hot, hot, 0.001),
        burnrate.verdict(ticket, cold, hot, 0.001),
    ]
    assert burnrate.firing(verdicts, PAGE)
    assert not burnrate.firing(verdicts, TICKET)
    assert burnrate.describe(verdicts[1]) == "6h/30m 50x/50x > 6x"
