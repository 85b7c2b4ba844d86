"""Authentication, authorization and the audit trail at the HTTP edge (on with ``--auth``).

``install_auth(app)`` puts two objects on ``app.state`` that the route hooks in ``deps.py`` call:

- ``authenticator``: ``authenticate(request) -> Principal`` (a bearer API token, or a login
  session cookie) and ``authorize(principal, project_id, role)``;
- ``auditor``: ``record(actor, action, object_type, object_id, details, remote_addr)``.

It also adds a guard in front of every ``/api/`` route (so a route that forgot its dependency is
still closed to anonymous callers), the login/logout/whoami and self-service token routes, and
the admin-only audit routes.

Browser sessions and CSRF: login sets an HttpOnly, SameSite=Lax session cookie and a readable
CSRF cookie. A cookie-authenticated request that changes something (any method but GET, HEAD,
OPTIONS) must repeat the CSRF cookie's value in the ``X-CSRF-Token`` header, and that value must
be the one issued with this very session (its digest is stored with the session row), so a cookie
planted by a sibling site is useless too. Requests with a bearer token carry no ambient
credential a third-party page could borrow, so they need no CSRF token.

Everything here is stateless: sessions, tokens and roles live in the metadata store, so any
number of server replicas behave as one.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from modelyard.auth.audit import AuditLog
from modelyard.auth.service import AuthService
from modelyard.auth.throttle import LoginPolicy, LoginThrottle
from modelyard.auth.timeparse import parse_time_ms
from modelyard.core.auth import AuditQuery
from modelyard.core.errors import (
    InvalidArgument,
    LoginThrottled,
    ModelyardError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from modelyard.core.validation import INT64_MAX, bounded_int
from modelyard.server.deps import Principal, current_principal
from modelyard.server.errors import domain_error_body, error_body, status_for

SESSION_COOKIE = "modelyard_session"
CSRF_COOKIE = "modelyard_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_PATH = "/api/v1/auth/login"
#: /api/ paths reachable without credentials.
PUBLIC_PATHS = frozenset({LOGIN_PATH, "/api/v1/openapi.json", "/api/v1/docs", "/api/v1/docs/oauth2-redirect"})
_STATE_PRINCIPAL = "modelyard_principal"
_STATE_VIA = "modelyard_auth_via"


def _unauthenticated(message: str) -> HTTPException:
    return HTTPException(401, detail=message, headers={"WWW-Authenticate": 'Bearer realm="modelyard"'})


class Authenticator:
    """Resolves who is asking and what they may do, from the metadata store on every request."""

    def __init__(self, service: AuthService) -> None:
        self.service = service

    def authenticate(self, request: Request) -> Principal:
        """The principal behind a bearer token or a session cookie; HTTP 401 for missing,
        malformed, unknown, expired or revoked credentials, 403 for a cookie write without the
        session's CSRF token. Cached on the request, so the guard and the routes check once."""
        cached = getattr(request.state, _STATE_PRINCIPAL, None)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        header = request.headers.get("authorization")
        try:
            if header is not None:
                scheme, _, token = header.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    raise _unauthenticated("the Authorization header must be 'Bearer <API token>'")
                user = self.service.authenticate_token(token.strip())
                via = "token"
            else:
                session_token = request.cookies.get(SESSION_COOKIE)
                if not session_token:
                    raise _unauthenticated(
                        "authentication required: send 'Authorization: Bearer <API token>' or log in"
                    )
                session = self.service.session(session_token)
                if request.method not in SAFE_METHODS:
                    sent = request.headers.get(CSRF_HEADER)
                    if (
                        not sent
                        or sent != request.cookies.get(CSRF_COOKIE)
                        or not self.service.csrf_matches(session, sent)
                    ):
                        raise HTTPException(
                            403, detail=f"CSRF check failed: send the {CSRF_COOKIE} cookie's value in {CSRF_HEADER}"
                        )
                user = session.user
                via = "session"
        except Unauthenticated as exc:
            raise _unauthenticated(str(exc)) from None
        principal = Principal(user=user.username, is_admin=user.is_admin)
        setattr(request.state, _STATE_PRINCIPAL, principal)
        setattr(request.state, _STATE_VIA, via)
        return principal

    def authorize(self, principal: Principal, project_id: str | None, role: str) -> None:
        """PermissionDenied (403) unless ``principal`` holds ``role`` or better on the project;
        ``project_id`` None means an operation on no single project (see AuthService)."""
        if principal.anonymous:
            raise _unauthenticated("authentication required")
        self.service.require_role(principal.user, project_id, role, is_admin=principal.is_admin)

    def visible_project_ids(self, principal: Principal) -> set[str] | None:
        """Projects ``principal`` may read, to filter listings; None means every project."""
        if principal.is_admin:
            return None
        return self.service.visible_project_ids(self.service.get_user(principal.user))


