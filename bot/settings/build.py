"""Turn a schema-valid config (plus its SLO and policy files) into the frozen ``Settings`` tree.

Checks what spans several entries: duplicate names, dangling references (app -> repo/SLO,
policy -> app/SLO), never-firing tiers, PR policies without GitHub; ``resolve`` adds secrets whose
variable or file is missing. Every problem names file, line and key. Reads only the files the
config names and the environment mapping it is given.
"""

from __future__ import annotations

import fnmatch
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import pydantic

from bot import errors, model
from bot.settings import files, locate, policy, resolve, rules, schema, slofiles, slos, systems, tree

_GLOB = set("*?[")


@dataclass
class Build:
    """Accumulates values and problems while one config is assembled."""

    doc: locate.Document
    config: schema.Config
    base: Path  # directory of the main config: relative paths start here
    shown_base: str  # the same directory as the user spelled it, for messages
    env: Mapping[str, str]
    check_secrets: bool
    limits: files.Limits = field(default_factory=files.Limits)
    problems: list[errors.Problem] = field(default_factory=list)
    slos: dict[str, tuple[model.SLO, locate.Document, locate.Loc]] = field(default_factory=dict)
    policies: list[tuple[rules.PolicyConfig, locate.Document, locate.Loc]] = field(default_factory=list)

    @property
    def paths(self) -> resolve.Paths:
        return resolve.Paths(self.base, self.shown_base)

    def extra(self, loc: locate.Loc, text: str) -> list[locate.Document]:
        """Documents of a file the config refers to; a missing file is a problem at the reference."""
        p, shown = self.paths.of(text)
        why = self.paths.unusable(text)
        if why is not None:
            self.problems.append(self.doc.problem(loc, why))
            return []
        try:
            return locate.read_all(p, shown, self.limits)
        except errors.ConfigError as exc:
            self.problems.extend(exc.problems)
            return []


def assemble(b: Build) -> tree.Settings:
    """The Settings tree, or ConfigError listing every problem found."""
    cfg = b.config
    _collect_slos(b)
    _collect_policies(b)
    every = {name: _app(b, name, app) for name, app in cfg.apps.items()}
    apps = {name: spec for name, spec in every.items() if spec.discover is None}
    fleets = {name: spec for name, spec in every.items() if spec.discover is not None}
    for slo, doc, loc in b.slos.values():
        b.problems.extend(doc.problem(loc, text) for text in slos.never_firing(slo))
    built_policies = tuple(_policy(b, p, doc, loc, apps) for p, doc, loc in b.policies)
    secrets = resolve.secrets(b.doc, cfg, b.paths, b.env, check=b.check_secrets)
    b.problems.extend(secrets.problems)
    b.problems.extend(resolve.repo_paths(b.doc, cfg, b.paths))
    templates = _templates(b)
    if b.problems:
        raise errors.ConfigError(b.problems)
    return tree.Settings(
        source=b.base / Path(b.doc.file).name,
        prometheus=resolve.prometheus(cfg.prometheus, secrets),
        argocd=resolve.argocd(cfg.argocd, secrets),
        repos=MappingProxyType({n: resolve.repo(n, r, secrets, b.paths) for n, r in cfg.repos.items()}),
        github=resolve.github(cfg.github, secrets) if cfg.github else None,
        apps=MappingProxyType(apps),
        fleets=MappingProxyType(fleets),
        slos=MappingProxyType({name: v[0] for name, v in b.slos.items()}),
        policies=built_policies,
        guardrails=_guardrails(cfg.guardrails),
        schedule=tree.Schedule(cfg.schedule.interval, cfg.schedule.jitter),
        service=resolve.service(cfg.service, secrets),
        verify=tree.VerifySettings(cfg.verify.timeout, cfg.verify.period),
        log=tree.LogSettings(cfg.log.format, cfg.log.level),
        manifests=tree.ManifestSettings(cfg.manifests.max_bytes),
        templates=templates,
        unset_optional=tuple(secrets.unset),
        secrets_checked=b.check_secrets,
        analyzer=_analyzer(cfg.analyzer),
        credential_templates=tuple(
            resolve.credential_template(
                t, secrets, b.paths, f"{b.doc.file}:{b.doc.line(('credential_templates', i))}"
            )
            for i, t in enumerate(cfg.credential_templates)
        ),
    )


