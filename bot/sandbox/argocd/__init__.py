"""Argo CD API emulator: ``server.ArgoCDEmulator`` serves Argo CD's REST API over a real socket.

Modules: ``server`` (HTTP, auth, sessions), ``api``/``admin`` (routes), ``patches`` (spec edits),
``controller`` (reconcile, refresh, sync, auto-sync, health), ``state`` (app data), ``reposerver`` (Git),
``render`` (desired state), ``sources`` (multi-source apps), ``workload`` (health model), ``rollouts``
(the Argo Rollouts controller's canary steps and abort), ``rollouthealth`` (Argo CD's Rollout Lua health
check, ported), ``wire`` and ``views`` (Go-JSON bodies).
"""
