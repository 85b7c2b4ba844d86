"""REST API v1 routers, one module per subsystem, each exposing ``register(app)``."""

from __future__ import annotations

from typing import Any


def all_registrars() -> list[Any]:
    return []
