"""Fixtures for the GitHub emulator and client tests: a real bare repo, the emulator on port 0, PyGithub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import github
import pytest
from ghkit import BOT, REPO, TOKEN, Workspace, make_github

from bot.sandbox.github import server


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


@pytest.fixture
def emulator(workspace: Workspace) -> Iterator[server.GitHubEmulator]:
    with server.GitHubEmulator({REPO: workspace.bare}, tokens={TOKEN: BOT}) as emu:
        yield emu


@pytest.fixture
def gh(emulator: server.GitHubEmulator) -> Iterator[github.Github]:
    client = make_github(emulator.api_url)
    yield client
    client.close()
