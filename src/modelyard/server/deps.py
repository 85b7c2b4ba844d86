"""Request dependencies: the services, who is asking, and the two hooks every route calls.

With auth off every request acts as the anonymous admin (the embedded, single-user default).
With auth on, ``current_principal`` asks the authenticator on ``app.state`` (installed by the auth
module) to resolve a bearer token or a session cookie.

Every route calls ``authorize`` before it touches a project's data (reads need "viewer", writes
"editor", store maintenance "admin") and ``audit`` after a write succeeded. Both do nothing unless
the auth module installed its objects on ``app.state``; what they must provide is written down as
the ``Authenticator`` and ``Auditor`` protocols below, so the routers never import the auth module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import Request

from modelyard.server.app import Services

ROLES = ("viewer", "editor", "maintainer", "admin")


@dataclass(frozen=True)
class Principal:
    user: str
    is_admin: bool = False
    anonymous: bool = False


ANONYMOUS_ADMIN = Principal(user="anonymous", is_admin=True, anonymous=True)


class Authenticator(Protocol):
    """Installed as ``app.state.authenticator`` when auth is on."""

    def authenticate(self, request: Request) -> Principal:
        """Who is asking; raise PermissionDenied (or an HTTP 401) when nobody valid is."""

    def authorize(self, principal: Principal, project_id: str | None, role: str) -> None:
        """Raise PermissionDenied unless ``principal`` holds ``role`` (or better) in the project;
        ``project_id`` is None for operations on no single project (listing, store checks)."""


class Auditor(Protocol):
    """Installed as ``app.state.auditor`` when the audit trail is on."""

    def record(
        self,
        *,
        actor: str,
        action: str,
        object_type: str,
        object_id: str | None,
        details: dict[str, Any],
        remote_addr: str | None,
    ) -> None:
        """Append one entry to the audit log."""


async def get_services(request: Request) -> Services:
    """Async (it only reads ``app.state``): FastAPI runs a plain ``def`` dependency in its
    threadpool, which cost every request a hop to a worker thread and back."""
    services: Services = request.app.state.services
    return services


def current_principal(request: Request) -> Principal:
    authenticator: Any = request.app.state.authenticator
    if authenticator is None:
        return ANONYMOUS_ADMIN
    principal: Principal = authenticator.authenticate(request)
    return principal


def auth_enabled(request: Request) -> bool:
    """Whether authorization checks run (callers skip lookups that only serve them)."""
    return request.app.state.authenticator is not None


def authorize(request: Request, principal: Principal, project_id: str | None, role: str) -> None:
    """Refuse (PermissionDenied) what ``principal``'s role in the project does not allow."""
    authenticator: Any = request.app.state.authenticator
    if authenticator is None:
        return
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    authenticator.authorize(principal, project_id, role)


def audit(
    request: Request,
    principal: Principal,
    action: str,
    object_type: str,
    object_id: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append a write to the audit trail, with the caller's address."""
    auditor: Any = request.app.state.auditor
    if auditor is None:
        return
    client = request.client
    auditor.record(
        actor=principal.user,
        action=action,
        object_type=object_type,
        object_id=object_id,
        details=details or {},
        remote_addr=client.host if client else None,
    )
