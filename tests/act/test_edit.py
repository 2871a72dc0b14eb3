"""The surgical editor on hand-written cases: quoting, type checks, refusals, insertion, images."""

from __future__ import annotations

import pytest

from bot import errors
from bot.act import edit, locate

Target = edit.Target

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  template:
    metadata:
      labels: {app: web}
    spec:
      initContainers:
      - name: migrate
        image: acme/web:1.0
      containers:
      - name: web
        image: acme/web:1.0
      - name: proxy
        image: 'envoy:1.30'
"""


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("0.2", '"0.2"'),
        ("1e3", '"1e3"'),
        ("true", '"true"'),
        ("yes", '"yes"'),  # YAML 1.1 bool: Kubernetes tooling would read a boolean
        ("On", '"On"'),
        ("null", '"null"'),
        ("~", '"~"'),
        ("0x1f", '"0x1f"'),
        ("01", '"01"'),
        ("1:20", '"1:20"'),  # YAML 1.1 sexagesimal
        ("2024-01-01", '"2024-01-01"'),
        ("", '""'),
        ("a: b", '"a: b"'),
        ("#hash", '"#hash"'),
        ("two\nlines", '"two\\nlines"'),
        ('say "hi"', 'say "hi"'),
        ('"quoted"', '"\\"quoted\\""'),
        ("v1.2.3", "v1.2.3"),
        ("1.2.3", "1.2.3"),
        ("sha256:abc", "sha256:abc"),
        ("-rc1", "-rc1"),
    ],
)
def test_plain_slot_quotes_only_what_would_change_type(value: str, written: str) -> None:
    text = "image:\n  tag: v1 # keep me\n"
    result = edit.apply(text, Target.helm_value("image.tag"), value)
    assert result.text == f"image:\n  tag: {written} # keep me\n"
    assert edit.read(result.text, Target.helm_value("image.tag")) == value
    assert result.lines == (2,)


def test_quote_style_is_kept() -> None:
    text = "a: 'x'\nb: \"y\"\n"
    result = edit.apply(text, Target.at("a"), "it's")
    assert result.text == "a: 'it''s'\nb: \"y\"\n"
    assert edit.apply(text, Target.at("b"), "plain").text == "a: 'x'\nb: \"plain\"\n"


def test_numbers_are_written_plain_even_into_a_quoted_slot() -> None:
    text = 'autoscaling:\n  minReplicas: ""\n'
    result = edit.apply(text, Target.helm_value("autoscaling.minReplicas"), 3)
    assert result.text == "autoscaling:\n  minReplicas: 3\n"
    assert edit.read(result.text, Target.helm_value("autoscaling.minReplicas")) == 3


def test_replica_count_from_string_digits() -> None:
    result = edit.apply(DEPLOY, Target.replicas(), "4")
    assert "  replicas: 4\n" in result.text and result.old == 2 and result.new == 4


@pytest.mark.parametrize("value", ["abc", -1, True, "1.5", 2.0])
def test_wrong_replica_values_are_refused(value: object) -> None:
    with pytest.raises(errors.ManifestError, match=r"deploy\.yaml"):
        edit.apply(DEPLOY, Target.replicas(), value, filename="deploy.yaml")  # type: ignore[arg-type]


def test_string_targets_refuse_numbers() -> None:
    with pytest.raises(errors.ManifestError, match="must be a string"):
        edit.apply(DEPLOY, Target.image("web"), 2)


def test_image_in_init_and_main_containers_by_name() -> None:
    result = edit.apply(DEPLOY, Target.image("migrate"), "acme/web:1.1")
    assert result.lines == (13,)
    assert edit.read(result.text, Target.image("web")) == "acme/web:1.0"


def test_ambiguous_container_lists_candidates() -> None:
    with pytest.raises(errors.ManifestError) as info:
        edit.apply(DEPLOY, Target.image(), "x:1", filename="d.yaml")
    message = str(info.value)
    assert "ambiguous" in message and "'migrate'" in message and "'proxy'" in message
    assert message.startswith("d.yaml:")


def test_ambiguous_documents_list_candidates_and_doc_narrows() -> None:
    text = DEPLOY + "---\n" + DEPLOY.replace("name: web\nspec", "name: web2\nspec")
    with pytest.raises(errors.ManifestError, match=r"doc 0 Deployment/web .*doc 1 Deployment/web2"):
        edit.apply(text, Target.image("proxy"), "envoy:1.31")
    result = edit.apply(text, Target.image("proxy", resource_name="web2"), "envoy:1.31")
    assert result.lines == (37,)
    assert edit.apply(text, Target.image("proxy", doc=0), "envoy:1.31").lines == (18,)


def test_not_found_names_what_is_there() -> None:
    with pytest.raises(errors.ManifestError, match=r"not found.*'migrate', 'web', 'proxy'"):
        edit.apply(DEPLOY, Target.image("nope"), "x:1")
    with pytest.raises(errors.ManifestError, match="not found"):
        edit.apply(DEPLOY, Target.configmap("k"), "v")


def test_invalid_yaml_names_the_line() -> None:
    with pytest.raises(errors.ManifestError, match=r"bad\.yaml: invalid YAML at line 3"):
        edit.read("a: 1\nb: [1, 2\nc: {\n", Target.at("a"), filename="bad.yaml")


def test_alias_targets_are_refused() -> None:
    text = "base: &tag v1\nweb:\n  tag: *tag\nworker:\n  tag: *tag\n"
    with pytest.raises(errors.ManifestError, match="anchor/alias"):
        edit.apply(text, Target.helm_value("web.tag"), "v2")
    with pytest.raises(errors.ManifestError, match="anchor/alias"):
        edit.apply(text, Target.helm_value("base"), "v2")


def test_anchor_with_a_single_use_keeps_the_anchor() -> None:
    text = "web: &w\n  tag: &t v1\n"
    assert edit.apply(text, Target.helm_value("web.tag"), "v2").text == "web: &w\n  tag: &t v2\n"


def test_empty_value_gets_a_space() -> None:
    text = "image:\n  tag:\n  repository: x\n"
    result = edit.apply(text, Target.helm_value("image.tag"), "v1")
    assert result.text == "image:\n  tag: v1\n  repository: x\n"


def test_flow_sequence_and_mapping_values() -> None:
    text = "spec: {containers: [{name: a, image: 'x:1'}, {name: b, image: y}]}\n"
    result = edit.apply(text, Target.image("b"), "y:2,3")
    assert result.text == "spec: {containers: [{name: a, image: 'x:1'}, {name: b, image: \"y:2,3\"}]}\n"


def test_annotation_inserted_into_flow_maps_and_with_crlf() -> None:
    text = DEPLOY.replace("labels: {app: web}", "annotations: {}")
    result = edit.apply(text, Target.annotation("githeal.io/restartedAt"), "now")
    assert "      annotations: {githeal.io/restartedAt: now}\n" in result.text and result.lines == (9,)
    flow = edit.apply(DEPLOY, Target.annotation("githeal.io/restartedAt"), "2025-01-01T00:00:00Z")
    assert "      labels: {app: web}\n      annotations:\n        githeal.io/restartedAt: " in flow.text
    crlf = DEPLOY.replace("\n", "\r\n")
    result = edit.apply(crlf, Target.annotation("githeal.io/restartedAt"), "now")
    assert result.text == flow.text.replace("2025-01-01T00:00:00Z", "now").replace('"now"', "now").replace(
        "\n", "\r\n"
    )
    assert result.lines == (10, 11)


def test_insert_at_end_of_file_without_newline() -> None:
    text = "images:\n- name: app\n  newName: ghcr.io/acme/app"
    result = edit.apply(text, Target.kustomize_image("app", "newTag"), "v2")
    assert result.text == "images:\n- name: app\n  newName: ghcr.io/acme/app\n  newTag: v2"
    assert result.old is None and result.lines == (3, 4)


def test_annotation_read_is_none_until_set() -> None:
    target = Target.annotation("githeal.io/restartedAt")
    assert edit.read(DEPLOY, target) is None
    assert edit.read(edit.apply(DEPLOY, target, "t1").text, target) == "t1"


def test_block_scalars_keep_style_and_blank_lines() -> None:
    text = "data:\n  a: |\n    one\n    two\n\n  b: >-\n    folded text\n  c: |2\n     indented\n"
    result = edit.apply(text, Target.at("data.a"), "uno\n")
    assert result.text == text.replace("    one\n    two\n", "    uno\n")
    assert edit.apply(text, Target.at("data.b"), "new text").text == text.replace("folded text", "new text")
    # An explicit indentation indicator is not recomputed: the value is double-quoted instead.
    result = edit.apply(text, Target.at("data.c"), " x\n")
    assert result.text.endswith('  c: " x\\n"\n')


def test_block_scalar_at_end_of_file_without_newline() -> None:
    text = "data:\n  a: |\n    one"
    assert edit.apply(text, Target.at("data.a"), "two").text == "data:\n  a: |-\n    two"
    assert edit.apply(text, Target.at("data.a"), "two\n").text == "data:\n  a: |\n    two\n"


def test_targets_validate_themselves() -> None:
    with pytest.raises(errors.ManifestError, match="unknown target kind"):
        Target("bogus")
    with pytest.raises(errors.ManifestError, match="kustomize-image needs"):
        Target("kustomize-image", name="x", field="tag")
    with pytest.raises(errors.ManifestError, match="hpa field"):
        Target.hpa("replicas")
    assert "container 'web'" in str(Target.image("web", resource="Deployment"))


def test_not_a_scalar_is_refused() -> None:
    with pytest.raises(errors.ManifestError, match="not a scalar"):
        edit.apply(DEPLOY, Target.at("spec.template"), "x")


def test_verification_refuses_unrelated_changes() -> None:
    """The safety net itself: a spliced text that moved another line or value is refused."""
    docs = locate.parse(DEPLOY, "d.yaml")
    resolved = edit.targets.resolve(docs, Target.replicas(), "d.yaml")
    good = DEPLOY.replace("replicas: 2", "replicas: 3")
    assert edit._verify(
        DEPLOY, good, docs, resolved=resolved, value=3, allowed=(5, 6), what="t", filename="d.yaml"
    ) == (6,)
    moved = good.replace("name: web\n", "name:  web\n")  # same data, another line touched
    with pytest.raises(errors.ManifestError, match="diff touches lines 4-4"):
        edit._verify(
            DEPLOY, moved, docs, resolved=resolved, value=3, allowed=(5, 6), what="t", filename="d.yaml"
        )
    changed = good.replace("name: proxy", "name: proxy2")
    with pytest.raises(errors.ManifestError, match="refusing to edit t: doc 0 /spec/template"):
        edit._verify(
            DEPLOY, changed, docs, resolved=resolved, value=3, allowed=(5, 6), what="t", filename="d"
        )
    with pytest.raises(errors.ManifestError, match="reads back as"):
        edit._verify(DEPLOY, good, docs, resolved=resolved, value=4, allowed=(5, 6), what="t", filename="d")


@pytest.mark.parametrize(
    ("metadata", "after"),
    [
        ("    metadata:\n", "    metadata:\n      annotations:\n        k: v\n"),
        (
            "    metadata:\n      annotations: # none yet\n",
            "    metadata:\n      annotations: # none yet\n        k: v\n",
        ),
    ],
)
def test_annotation_under_an_empty_value(metadata: str, after: str) -> None:
    text = "kind: Deployment\nspec:\n  template:\n{}    spec:\n      containers: [{{name: a, image: b}}]\n"
    result = edit.apply(text.format(metadata), Target.annotation("k"), "v")
    assert result.text == text.format(after)


def test_annotation_under_a_null_scalar_is_refused() -> None:
    text = "kind: Deployment\nspec:\n  template:\n    metadata: ~\n    spec:\n      containers: [{name: a}]\n"
    with pytest.raises(errors.ManifestError, match="cannot insert under spec/template/metadata"):
        edit.apply(text, Target.annotation("k"), "v")


def test_values_inherited_through_a_merge_key_are_not_edited_in_place() -> None:
    text = "base: &b\n  tag: v1\nweb:\n  <<: *b\n  name: web\n"
    with pytest.raises(errors.ManifestError, match="not found"):
        edit.apply(text, Target.helm_value("web.tag"), "v2")
    assert edit.apply(text, Target.helm_value("web.name"), "api").text == text.replace(
        "name: web", "name: api"
    )