class Auditor:
    """Appends writes to the hash-chained audit log."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log

    def record(
        self,
        actor: Principal | str,
        action: str,
        object_type: str,
        object_id: str | None = None,
        details: dict[str, Any] | None = None,
        remote_addr: str | None = None,
    ) -> None:
        """``actor`` is the principal or its user name. Errors propagate: a write whose audit
        entry could not be stored is reported as failed rather than silently unaudited."""
        name = actor.user if isinstance(actor, Principal) else actor
        self.log.record(name, action, object_type, object_id, details or {}, remote_addr)


class _AuthGuard:
    """Pure ASGI middleware (it never touches the body, so streamed uploads stay streamed):
    every ``/api/`` request outside PUBLIC_PATHS must authenticate before routing."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith("/api/") and path not in PUBLIC_PATHS:
            try:
                await run_in_threadpool(self.authenticator.authenticate, Request(scope))
            except HTTPException as exc:
                code = "UNAUTHENTICATED" if exc.status_code == 401 else "PERMISSION_DENIED"
                response = JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)
                await response(scope, receive, send)
                return
            except ModelyardError as exc:
                await JSONResponse(domain_error_body(exc), status_for(exc))(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install_auth(app: FastAPI) -> None:
    """Turn authentication, roles and the audit trail on for ``app`` (built by ``create_app``).
    Options come from ``ServerConfig.extra``: ``session_ttl_seconds`` (default 12 h) and
    ``secure_cookies`` (default: only when the request came over https). The login backoff
    follows ``ServerConfig.login_free_failures`` and ``login_max_backoff_seconds``."""
    if app.state.authenticator is not None:
        return  # already installed (create_app does it when config.auth is on)
    services = app.state.services
    store = services.stores.auth
    extra = services.config.extra
    ttl_ms = int(extra.get("session_ttl_seconds", 12 * 3600)) * 1000
    service = AuthService(store, session_ttl_ms=ttl_ms)
    authenticator = Authenticator(service)
    auditor = Auditor(AuditLog(store))
    app.state.authenticator = authenticator
    app.state.auditor = auditor
    config = services.config
    policy = LoginPolicy(
        free_failures=config.login_free_failures,
        max_backoff_ms=config.login_max_backoff_seconds * 1000,
    )
    throttle = LoginThrottle(store, policy)
    app.state.login_throttle = throttle
    app.add_middleware(_AuthGuard, authenticator=authenticator)
    app.include_router(_auth_router(service, auditor, extra.get("secure_cookies"), throttle))


# --- routes ----------------------------------------------------------------------------------


class NewTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=256)
    expires_in_days: float | None = Field(default=None, gt=0, le=3650, description="None: the token never expires.")


def _remote(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _login_fields(request: Request) -> tuple[dict[str, str], bool]:
    """Username, password and ``next`` from a JSON body or an HTML form, without a form library."""
    body = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in form.items() if v}, True
    try:
        data = json.loads(body or b"null")
    except ValueError:
        raise InvalidArgument('the login body must be JSON {"username": ..., "password": ...} or a form') from None
    if not isinstance(data, dict):
        raise InvalidArgument("the login body must be a JSON object with username and password")
    return {k: v for k, v in data.items() if isinstance(v, str)}, False


