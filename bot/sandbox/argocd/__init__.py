"""Argo CD API emulator: ``server.ArgoCDEmulator`` serves Argo CD's REST API over a real socket.

Modules: ``server`` (HTTP, auth), ``api``/``admin`` (routes), ``controller`` (reconcile, sync, auto-sync,
health), ``state`` (app data), ``render`` (Git + desired state), ``workload`` (health model), ``wire``
and ``views`` (Go-JSON bodies).
"""
