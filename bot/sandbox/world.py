"""A whole GitOps world on one machine: a bare manifest repo, the Argo CD and GitHub emulators on it,
the workload simulator, a real Prometheus scraping it, and a githeal config pointing at all of them.

The demo, the drills and the end-to-end tests all start one ``World``; the bot inside it is the
production code path (settings.load -> wiring.build), it only talks to local servers. Every process
and thread started here is stopped by ``close()`` (also on Ctrl-C, via the context manager).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from ruamel.yaml import YAML

from bot import errors, settings
from bot.act import edit
from bot.sandbox import behaviour as bhv
from bot.sandbox import canary, simulator
from bot.sandbox import prometheus as promserver
from bot.sandbox.argocd import controller, rollouts, server, state, workload
from bot.sandbox.github import server as ghserver
from bot.service import wiring

APPS = ("checkout", "cart", "catalog")
GITHUB_REPO = "acme/shop-manifests"
ARGO_TOKEN = "githeal.sandbox.token"  # the emulator accepts configured tokens that look like a JWT
GITHUB_TOKEN = "ghp_sandbox_githeal"
HUMAN = "alice"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@acme.example",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@acme.example",
    "GIT_TERMINAL_PROMPT": "0",
}


def demo_repo() -> Path:
    """The demo's manifest repository, shipped inside the package (``bot/sandbox/demo-repo``)."""
    here = Path(__file__).resolve().parent / "demo-repo"
    if not (here / "apps").is_dir():
        raise errors.SandboxError(f"demo manifests not found at {here}: the githeal package is incomplete")
    return here


def git(cwd: Path, *args: str) -> str:
    import os

    env = {**os.environ, **GIT_ENV}
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        raise errors.SandboxError(f"git {' '.join(args)} failed: {exc.stderr.strip()}") from exc
    return done.stdout.strip()


@dataclass
class Options:
    """Knobs of the world; defaults give the demo's short windows (minutes, not hours)."""

    workload: Mapping[str, bhv.AppSpec] = field(
        default_factory=lambda: {
            "checkout": bhv.AppSpec("checkout", rps=40, capacity=50, base_latency=0.05),
            # a replica serves 50 req/s: a 3x spike loads cart (scale-on-load) before it sheds requests
            "cart": bhv.AppSpec("cart", rps=30, capacity=50, base_latency=0.05),
            "catalog": bhv.AppSpec("catalog", rps=20, capacity=50, base_latency=0.02),
        }
    )
    behaviours: Mapping[str, bhv.Behaviour] = field(
        default_factory=lambda: {
            "ghcr.io/acme/checkout:1.5.*": bhv.Behaviour("errors", error_rate=0.3),
            "ghcr.io/acme/cart:2.2.*": bhv.Behaviour("crash-loop"),
        }
    )
    config_rules: tuple[bhv.ConfigRule, ...] = (
        bhv.ConfigRule("checkout-config", "PAYMENTS_TIMEOUT_MS", ("200",), 0.25),
        bhv.ConfigRule("catalog", "SEARCH_BACKEND", ("legacy",), 0.2),
    )
    argo_poll: float = 1.0
    rollout_delay: float = 2.0
    scrape_interval: str = "1s"
    interval: float = 2.0  # githeal cycle
    bot: bool = True  # False: GitOps alone (the drill baseline); no policies
    policy_overrides: Mapping[str, Any] = field(default_factory=dict)
    # a regression trigger (``when: {regression: ...}`` body) for a rollback policy placed before the others
    regression: Mapping[str, Any] | None = None
    argo_poll_jitter: float = 0.2
    # apps without automated sync: Argo CD auto-syncs an OutOfSync app to any revision it has not
    # synced yet, so in a monorepo the next unrelated commit would erase live drift on automated apps
    manual_sync: frozenset[str] = frozenset()
    # apps released by an Argo Rollouts canary (app -> steps), with the policy healing Git on an abort
    canaries: Mapping[str, canary.Steps] = field(default_factory=dict)


def regression_policy(trigger: Mapping[str, Any]) -> dict[str, Any]:
    """Roll back checkout or cart when an SLO regressed since its deploy (issue 12 §1)."""
    return {
        "name": "rollback-on-regression",
        "apps": ["checkout", "cart"],
        "when": {"regression": dict(trigger)},
        "do": {"rollback": {"strategy": "revert"}},
        "mode": "auto",
        "merge": "pr-automerge",
        "cooldown": "2m",
        "pr": {"labels": ["githeal", "rollback"]},
    }


