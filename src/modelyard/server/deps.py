"""Request dependencies: the services, and who is asking.

With auth off every request acts as the anonymous admin (the embedded, single-user default).
With auth on, ``current_principal`` asks the authenticator on ``app.state`` (installed by the auth
module) to resolve a bearer token or a session cookie, and ``require(role)`` refuses what the
principal's role in the project does not allow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from modelyard.server.app import Services

ROLES = ("viewer", "editor", "maintainer", "admin")


@dataclass(frozen=True)
class Principal:
    user: str
    is_admin: bool = False
    anonymous: bool = False


ANONYMOUS_ADMIN = Principal(user="anonymous", is_admin=True, anonymous=True)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def current_principal(request: Request) -> Principal:
    authenticator: Any = getattr(request.app.state, "authenticator", None)
    if authenticator is None:
        return ANONYMOUS_ADMIN
    principal: Principal = authenticator.authenticate(request)
    return principal
