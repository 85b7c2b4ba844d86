"""REST API v1 routers, one module per subsystem, each exposing ``register(app)``."""

from __future__ import annotations

from typing import Any


def all_registrars() -> list[Any]:
    """Every router module's ``register``; the one place they are named (order = docs order)."""
    from modelyard.server import ui
    from modelyard.server.routers import (
        artifacts,
        datasets,
        deployments,
        features,
        models,
        monitoring,
        projects,
        runs,
    )

    return [
        # First: FastAPI tries routes in order (about a hundred), and the online feature read
        # is the one route whose latency is a target (POST /api/v1/features/online).
        features.register_serving,
        projects.register,
        runs.register,
        artifacts.register,
        models.register,
        datasets.register,
        deployments.register,
        features.register,
        monitoring.register,
        ui.register,
    ]
