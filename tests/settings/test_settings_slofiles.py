"""Sloth and OpenSLO files read directly into model.SLO; burn-rate factors recomputed for the period."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot import errors, model, settings
from bot.settings import slos

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "slo"

CONFIG = """\
prometheus: {{url: http://127.0.0.1:9090}}
argocd: {{url: http://127.0.0.1:8081, token: {{env: T}}}}
repos: {{m: {{url: ./m}}}}
apps:
  checkout: {{argocd_app: checkout-prod, paths: [a/], slos: {slos}}}
  cart: {{argocd_app: cart-prod, paths: [b/]}}
slo_files:
{files}
"""


def load(tmp_path: Path, *files: str, slos_of_checkout: str = "[]") -> settings.Settings:
    listing = "\n".join(f"  - {entry}" for entry in files)
    path = tmp_path / "cfg.yaml"
    path.write_text(CONFIG.format(files=listing, slos=slos_of_checkout))
    return settings.load(path, env={"T": "x"})


def problems(tmp_path: Path, *files: str) -> list[str]:
    with pytest.raises(errors.ConfigError) as info:
        load(tmp_path, *files)
    return [str(p) for p in info.value.problems]


def line(name: str, needle: str, nth: int = 1) -> int:
    hits = [i for i, text in enumerate((FIXTURES / name).read_text().splitlines(), 1) if needle in text]
    return hits[nth - 1]


def factors(slo: model.SLO) -> list[tuple[str, str, float]]:
    return [(w.severity.value, w.name, round(w.factor, 4)) for w in slo.windows]


# --------------------------------------------------------------------------- factors


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        ("30d", [14.4, 6.0, 3.0, 1.0]),
        ("28d", [13.44, 5.6, 2.8, 0.9333]),
        ("7d", [3.36, 1.4, 0.7, 0.2333]),
    ],
)
def test_workbook_factors_are_recomputed_for_the_period(period: str, expected: list[float]) -> None:
    tiers = slos.windows(model.parse_duration(period))
    assert [round(w.factor, 4) for w in tiers] == expected
    assert [(w.severity.value, w.name) for w in tiers] == [
        ("page", "1h/5m"), ("page", "6h/30m"), ("ticket", "1d/2h"), ("ticket", "3d/6h")
    ]  # fmt: skip


def test_never_firing_names_the_slo_and_tier() -> None:
    slo = model.SLO("tight", objective=0.9, period=30 * 86400.0, windows=slos.windows(30 * 86400.0))
    assert slos.never_firing(slo) == [
        "SLO 'tight': page tier 1h/5m can never fire: factor 14.4 x budget 0.1 = 1.44 >= 1 (even 100% errors "
        "stay below the threshold); raise the objective or give this tier a smaller factor / budget_percent"
    ]
    # 93.06% is the limit of the 14.4 tier: S > 1 - 1/14.4
    assert slos.never_firing(model.SLO("ok", 0.9307, 30 * 86400.0, windows=slos.windows(30 * 86400.0))) == []


# --------------------------------------------------------------------------- Sloth


def test_sloth_file_becomes_slos(tmp_path: Path) -> None:
    loaded = load(tmp_path, f"{FIXTURES}/sloth-checkout.yaml", slos_of_checkout="[checkout-availability]")
    avail, latency = loaded.slos["checkout-availability"], loaded.slos["checkout-latency"]
    assert avail.objective == 0.999 and avail.period == 30 * 86400.0
    assert avail.error_query == (
        'label_replace(sum(rate(http_requests_total{app="checkout",code=~"5.."}[{window}])), '
        '"app", "checkout", "", "")'
    )
    assert avail.total_query == (
        'label_replace(sum(rate(http_requests_total{app="checkout"}[{window}])), "app", "checkout", "", "")'
    )
    assert factors(avail) == [("page", "1h/5m", 14.4), ("page", "6h/30m", 6.0), ("ticket", "1d/2h", 3.0),
                              ("ticket", "3d/6h", 1.0)]  # fmt: skip
    # ticket alert disabled: only the page tiers may drive anything
    assert factors(latency) == [("page", "1h/5m", 14.4), ("page", "6h/30m", 6.0)]
    assert "{{" not in latency.error_query and latency.error_query.count("[{window}]") == 2
    latency_line = line("sloth-checkout.yaml", 'name: "latency"')
    assert latency.source == f"{FIXTURES}/sloth-checkout.yaml:{latency_line}"
    assert loaded.app_slos("checkout") == (avail,)


def test_sloth_period_and_windows_come_from_the_slo_files_entry(tmp_path: Path) -> None:
    entry = f"{{path: {FIXTURES}/sloth-k8s.yaml, period: 28d}}"
    cart = load(tmp_path, entry).slos["cart-requests"]
    assert cart.period == 28 * 86400.0
    assert [round(w.factor, 3) for w in cart.windows] == [13.44, 5.6, 2.8, 0.933]
    assert '"app", "cart"' in cart.error_query
    window = "{severity: page, long: 2m, short: 30s, factor: 20}"
    entry = f"{{path: {FIXTURES}/sloth-k8s.yaml, windows: [{window}]}}"
    assert factors(load(tmp_path, entry).slos["cart-requests"]) == [("page", "2m/30s", 20.0)]


def test_sloth_problems_point_into_the_sloth_file(tmp_path: Path) -> None:
    name = f"{FIXTURES}/sloth-broken.yaml"

    def at(needle: str) -> str:
        return f"{name}:{line('sloth-broken.yaml', needle)}"

    high = at('objective: "high"')
    assert problems(tmp_path, name) == [
        f"{high}: slos[4].objective: Input should be a valid number, got str high"
    ]
    # Type errors stop that file; fix it and the remaining problems all show up.
    fixed = tmp_path / "sloth-fixed.yaml"
    fixed.write_text((FIXTURES / "sloth-broken.yaml").read_text().replace('"high"', "99"))
    shown = str(fixed)
    text = fixed.read_text().splitlines()

    def at2(needle: str) -> str:
        return f"{shown}:{next(i for i, t in enumerate(text, 1) if needle in t)}"

    assert problems(tmp_path, shown) == [
        f"{at2('    sli:')}: slos[0].sli: sli.raw is not supported: githeal needs sli.events "
        "(error_query and total_query) for its minimum-events guard",
        f"{at2('errors[5m]')}: slos[1].sli.events.error_query: has no {{{{.window}}}} placeholder",
        f"{at2('objective: 100')}: slos[2].objective: objective must be in (0, 100), got 100.0",
        f"{at2('argocd_app: somebody-else')}: slos[3].labels.argocd_app: label argocd_app: "
        "'somebody-else' matches no app in apps",
        f"{at2('alerting:')}: slos[5].alerting: both page and ticket alerts are disabled",
    ]


# --------------------------------------------------------------------------- OpenSLO


def test_openslo_file_becomes_slos(tmp_path: Path) -> None:
    loaded = load(tmp_path, f"{FIXTURES}/openslo-cart.yaml")
    avail = loaded.slos["cart-availability"]
    assert avail.objective == 0.999 and avail.period == 30 * 86400.0
    assert avail.error_query == 'sum by (app) (rate(http_requests_total{code=~"5.."}[{window}]))'
    assert avail.total_query == "sum by (app) (rate(http_requests_total[{window}]))"
    assert [round(w.factor, 4) for w in avail.windows] == [14.4, 6.0, 3.0, 1.0]

    calls = loaded.slos["cart-checkout-calls"]  # good/total, 4 weeks, mapped to app cart via argocd-app
    assert calls.objective == 0.995 and calls.period == 28 * 86400.0
    total = 'label_replace(sum(rate(rpc_calls_total{service="cart"}[{window}])), "app", "cart", "", "")'
    good = (
        'label_replace(sum(rate(rpc_calls_total{service="cart",result="ok"}[{window}])), '
        '"app", "cart", "", "")'
    )
    assert calls.total_query == total
    assert calls.error_query == f"({total} - {good})"
    assert [round(w.factor, 3) for w in calls.windows] == [13.44, 5.6, 2.8, 0.933]

    p99 = loaded.slos["cart-latency-p99"]  # lte 0.4 is good, so a breach is > 0.4
    assert (p99.kind, p99.threshold, p99.comparison, p99.windows) == ("threshold", 0.4, ">", ())
    assert p99.value_query.startswith("histogram_quantile(0.99")
    assert set(loaded.slos) == {"cart-availability", "cart-checkout-calls", "cart-latency-p99"}


def test_openslo_problems_point_into_the_openslo_file(tmp_path: Path) -> None:
    name = f"{FIXTURES}/openslo-broken.yaml"

    def at(needle: str) -> str:
        return f"{name}:{line('openslo-broken.yaml', needle)}"

    assert problems(tmp_path, name) == [
        f"{at('apiVersion: openslo/v1alpha')}: not a Sloth prometheus/v1 or OpenSLO v1 document",
        f"{at('budgetingMethod: Timeslices')}: spec.budgetingMethod: 'Timeslices' is not supported; "
        "burn rates need Occurrences",
        f"{at('ratioMetric:')}: spec.ratioMetric: githeal needs counter: true "
        "(it applies rate() over its windows)",
        f"{at('indicatorRef: nowhere')}: spec.indicatorRef: no SLI named 'nowhere' in this file",
        f"{at('duration: 1M')}: spec.timeWindow[0].duration: unsupported duration '1M' (use m, h, d or w)",
    ]


def test_openslo_selector_and_objective_rules(tmp_path: Path) -> None:
    text = (FIXTURES / "openslo-broken.yaml").read_text().replace("duration: 1M", "duration: 30d")
    (tmp_path / "os.yaml").write_text(text)
    found = [p for p in problems(tmp_path, str(tmp_path / "os.yaml")) if "not-a-selector" in p or "query" in p
             or "target" in p]  # fmt: skip
    lines = text.splitlines()
    query_line = next(i for i, t in enumerate(lines, 1) if "sum(rate(errors_total" in t)
    target_line = next(i for i, t in enumerate(lines, 1) if "- target: 0.99" in t and i > query_line)
    assert found == [
        f"{tmp_path}/os.yaml:{query_line}: spec.indicator.spec.ratioMetric.bad.metricSource.spec.query: "
        "must be a bare selector such as m{job='x'}; githeal adds rate() per window",
        f"{tmp_path}/os.yaml:{target_line}: spec.objectives[0]: "
        "target and targetPercent are mutually exclusive",
    ]


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    copy = tmp_path / "again.yaml"
    shutil.copy(FIXTURES / "sloth-k8s.yaml", copy)
    found = problems(tmp_path, f"{FIXTURES}/sloth-k8s.yaml", str(copy))
    at = line("sloth-k8s.yaml", 'name: "requests"')
    assert found == [
        f"{copy}:{at}: spec.slos[0]: duplicate SLO name 'cart-requests' "
        f"(first defined at {FIXTURES}/sloth-k8s.yaml:{at})"
    ]


# --------------------------------------------------------------------------- the queries are real PromQL


@pytest.mark.prometheus
def test_generated_queries_parse_with_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (apt-get install -y prometheus)")
    loaded = load(
        tmp_path,
        f"{FIXTURES}/sloth-checkout.yaml",
        f"{FIXTURES}/sloth-k8s.yaml",
        f"{FIXTURES}/openslo-cart.yaml",
        f"{Path(__file__).resolve().parents[2]}/config/slos/cart.sloth.yaml",
    )
    rules: list[dict[str, Any]] = []
    for slo in loaded.slos.values():
        for q in (slo.error_query, slo.total_query, slo.value_query):
            if q:
                expr = q.replace("{window}", "5m")
                rules.append({"record": f"githeal:test:{len(rules)}", "expr": expr})
    assert len(rules) == 13
    body = "groups:\n  - name: githeal\n    rules:\n" + "".join(
        f"      - record: {r['record']}\n        expr: '{r['expr'].replace(chr(39), chr(39) * 2)}'\n"
        for r in rules
    )
    (tmp_path / "rules.yaml").write_text(body)
    run = subprocess.run(
        [promtool, "check", "rules", str(tmp_path / "rules.yaml")],
        check=False,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS: 13 rules found" in run.stdout
