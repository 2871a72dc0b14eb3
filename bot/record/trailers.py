"""Git trailers on heal commits: format them, parse them back, as ``git interpret-trailers`` would.

Trailers are the bot's memory (heal id, app, policy, action, reverted shas...), so the parser follows
git's rules for the standard format: the trailer block is the last paragraph of the message (never
the subject), ``Key: value`` lines with ``-``/alphanumeric keys, whitespace-led continuation lines.
Pure: no git, no I/O. Keys compare case-insensitively, as git does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

HEAL_ID = "Heal-Id"
HEAL_APP = "Heal-App"
HEAL_POLICY = "Heal-Policy"
HEAL_ACTION = "Heal-Action"
HEAL_MODE = "Heal-Mode"
HEAL_SIGNAL = "Heal-Signal"
HEAL_OBSERVED = "Heal-Observed"
HEAL_REVERTS = "Heal-Reverts"
HEAL_GOOD = "Heal-Good-Revision"
HEAL_BAD = "Heal-Bad-Revision"
HEAL_STRATEGY = "Heal-Strategy"
# which process wrote the heal (host/pid): it also makes two replicas' commits of one heal differ, so
# the slower push is rejected (non-fast-forward) and re-checks the Heal-Id instead of landing as a
# no-op "up to date" push of an identical commit that both would claim
HEAL_REPLICA = "Heal-Replica"

_KEY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$")
# git counts a paragraph as trailers even with some prose in it when a "known" trailer is present
_KNOWN = ("heal-", "signed-off-by", "co-authored-by", "(cherry picked from commit")

Trailer = tuple[str, str]


def _clean(value: str) -> str:
    """Trailer values must stay on one line: folding would break naive `git log --grep` dedupe."""
    return " ".join(value.split())


def format_trailers(pairs: Iterable[Trailer]) -> str:
    """``[("Heal-Id", "abc")]`` -> ``"Heal-Id: abc\\n"``; empty values are dropped."""
    lines = []
    for key, value in pairs:
        if not _KEY.match(f"{key}: x"):
            raise ValueError(f"not a trailer key: {key!r}")
        cleaned = _clean(value)
        if cleaned:
            lines.append(f"{key}: {cleaned}")
    return "".join(line + "\n" for line in lines)


def _paragraphs(message: str) -> list[list[str]]:
    paragraphs: list[list[str]] = [[]]
    for line in message.replace("\r\n", "\n").split("\n"):
        if line.strip():
            paragraphs[-1].append(line.rstrip())
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


def _block(lines: Sequence[str]) -> list[Trailer] | None:
    """The trailers of one paragraph, or None when git would not treat it as a trailer block."""
    pairs: list[Trailer] = []
    trailer_lines = other_lines = 0
    known = False
    for line in lines:
        if line[:1] in (" ", "\t"):
            if pairs:
                key, value = pairs[-1]
                pairs[-1] = (key, _clean(f"{value} {line}"))
                continue
            other_lines += 1
            continue
        if line.startswith("(cherry picked from commit"):
            trailer_lines += 1
            known = True
            continue
        m = _KEY.match(line)
        if m:
            pairs.append((m.group(1), m.group(2).strip()))
            trailer_lines += 1
            known = known or m.group(1).lower().startswith(_KNOWN)
        else:
            other_lines += 1
    if not trailer_lines:
        return None
    if other_lines == 0 or (known and trailer_lines * 3 >= other_lines):
        return pairs
    return None


def parse_trailers(message: str) -> list[Trailer]:
    """Trailers of a full commit message, in order; repeated keys are kept as repeated pairs."""
    paragraphs = _paragraphs(message)
    if len(paragraphs) < 2:
        return []  # the subject paragraph is never a trailer block
    last = paragraphs[-1]
    if last and last[0].strip() == "---":
        return []
    return _block(last) or []


def split_message(message: str) -> tuple[str, str]:
    """(message without its trailer block, trailer block text)."""
    paragraphs = _paragraphs(message)
    if len(paragraphs) >= 2 and _block(paragraphs[-1]) is not None:
        head = "\n\n".join("\n".join(p) for p in paragraphs[:-1])
        return head, "\n".join(paragraphs[-1]) + "\n"
    return "\n\n".join("\n".join(p) for p in paragraphs), ""


def append_trailers(message: str, pairs: Iterable[Trailer]) -> str:
    """Add trailers to a message, joining an existing trailer block instead of starting a second one."""
    head, block = split_message(message)
    new = format_trailers(pairs)
    if not new and not block:
        return head.rstrip("\n") + "\n"
    return f"{head.rstrip()}\n\n{block}{new}"


def values(pairs: Iterable[Trailer], key: str) -> list[str]:
    wanted = key.lower()
    return [v for k, v in pairs if k.lower() == wanted]


def first(pairs: Iterable[Trailer], key: str) -> str | None:
    found = values(pairs, key)
    return found[0] if found else None


def as_mapping(pairs: Iterable[Trailer]) -> dict[str, str]:
    """Canonical-cased keys; a repeated key's values are joined with ``", "``."""
    out: dict[str, str] = {}
    canon: dict[str, str] = {}
    for key, value in pairs:
        name = canon.setdefault(key.lower(), key)
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


