"""What a heal says to humans: commit message, PR title/body, escalation issue, verify comment.

Pure rendering of a frozen ``HealContext`` through the jinja2 templates shipped as ``bot/templates``,
each of which a file of the same name in the configured ``templates:`` directory overrides
(``StrictUndefined``: a missing field is a bug, not a blank; docs/templates.md lists the variables).
Trailers are appended by ``record.trailers`` so their format never depends on a template. PR bodies
carry the heal's data as a hidden ``<!-- githeal:{json} -->`` block that ``parse_hidden`` reads back.
It must not do Git or API I/O.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import model
from bot.record import trailers

if TYPE_CHECKING:
    import jinja2

BARS = "▁▂▃▄▅▆▇█"
GAP = " "
SUBJECT_LIMIT = 100
HIDDEN_VERSION = 1
_HIDDEN = re.compile(r"<!--\s*githeal:(\{.*?\})\s*-->", re.DOTALL)


def sparkline(values: Sequence[float | None]) -> str:
    """One bar per value scaled between the finite min and max; None/NaN/inf are gaps (a space)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return GAP * len(values)
    lo, hi = min(finite), max(finite)
    out = []
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(GAP)
        elif hi == lo:
            out.append(BARS[0])  # flat: a flat line, not a wall of full bars
        else:
            out.append(BARS[round((v - lo) / (hi - lo) * (len(BARS) - 1))])
    return "".join(out)


@dataclass(frozen=True)
class CommitRef:
    sha: str
    subject: str
    author: str = ""

    @property
    def short(self) -> str:
        return self.sha[:7]


@dataclass(frozen=True)
class HealContext:
    """Everything the texts of one heal are rendered from; ``heal_id`` defaults to the deterministic one."""

    app: str
    action: str  # model.ActionKind value
    policy: str
    mode: str  # model.Mode value
    reason: str  # short, e.g. "error budget burn 14.4x over 1h/5m"
    target: str = ""  # what the app is set to, e.g. a short sha or "6 replicas"
    heal_id: str = ""
    strategy: str = ""
    signal: str = ""  # the SLO / PromQL that fired
    observed: tuple[str, ...] = ()  # evidence lines with values
    health: str = ""
    sync: str = ""
    good_revision: str = ""
    bad_revision: str = ""
    commits: tuple[CommitRef, ...] = ()  # what the heal reverts/undoes, newest first
    changes: tuple[str, ...] = ()
    diff_stat: str = ""
    sli_name: str = ""
    sli: tuple[float | None, ...] = ()  # the SLI over the last hour, oldest first
    sli_window: str = "1h"
    verify_plan: str = ""
    merge_policy: str = ""
    argocd_url: str = ""
    commit_url: str = ""
    pr_url: str = ""
    events: tuple[str, ...] = ()
    next_steps: tuple[str, ...] = ()
    extra_trailers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.heal_id:
            subject = self.bad_revision or self.target or self.reason
            object.__setattr__(self, "heal_id", model.heal_id(self.app, self.action, subject))

    def heal_trailers(self) -> trailers.HealTrailers:
        return trailers.HealTrailers(
            heal_id=self.heal_id,
            app=self.app,
            policy=self.policy,
            action=self.action,
            mode=self.mode,
            strategy=self.strategy,
            signal=self.signal,
            observed="; ".join(self.observed),
            reverts=tuple(c.sha for c in self.commits) if self.strategy == "revert" else (),
            good_revision=self.good_revision,
            bad_revision=self.bad_revision,
            extra=self.extra_trailers,
        )

    def data(self) -> dict[str, Any]:
        """The machine-readable form carried in PR bodies (and read back by ``parse_hidden``)."""
        return {
            "v": HIDDEN_VERSION,
            "heal_id": self.heal_id,
            "app": self.app,
            "policy": self.policy,
            "action": self.action,
            "mode": self.mode,
            "strategy": self.strategy,
            "target": self.target,
            "good": self.good_revision,
            "bad": self.bad_revision,
            "commits": [c.sha for c in self.commits],
            "signal": self.signal,
            "observed": list(self.observed),
            "reason": self.reason,
        }


