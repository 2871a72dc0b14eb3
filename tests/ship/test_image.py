"""The container image as shipped (issue 11 §2), without a Docker engine: the Dockerfile's shape is
checked, and its install step (deploy/image/install.sh: the wheel plus the hashed lock file into a
fresh venv) runs as the image's uid 10001, then ``githeal --version`` and ``githeal validate`` run
as that user beside a read-only source tree."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from shipdefs import DEPLOY, ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
LOCK = ROOT / "requirements" / "githeal.lock"
DEVLOCK = ROOT / "requirements" / "dev.lock"
UID = 10001
SETPRIV = shutil.which("setpriv")


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-").replace(".", "-")


def pins(lock: Path) -> dict[str, str]:
    return {
        _name(m.group(1)): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+) \\$", lock.read_text(), re.MULTILINE)
    }


def test_dockerfile_pins_base_by_digest_and_runs_as_shipped() -> None:
    arg = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert arg and re.fullmatch(r"python:3\.11[\w.-]*@sha256:[0-9a-f]{64}", arg.group(1))
    assert re.findall(r"^FROM (\S+)", DOCKERFILE, re.MULTILINE) == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    assert "COPY requirements/githeal.lock deploy/image/install.sh /tmp/install/" in DOCKERFILE
    assert "RUN sh /tmp/install/install.sh /opt/githeal /tmp/install/githeal.lock" in DOCKERFILE
    assert 'VOLUME ["/var/lib/githeal"]' in DOCKERFILE
    assert "USER 10001:10001" in DOCKERFILE
    assert 'ENTRYPOINT ["/usr/bin/tini", "--", "githeal"]' in DOCKERFILE  # PID 1 forwards SIGTERM, reaps
    assert 'CMD ["run", "--config", "/etc/githeal/config.yaml"]' in DOCKERFILE
    assert "GITHEAL_TEMPLATES" not in DOCKERFILE  # read by nothing; templates: in the config instead
    assert "COPY config" not in DOCKERFILE  # the config comes from the ConfigMap mount


def test_lock_files_pin_every_dependency_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock, dev = pins(LOCK), pins(DEVLOCK)
    wanted = {_name(r) for r in project["dependencies"]}
    assert wanted <= set(lock), f"run make lock: {sorted(wanted - set(lock))} missing in {LOCK.name}"
    extras = {_name(r) for extra in ("test", "sandbox") for r in project["optional-dependencies"][extra]}
    assert wanted | extras <= set(dev), f"run make lock: {sorted((wanted | extras) - set(dev))} missing"
    assert {k: v for k, v in dev.items() if k in lock} == lock  # one version of each package
    for path in (LOCK, DEVLOCK):
        blocks = re.split(r"\n(?=\S)", path.read_text())
        assert all("--hash=sha256:" in b for b in blocks if "==" in b), path
    assert "pytest" not in lock and "pyjwt" not in wanted  # the product lock has no test or sandbox tools


def as_image_user(cmd: list[str], cwd: Path, home: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    assert SETPRIV is not None
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env |= {
        k: v for k, v in os.environ.items() if k.startswith(("PIP_", "HTTP", "http", "NO_PROXY", "no_proxy"))
    }
    setpriv = [SETPRIV, f"--reuid={UID}", f"--regid={UID}", "--clear-groups"]
    return subprocess.run(
        [*setpriv, *cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.slow
@pytest.mark.skipif(SETPRIV is None, reason="setpriv (util-linux) is needed to run as the image's uid")
@pytest.mark.skipif(os.geteuid() != 0, reason="switching to uid 10001 needs root")
def test_image_install_steps_as_uid_10001(shared_tmp: Path, source_tree: Path, wheel: Path) -> None:
    stage = shared_tmp / "image"
    stage.mkdir()
    for src in (LOCK, DEPLOY / "image" / "install.sh", wheel, DEPLOY / "base" / "config.yaml"):
        shutil.copy(src, stage / src.name)
    data = shared_tmp / "var-lib-githeal"  # the image's writable volume, owned by the image user
    data.mkdir()
    os.chown(data, UID, UID)
    install = as_image_user(
        [
            "sh",
            str(stage / "install.sh"),
            str(data / "venv"),
            str(stage / LOCK.name),
            str(stage / wheel.name),
        ],
        cwd=data,
        home=data,
        timeout=600,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    assert "No broken requirements found" in install.stdout
    githeal = str(data / "venv" / "bin" / "githeal")
    for path in (source_tree, source_tree / "bot" / "cli.py", stage):  # read-only for the image user
        assert as_image_user(["test", "-w", str(path)], cwd=data, home=data, timeout=10).returncode == 1
    version = as_image_user([githeal, "--version"], cwd=source_tree, home=data, timeout=60)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("githeal 0.")
    secrets = {
        "GITHEAL_ARGOCD_TOKEN": "x",
        "GITHEAL_GIT_TOKEN": "x",
        "GITHEAL_GITHUB_TOKEN": "x",
        "GITHEAL_ALERTMANAGER_TOKEN": "x",
        "GITHEAL_GITHUB_WEBHOOK_SECRET": "x",
    }
    validate = as_image_user(
        ["env", *(f"{k}={v}" for k, v in secrets.items()), githeal, "validate", str(stage / "config.yaml")],
        cwd=source_tree,  # read-only: nothing may be written next to the sources or the config
        home=data,
        timeout=60,
    )
    assert validate.returncode == 0, validate.stderr
    assert "OK: 1 app" in validate.stdout and "secrets: all resolved" in validate.stdout
    written = [p for p in source_tree.rglob("*") if p.name in ("__pycache__", ".work") or p.suffix == ".pyc"]
    assert written == []
