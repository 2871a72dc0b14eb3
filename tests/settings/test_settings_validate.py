"""`githeal validate` on broken configs: every problem is one `file:line: key: message` line, exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

# (id, old text, new text, [(needle whose line is expected, key path, message fragment[, nth needle]), ...])
CASES = [
    (
        "empty-list",
        "    paths: [apps/checkout/]",
        "    paths: []",
        [("paths: []", "apps.checkout.paths", "must not be empty")],
    ),
    (
        "null-section",
        "prometheus:\n  url: http://127.0.0.1:9090\n  timeout: 20s\n",
        "prometheus:\n",
        [("prometheus:", "prometheus", "expected a mapping of keys, got nothing (null)")],
    ),
    (
        "wrong-type",
        "  timeout: 20s\n",
        "  timeout: 20s\n  verify_tls: 'yes'\n",
        [("verify_tls", "prometheus.verify_tls", "valid boolean, got str yes")],
    ),
    (
        "unknown-key",
        "  token: {env: T_ARGO}",
        "  tokn: {env: T_ARGO}",
        [("tokn", "argocd.tokn", "unknown key 'tokn' (allowed: app_namespace, login,")],
    ),
    (
        "unknown-top-level-key",
        "guardrails:",
        "guardrail:",
        [("guardrail:", "guardrail", "unknown key 'guardrail'")],
    ),
    (
        "missing-field",
        "  url: http://127.0.0.1:9090\n",
        "",
        [("prometheus:", "prometheus.url", "required key is missing")],
    ),
    (
        "missing-section",
        "repos:\n  manifests:\n    url: ./manifests\n    github: acme/manifests\n",
        "",
        [("prometheus:", "repos", "required key is missing")],
    ),
    (
        "bad-duration",
        "timeout: 20s",
        "timeout: 20 seconds",
        [("timeout", "prometheus.timeout", "not a duration: '20 seconds'")],
    ),
    (
        "negative-duration",
        "duration: 63h",
        "duration: 0s",
        [("cron:", "guardrails.freeze[0].duration", "must be longer than 0s")],
    ),
    (
        "objective-100",
        "objective: 99.9",
        "objective: 100",
        [("objective", "slos[0].objective", "objective must be a percentage in (0, 100)")],
    ),
    (
        "objective-0",
        "objective: 99.9",
        "objective: 0",
        [("objective", "slos[0].objective", "objective must be a percentage in (0, 100)")],
    ),
    (
        "never-firing-tier",
        "objective: 99.9",
        "objective: 90",
        [
            (
                "objective",
                "slos[0].objective",
                "SLO 'avail': page tier 1h/5m can never fire: factor 14.4 x budget 0.1",
            )
        ],
    ),
    (
        "never-firing-custom-window",
        "objective: 99.9",
        "objective: 99\n    windows: [{severity: page, long: 2m, short: 30s, budget_percent: 2}]",
        [
            (
                "windows:",
                "slos[0].windows",
                "SLO 'avail': page tier 2m/30s can never fire: factor 432 x budget 0.01",
            )
        ],
    ),
    (
        "short-not-shorter",
        "objective: 99.9",
        "objective: 99.9\n    windows: [{severity: page, long: 2m, short: 2m, factor: 10}]",
        [("windows:", "slos[0].windows[0]", "short window must be shorter than the long window")],
    ),
    (
        "duplicate-slo",
        "policies:",
        "  - name: avail\n    threshold: {query: up, threshold: 1}\npolicies:",
        [("name: avail", "slos[1].name", "duplicate SLO name 'avail' (first defined at cfg.yaml:24)", 2)],
    ),
    (
        "duplicate-policy",
        "guardrails:",
        "  - name: rollback\n    apps: [cart]\n    when: {out_of_sync: {}}\n"
        "    do: {notify: {}}\nguardrails:",
        [
            (
                "name: rollback",
                "policies[1].name",
                "duplicate policy name 'rollback' (first at cfg.yaml:30)",
                2,
            )
        ],
    ),
    (
        "app-unknown-slo",
        "    slos: [avail]",
        "    slos: [avail, latency]",
        [("slos: [avail, latency]", "apps.checkout.slos[1]", "unknown SLO 'latency' (known: avail)")],
    ),
    (
        "app-unknown-repo",
        "    paths: [apps/checkout/]",
        "    paths: [apps/checkout/]\n    repo: infra",
        [("repo: infra", "apps.checkout.repo", "unknown repo 'infra' (known: manifests)")],
    ),
    (
        "policy-unknown-app",
        "    apps: [checkout]",
        "    apps: [chekout]",
        [("apps: [chekout]", "policies[0].apps[0]", "unknown app 'chekout' (apps: checkout, cart)")],
    ),
    (
        "policy-glob-matches-nothing",
        "    apps: [checkout]",
        "    apps: ['shop-*']",
        [("shop-*", "policies[0].apps[0]", "matches no app 'shop-*'")],
    ),
    (
        "policy-two-triggers",
        "when: {slo: {tier: page}}",
        "when: {slo: {tier: page}, health: {for: 1m}}",
        [
            (
                "when:",
                "policies[0].when",
                "use only one of slo, health, out_of_sync, threshold, load, regression, rollout_aborted "
                "(got: slo, health)",
            )
        ],
    ),
    (
        "policy-no-remedy",
        "do: {rollback: {}}",
        "do: {}",
        [("do:", "policies[0].do", "one of rollback, scale, restart, reconcile, notify is required")],
    ),
    (
        "policy-bad-enum",
        "mode: auto",
        "mode: yolo",
        [("mode:", "policies[0].mode", "Input should be 'observe', 'propose' or 'auto'")],
    ),
    (
        "policy-propose-direct",
        "    mode: auto\n    merge: pr-automerge",
        "    mode: propose\n    merge: direct",
        [("name: rollback", "policies[0]", "merge 'direct' needs mode auto")],
    ),
    (
        "policy-threshold-on-ratio-slo",
        "when: {slo: {tier: page}}",
        "when: {threshold: {slo: avail}}",
        [("when:", "policies[0].when.threshold.slo", "SLO 'avail' is not a threshold SLI")],
    ),
    (
        "pr-without-github",
        "github:\n  base_url: http://127.0.0.1:9999/api/v3\n  auth:\n    token: {env: T_GH}\n",
        "",
        [("merge:", "policies[0].merge", "merge 'pr-automerge' opens pull requests: configure github")],
    ),
    (
        "bad-cron",
        '"0 18 * * FRI"',
        '"0 25 * * FRI"',
        [("cron:", "guardrails.freeze[0].cron", "not a valid 5-field cron expression: '0 25 * * FRI'")],
    ),
    (
        "bad-timezone",
        "Europe/Paris",
        "Europe/Gotham",
        [("cron:", "guardrails.freeze[0].timezone", "unknown time zone 'Europe/Gotham'")],
    ),
    (
        "secret-env-unset",
        "token: {env: T_ARGO}",
        "token: {env: T_ARGO_UNSET}",
        [("T_ARGO_UNSET", "argocd.token", "environment variable T_ARGO_UNSET is not set")],
    ),
    (
        "secret-file-missing",
        "token: {env: T_ARGO}",
        "token: {file: secrets/argo}",
        [("secrets/argo", "argocd.token", "secret file secrets/argo does not exist")],
    ),
    (
        "secret-both-sources",
        "token: {env: T_ARGO}",
        "token: {env: T_ARGO, file: x}",
        [("T_ARGO", "argocd.token", "use only one of env, file (got: env, file)")],
    ),
    (
        "slo-file-missing",
        "policies:",
        "slo_files: [slos/none.yaml]\npolicies:",
        [("slo_files", "slo_files[0]", "file not found: slos/none.yaml")],
    ),
    (
        "policy-file-missing",
        "guardrails:",
        "policy_files: [pol.yaml]\nguardrails:",
        [("policy_files", "policy_files[0]", "file not found: pol.yaml")],
    ),
    (
        "invalid-yaml",
        "    slos: [avail]",
        "    slos: [avail",
        [("scaling: {min", "", "invalid YAML: expected ',' or ']', but got ':'")],
    ),
    (
        "duplicate-yaml-key",
        "  cart:\n",
        "  checkout:\n",
        [("  checkout:", "", 'invalid YAML: found duplicate key "checkout"', 2)],
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_config_reports_file_line_key(
    invoke: Any,
    workdir: Path,
    base_config: str,
    line_of: Any,
    *,
    old: str,
    new: str,
    expected: list[tuple[Any, ...]],
) -> None:
    assert old in base_config
    text = base_config.replace(old, new, 1)
    (workdir / "cfg.yaml").write_text(text)
    result = invoke(["validate", "cfg.yaml"])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # never a traceback
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    for needle, key, fragment, *nth in expected:
        prefix = f"cfg.yaml:{line_of(text, needle, *nth)}: {key + ': ' if key else ''}"
        assert any(line.startswith(prefix) and fragment in line for line in lines), (prefix, fragment, lines)
    assert len(lines) == len(expected), lines


def test_every_problem_is_reported_at_once(
    invoke: Any, workdir: Path, base_config: str, line_of: Any
) -> None:
    text = (
        base_config.replace("timeout: 20s", "timeout: soon")
        .replace("objective: 99.9", "objective: 101")
        .replace("mode: auto", "mode: never")
    )
    (workdir / "cfg.yaml").write_text(text)
    result = invoke(["validate", "cfg.yaml"])
    assert result.exit_code == 2
    assert [line.split(": ")[1] for line in result.stderr.splitlines()] == [
        "prometheus.timeout",
        "slos[0].objective",
        "policies[0].mode",
    ]


def test_cross_reference_problems_are_all_reported(
    invoke: Any, workdir: Path, base_config: str, line_of: Any
) -> None:
    text = base_config.replace("slos: [avail]", "slos: [nope]").replace("apps: [checkout]", "apps: [ghost]")
    (workdir / "cfg.yaml").write_text(text)
    result = invoke(["validate", "cfg.yaml"], env={"T_GH": "x"})
    assert result.exit_code == 2
    keys = sorted(line.split(": ")[1] for line in result.stderr.splitlines())
    assert keys == ["apps.checkout.slos[0]", "argocd.token", "policies[0].apps[0]"]


def test_secret_values_are_never_printed(invoke: Any, workdir: Path, base_config: str, line_of: Any) -> None:
    text = base_config.replace("token: {env: T_ARGO}", "token: s3cr3t-inline-value")
    (workdir / "cfg.yaml").write_text(text)
    result = invoke(["validate", "cfg.yaml"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"cfg.yaml:{line_of(text, 's3cr3t')}: argocd.token: inline secrets are not allowed; "
        "use {env: NAME} or {file: PATH}\n"
    )
    (workdir / "cfg.yaml").write_text(base_config)
    good = invoke(["validate", "cfg.yaml"])
    assert good.exit_code == 0
    assert "argo-token-value" not in good.output and "gh-token-value" not in good.output


def test_no_secrets_flag_skips_presence_but_not_shape(
    invoke: Any, workdir: Path, base_config: str, line_of: Any
) -> None:
    (workdir / "cfg.yaml").write_text(base_config)
    assert invoke(["validate", "cfg.yaml"], env={}).exit_code == 2
    result = invoke(["validate", "--no-secrets", "cfg.yaml"], env={})
    assert result.exit_code == 0, result.output
    assert "secrets: not checked" in result.stdout
    (workdir / "cfg.yaml").write_text(base_config.replace("{env: T_ARGO}", "{env: 'not a name'}"))
    bad = invoke(["validate", "--no-secrets", "cfg.yaml"], env={})
    assert bad.exit_code == 2
    # Under a secret key the offending value is never quoted back (it may be the token itself).
    assert "argocd.token: not an environment variable name: <redacted>" in bad.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cfg.yaml: file not found"),
        ("dir", "cfg.yaml: is a directory, not a YAML file"),
        (b"", "cfg.yaml:1: file is empty"),
        (b"# only a comment\n", "cfg.yaml:1: file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "cfg.yaml:1: not a UTF-8 text file"),
        (b"ok: 1\n\x00\x01\x02", "cfg.yaml:2: binary content (NUL byte), not YAML text"),
        (b"- a\n- b\n", "cfg.yaml:1: top level must be a mapping of keys"),
        (b"just text\n", "cfg.yaml:1: top level must be a mapping of keys"),
        (b"a: 1\n---\nb: 2\n", "cfg.yaml:3: expected one YAML document, found several"),
        (b"version: 2\n", "cfg.yaml:1: version: unsupported config version 2"),
    ],
    ids=[
        "missing",
        "directory",
        "empty",
        "comment-only",
        "binary",
        "nul",
        "list",
        "scalar",
        "two-docs",
        "version",
    ],
)
def test_unreadable_files_never_traceback(
    invoke: Any, workdir: Path, content: bytes | str | None, expected: str
) -> None:
    target = workdir / "cfg.yaml"
    if content == "dir":
        target.mkdir()
    elif isinstance(content, bytes):
        target.write_bytes(content)
    result = invoke(["validate", "cfg.yaml"])
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.splitlines()[0].startswith(expected), result.stderr


def test_valid_config_prints_a_summary(invoke: Any, workdir: Path, base_config: str, line_of: Any) -> None:
    (workdir / "cfg.yaml").write_text(base_config)
    result = invoke(["validate", "cfg.yaml"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "cfg.yaml: OK: 2 apps, 1 SLO (0 from slo_files), 1 policy, 1 repo\nsecrets: all resolved\n"
    )
    assert result.stderr == ""


def test_policy_file_problems_name_their_own_file(
    invoke: Any, workdir: Path, base_config: str, line_of: Any
) -> None:
    policies = "policies:\n  - name: scale\n    apps: [cart]\n    when: {load: {per_replica_above: 0}}\n" \
        "    do: {scale: {min: 3, max: 2, target_per_replica: 50}}\n"  # fmt: skip
    (workdir / "pol.yaml").write_text(policies)
    (workdir / "cfg.yaml").write_text(
        base_config.replace("guardrails:", "policy_files: [pol.yaml]\nguardrails:")
    )
    result = invoke(["validate", "cfg.yaml"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "pol.yaml:4: policies[0].when.load.per_replica_above: Input should be greater than 0",
        "pol.yaml:5: policies[0].do.scale: min (3) is greater than max (2)",
    ]