@dataclass(frozen=True)
class HealTrailers:
    """The trailers every heal commit carries; ``extra`` holds anything policy-specific."""

    heal_id: str
    app: str
    policy: str
    action: str
    mode: str = ""
    strategy: str = ""
    signal: str = ""
    observed: str = ""
    reverts: tuple[str, ...] = ()
    good_revision: str = ""
    bad_revision: str = ""
    extra: tuple[Trailer, ...] = ()

    def pairs(self) -> list[Trailer]:
        out: list[Trailer] = [
            (HEAL_ID, self.heal_id),
            (HEAL_APP, self.app),
            (HEAL_POLICY, self.policy),
            (HEAL_ACTION, self.action),
            (HEAL_MODE, self.mode),
            (HEAL_STRATEGY, self.strategy),
            (HEAL_SIGNAL, self.signal),
            (HEAL_OBSERVED, self.observed),
        ]
        out += [(HEAL_REVERTS, sha) for sha in self.reverts]
        out += [(HEAL_GOOD, self.good_revision), (HEAL_BAD, self.bad_revision)]
        out += list(self.extra)
        return [(k, v) for k, v in out if _clean(v)]

    @classmethod
    def from_pairs(cls, pairs: Sequence[Trailer]) -> HealTrailers | None:
        """None unless the commit is a heal (has Heal-Id and Heal-App)."""
        heal = first(pairs, HEAL_ID)
        app = first(pairs, HEAL_APP)
        if not heal or not app:
            return None
        known = {
            k.lower()
            for k in (HEAL_ID, HEAL_APP, HEAL_POLICY, HEAL_ACTION, HEAL_MODE, HEAL_STRATEGY, HEAL_SIGNAL)
        } | {k.lower() for k in (HEAL_OBSERVED, HEAL_REVERTS, HEAL_GOOD, HEAL_BAD)}
        return cls(
            heal_id=heal,
            app=app,
            policy=first(pairs, HEAL_POLICY) or "",
            action=first(pairs, HEAL_ACTION) or "",
            mode=first(pairs, HEAL_MODE) or "",
            strategy=first(pairs, HEAL_STRATEGY) or "",
            signal=first(pairs, HEAL_SIGNAL) or "",
            observed=first(pairs, HEAL_OBSERVED) or "",
            reverts=tuple(values(pairs, HEAL_REVERTS)),
            good_revision=first(pairs, HEAL_GOOD) or "",
            bad_revision=first(pairs, HEAL_BAD) or "",
            extra=tuple((k, v) for k, v in pairs if k.lower() not in known),
        )


def parse_heal(message: str) -> HealTrailers | None:
    return HealTrailers.from_pairs(parse_trailers(message))


def is_heal(pairs: Sequence[Trailer] | Mapping[str, str]) -> bool:
    items = list(pairs.items()) if isinstance(pairs, Mapping) else list(pairs)
    return bool(first(items, HEAL_ID))
