"""Start-up cost of the product path (issue 10): importing the CLI loads no library of a system the
command may never talk to. PyGithub (with requests, jwt, cryptography) loads on the first GitHub call,
the HTTP server (uvicorn, starlette) with ``githeal run``. Measured with ``python -X importtime``."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
import bot.cli
heavy = ("jwt", "uvicorn", "starlette", "cryptography", "github.Auth", "github.MainClass", "urllib3")
print(",".join(m for m in heavy if m in sys.modules))
import bot.clients.github as client
print(client.github.GithubException.__name__)  # the deferred module loads on first use
"""


def test_importing_the_cli_defers_pygithub_and_the_http_server() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    loaded, name = done.stdout.splitlines()
    assert loaded == ""
    assert name == "GithubException"
