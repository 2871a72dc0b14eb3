"""The root of the config schema and the JSON Schema generated from it for editors.

``python -m bot.settings > config/schema.json`` regenerates the committed schema; a test
fails when the committed file is stale. This module only declares shapes: it must not read files
or the environment (``bot.settings.load`` does, once).
"""

from __future__ import annotations

import json
from typing import Any

import pydantic
from pydantic import Field

from bot.settings import rules, systems

SCHEMA_ID = "https://githeal.dev/schema/config.json"


class Config(systems.Base):
    """A githeal config file. Relative paths are relative to the directory of this file."""

    version: int = Field(default=1, description="Config format version; only 1 exists.")
    prometheus: systems.PrometheusConfig
    argocd: systems.ArgoCDConfig
    repos: dict[str, systems.RepoConfig] = Field(
        default_factory=dict,
        description="Manifest repositories by name (at least one, unless credential_templates are given).",
    )
    credential_templates: list[systems.CredentialTemplate] = Field(
        default_factory=list,
        description="Credentials by URL prefix for the repos of discovered Applications that are not "
        "under repos (longest prefix wins, as Argo CD's repository credential templates).",
    )
    github: systems.GitHubConfig | None = Field(default=None, description="Needed for pull requests.")
    apps: dict[str, rules.AppConfig] = Field(min_length=1, description="Managed apps by name.")
    slos: list[rules.SLOConfig] = Field(default_factory=list)
    slo_files: list[rules.SloFileConfig] = Field(default_factory=list, description="Sloth / OpenSLO files.")
    policies: list[rules.PolicyConfig] = Field(default_factory=list)
    policy_files: list[str] = Field(
        default_factory=list, description="Files with a top-level policies: list."
    )
    guardrails: rules.GuardrailsConfig = rules.GuardrailsConfig()
    schedule: systems.ScheduleConfig = systems.ScheduleConfig()
    service: systems.ServiceConfig = systems.ServiceConfig()
    verify: systems.VerifyConfig = systems.VerifyConfig()
    manifests: systems.ManifestsConfig = systems.ManifestsConfig()
    analyzer: systems.AnalyzerConfig | None = Field(
        default=None, description="Optional triage command for escalations (evidence bundle on stdin)."
    )
    log: systems.LogConfig = systems.LogConfig()
    templates: str | None = Field(
        default=None,
        description="Directory of message templates (commit.txt.j2, pr_body.md.j2, ...) overriding the "
        "built-in ones of the same file name; see docs/templates.md.",
    )

    @pydantic.model_validator(mode="after")
    def _some_repo(self) -> Config:
        if not self.repos and not self.credential_templates:
            raise ValueError(
                "repos: required key is missing (at least one repo, unless credential_templates are given)"
            )
        return self

    @pydantic.field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != 1:
            raise ValueError(f"unsupported config version {value}; this githeal reads version 1")
        return value


class PolicyFile(systems.Base):
    """A file listed under ``policy_files``."""

    policies: list[rules.PolicyConfig] = Field(min_length=1)


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a config file, as committed in ``config/schema.json``."""
    schema = Config.model_json_schema(by_alias=True, mode="validation")
    # ``slo_files`` entries may also be a bare path (SloFileConfig's before-validator).
    files = schema["properties"]["slo_files"]
    files["items"] = {"anyOf": [{"type": "string"}, files["items"]]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "githeal config",
        **schema,
    }


def render() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
