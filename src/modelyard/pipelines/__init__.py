"""Pipelines: orchestration across the subsystems (git checkouts, subprocesses, steps), starting
with ``reproduce`` (re-run the training of a model version and compare).

It may import any subsystem; no subsystem imports it (an import-linter contract).
"""