def _analyzer(cfg: systems.AnalyzerConfig | None) -> tree.AnalyzerSettings | None:
    if cfg is None:
        return None
    argv = shlex.split(cfg.command) if isinstance(cfg.command, str) else list(cfg.command)
    return tree.AnalyzerSettings(tuple(argv), cfg.timeout)


def _templates(b: Build) -> Path | None:
    """The template override directory; it must exist (a typo would silently keep the defaults)."""
    if b.config.templates is None:
        return None
    path, shown = b.paths.of(b.config.templates)
    if not path.is_dir():
        b.problems.append(b.doc.problem(("templates",), f"templates directory not found: {shown}"))
        return None
    return path


# --------------------------------------------------------------------------- SLOs and policies


def _add_slo(b: Build, slo: model.SLO, doc: locate.Document, loc: locate.Loc, name_loc: locate.Loc) -> None:
    if slo.name in b.slos:
        first = b.slos[slo.name][0].source
        b.problems.append(
            doc.problem(name_loc, f"duplicate SLO name {slo.name!r} (first defined at {first})")
        )
        return
    b.slos[slo.name] = (slo, doc, loc)


def _collect_slos(b: Build) -> None:
    cfg = b.config
    for i, item in enumerate(cfg.slos):
        loc: locate.Loc = ("slos", i)
        slo = slos.from_config(
            item,
            app_label=cfg.prometheus.app_label,
            scrape_interval=cfg.prometheus.scrape_interval,
            source=f"{b.doc.file}:{b.doc.line(loc)}",
        )
        _add_slo(b, slo, b.doc, (*loc, "windows" if item.windows else "objective"), (*loc, "name"))
    apps = {name: app.argocd_app for name, app in cfg.apps.items()}
    for i, entry in enumerate(cfg.slo_files):
        docs = b.extra(("slo_files", i), entry.path)
        ctx = slofiles.Context(entry, apps, cfg.prometheus.app_label, cfg.prometheus.scrape_interval)
        slofiles.read(docs, ctx)
        b.problems.extend(ctx.problems)
        for slo, doc, loc in ctx.slos:
            _add_slo(b, slo, doc, loc, loc[:-1])


def _collect_policies(b: Build) -> None:
    b.policies.extend((p, b.doc, ("policies", i)) for i, p in enumerate(b.config.policies))
    for i, text in enumerate(b.config.policy_files):
        for doc in b.extra(("policy_files", i), text):
            try:
                parsed = schema.PolicyFile.model_validate(doc.data)
            except pydantic.ValidationError as exc:
                b.problems.extend(locate.problems_from(doc, exc, schema.PolicyFile))
                continue
            b.policies.extend((p, doc, ("policies", j)) for j, p in enumerate(parsed.policies))
    seen: dict[str, str] = {}
    for p, doc, loc in b.policies:
        where = f"{doc.file}:{doc.line(loc)}"
        if p.name in seen:
            b.problems.append(
                doc.problem((*loc, "name"), f"duplicate policy name {p.name!r} (first at {seen[p.name]})")
            )
        seen.setdefault(p.name, where)


