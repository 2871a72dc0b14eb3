"""The pure trailer parser against git's own ``interpret-trailers --parse``, and history read-back."""

from __future__ import annotations

import dataclasses
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from githelp import CHECKOUT, Human, git

from bot.clients import gitrepo
from bot.record import auditlog, trailers

MESSAGES = {
    "standard": "subject\n\nbody\n\nHeal-Id: abc\nHeal-App: checkout\n",
    "subject only": "githeal: Heal-Id: abc\n",
    "no blank before": "subject\nHeal-Id: abc\n",
    "colons in body": "subject\n\nNote: this is prose\nand continues here.\n\nHeal-Id: abc\n",
    "body colons only": "subject\n\nNote: prose line\nmore prose without a colon\n",
    "continuation": "subject\n\nHeal-Signal: sum(rate(x[5m]))\n  / sum(rate(y[5m]))\nHeal-Id: abc\n",
    "repeated": "subject\n\nHeal-Reverts: 1111111\nHeal-Reverts: 2222222\nHeal-Id: abc\n",
    "mixed with prose": "s\n\nb\n\nSigned-off-by: A <a@b>\nsome prose\nHeal-Id: abc\n",
    "prose majority": "s\n\nb\n\nHeal-Id: abc\none\ntwo\nthree\nfour\n",
    "crlf": "subject\r\n\r\nHeal-Id: abc\r\nHeal-App: cart\r\n",
    "lowercase key": "subject\n\nheal-id: abc\n",
    "spaces before colon": "subject\n\nHeal-Id : abc\n",
    "markdown heading body": "subject\n\n# Evidence\n- a: 1\n\nHeal-Id: abc\n",
}


def _git_parse(message: str) -> list[tuple[str, str]]:
    out = subprocess.run(
        ["git", "interpret-trailers", "--parse"], input=message, capture_output=True, text=True, check=True
    ).stdout
    return [(k, v.strip()) for k, _, v in (line.partition(":") for line in out.splitlines())]


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_pure_parser_agrees_with_git(name: str) -> None:
    message = MESSAGES[name]
    assert trailers.parse_trailers(message) == _git_parse(message)


def test_parse_details() -> None:
    assert trailers.parse_trailers(MESSAGES["subject only"]) == []
    assert trailers.parse_trailers(MESSAGES["continuation"])[0] == (
        "Heal-Signal",
        "sum(rate(x[5m])) / sum(rate(y[5m]))",
    )
    pairs = trailers.parse_trailers(MESSAGES["repeated"])
    assert trailers.values(pairs, "heal-reverts") == ["1111111", "2222222"]
    assert trailers.as_mapping(pairs)["Heal-Reverts"] == "1111111, 2222222"


def test_format_and_append_round_trip() -> None:
    heal = trailers.HealTrailers(
        heal_id="abc123abc123",
        app="checkout",
        policy="slo-burn",
        action="rollback",
        mode="auto",
        signal="sum(rate(x[5m]))\n / sum(rate(y[5m]))",
        reverts=("1" * 40, "2" * 40),
        good_revision="3" * 40,
        extra=(("Co-authored-by", "Dana <d@example.com>"),),
    )
    message = trailers.append_trailers("subject\n\nSome prose.\nNote: not a trailer block\n", heal.pairs())
    assert "Heal-Signal: sum(rate(x[5m])) / sum(rate(y[5m]))\n" in message
    assert "Heal-Bad-Revision" not in message  # empty values are dropped
    assert trailers.parse_heal(message) == dataclasses.replace(
        heal, signal="sum(rate(x[5m])) / sum(rate(y[5m]))"
    )
    assert trailers.parse_trailers(message) == _git_parse(message)
    # appending to an existing block joins it instead of starting a second one
    again = trailers.append_trailers(message, [("Heal-Verified", "success")])
    assert again.count("\n\n") == message.count("\n\n")
    assert trailers.first(trailers.parse_trailers(again), "Heal-Verified") == "success"
    with pytest.raises(ValueError, match="not a trailer key"):
        trailers.format_trailers([("Bad Key", "x")])
    assert trailers.parse_heal("subject\n\nSigned-off-by: a <a@b>\n") is None


