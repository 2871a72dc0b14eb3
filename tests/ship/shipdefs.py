"""Shared values of the shipping tests: the source tree, a minimal config, tool availability."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
HAVE_PROMETHEUS = shutil.which("prometheus") is not None and shutil.which("promtool") is not None
HAVE_KUBECTL = shutil.which("kubectl") is not None

# The smallest config githeal runs with; the deploy ConfigMap carries the same shape.
MINIMAL = """\
version: 1
prometheus:
  url: {prometheus}
{prometheus_auth}argocd:
  url: https://argocd-server.argocd.svc
  token: {{env: GITHEAL_ARGOCD_TOKEN}}
repos:
  manifests:
    url: https://github.com/acme/manifests.git
    workdir: {workdir}
apps:
  checkout:
    paths: [apps/checkout/]
    slos: [checkout-availability]
slos:
  - name: checkout-availability
    objective: 99.9
    ratio:
      errors: http_requests_total{{code=~"5.."}}
      total: http_requests_total
"""


def minimal(prometheus: str, workdir: Path | str, prometheus_auth: str = "") -> str:
    return MINIMAL.format(prometheus=prometheus, workdir=workdir, prometheus_auth=prometheus_auth)