def _app(b: Build, name: str, app: rules.AppConfig) -> tree.AppSpec:
    loc: locate.Loc = ("apps", name)
    repo = app.repo
    if repo is None and app.discover is not None:
        repo = ""  # each discovered Application's Git source picks its repo
    elif repo is None:
        if len(b.config.repos) == 1:
            repo = next(iter(b.config.repos))
        elif not b.config.repos:
            b.problems.append(
                b.doc.problem(loc, "no repos are configured: an app without discover needs one")
            )
        else:
            b.problems.append(b.doc.problem(loc, "repo is required when several repos are configured"))
    elif repo not in b.config.repos:
        known = ", ".join(sorted(b.config.repos))
        b.problems.append(b.doc.problem((*loc, "repo"), f"unknown repo {repo!r} (known: {known})"))
    for k, slo in enumerate(app.slos):
        if slo not in b.slos:
            known = ", ".join(sorted(b.slos)) or "none"
            b.problems.append(b.doc.problem((*loc, "slos", k), f"unknown SLO {slo!r} (known: {known})"))
    bounds = app.scaling
    return tree.AppSpec(
        name=name,
        repo=repo or "",
        paths=tuple(app.paths or ()),
        argocd_app=None if app.selector is not None else (app.argocd_app or name),
        selector=MappingProxyType(dict(app.selector)) if app.selector is not None else None,
        slos=tuple(app.slos),
        containers=tuple(app.containers),
        helm=tree.HelmPaths(app.helm.image_tag, app.helm.image_repository, app.helm.replicas),
        min_replicas=bounds.min if bounds else None,
        max_replicas=bounds.max if bounds else None,
        rollback=app.rollback,
        discover=_discovery(app.discover) if app.discover is not None else None,
        template=name if app.discover is not None else "",
    )


def _discovery(d: rules.DiscoverConfig) -> tree.Discovery:
    return tree.Discovery(
        selector=MappingProxyType(dict(d.selector)),
        projects=tuple(d.projects),
        namespaces=tuple(d.namespaces),
        names=tuple(d.names),
        prometheus_app=d.prometheus_app,
    )


def _selected(b: Build, p: rules.PolicyConfig, doc: locate.Document, loc: locate.Loc) -> list[str]:
    """Apps a policy names (by name or glob); unknown names and empty globs are problems."""
    out: dict[str, None] = {}  # ordered and de-duplicated, in linear time for a large fleet
    static = {name: a for name, a in b.config.apps.items() if a.discover is None}
    fleet = len(static) < len(b.config.apps)  # discovered apps are named after Applications: unknown yet
    for k, pattern in enumerate(p.apps):
        if _GLOB & set(pattern):
            hits = [a for a in static if fnmatch.fnmatchcase(a, pattern)]
        else:
            hits = [pattern] if pattern in static else []
        if not hits and not fleet:
            what = "matches no app" if _GLOB & set(pattern) else "unknown app"
            b.problems.append(
                doc.problem((*loc, "apps", k), f"{what} {pattern!r} (apps: {_names(b.config.apps)})")
            )
        out.update(dict.fromkeys(hits))
    return list(out)


