"""Multiwindow, multi-burn-rate maths (SRE workbook ch. 5): tiers, validation, per-pair verdicts.

Tiers are expressed as fractions of the period's budget so factors follow the period (30d gives
14.4/6/3/1, 28d gives 13.44/5.6/2.8/0.933). A pair fires only when both of its samples are OK and
above ``factor * budget`` (AND in a pair, OR across the pairs of a severity). Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace

from bot import errors, model

# The catalog lives in model (config and observe share it); these names keep burnrate's API.
Tier = model.Tier
DEFAULT_TIERS = model.WORKBOOK_TIERS
factor = model.burn_factor


def windows_for(period: float, tiers: Iterable[Tier] = DEFAULT_TIERS) -> tuple[model.BurnWindow, ...]:
    """BurnWindows with factors recomputed for ``period`` (seconds)."""
    return model.tier_windows(period, tuple(tiers))


def distinct_windows(windows: Iterable[model.BurnWindow]) -> tuple[float, ...]:
    """Every lookback a set of pairs needs, shortest first (6h is both a long and a short window)."""
    return tuple(sorted({w for pair in windows for w in (pair.long, pair.short)}))


def min_events(pair: model.BurnWindow, budget: float, k: float = 3.0) -> int:
    """``ceil(k / (BR * B))``: fewer events in the short window cannot measure this burn rate."""
    return math.ceil(k / (pair.factor * budget)) if pair.factor * budget > 0 else 0


def window_min_events(windows: Sequence[model.BurnWindow], budget: float, k: float) -> dict[float, int]:
    """Per lookback, the smallest guard of the pairs using it; each pair re-applies its own guard."""
    out: dict[float, int] = {}
    for pair in windows:
        n = min_events(pair, budget, k)
        for w in (pair.long, pair.short):
            out[w] = min(out.get(w, n), n)
    return out


def validate(slo: model.SLO) -> list[errors.Problem]:
    """Problems that make an SLO meaningless or a tier unable to ever fire; empty when sound."""
    file, line = _where(slo.source)
    key = f"slos.{slo.name}"
    problems: list[errors.Problem] = []

    def add(sub: str, message: str) -> None:
        problems.append(errors.Problem(file, line, f"{key}.{sub}" if sub else key, message))

    if not 0.0 < slo.objective < 1.0:
        add("objective", f"objective {slo.objective!r} must be a fraction strictly between 0 and 1")
    if slo.period <= 0:
        add("period", "period must be positive")
    if slo.min_events_k < 0:
        add("min_events_k", "must not be negative")
    if slo.kind == "ratio" and not slo.windows:
        add("windows", "a ratio SLO needs at least one burn-rate window pair")
    budget = slo.budget
    for i, pair in enumerate(slo.windows):
        where = f"windows[{i}]"
        if pair.short <= 0 or pair.long <= 0:
            add(where, f"{pair.name}: windows must be positive")
        elif pair.short >= pair.long:
            add(where, f"{pair.name}: short window must be shorter than the long window")
        if pair.factor <= 0:
            add(where, f"{pair.name}: burn-rate factor {pair.factor:g} must be positive")
        elif 0.0 < budget < 1.0 and pair.factor * budget >= 1.0:
            add(
                where,
                f"{pair.name} @{pair.factor:g}x can never fire: it needs an error ratio of "
                f"{pair.factor * budget:.1%} (objective must exceed {1 - 1 / pair.factor:.4%})",
            )
    return problems


def check(slo: model.SLO) -> None:
    """``validate`` that raises ``ConfigError`` naming every problem."""
    problems = validate(slo)
    if problems:
        raise errors.ConfigError(problems)


def notes(slo: model.SLO) -> list[str]:
    """Warnings that do not invalidate an SLO (reference section 8 step 1)."""
    out = []
    full_outage = slo.period * slo.budget
    if 0 < full_outage < 600:
        out.append(
            f"{slo.name}: the whole budget is {model.format_duration(full_outage)} of full outage; "
            "automation cannot defend it"
        )
    return out


def _where(source: str) -> tuple[str, int | None]:
    file, _, line = source.rpartition(":")
    if file and line.isdigit():
        return file, int(line)
    return source or "<slo>", None


def burn(ratio: float | None, budget: float) -> float | None:
    return None if ratio is None or budget <= 0 else ratio / budget


def verdict(
    pair: model.BurnWindow, long: model.Sample, short: model.Sample, budget: float, k: float = 3.0
) -> model.WindowVerdict:
    """One pair on classified samples. The short window must hold at least ``min_events`` events."""
    needed = min_events(pair, budget, k)
    if short.state is model.SampleState.OK and (short.total is None or short.total < needed):
        short = replace(
            short,
            state=model.SampleState.NO_TRAFFIC,
            detail=f"{_count(short.total)} events < {needed} needed for {pair.factor:g}x",
        )
    threshold = pair.factor * budget
    ok = model.SampleState.OK
    long_ok, short_ok = long.state is ok, short.state is ok
    firing = (
        long_ok
        and short_ok
        and long.value is not None
        and short.value is not None
        and long.value > threshold
        and short.value > threshold
    )
    return model.WindowVerdict(
        pair,
        long,
        short,
        firing,
        burn(long.value, budget) if long_ok else None,
        burn(short.value, budget) if short_ok else None,
    )


def firing(verdicts: Iterable[model.WindowVerdict], severity: model.Severity) -> bool:
    """OR across the pairs of one severity."""
    return any(v.firing for v in verdicts if v.window.severity is severity)


def describe(v: model.WindowVerdict) -> str:
    """``1h/5m 16.7x/50x > 14.4x`` for reasons and logs."""

    def fmt(b: float | None, s: model.Sample) -> str:
        return f"{b:.3g}x" if b is not None else str(s.state)

    op = ">" if v.firing else "vs"
    burns = f"{fmt(v.burn_long, v.long)}/{fmt(v.burn_short, v.short)}"
    return f"{v.window.name} {burns} {op} {v.window.factor:.4g}x"


def _count(total: float | None) -> str:
    return "unknown" if total is None else f"{total:.0f}"
