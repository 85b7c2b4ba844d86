"""What every UI route shares: the Jinja2 environment and its filters, the login gate, and
JSON-safe conversion. Nothing here holds state; the environment is built once per app."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from modelyard._version import __version__
from modelyard.core.errors import ModelyardError, PermissionDenied
from modelyard.server.deps import ANONYMOUS_ADMIN, Principal, authorize, current_principal

UI_DIR = Path(__file__).parent
TEMPLATES_DIR = UI_DIR / "templates"
STATIC_DIR = UI_DIR / "static"
LOGIN_PATH = "/ui/login"
SYSTEM_TAG_PREFIX = "modelyard."


class LoginRequired(Exception):
    """Raised by a page dependency when auth is on and nobody is logged in: the UI's exception
    handler turns it into a redirect to the login page (JSON routes get a 401 instead)."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def _authenticate(request: Request) -> Principal | None:
    """The principal, or None when auth is on and the request carries no valid credentials."""
    if request.app.state.authenticator is None:
        return ANONYMOUS_ADMIN
    try:
        principal = current_principal(request)
    except HTTPException as exc:
        if exc.status_code in (401, 403):
            return None
        raise
    except ModelyardError:
        return None
    if principal is None or principal.anonymous:
        return None
    return principal


def page_principal(request: Request) -> Principal:
    """Dependency of HTML pages: with auth on, an anonymous visitor is sent to the login page."""
    principal = _authenticate(request)
    if principal is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return principal


def data_principal(request: Request) -> Principal:
    """Dependency of the UI's JSON and download routes: 401 rather than a redirect."""
    principal = _authenticate(request)
    if principal is None:
        raise HTTPException(401, "login required")
    return principal


def can_read(request: Request, principal: Principal, project_id: str) -> None:
    """PermissionDenied unless ``principal`` may read the project (viewer or better); with auth
    off, everything is readable."""
    authorize(request, principal, project_id, "viewer")


def visible_project_ids(request: Request, principal: Principal) -> set[str] | None:
    """The projects a listing may show (None: all), as the authenticator decides."""
    authenticator: Any = request.app.state.authenticator
    if authenticator is None:
        return None
    result: set[str] | None = authenticator.visible_project_ids(principal)
    return result


def read_somewhere(request: Request, principal: Principal) -> None:
    """For what belongs to no project (deployments, feature definitions): reading needs a role
    on at least one project, as their API."""
    visible = visible_project_ids(request, principal)
    if visible is None:
        authorize(request, principal, None, "viewer")
        return
    if not visible:
        raise PermissionDenied(f"user {principal.user!r} has no role on any project")


# --- formatting --------------------------------------------------------------------------------


def fmt_time(ms: int | None) -> str:
    if ms is None:
        return "—"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(start: int | None, end: int | None) -> str:
    if start is None or end is None:
        return "—"
    seconds = max(0.0, (end - start) / 1000)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def fmt_value(value: Any) -> str:
    """Metric values: 4 significant digits is what a table needs; the run page shows more."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value == 0 or 1e-4 <= abs(value) < 1e6:
            return f"{value:.4g}"
        return f"{value:.3e}"
    return str(value)


def fmt_size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover


def url_with(path: str, params: list[tuple[str, str]] | dict[str, Any]) -> str:
    items = list(params.items()) if isinstance(params, dict) else params
    query = urlencode([(k, v) for k, v in items if v is not None], doseq=True)
    return f"{path}?{query}" if query else path


def json_safe(value: Any) -> Any:
    """NaN and ±inf are not JSON: send null (the charts count and report them separately)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def build_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        time=fmt_time,
        value=fmt_value,
        size=fmt_size,
        urlpart=lambda s: quote(str(s), safe=""),
    )
    env.globals.update(duration=fmt_duration, version=__version__, url_with=url_with, login_path=LOGIN_PATH)
    return env


def render(
    env: jinja2.Environment, request: Request, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    auth_on = request.app.state.authenticator is not None
    principal = context.pop("principal", None)
    html = env.get_template(template).render(request=request, auth_on=auth_on, principal=principal, **context)
    return HTMLResponse(html, status_code=status_code)