class World:
    def __init__(self, options: Options | None = None, workdir: Path | None = None) -> None:
        self.options = options or Options()
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="githeal-sandbox-")
        self.dir = Path(workdir or self._tmp.name)  # type: ignore[union-attr]
        self._stack = contextlib.ExitStack()
        self.bare = self.dir / "remote" / "shop-manifests.git"
        self.dev = self.dir / "dev"
        self.config_path = self.dir / "githeal.yaml"
        self.argo: server.ArgoCDEmulator
        self.github: ghserver.GitHubEmulator
        self.sim: simulator.Simulator
        self.prometheus: promserver.PrometheusServer

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> World:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> World:
        self._seed()
        holder: list[simulator.Simulator] = []
        apps = [
            state.AppConfig(
                a,
                str(self.bare),
                path=f"apps/{a}",
                target_revision="main",
                project="shop",
                labels={"githeal.io/enabled": "true"},
                automated=a not in self.options.manual_sync,
            )
            for a in APPS
        ]
        self.argo = server.ArgoCDEmulator(
            apps,
            tokens=[ARGO_TOKEN],
            settings=controller.Settings(
                poll_interval=self.options.argo_poll,
                poll_jitter=self.options.argo_poll_jitter,
                sync_duration=0.5,
            ),
            model=workload.DefaultModel(rollout_delay=self.options.rollout_delay, progress_deadline=20),
            health_callback=lambda app: holder[0].health(app) if holder else None,
            analysis_callback=lambda app, images: holder[0].analysis(app, images) if holder else None,
        )
        self._stack.enter_context(self.argo)
        self.github = ghserver.GitHubEmulator({GITHUB_REPO: self.bare}, tokens={GITHUB_TOKEN: "githeal"})
        # GitHub's defaults are auto-merge off and reviews only from collaborators: the demo repo
        # opts in, as a real repo would have to.
        self.github.configure(GITHUB_REPO, allow_auto_merge=True)
        self.github.add_collaborator(GITHUB_REPO, HUMAN)
        self._stack.enter_context(self.github)
        source = simulator.ArgoLiveSource(self.argo.url, APPS)
        self._stack.callback(source.close)  # after the simulator stops (the stack unwinds in reverse)
        self.sim = simulator.Simulator(
            self.options.workload.values(),
            source,
            behaviours=self.options.behaviours,
            config_rules=self.options.config_rules,
            tick=0.25,
        )
        holder.append(self.sim)
        self._stack.enter_context(self.sim)
        self.prometheus = promserver.PrometheusServer(
            scrape_targets=[self.sim.url + "/metrics"],
            scrape_interval=self.options.scrape_interval,
            workdir=self.dir / "prometheus",
        )
        self._stack.enter_context(self.prometheus)
        self._write_config()
        return self

    def close(self) -> None:
        self._stack.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    # ------------------------------------------------------------------ the repo

    def _seed(self) -> None:
        seed = self.dir / "seed"
        shutil.copytree(demo_repo(), seed)
        canary.convert(seed, self.options.canaries)
        git(seed, "init", "-q", "-b", "main")
        git(seed, "add", "-A")
        git(seed, "commit", "-qm", "shop: initial manifests")
        self.bare.parent.mkdir(parents=True)
        git(self.dir, "clone", "-q", "--bare", str(seed), str(self.bare))
        git(self.dir, "clone", "-q", str(self.bare), str(self.dev))
        shutil.rmtree(seed)

    def commit(self, path: str, target: edit.Target, value: str | int, message: str) -> str:
        """A developer's change: edit one value, commit, push to main. Returns the new sha."""
        git(self.dev, "pull", "-q", "--rebase", "origin", "main")
        file = self.dev / path
        file.write_text(edit.apply(file.read_text(), target, value, filename=path).text)
        git(self.dev, "commit", "-qam", message)
        git(self.dev, "push", "-q", "origin", "HEAD:main")
        return git(self.dev, "rev-parse", "HEAD")

    def head(self) -> str:
        return git(self.dir, "--git-dir", str(self.bare), "rev-parse", "main")

    def contains(self, rev: str, sha: str) -> bool:
        """Whether ``rev`` is ``sha`` or one of its descendants (Argo CD deployed a commit including it)."""
        done = subprocess.run(
            ["git", "--git-dir", str(self.bare), "merge-base", "--is-ancestor", sha, rev],
            capture_output=True,
            check=False,
        )
        return done.returncode == 0

    # ------------------------------------------------------------------ the bot's config

    def config(self) -> dict[str, Any]:
        o = self.options
        short = {"severity": "page", "long": "60s", "short": "15s", "factor": 14.4}
        ticket = {"severity": "ticket", "long": "3m", "short": "30s", "factor": 3}
        secrets = self.dir / "secrets"
        policies: list[dict[str, Any]] = [
            {
                "name": "rollback-on-burn",
                "apps": ["checkout", "cart"],
                "when": {"slo": {"tier": "page", "cycles": 2}},
                "do": {"rollback": {"strategy": "revert"}},
                "mode": "auto",
                "merge": "pr-automerge",
                "cooldown": "2m",
                "pr": {"labels": ["githeal", "rollback"]},
            },
            {
                "name": "rollback-on-degraded",
                "apps": ["checkout", "cart"],
                "when": {"health": {"status": ["Degraded"], "for": "4s"}},
                "do": {"rollback": {"strategy": "revert"}},
                "mode": "auto",
                "merge": "pr-automerge",
                "cooldown": "2m",
            },
            {
                "name": "scale-on-load",
                "apps": ["cart"],
                "when": {"load": {"per_replica_above": 20, "cycles": 2}},
                "do": {
                    "scale": {
                        "min": 2,
                        "max": 8,
                        "target_per_replica": 15,
                        "baseline": 2,
                        "cooldown_up": "10s",
                        "cooldown_down": "20s",
                        "max_step_down": 4,  # back to baseline in one commit once the spike is over
                        "stabilization": "20s",
                    }
                },
                "mode": "auto",
                "merge": "direct",
                "cooldown": "10s",
            },
            {
                "name": "adopt-drift",
                "apps": ["catalog"],
                "when": {"out_of_sync": {"for": "4s"}},
                "do": {"reconcile": {"mode": "adopt"}},
                "mode": "propose",
                "merge": "pr",
                "cooldown": "5m",
                "pr": {"labels": ["githeal", "drift"], "reviewers": [HUMAN]},
            },
        ]
        if o.regression is not None:
            policies.insert(0, regression_policy(o.regression))
        if o.canaries:
            policies.insert(0, canary.policy(sorted(o.canaries)))
        for p in policies:
            p.update(o.policy_overrides.get(p["name"], {}))
        return {
            "version": 1,
            "prometheus": {
                "url": self.prometheus.url,
                "timeout": "5s",
                "step": "1s",
                "offset": "1s",
                "scrape_interval": o.scrape_interval,
                "load_query": "sum by (app) (githeal_sim_inflight_load)",
                "replicas_query": "sum by (app) (githeal_sim_replicas)",
            },
            "argocd": {
                "url": self.argo.url,
                "token": {"file": str(secrets / "argocd-token")},
                "projects": ["shop"],
            },
            "repos": {
                "manifests": {
                    "url": str(self.bare),
                    "branch": "main",
                    "github": GITHUB_REPO,
                    "identity": {"name": "githeal", "email": "githeal@acme.example"},
                    "workdir": str(self.dir / "work"),
                }
            },
            "github": {
                "base_url": self.github.api_url,
                "auth": {"token": {"file": str(secrets / "github-token")}},
            },
            "apps": {
                "checkout": {
                    "paths": ["apps/checkout/**"],
                    "slos": ["availability"],
                    "containers": ["checkout"],
                },
                "cart": {"paths": ["apps/cart/**"], "slos": ["availability"], "containers": ["cart"]},
                "catalog": {"paths": ["apps/catalog/**"], "slos": ["availability"]},
            },
            "slos": [
                {
                    "name": "availability",
                    "objective": 99,
                    "period": "30d",
                    "ratio": {"errors": 'http_requests_total{code=~"5.."}', "total": "http_requests_total"},
                    "windows": [short, ticket],
                    "min_events": 3,
                }
            ],
            "policies": policies if o.bot else [],
            "guardrails": {"commit_budget": {"count": 20, "per": "10m"}, "blast_radius": {"max_share": 0.7}},
            "schedule": {"interval": f"{o.interval}s"},
            "service": {"listen": "127.0.0.1:0"},
            "verify": {"timeout": "90s", "period": "10s"},
            "log": {"format": "text", "level": "warning"},
        }

    def _write_config(self) -> None:
        secrets = self.dir / "secrets"
        secrets.mkdir(exist_ok=True)
        (secrets / "argocd-token").write_text(ARGO_TOKEN)
        (secrets / "github-token").write_text(GITHUB_TOKEN)
        yaml = YAML()
        with self.config_path.open("w") as fh:
            yaml.dump(self.config(), fh)

    def settings(self) -> settings.Settings:
        return settings.load(self.config_path)

    def runtime(self) -> wiring.Runtime:
        return wiring.build(self.settings())

    # ------------------------------------------------------------------ observation helpers

    def argo_app(self, name: str) -> dict[str, Any]:
        apps = httpx.get(f"{self.argo.url}/api/emulator/apps", timeout=5).json()["apps"]
        return next(a for a in apps if a["name"] == name)

    def live(self, name: str) -> dict[str, Any]:
        return dict(self.argo.live(name))

    def rollout(self, name: str) -> rollouts.Run | None:
        """The Argo Rollouts view of the app's Rollout, if it has one."""
        with self.argo.controller.lock:
            runs = list(self.argo.controller.apps[name].rollout_runs.values())
        return runs[0] if runs else None

    def drift(self, name: str, body: Mapping[str, Any]) -> None:
        r = httpx.post(f"{self.argo.url}/api/emulator/apps/{name}/drift", json=dict(body), timeout=5)
        r.raise_for_status()

    def github_state(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.github.url}/_emulator/repos/{GITHUB_REPO}", timeout=5).json())

    def wait(self, what: Callable[[], bool], timeout: float, step: float = 0.25) -> bool:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if what():
                return True
            time.sleep(step)
        return what()


@contextlib.contextmanager
def running(options: Options | None = None) -> Iterator[World]:
    with World(options) as world:
        yield world