def _names(names: Mapping[str, object], limit: int = 20) -> str:
    """The first names of a possibly huge list, for a message that stays one readable line."""
    shown = ", ".join(list(names)[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _policy(
    b: Build, p: rules.PolicyConfig, doc: locate.Document, loc: locate.Loc, apps: Mapping[str, tree.AppSpec]
) -> policy.Policy:
    selected = _selected(b, p, doc, loc)
    trigger = _trigger(b, p.when, doc, (*loc, "when"))
    if (p.mode != "observe" and p.merge != "direct") and p.do.notify is None:
        if b.config.github is None:
            b.problems.append(
                doc.problem((*loc, "merge"), f"merge {p.merge!r} opens pull requests: configure github")
            )
        for name in selected:
            repo = b.config.repos.get(apps[name].repo)
            if repo is not None and repo.github is None:
                b.problems.append(
                    doc.problem(
                        (*loc, "merge"), f"app {name!r}: repo {apps[name].repo!r} has no github owner/name"
                    )
                )
    return policy.Policy(
        name=p.name,
        selector=policy.Selector(tuple(p.apps), MappingProxyType(dict(p.selector))),
        trigger=trigger,
        remedy=_remedy(p.do),
        mode=model.Mode(p.mode),
        merge=policy.Merge(p.merge),
        cooldown=p.cooldown,
        max_heals=policy.Budget(p.max_heals.count, p.max_heals.per) if p.max_heals else None,
        trust_after=p.trust.after if p.trust else None,
        pr_labels=tuple(p.pr.labels),
        pr_reviewers=tuple(p.pr.reviewers),
        description=p.description,
        source=f"{doc.file}:{doc.line(loc)}",
    )


def _trigger(b: Build, when: rules.When, doc: locate.Document, loc: locate.Loc) -> policy.Trigger:
    if when.slo is not None:
        for k, name in enumerate(when.slo.slos):
            if name not in b.slos:
                b.problems.append(doc.problem((*loc, "slo", "slos", k), f"unknown SLO {name!r}"))
        return policy.SloTrigger(model.Severity(when.slo.tier), when.slo.cycles, tuple(when.slo.slos))
    if when.health is not None:
        statuses = tuple(model.HealthStatus(s) for s in when.health.status)
        return policy.HealthTrigger(statuses, when.health.for_)
    if when.out_of_sync is not None:
        return policy.OutOfSyncTrigger(when.out_of_sync.for_)
    if when.threshold is not None:
        found = b.slos.get(when.threshold.slo)
        if found is None:
            b.problems.append(doc.problem((*loc, "threshold", "slo"), f"unknown SLO {when.threshold.slo!r}"))
        elif found[0].kind != "threshold":
            b.problems.append(
                doc.problem((*loc, "threshold", "slo"), f"SLO {found[0].name!r} is not a threshold SLI")
            )
        return policy.ThresholdTrigger(when.threshold.slo, when.threshold.cycles)
    if when.regression is not None:
        return _regression(b, when.regression, doc, (*loc, "regression"))
    if when.rollout_aborted is not None:
        return policy.RolloutAbortedTrigger(when.rollout_aborted.cycles)
    assert when.load is not None  # schema: exactly one trigger
    return policy.LoadTrigger(when.load.per_replica_above, when.load.cycles)


def _regression(
    b: Build, r: rules.RegressionTrigger, doc: locate.Document, loc: locate.Loc
) -> policy.RegressionTrigger:
    for k, name in enumerate(r.slos):
        found = b.slos.get(name)
        if found is None:
            known = ", ".join(sorted(n for n, v in b.slos.items() if v[0].kind != "threshold")) or "none"
            b.problems.append(doc.problem((*loc, "slos", k), f"unknown SLO {name!r} (ratio SLOs: {known})"))
        elif found[0].kind == "threshold":
            b.problems.append(
                doc.problem(
                    (*loc, "slos", k), f"SLO {name!r} is a threshold SLI: regression needs a ratio SLO"
                )
            )
    step = b.config.prometheus.step
    if r.window < step:
        b.problems.append(
            doc.problem(
                (*loc, "window"),
                f"window {model.format_duration(r.window)} is shorter than the evaluation step "
                f"{model.format_duration(step)}: a deploy would never be analysed",
            )
        )
    return policy.RegressionTrigger(
        window=r.window,
        baseline=r.baseline,
        alpha=r.alpha,
        min_ratio=r.min_ratio,
        min_increase=r.min_increase,
        min_events=r.min_events,
        slos=tuple(r.slos),
        step=step,
    )


def _remedy(do: rules.Do) -> policy.Remedy:
    if do.rollback is not None:
        return policy.Rollback(do.rollback.strategy or "")  # "": each app's own strategy
    if do.scale is not None:
        s = do.scale
        return policy.Scale(
            s.min,
            s.max,
            s.max_step_up,
            s.max_step_down,
            s.cooldown_up,
            s.cooldown_down,
            s.stabilization,
            s.target_per_replica,
            s.baseline,
        )
    if do.restart is not None:
        return policy.Restart(do.restart.annotation)
    if do.reconcile is not None:
        return policy.Reconcile(do.reconcile.mode, on_reject=do.reconcile.on_reject)
    assert do.notify is not None  # schema: exactly one remedy
    return policy.Notify(tuple(do.notify.labels))


def _guardrails(g: rules.GuardrailsConfig) -> policy.Guardrails:
    return policy.Guardrails(
        commit_budget=policy.Budget(g.commit_budget.count, g.commit_budget.per),
        freezes=tuple(policy.FreezeWindow(f.cron, f.duration, f.timezone, f.reason) for f in g.freeze),
        kill_switch=g.kill_switch,
        max_breaching_share=g.blast_radius.max_share,
        max_breaching_apps=g.blast_radius.max_apps,
        escalation_labels=tuple(g.escalation.labels),
        escalation_assignees=tuple(g.escalation.assignees),
    )
