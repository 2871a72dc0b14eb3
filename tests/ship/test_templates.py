"""Message templates can be overridden from the directory named by ``templates:`` in the config
(issue 11 §1): a file of the same name replaces the built-in one, the others stay; a bad directory
is a config error; docs/templates.md documents every variable the templates get."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import jinja2
import jinja2.meta
import pytest
from click.testing import CliRunner
from shipdefs import ROOT, minimal

from bot import cli, errors, settings
from bot.act import execute, message

CTX = message.HealContext(
    app="checkout",
    action="rollback",
    policy="bad-deploy",
    mode="auto",
    reason="burn 14.4x over 1h/5m",
    bad_revision="b" * 40,
    good_revision="a" * 40,
    target="aaaaaaa",
    observed=("error ratio 30%",),
)


@pytest.fixture(autouse=True)
def argocd_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHEAL_ARGOCD_TOKEN", "t0k")


def config(tmp_path: Path, templates: str | None) -> Path:
    path = tmp_path / "githeal.yaml"
    text = minimal("http://127.0.0.1:9", tmp_path / "work")
    path.write_text(text + (f"templates: {templates}\n" if templates else ""))
    return path


def test_override_replaces_one_template_and_keeps_the_others(tmp_path: Path) -> None:
    overrides = tmp_path / "message-templates"
    overrides.mkdir()
    (overrides / "commit.txt.j2").write_text("{{ subject }}\n\nACME: {{ ctx.reason }} ({{ ctx.policy }})\n")
    loaded = settings.load(config(tmp_path, "message-templates"))
    assert loaded.templates == overrides  # relative to the config file
    tools = execute.Tools(loaded, {}, None, None, lambda: None)  # type: ignore[arg-type]
    assert tools.templates == overrides  # what execute renders heal texts with
    commit = message.commit_message(CTX, templates=tools.templates)
    assert commit.startswith("githeal: rollback checkout to aaaaaaa")
    assert "ACME: burn 14.4x over 1h/5m (bad-deploy)" in commit
    assert "Heal-Id: " in commit  # trailers never depend on a template
    body = message.pr_body(CTX, templates=tools.templates)
    assert body == message.pr_body(CTX)  # not overridden: the built-in text
    assert "ACME" not in message.commit_message(CTX)


def test_without_the_key_the_builtin_templates_are_used(tmp_path: Path) -> None:
    loaded = settings.load(config(tmp_path, None))
    assert loaded.templates is None
    assert execute.Tools(loaded, {}, None, None, lambda: None).templates is None  # type: ignore[arg-type]


def test_missing_directory_is_a_config_error_at_the_key(tmp_path: Path) -> None:
    path = config(tmp_path, "nowhere")
    with pytest.raises(errors.ConfigError) as exc:
        settings.load(path)
    (problem,) = exc.value.problems
    assert (problem.key, problem.message) == (
        "templates",
        f"templates directory not found: {tmp_path}/nowhere",
    )
    assert problem.line == path.read_text().splitlines().index("templates: nowhere") + 1


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("commit.j2", "{{ subject }}", "overrides no template"),
        ("pr_body.md.j2", "{% if ctx.app %}never closed", "Unexpected end of template"),
    ],
)
def test_validate_refuses_unknown_names_and_broken_templates(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / name).write_text(text)
    result = CliRunner().invoke(cli.main, ["validate", str(config(tmp_path, "t"))])
    assert result.exit_code == 2
    assert re.match(rf".*githeal\.yaml: templates: .*{name}.*{expected}", result.output), result.output
    assert "Traceback" not in result.output


def test_docs_name_every_variable_and_ctx_field() -> None:
    doc = (ROOT / "docs" / "templates.md").read_text()
    env = jinja2.Environment()
    for name in message.NAMES:
        used = jinja2.meta.find_undeclared_variables(env.parse((ROOT / "templates" / name).read_text()))
        row = next(line for line in doc.splitlines() if line.startswith(f"| `{name}` |"))
        assert all(f"`{v}`" in row for v in used), (name, used)
    for f in dataclasses.fields(message.HealContext):
        assert f"`ctx.{f.name}`" in doc or f"ctx.{f.name}`" in doc, f.name
    assert sorted(p.name for p in (ROOT / "templates").glob("*.j2")) == sorted(message.NAMES)
