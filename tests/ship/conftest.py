"""The githeal wheel, built once per session from a copy of the source tree that is then made
read-only: what gets installed must not depend on (or write to) the tree it was built from."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from shipdefs import ROOT

SOURCES = ("pyproject.toml", "README.md", "LICENSE", "bot", "templates")


def _chmod_tree(root: Path, writable: bool) -> None:
    for dirpath, _, files in os.walk(root):
        for p in [dirpath, *(os.path.join(dirpath, f) for f in files)]:
            mode = os.stat(p).st_mode
            os.chmod(p, mode | stat.S_IWUSR if writable else mode & ~0o222)


@pytest.fixture(scope="session")
def shared_tmp() -> Iterator[Path]:
    """A world-readable temp dir (pytest's tmp_path is 0700 root-only; the image user is uid 10001)."""
    path = Path(tempfile.mkdtemp(prefix="githeal-ship-"))
    path.chmod(0o755)
    yield path
    _chmod_tree(path, writable=True)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def source_tree(shared_tmp: Path) -> Path:
    src = shared_tmp / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(ROOT / name, src / name)
    return src


@pytest.fixture(scope="session")
def wheel(shared_tmp: Path, source_tree: Path) -> Path:
    dist = shared_tmp / "dist"
    build = shared_tmp / "build"
    shutil.copytree(source_tree, build)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(dist), str(build)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    shutil.rmtree(build)
    _chmod_tree(source_tree, writable=False)  # from here on the source tree is read-only
    (found,) = dist.glob("githeal-*.whl")
    return found
