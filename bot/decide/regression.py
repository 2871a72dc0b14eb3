"""Did a deploy make an app worse? A one-sided test of the SLI since the deploy against a baseline before it.

Pure statistics on two (bad events, all events) counts: Fisher's exact test on the 2x2 table, a minimum
effect (a ratio and an absolute increase of at least the SLO's budget) and the minimum-events guard.
The trigger looks at a deploy every cycle until the evidence suffices, so the false-positive bound is
split over the looks (Bonferroni): whatever the number of looks, a clean deploy fires with probability
at most ``alpha``. No I/O, no clock: counts in, a verdict out.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from bot import model


class Verdict(enum.StrEnum):
    REGRESSED = "regressed"  # significant and large enough: the deploy made it worse
    CLEAN = "clean"  # enough events since the deploy and no significant regression (yet)
    WAITING = "waiting"  # too few events since the deploy to say anything
    BASELINE_BAD = "baseline-bad"  # the app was already failing before the deploy: not the deploy's doing
    NO_BASELINE = "no-baseline"  # no traffic before the deploy to compare with


Counts = model.EventCounts


@dataclass(frozen=True)
class Rules:
    """The discipline of one regression trigger (config ``when: {regression: {...}}``)."""

    alpha: float = 0.001  # false-positive bound over all looks at one deploy
    looks: int = 1  # how many times one deploy is tested (analysis window / cycle step)
    min_ratio: float = 2.0  # the since-deploy ratio must be at least this multiple of the baseline
    min_increase: float = 0.0  # ... and exceed the baseline by this much (at least the SLO's budget)
    budget: float = 0.001  # 1 - objective
    min_events: float = 100.0  # events since the deploy before any verdict
    baseline_min_events: float = 100.0
    baseline_max_burn: float = 10.0  # baseline ratio above this many budgets: the baseline was bad

    @property
    def per_look_alpha(self) -> float:
        return self.alpha / max(self.looks, 1)

    @property
    def increase(self) -> float:
        return max(self.min_increase, self.budget)


@dataclass(frozen=True)
class Result:
    verdict: Verdict
    baseline: Counts
    since: Counts
    p_value: float = 1.0
    detail: str = ""

    @property
    def regressed(self) -> bool:
        return self.verdict is Verdict.REGRESSED


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_greater(bad_a: int, total_a: int, bad_b: int, total_b: int) -> float:
    """One-sided Fisher exact p-value that group A's bad proportion exceeds group B's.

    Under H0 (same proportion), given K = bad_a + bad_b bad events among N = total_a + total_b, the bad
    events of A follow Hypergeometric(N, K, total_a); the p-value is P(X >= bad_a). The tail is summed
    in log space from ``bad_a`` upwards and stops once terms no longer matter (they decrease past the
    mode), so millions of events cost a few hundred terms.
    """
    n_total, k_bad = total_a + total_b, bad_a + bad_b
    lo, hi = max(0, total_a - (n_total - k_bad)), min(k_bad, total_a)
    if bad_a <= lo:
        return 1.0
    denom = _log_choose(n_total, total_a)

    def log_pmf(x: int) -> float:
        return _log_choose(k_bad, x) + _log_choose(n_total - k_bad, total_a - x) - denom

    mean = total_a * k_bad / n_total if n_total else 0.0
    if bad_a <= mean:
        # At or below the mean the upper tail holds at least about half the mass: nothing to find here.
        return 1.0
    first = log_pmf(bad_a)
    acc = 0.0
    for x in range(bad_a, hi + 1):
        term = math.exp(log_pmf(x) - first)
        acc += term
        if term < 1e-16 * acc:
            break
    return min(1.0, math.exp(first) * acc)


def judge(baseline: Counts, since: Counts, rules: Rules) -> Result:
    """The verdict on one deploy of one app, from the counts before and since it."""
    if not since.usable() or since.total < rules.min_events:
        detail = f"{since.total:.0f} events since the deploy < {rules.min_events:.0f}"
        return Result(Verdict.WAITING, baseline, since, detail=detail)
    if not baseline.usable() or baseline.total < rules.baseline_min_events:
        detail = f"{baseline.total:.0f} events in the baseline < {rules.baseline_min_events:.0f}"
        return Result(Verdict.NO_BASELINE, baseline, since, detail=detail)
    base, now = baseline.ratio, since.ratio
    if rules.budget > 0 and base > rules.baseline_max_burn * rules.budget:
        detail = (
            f"baseline error ratio {base:.2%} is already over {rules.baseline_max_burn:g}x the budget "
            f"({rules.budget:.3%}): the app was failing before the deploy"
        )
        return Result(Verdict.BASELINE_BAD, baseline, since, detail=detail)
    bad_s, tot_s = round(min(since.bad, since.total)), round(since.total)
    bad_b, tot_b = round(min(baseline.bad, baseline.total)), round(baseline.total)
    p = fisher_greater(bad_s, tot_s, bad_b, tot_b)
    summary = (
        f"error ratio {now:.2%} over {tot_s} events since the deploy vs {base:.2%} over {tot_b} before "
        f"(p={p:.2g}"
    )
    big_enough = now >= rules.min_ratio * base and now - base >= rules.increase
    if p < rules.per_look_alpha and big_enough:
        return Result(Verdict.REGRESSED, baseline, since, p, summary + f" < {rules.per_look_alpha:.2g})")
    why = "not significant" if p >= rules.per_look_alpha else "effect below the minimum"
    return Result(Verdict.CLEAN, baseline, since, p, f"{summary}): {why}")