def _heal(human: Human, app: str, hid: str, action: str = "rollback") -> str:
    text = f"githeal: {action} {app}\n\nHeal-Id: {hid}\nHeal-App: {app}\n"
    text += f"Heal-Policy: p1\nHeal-Action: {action}\n"
    return human.commit({f"apps/{app}/heal-{hid}.txt": hid}, text)


def test_history_reads_heals_back_from_a_bare_repo_and_a_clone(
    remote: Path, human: Human, clone: gitrepo.WorkingClone
) -> None:
    h1 = _heal(human, "checkout", "000000000001")
    human.commit(
        {"apps/cart/x.yaml": "a: 1\n"}, "cart: ordinary change\n\nSigned-off-by: Dana <d@example.com>\n"
    )
    h2 = _heal(human, "cart", "000000000002", action="scale")
    h3 = _heal(human, "checkout", "000000000003")

    recs = auditlog.read_history(remote, verify={h3[:7]: "success", h1: "failure"})
    assert [r.commit for r in recs] == [h3, h2, h1]  # newest first, only heals
    assert [r.verify for r in recs] == ["success", "", "failure"]
    assert recs[0].trailers["Heal-Policy"] == "p1" and recs[1].action == "scale"
    assert [r.heal_id for r in auditlog.read_history(remote, app="checkout")] == [
        "000000000003",
        "000000000001",
    ]

    clone.sync()
    assert [r.commit for r in auditlog.read_history(clone, app="cart")] == [h2]
    latest = auditlog.latest(recs, app="checkout", action="rollback")
    assert latest is not None and latest.commit == h3
    assert auditlog.latest(recs, app="nope") is None
    assert list(auditlog.by_heal_id(recs)) == ["000000000003", "000000000002", "000000000001"]


def test_history_since_uses_commit_time(remote: Path, human: Human, monkeypatch: pytest.MonkeyPatch) -> None:
    base = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)
    shas = []
    for i in range(3):
        stamp = (base + timedelta(hours=i)).isoformat()
        monkeypatch.setenv("GIT_COMMITTER_DATE", stamp)
        monkeypatch.setenv("GIT_AUTHOR_DATE", stamp)
        shas.append(_heal(human, "checkout", f"00000000000{i}"))
    recs = auditlog.read_history(remote, since=base + timedelta(minutes=30))
    assert [r.commit for r in recs] == [shas[2], shas[1]]
    assert recs[-1].at == base + timedelta(hours=1)
    assert auditlog.read_history(remote, since=base + timedelta(hours=5)) == []


def test_find_heal_dedupes_on_the_trailer_not_the_text(
    human: Human, clone: gitrepo.WorkingClone, remote: Path
) -> None:
    human.commit({f"{CHECKOUT}/n.txt": "x"}, "mentions Heal-Id: 0000000000aa in prose only\n\nbody\n")
    clone.sync()
    assert clone.find_heal("0000000000aa") is None
    sha = _heal(human, "checkout", "0000000000aa")
    clone.fetch()
    found = clone.find_heal("0000000000aa")
    assert found is not None and found.sha == sha
    assert clone.find_heal("0000000000aa", since=found.time + timedelta(seconds=1)) is None
    assert git(remote, "rev-parse", "main") == sha


def test_rendered_heal_commit_reads_back_as_a_record(clone: gitrepo.WorkingClone, remote: Path) -> None:
    from bot.act import message

    ctx = message.HealContext(
        app="checkout",
        action="rollback",
        policy="slo-burn",
        mode="auto",
        reason="error budget burn 14.4x over 1h/5m",
        strategy="revert",
        signal='sum(rate(http_requests_total{code=~"5.."}[5m]))\n/ sum(rate(http_requests_total[5m]))',
        bad_revision="9" * 40,
        commits=(message.CommitRef("9" * 40, "bump"),),
    )
    clone.write_files({f"{CHECKOUT}/note.txt": b"x\n"})
    sha = clone.commit(message.commit_message(ctx))
    clone.push()
    [rec] = auditlog.read_history(remote)
    assert (rec.commit, rec.heal_id, rec.app, rec.policy, rec.action) == (
        sha,
        ctx.heal_id,
        "checkout",
        "slo-burn",
        "rollback",
    )
    assert rec.trailers["Heal-Reverts"] == "9" * 40
    assert rec.trailers["Heal-Signal"].endswith("/ sum(rate(http_requests_total[5m]))")
    assert rec.subject == message.subject(ctx)
    assert clone.find_heal(ctx.heal_id) is not None