def hidden_block(data: Mapping[str, Any]) -> str:
    # "<" and ">" only occur inside JSON strings; escaping them keeps "-->" from closing the comment
    text = json.dumps(dict(data), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "<!-- githeal:" + text.replace("<", "\\u003c").replace(">", "\\u003e") + " -->"


def parse_hidden(body: str) -> dict[str, Any] | None:
    """The hidden heal data of a PR/issue body, or None when there is none (or it is not valid JSON)."""
    m = _HIDDEN.search(body or "")
    if not m:
        return None
    try:
        data = json.loads(m.group(1))
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _templates_dir() -> Path:
    here = Path(__file__).resolve()
    for candidate in (here.parents[2] / "templates", here.parents[1] / "templates"):
        if (candidate / "commit.txt.j2").is_file():
            return candidate
    raise FileNotFoundError(f"githeal templates not found next to {here.parents[1]}")


NAMES = ("commit.txt.j2", "pr_title.txt.j2", "pr_body.md.j2", "issue_body.md.j2", "comment_verify.md.j2")


@functools.cache
def environment(templates: Path | None = None) -> jinja2.Environment:
    """Templates from ``templates`` (an override directory) first, then the built-in ones."""
    import jinja2  # here: only rendering pays for it, not every start of the CLI

    builtin = jinja2.FileSystemLoader(str(_templates_dir()))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(templates)), builtin])
        if templates
        else builtin,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # plain text and Markdown, never HTML pages
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["short"] = lambda sha: str(sha)[:7]
    env.filters["sparkline"] = sparkline
    return env


def check_overrides(templates: Path) -> list[str]:
    """Problems of an override directory: files that override nothing, templates that do not compile."""
    import jinja2

    problems = []
    for path in sorted(templates.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.name not in NAMES:
            problems.append(f"{path}: overrides no template (known: {', '.join(NAMES)})")
            continue
        try:
            environment(templates).get_template(path.name)
        except jinja2.TemplateSyntaxError as exc:
            problems.append(f"{path}:{exc.lineno}: {exc.message}")
    return problems


def _render(name: str, ctx: HealContext, templates: Path | None, **extra: Any) -> str:
    finite = [v for v in ctx.sli if v is not None and math.isfinite(v)]
    values = {
        "ctx": ctx,
        "subject": subject(ctx),
        "spark": sparkline(ctx.sli),
        "sli_min": min(finite) if finite else None,
        "sli_max": max(finite) if finite else None,
        "sli_last": finite[-1] if finite else None,
        **extra,
    }
    text = environment(templates).get_template(name).render(values)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def subject(ctx: HealContext) -> str:
    """``githeal: rollback checkout to 4c2a7d1 (error budget burn 14.4x over 1h/5m)``, capped."""
    head = f"githeal: {ctx.action} {ctx.app}" + (f" to {ctx.target}" if ctx.target else "")
    room = SUBJECT_LIMIT - len(head) - 3
    reason = " ".join(ctx.reason.split())
    if reason and room > 8:
        if len(reason) > room:
            reason = reason[: room - 1].rstrip() + "…"
        return f"{head} ({reason})"
    return head


def commit_message(ctx: HealContext, templates: Path | None = None) -> str:
    """Subject, evidence, undo notes, then the Heal-* trailers."""
    body = _render("commit.txt.j2", ctx, templates)
    return trailers.append_trailers(body, ctx.heal_trailers().pairs())


def pr_title(ctx: HealContext, templates: Path | None = None) -> str:
    return " ".join(_render("pr_title.txt.j2", ctx, templates).split())


def pr_body(ctx: HealContext, templates: Path | None = None) -> str:
    return _render("pr_body.md.j2", ctx, templates, hidden=hidden_block(ctx.data()))


def issue_title(ctx: HealContext) -> str:
    return f"githeal: {ctx.app} needs a human ({' '.join(ctx.reason.split())})"[:SUBJECT_LIMIT]


def issue_body(ctx: HealContext, *, problem: str, templates: Path | None = None) -> str:
    """Escalation: why the bot stopped (``problem``), the evidence, links, events, next steps."""
    return _render("issue_body.md.j2", ctx, templates, problem=problem, hidden=hidden_block(ctx.data()))


def verify_comment(
    ctx: HealContext,
    *,
    state: str,
    details: Sequence[str] = (),
    sli_after: Sequence[float | None] = (),
    templates: Path | None = None,
) -> str:
    """The PR/commit comment after verification; ``state`` is success, failure or pending."""
    both = sparkline([*ctx.sli, *sli_after])  # one scale, so before and after compare by eye
    return _render(
        "comment_verify.md.j2",
        ctx,
        templates,
        state=state,
        details=list(details),
        spark_before=both[: len(ctx.sli)],
        spark_after=both[len(ctx.sli) :],
    )
