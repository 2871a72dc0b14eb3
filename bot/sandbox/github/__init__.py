"""GitHub API emulator (REST + the auto-merge GraphQL mutations) over real bare git repositories.

Start it with ``server.GitHubEmulator``; it never talks to the real GitHub.
"""