def _safe_next(target: str | None) -> str:
    """Only a same-site path: never an open redirect to another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _same_site_origin(request: Request) -> bool:
    """Refuse login CSRF (a page elsewhere logging the browser into the attacker's account): a
    browser's Origin, when sent, must name this server, as the client or a proxy in front saw it."""
    origin = request.headers.get("origin")
    if not origin:
        return True
    hosts = {request.headers.get("host"), *request.headers.get("x-forwarded-host", "").split(",")}
    return urlsplit(origin).netloc in {h.strip() for h in hosts if h}


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise PermissionDenied(f"user {principal.user!r} is not an administrator")


def _auth_router(
    service: AuthService, auditor: Auditor, secure_cookies: bool | None, throttle: LoginThrottle
) -> APIRouter:
    from fastapi import Depends

    router = APIRouter(prefix="/api/v1", tags=["auth"])
    who = Depends(current_principal)

    def _login_failed(username: str, address: str | None, is_form: bool) -> None:
        """Count the failure for the backoff and audit it (the name tried, never the password)."""
        throttle.failed(username, address)
        details = {"via": "form" if is_form else "json"}
        auditor.record("anonymous", "auth.login_failed", "user", username[:256] or None, details, address)

    @router.post(
        "/auth/login",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    media: {
                        "schema": {
                            "type": "object",
                            "required": ["username", "password"],
                            "properties": {
                                "username": {"type": "string"},
                                "password": {"type": "string"},
                                "next": {"type": "string"},
                            },
                        }
                    }
                    for media in ("application/json", "application/x-www-form-urlencoded")
                },
            }
        },
    )
    async def login(request: Request) -> Response:
        """Open a browser session: sets the session cookie (HttpOnly) and the CSRF cookie. A form
        post is redirected (303) to ``next`` on success, to ``/login?error=invalid`` on failure."""
        fields, is_form = await _login_fields(request)
        if not _same_site_origin(request):
            raise PermissionDenied("login from another site's page is refused")
        username, password = fields.get("username", ""), fields.get("password", "")
        address = _remote(request)
        try:
            # Before the password is checked: a throttled attempt costs no hash and no failure.
            await run_in_threadpool(throttle.check, username, address)
        except LoginThrottled as exc:
            headers = {"Retry-After": str(exc.retry_after_seconds)}
            return JSONResponse(domain_error_body(exc), status_code=status_for(exc), headers=headers)
        try:
            session = await run_in_threadpool(service.login, username, password)
        except Unauthenticated as exc:
            await run_in_threadpool(_login_failed, username, address, is_form)
            if is_form:
                target = quote(_safe_next(fields.get("next")), safe="")
                return RedirectResponse(f"/login?error=invalid&next={target}", 303)
            raise _unauthenticated(str(exc)) from None
        await run_in_threadpool(throttle.succeeded, username)
        await run_in_threadpool(
            auditor.record,
            session.user.username,
            "auth.login",
            "user",
            session.user.username,
            {"via": "password"},
            _remote(request),
        )
        body = {
            "user": session.user.username,
            "is_admin": session.user.is_admin,
            "csrf_token": session.csrf_token,
            "expires_at": session.expires_at,
        }
        response: Response = RedirectResponse(_safe_next(fields.get("next")), 303) if is_form else JSONResponse(body)
        secure = request.url.scheme == "https" if secure_cookies is None else bool(secure_cookies)
        max_age = max(1, (session.expires_at - service.clock()) // 1000)
        response.set_cookie(
            SESSION_COOKIE,
            session.session_token,
            max_age=max_age,
            httponly=True,
            samesite="lax",
            secure=secure,
            path="/",
        )
        response.set_cookie(
            CSRF_COOKIE, session.csrf_token, max_age=max_age, httponly=False, samesite="lax", secure=secure, path="/"
        )
        return response

    @router.post("/auth/logout")
    def logout(request: Request, principal: Principal = who) -> JSONResponse:
        """End the browser session (a cookie-authenticated write: it needs the CSRF header)."""
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            service.logout(token)
            auditor.record(principal, "auth.logout", "user", principal.user, {}, _remote(request))
        response = JSONResponse({"logged_out": bool(token)})
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/")
        return response

    @router.get("/auth/whoami")
    def whoami(request: Request, principal: Principal = who) -> dict[str, Any]:
        """Who the credentials belong to, and how they were presented (token or session)."""
        return {"user": principal.user, "is_admin": principal.is_admin, "via": getattr(request.state, _STATE_VIA, None)}

    @router.get("/auth/tokens")
    def list_tokens(principal: Principal = who) -> dict[str, Any]:
        """The caller's own API tokens (never the secrets: only their ids are kept)."""
        return {"tokens": [t.model_dump(mode="json") for t in service.list_tokens(principal.user)]}

    @router.post("/auth/tokens", status_code=201)
    def create_token(
        request: Request, body: NewTokenRequest | None = None, principal: Principal = who
    ) -> dict[str, Any]:
        """A new API token for the caller (for the SDK and CLI); the secret is returned once."""
        body = body or NewTokenRequest()
        days = body.expires_in_days
        expires_ms = None if days is None else int(days * 86_400_000)
        secret, token = service.create_token(principal.user, name=body.name, expires_in_ms=expires_ms)
        details = {"name": body.name, "expires_at": token.expires_at}
        auditor.record(principal, "token.create", "token", token.id, details, _remote(request))
        return {"token": secret, **token.model_dump(mode="json")}

    @router.delete("/auth/tokens/{token_id}")
    def revoke_token(token_id: str, request: Request, principal: Principal = who) -> dict[str, Any]:
        """Revoke one of the caller's tokens (an administrator may revoke anyone's)."""
        owned = {t.id for t in service.list_tokens(principal.user)}
        if token_id not in owned and not principal.is_admin:
            # The same answer as for an id that does not exist: whether someone else's token
            # has this id is none of the caller's business.
            raise NotFound(f"token {token_id!r} not found")
        token = service.revoke_token(token_id)
        auditor.record(principal, "token.revoke", "token", token.id, {"owner": token.username}, _remote(request))
        return token.model_dump(mode="json")

    @router.get("/audit", tags=["audit"])
    def list_audit(
        principal: Principal = who,
        user: str | None = Query(None, description="Only entries by this user."),
        object_type: str | None = Query(None),
        object_id: str | None = Query(None),
        action: str | None = Query(None),
        since: str | None = Query(None, description="Epoch ms or ISO-8601, inclusive."),
        until: str | None = Query(None, description="Epoch ms or ISO-8601, exclusive."),
        limit: int = Query(100, ge=1, le=1000),
        page_token: str | None = Query(None, description="next_page_token of the previous page."),
    ) -> dict[str, Any]:
        """Audit entries, newest first (administrators only)."""
        _require_admin(principal)
        before_seq = bounded_int(page_token, "page_token", low=1, high=INT64_MAX) if page_token else None
        query = AuditQuery(
            actor=user,
            object_type=object_type,
            object_id=object_id,
            action=action,
            since=parse_time_ms(since, "since"),
            until=parse_time_ms(until, "until"),
            limit=limit + 1,
            before_seq=before_seq,
        )
        entries = auditor.log.list(query)
        more = len(entries) > limit
        entries = entries[:limit]
        return {
            "entries": [e.model_dump(mode="json") for e in entries],
            "next_page_token": str(entries[-1].seq) if more else None,
        }

    @router.get("/audit/verify", tags=["audit"])
    def verify_audit(principal: Principal = who) -> dict[str, Any]:
        """Walk the hash chain (administrators only)."""
        _require_admin(principal)
        result = auditor.log.verify()
        return {
            "ok": result.ok,
            "checked": result.checked,
            "head_seq": result.head_seq,
            "head_hash": result.head_hash,
            "broken_seq": result.broken_seq,
            "problem": result.problem,
        }

    return router
