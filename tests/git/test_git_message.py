"""Heal texts: golden renders of commit/PR/issue/comment, hidden JSON round trip, sparkline table."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from bot import model
from bot.act import message
from bot.record import trailers

GOLDEN = Path(__file__).parent / "golden"
GOOD = "4c2a7d19e0b3f5a6c8d0e2f4a6b8c0d2e4f6a8b0"
BAD = "9b1f0c7e2d4a6b8c0e1f3a5b7c9d1e2f3a4b5c6d"

CTX = message.HealContext(
    app="checkout",
    action="rollback",
    policy="checkout-slo-burn",
    mode="auto",
    reason="error budget burn 14.4x over 1h/5m",
    target=GOOD[:7],
    strategy="revert",
    signal="checkout-availability (99.9%)",
    observed=("error ratio 1h: 1.44% (14.4x budget)", "error ratio 5m: 2.10% (21.0x budget)"),
    health="Degraded",
    sync="Synced",
    good_revision=GOOD,
    bad_revision=BAD,
    commits=(
        message.CommitRef(BAD, "checkout: turbo mode", "Dana Dev"),
        message.CommitRef("1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e", "checkout: bump to 1.14.2", "Dana Dev"),
    ),
    changes=("revert 9b1f0c7 checkout: turbo mode", "revert 1d2e3f4 checkout: bump to 1.14.2"),
    diff_stat=(
        " apps/checkout/prod/deployment.yaml | 4 ++--\n 1 file changed, 2 insertions(+), 2 deletions(-)"
    ),
    sli_name="checkout error ratio",
    sli=(0.0008, 0.0009, 0.001, None, 0.004, 0.012, float("nan"), 0.018, 0.021),
    argocd_url="https://argocd.example.com/applications/checkout",
    merge_policy="Trusted: reverting to a revision deployed within 24h auto-merges once checks pass.",
    events=("12:02:58 OperationCompleted: Sync operation to 9b1f0c7 succeeded", "12:04:12 health Degraded"),
)


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("GITHEAL_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; rerun with GITHEAL_UPDATE_GOLDEN=1"


def test_commit_message_golden_and_trailers() -> None:
    text = message.commit_message(CTX)
    _golden("commit.txt", text)
    assert (
        text.splitlines()[0] == "githeal: rollback checkout to 4c2a7d1 (error budget burn 14.4x over 1h/5m)"
    )
    heal = trailers.parse_heal(text)
    assert heal is not None
    assert heal.heal_id == model.heal_id("checkout", "rollback", BAD) == CTX.heal_id
    assert heal.reverts == tuple(c.sha for c in CTX.commits)
    assert (heal.good_revision, heal.bad_revision, heal.mode) == (GOOD, BAD, "auto")


def test_pr_title_and_body_golden_with_hidden_json() -> None:
    assert message.pr_title(CTX) == message.subject(CTX)
    body = message.pr_body(CTX)
    _golden("pr_body.md", body)
    data = message.parse_hidden(body)
    assert data == CTX.data()
    assert data is not None and data["heal_id"] == CTX.heal_id and data["commits"][0] == BAD
    assert "`▁▁▁ ▂▅ ▇█`" in body


def test_issue_and_verify_comment_golden() -> None:
    linked = message.HealContext(**{**CTX.__dict__, "pr_url": "https://github.com/acme/deploy/pull/7"})
    _golden(
        "issue_body.md", message.issue_body(linked, problem="The rollback merged but the SLO still burns.")
    )
    comment = message.verify_comment(
        CTX, state="success", details=["Argo CD Healthy at 5e6f7a8"], sli_after=[0.002, 0.0009, 0.0008]
    )
    _golden("comment_verify.md", comment)
    failed = message.verify_comment(CTX, state="failure")
    assert "did not work" in failed and "escalates to a human" in failed


def test_hidden_block_cannot_be_closed_by_its_data() -> None:
    data = {"reason": "a --> b <!-- c", "n": -1}
    block = message.hidden_block(data)
    assert block.count("-->") == 1 and block.endswith("-->")
    assert message.parse_hidden(f"text\n{block}\nmore") == data
    assert message.parse_hidden("no block here") is None
    assert message.parse_hidden("<!-- githeal:{not json} -->") is None


def test_subject_is_capped_and_heal_id_is_deterministic() -> None:
    long = message.HealContext(app="checkout", action="scale", policy="p", mode="propose", reason="x" * 300)
    assert len(message.subject(long)) <= message.SUBJECT_LIMIT and message.subject(long).endswith("…)")
    again = message.HealContext(app="checkout", action="scale", policy="other", mode="auto", reason="x" * 300)
    assert long.heal_id == again.heal_id
    explicit = message.HealContext(app="a", action="b", policy="c", mode="d", reason="e", heal_id="fixed")
    assert explicit.heal_id == "fixed"


def test_strict_templates_refuse_missing_fields(tmp_path: Path) -> None:
    (tmp_path / "commit.txt.j2").write_text("{{ ctx.no_such_field }}\n")
    with pytest.raises(Exception, match="no_such_field"):
        message.commit_message(CTX, templates=tmp_path)


NAN = math.nan


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], ""),
        ([1.0], "▁"),
        ([5.0, 5.0, 5.0], "▁▁▁"),
        ([0.0, 7.0], "▁█"),
        ([0, 1, 2, 3, 4, 5, 6, 7], "▁▂▃▄▅▆▇█"),
        ([7, 6, 5, 4, 3, 2, 1, 0], "█▇▆▅▄▃▂▁"),
        ([0.0, None, 1.0], "▁ █"),
        ([NAN, 0.0, NAN, 1.0, math.inf], " ▁ █ "),
        ([None, None], "  "),
        ([-1.0, 0.0, 1.0], "▁▅█"),
        ([0.001, 0.0011, 0.5], "▁▁█"),
    ],
)
def test_sparkline_table(values: list[float | None], expected: str) -> None:
    assert message.sparkline(values) == expected
    assert len(message.sparkline(values)) == len(values)
