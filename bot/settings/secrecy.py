"""Keep secrets out of config error messages: values under secret-looking keys, and token-shaped text.

A message about ``token``, ``password``, ``private_key``... never quotes the offending value, and any
text that looks like a credential (GitHub/GitLab/Slack tokens, AWS keys, JWTs, PEM blocks, long
high-entropy strings) is replaced by ``<redacted>`` wherever it appears. Pure text functions only.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

REDACTED = "<redacted>"

_SECRET_KEY = re.compile(
    r"token|passw|secret|private|credential|api_?key|ssh_?key|authorization|bearer|cookie|(^|_)key$",
    re.IGNORECASE,
)
_TOKENS = re.compile(
    r"-----BEGIN[^\n]*"  # PEM armour, and whatever follows on the line
    r"|\b(?:gh[pousr]_|github_pat_|glpat-|xox[abposr]-|sk-|AKIA)[A-Za-z0-9_\-]{8,}"
    r"|\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.?[A-Za-z0-9_\-]*"  # JWT
)
_WORD = re.compile(r"[A-Za-z0-9+=_\-]{24,}")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")


def secret_key(loc: Sequence[str | int]) -> bool:
    """Is the last key of this path named like a credential (token, password, private_key, ...)?"""
    names = [part for part in loc if isinstance(part, str)]
    return bool(names) and _SECRET_KEY.search(names[-1]) is not None


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _high_entropy(word: str) -> bool:
    """Long and close to random: mixed case and digits (base62/64), or 32+ hex digits (names are not)."""
    digits = re.search(r"\d", word) is not None
    if re.fullmatch(r"[0-9a-fA-F]{32,}", word):
        return digits and re.search(r"[a-fA-F]", word) is not None
    mixed = re.search(r"[a-z]", word) is not None and re.search(r"[A-Z]", word) is not None
    return digits and mixed and _entropy(word) >= 3.5


def looks_secret(value: str) -> bool:
    """Does this text contain something shaped like a credential?"""
    return bool(_TOKENS.search(value)) or any(_high_entropy(w) for w in _WORD.findall(value))


def redact(message: str, loc: Sequence[str | int] = ()) -> str:
    """``message`` with credentials removed; under a secret-looking key every quoted value goes too."""
    out = _TOKENS.sub(REDACTED, message)
    out = _WORD.sub(lambda m: REDACTED if _high_entropy(m.group(0)) else m.group(0), out)
    if secret_key(loc):
        out = _QUOTED.sub(REDACTED, out)
        head, sep, _ = out.partition(", got ")
        out = head + (f", got {REDACTED}" if sep else "")
    return out
