"""Read Sloth ``prometheus/v1`` (plain or ``PrometheusServiceLevel``) and OpenSLO v1 files into ``model.SLO``.

Sloth: ``{{.window}}`` becomes ``{window}``; the SLO is named ``<service>-<name>``; disabled
page/ticket alerts drop those tiers. OpenSLO: counter selectors of ``ratioMetric`` become
``sum by (app) (rate(<selector>[{window}]))``. A label ``githeal_app``/``argocd_app``/``argocd-app``
names the app and labels the series with it. Unsupported features are problems, never guesses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pydantic

from bot import errors, model
from bot.settings import locate, rules, slos, specs

APP_LABELS = ("githeal_app", "argocd_app", "argocd-app")
_SLOTH_WINDOW = re.compile(r"\{\{\s*\.window\s*\}\}")
_SELECTOR = re.compile(r"^\s*([A-Za-z_:][A-Za-z0-9_:]*)?\s*(\{[^{}]*\})?\s*$")
_BREACH = {"lte": ">", "lt": ">=", "gte": "<", "gt": "<="}


class Context:
    """What a reader needs from the main config, and where its results and problems go."""

    def __init__(
        self,
        entry: rules.SloFileConfig,
        apps: Mapping[str, str | None],
        app_label: str,
        scrape_interval: float,
    ) -> None:
        self.entry, self.apps, self.app_label, self.scrape = entry, apps, app_label, scrape_interval
        self.slos: list[tuple[model.SLO, locate.Document, locate.Loc]] = []
        self.problems: list[errors.Problem] = []

    def add(self, slo: model.SLO, doc: locate.Document, loc: locate.Loc) -> None:
        """A readable SLO, with the key its tier problems are reported at."""
        self.slos.append((slo, doc, loc))

    def app_for(
        self, doc: locate.Document, labels: Mapping[locate.Loc, Mapping[str, Any]]
    ) -> tuple[bool, str | None]:
        """(ok, githeal app) named by a mapping label; matches an app key or its Argo CD app name.

        ``labels`` maps where each label set lives to the set, most specific first.
        """
        for loc, found in labels.items():
            for key in APP_LABELS:
                if key not in found:
                    continue
                value = str(found[key])
                for name, argocd_app in self.apps.items():
                    if value in (name, argocd_app):
                        return True, name
                self.problems.append(
                    doc.problem((*loc, key), f"label {key}: {value!r} matches no app in apps")
                )
                return False, None
        return True, None


def _validate(doc: locate.Document, cls: type[pydantic.BaseModel], ctx: Context) -> Any:
    try:
        return cls.model_validate(doc.data)
    except pydantic.ValidationError as exc:
        ctx.problems.extend(locate.problems_from(doc, exc, cls))
        return None


def read(docs: list[locate.Document], ctx: Context) -> None:
    """Every SLO of one file into ``ctx.slos``; anything unusable into ``ctx.problems``."""
    slis: dict[str, tuple[locate.Document, specs.OSSLI]] = {}
    openslo: list[tuple[locate.Document, specs.OSSLO]] = []
    for doc in docs:
        api, kind = doc.data.get("apiVersion"), doc.data.get("kind")
        if doc.data.get("version") == "prometheus/v1":
            _sloth(doc, ctx)
        elif api == "sloth.slok.dev/v1" and kind == "PrometheusServiceLevel" and "spec" in doc.data:
            _sloth(doc.sub(("spec",)), ctx)
        elif api == "openslo/v1" and kind in ("SLI", "SLO"):
            parsed = _validate(doc, specs.OSSLI if kind == "SLI" else specs.OSSLO, ctx)
            if isinstance(parsed, specs.OSSLI):
                slis[parsed.metadata.name] = (doc, parsed)
            elif isinstance(parsed, specs.OSSLO):
                openslo.append((doc, parsed))
        elif api == "openslo/v1":
            continue  # DataSource, AlertPolicy, Service...: nothing githeal evaluates
        else:
            ctx.problems.append(doc.problem((), "not a Sloth prometheus/v1 or OpenSLO v1 document"))
    for doc, slo in openslo:
        _openslo(doc, slo, slis, ctx)


def _sloth(doc: locate.Document, ctx: Context) -> None:
    spec = _validate(doc, specs.SlothSpec, ctx)
    if not isinstance(spec, specs.SlothSpec):
        return
    for i, item in enumerate(spec.slos):
        loc: locate.Loc = ("slos", i)
        ok, app = ctx.app_for(doc, {(*loc, "labels"): item.labels, ("labels",): spec.labels})
        if not ok:
            continue
        if item.sli.events is None:
            what = "sli.raw" if item.sli.raw is not None else "sli.plugin" if item.sli.plugin else "sli"
            ctx.problems.append(
                doc.problem(
                    (*loc, "sli"),
                    f"{what} is not supported: githeal needs sli.events "
                    "(error_query and total_query) for its minimum-events guard",
                )
            )
            continue
        if not 0 < item.objective < 100:
            ctx.problems.append(
                doc.problem((*loc, "objective"), f"objective must be in (0, 100), got {item.objective}")
            )
            continue
        queries: list[str] = []
        for key in ("error_query", "total_query"):
            text = getattr(item.sli.events, key)
            if not _SLOTH_WINDOW.search(text):
                ctx.problems.append(
                    doc.problem((*loc, "sli", "events", key), "has no {{.window}} placeholder")
                )
                continue
            text = _SLOTH_WINDOW.sub("{window}", text)
            queries.append(slos.label_app(text, ctx.app_label, app) if app else text)
        if len(queries) != 2:
            continue
        keep = {
            model.Severity.PAGE: not item.alerting.page_alert.disable,
            model.Severity.TICKET: not item.alerting.ticket_alert.disable,
        }
        tiers = tuple(w for w in slos.windows(ctx.entry.period, ctx.entry.windows) if keep[w.severity])
        if not tiers:
            ctx.problems.append(doc.problem((*loc, "alerting"), "both page and ticket alerts are disabled"))
            continue
        ctx.add(
            model.SLO(
                name=f"{spec.service}-{item.name}",
                objective=slos.fraction(item.objective),
                period=ctx.entry.period,
                error_query=queries[0],
                total_query=queries[1],
                windows=tiers,
                app_label=ctx.app_label,
                scrape_interval=ctx.scrape,
                source=f"{doc.file}:{doc.line(loc)}",
            ),
            doc,
            (*loc, "objective"),
        )


def _selector(
    doc: locate.Document, loc: locate.Loc, metric: specs.OSMetric | None, ctx: Context
) -> str | None:
    if metric is None:
        return None
    src = metric.metricSource
    if src.type.lower() != "prometheus" or src.spec is None:
        ctx.problems.append(doc.problem(loc, "needs metricSource type Prometheus with spec.query"))
        return None
    if not _SELECTOR.match(src.spec.query) or not src.spec.query.strip():
        ctx.problems.append(
            doc.problem(
                (*loc, "spec", "query"),
                "must be a bare selector such as m{job='x'}; githeal adds rate() per window",
            )
        )
        return None
    return src.spec.query.strip()


def _openslo(
    doc: locate.Document,
    slo: specs.OSSLO,
    slis: Mapping[str, tuple[locate.Document, specs.OSSLI]],
    ctx: Context,
) -> None:
    spec, name = slo.spec, slo.metadata.name
    problems_before = len(ctx.problems)
    if spec.budgetingMethod != "Occurrences":
        ctx.problems.append(
            doc.problem(
                ("spec", "budgetingMethod"),
                f"{spec.budgetingMethod!r} is not supported; burn rates need Occurrences",
            )
        )
    window = spec.timeWindow[0]
    period = None
    if not window.isRolling:
        ctx.problems.append(
            doc.problem(("spec", "timeWindow", 0, "isRolling"), "calendar windows are not supported")
        )
    else:
        try:
            period = model.parse_duration(window.duration)
        except ValueError:
            ctx.problems.append(
                doc.problem(
                    ("spec", "timeWindow", 0, "duration"),
                    f"unsupported duration {window.duration!r} (use m, h, d or w)",
                )
            )
    if len(spec.objectives) > 1:
        ctx.problems.append(doc.problem(("spec", "objectives"), "only one objective per SLO is supported"))
    obj = spec.objectives[0]
    sli_loc: locate.Loc = ()
    if spec.indicator is not None:
        sli_doc, sli, sli_loc = doc, spec.indicator, ("spec", "indicator")
    elif spec.indicatorRef is not None and spec.indicatorRef in slis:
        sli_doc, sli = slis[spec.indicatorRef]
    else:
        ctx.problems.append(
            doc.problem(("spec", "indicatorRef"), f"no SLI named {spec.indicatorRef!r} in this file")
        )
        return
    ok, app = ctx.app_for(doc, {("metadata", "labels"): slo.metadata.labels})
    if not ok or len(ctx.problems) > problems_before or period is None:
        return
    common: dict[str, Any] = {
        "name": name,
        "period": period,
        "app_label": ctx.app_label,
        "scrape_interval": ctx.scrape,
        "source": f"{doc.file}:{doc.line(())}",
    }
    if sli.spec.thresholdMetric is not None:
        _threshold(
            doc,
            obj,
            sli_doc=sli_doc,
            loc=sli_loc,
            metric=sli.spec.thresholdMetric,
            app=app,
            common=common,
            ctx=ctx,
        )
    elif sli.spec.ratioMetric is not None:
        loc = (*sli_loc, "spec", "ratioMetric")
        _ratio(
            doc, obj, sli_doc=sli_doc, loc=loc, ratio=sli.spec.ratioMetric, app=app, common=common, ctx=ctx
        )
    else:
        ctx.problems.append(sli_doc.problem((*sli_loc, "spec"), "needs ratioMetric or thresholdMetric"))


def _objective(doc: locate.Document, obj: specs.OSObjective, ctx: Context) -> float | None:
    loc: locate.Loc = ("spec", "objectives", 0)
    if obj.target is not None and obj.targetPercent is not None:
        ctx.problems.append(doc.problem(loc, "target and targetPercent are mutually exclusive"))
        return None
    value = (
        obj.target
        if obj.target is not None
        else slos.fraction(obj.targetPercent)
        if obj.targetPercent is not None
        else None
    )
    if value is None or not 0 < value < 1:
        ctx.problems.append(doc.problem(loc, "needs target in (0, 1) or targetPercent in (0, 100)"))
        return None
    return value


def _ratio(
    doc: locate.Document,
    obj: specs.OSObjective,
    *,
    sli_doc: locate.Document,
    loc: locate.Loc,
    ratio: specs.OSRatio,
    app: str | None,
    common: dict[str, Any],
    ctx: Context,
) -> None:
    if ratio.raw is not None:
        ctx.problems.append(sli_doc.problem((*loc, "raw"), "raw ratio metrics are not supported"))
        return
    if not ratio.counter:
        ctx.problems.append(
            sli_doc.problem(loc, "githeal needs counter: true (it applies rate() over its windows)")
        )
        return
    if ratio.total is None or (ratio.good is None) == (ratio.bad is None):
        ctx.problems.append(sli_doc.problem(loc, "needs total and exactly one of good or bad"))
        return
    total = _selector(sli_doc, (*loc, "total", "metricSource"), ratio.total, ctx)
    good = _selector(sli_doc, (*loc, "good", "metricSource"), ratio.good, ctx)
    bad = _selector(sli_doc, (*loc, "bad", "metricSource"), ratio.bad, ctx)
    objective = _objective(doc, obj, ctx)
    if total is None or (good is None and bad is None) or objective is None:
        return
    total_q = slos.rate_sum(total, ctx.app_label, app)
    if bad is not None:
        error_q = slos.rate_sum(bad, ctx.app_label, app)
    else:
        error_q = f"({total_q} - {slos.rate_sum(good or '', ctx.app_label, app)})"
    tiers = slos.windows(common["period"], ctx.entry.windows)
    ctx.add(
        model.SLO(objective=objective, error_query=error_q, total_query=total_q, windows=tiers, **common),
        doc,
        ("spec", "objectives", 0),
    )


def _threshold(
    doc: locate.Document,
    obj: specs.OSObjective,
    *,
    sli_doc: locate.Document,
    loc: locate.Loc,
    metric: specs.OSMetric,
    app: str | None,
    common: dict[str, Any],
    ctx: Context,
) -> None:
    src = metric.metricSource
    if src.type.lower() != "prometheus" or src.spec is None:
        ctx.problems.append(
            sli_doc.problem((*loc, "spec", "thresholdMetric"), "needs a Prometheus spec.query")
        )
        return
    if obj.op is None or obj.value is None:
        ctx.problems.append(
            doc.problem(("spec", "objectives", 0), "a threshold objective needs op and value")
        )
        return
    query = slos.label_app(src.spec.query, ctx.app_label, app) if app else src.spec.query
    ctx.add(
        model.SLO(
            objective=0.0,
            kind="threshold",
            value_query=query,
            threshold=obj.value,
            comparison=_BREACH[obj.op],
            **common,
        ),
        doc,
        ("spec", "objectives", 0),
    )
