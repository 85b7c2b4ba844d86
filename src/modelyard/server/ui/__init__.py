"""The web UI: server-rendered pages (Jinja2) with plotly.js charts, served by the same app.

``register(app)`` adds the pages at ``/`` and ``/ui/...`` (projects and runs, datasets, models),
the UI's JSON and download routes under ``/ui/api/...``, plotly.js under ``/ui/vendor/`` and the
UI's own CSS/JS under ``/ui/static/``. Nothing is fetched from outside the server. See ``docs/ui.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from modelyard.core.errors import ModelyardError
from modelyard.server.errors import status_for
from modelyard.server.ui import (
    catalog_data,
    data,
    datasets_pages,
    deployments_pages,
    features_pages,
    models_pages,
    monitoring_pages,
    pages,
)
from modelyard.server.ui._common import LOGIN_PATH, STATIC_DIR, LoginRequired, build_environment, render, url_with

__all__ = ["register"]


def register(app: FastAPI) -> None:
    """Mount the UI on ``app`` (called by the app factory with the other registrars)."""
    env = build_environment()
    env.globals["plotly_url"] = f"/ui/vendor/plotly-{data.plotly_version()}.min.js"

    class HtmlErrorRoute(APIRoute):
        """Pages answer errors with an HTML page (a 404 page, a redirect to login), not JSON."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                try:
                    return await handler(request)
                except LoginRequired as exc:
                    return RedirectResponse(url_with(LOGIN_PATH, {"next": exc.next_url}), status_code=303)
                except ModelyardError as exc:
                    status = status_for(exc)
                    return render(env, request, "error.html", status_code=status, status=status, message=str(exc))
                except RequestValidationError as exc:
                    problems = "; ".join(
                        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()
                    )
                    return render(
                        env, request, "error.html", status_code=400, status=400, message=f"invalid request: {problems}"
                    )
                except HTTPException as exc:
                    if exc.status_code >= 500:
                        raise
                    return render(
                        env,
                        request,
                        "error.html",
                        status_code=exc.status_code,
                        status=exc.status_code,
                        message=str(exc.detail),
                    )

            return guarded

    app.include_router(pages.build_router(env, route_class=HtmlErrorRoute))
    app.include_router(datasets_pages.build_router(env, route_class=HtmlErrorRoute))
    app.include_router(models_pages.build_router(env, route_class=HtmlErrorRoute))
    app.include_router(deployments_pages.build_router(env, route_class=HtmlErrorRoute))
    app.include_router(features_pages.build_router(env, route_class=HtmlErrorRoute))
    app.include_router(monitoring_pages.build_router(env, route_class=HtmlErrorRoute))
    app.include_router(data.build_router())
    app.include_router(catalog_data.build_router())
    app.mount("/ui/static", StaticFiles(directory=str(STATIC_DIR)), name="ui-static")
