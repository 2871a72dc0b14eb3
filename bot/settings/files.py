"""The files a config refers to: what a path really is, whether it stays in the config directory, bytes.

Every config-shaped file is read through ``read_text`` (size cap before reading, UTF-8 only), and
every referenced path is checked by ``what_is`` (a directory, a symlink loop, a FIFO are named as
such, not as "file not found") and ``escapes`` (relative paths may not leave the config directory;
an absolute path is taken as meant). This module must not interpret YAML.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot import errors

MAX_BYTES = 4 * 1024 * 1024  # a 10,000-app config is about 1.6 MB
MAX_BYTES_ENV = "GITHEAL_CONFIG_MAX_BYTES"


@dataclass(frozen=True)
class Limits:
    """Bounds on what one config-shaped file may cost to read (the guards against hostile input)."""

    max_bytes: int = MAX_BYTES
    max_depth: int = 64  # nested mappings and lists
    max_nodes: int = 200_000  # nodes after alias expansion (at least; see parse.expansion_limit)


def limits_from(env: Mapping[str, str]) -> Limits:
    """Default limits, with ``GITHEAL_CONFIG_MAX_BYTES`` (bytes) when set to a positive integer."""
    raw = env.get(MAX_BYTES_ENV, "")
    if raw.strip().isdigit() and int(raw) > 0:
        return Limits(max_bytes=int(raw))
    return Limits()


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else f"{n} bytes"


def what_is(path: Path) -> str | None:
    """Why ``path`` is not a readable regular file (``None`` when it is one)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "file not found"
    except NotADirectoryError:
        return "file not found"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symlink loop"
        if exc.errno == errno.ENAMETOOLONG:
            return "is too long a path"
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISDIR(st.st_mode):
        return "is a directory"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    return None


def escapes(base: Path, text: str) -> bool:
    """Does the relative path ``text`` (symlinks followed) lead out of ``base``? Absolute: never."""
    p = Path(text).expanduser()
    if p.is_absolute():
        return False
    root = os.path.realpath(base)
    # realpath (not Path.resolve) never raises on a symlink loop; the loop is reported by what_is.
    real = os.path.realpath(base / p)
    return real != root and not real.startswith(root.rstrip(os.sep) + os.sep)


def read_text(path: Path, shown: str, limits: Limits) -> str:
    """The UTF-8 text of ``path``; ConfigError (file, line, message) if it is not such a file."""
    why = what_is(path)
    if why is not None:
        why += ", not a YAML file" if why == "is a directory" else ""
        raise errors.ConfigError([errors.Problem(shown, None, "", why)])
    try:
        with open(path, "rb") as fh:
            raw = fh.read(limits.max_bytes + 1)
    except OSError as exc:
        raise errors.ConfigError([errors.Problem(shown, None, "", f"cannot read ({exc.strerror})")]) from None
    if len(raw) > limits.max_bytes:
        message = f"file is larger than {_size(limits.max_bytes)} (the limit for a config file)"
        raise errors.ConfigError([errors.Problem(shown, 1, "", message)])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise errors.ConfigError([errors.Problem(shown, line, "", "not a UTF-8 text file")]) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise errors.ConfigError(
            [errors.Problem(shown, line, "", "binary content (NUL byte), not YAML text")]
        )
    return text
