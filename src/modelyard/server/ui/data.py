"""What the pages load besides HTML: chart data as JSON, artifact bytes, and plotly.js.

plotly.js is served from the installed ``plotly`` package (its ``package_data/plotly.min.js``),
so the repository carries no third-party JavaScript and the UI makes no request off the server.
The URL carries plotly's version, so the file can be cached for a year; a gzip copy is made once
per app on first request (4.8 MB -> 1.5 MB) and sent to browsers that accept it.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import importlib.resources
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.server.app import Services
from modelyard.server.deps import Principal, get_services
from modelyard.server.ui import charts, previews
from modelyard.server.ui._common import can_read, data_principal
from modelyard.server.ui.downsample import DEFAULT_MAX_POINTS

MAX_POINTS_LIMIT = 20_000
_CHUNK = 1024 * 1024
#: An artifact is user content: whatever its type, it may not run script in the UI's origin.
_ARTIFACT_CSP = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"


def plotly_version() -> str:
    return importlib.metadata.version("plotly")


def plotly_bundle_bytes() -> bytes:
    resource = importlib.resources.files("plotly").joinpath("package_data", "plotly.min.js")
    return resource.read_bytes()


class _PlotlyBundle:
    """The minified plotly.js of the installed package, read and compressed on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._raw: bytes | None = None
        self._gzipped: bytes | None = None

    def get(self, want_gzip: bool) -> bytes:
        with self._lock:
            if self._raw is None:
                self._raw = plotly_bundle_bytes()
                self._gzipped = gzip.compress(self._raw, compresslevel=6, mtime=0)
            assert self._gzipped is not None
            return self._gzipped if want_gzip else self._raw


def _check_max_points(max_points: int) -> int:
    if not 10 <= max_points <= MAX_POINTS_LIMIT:
        raise InvalidArgument(f"max_points must be between 10 and {MAX_POINTS_LIMIT}, not {max_points}")
    return max_points


def _check_x_axis(x: str) -> charts.XAxis:
    if x not in ("step", "time", "relative"):
        raise InvalidArgument(f"x must be step, time or relative, not {x!r}")
    return x  # type: ignore[return-value]


def build_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    bundle = _PlotlyBundle()
    version = plotly_version()

    @router.get("/ui/vendor/plotly-{requested}.min.js")
    def plotly_js(request: Request, requested: str) -> Response:
        if requested != version:
            raise NotFound(f"plotly.js {requested} is not installed (this server has {version})")
        want_gzip = "gzip" in request.headers.get("accept-encoding", "").lower()
        headers = {"Cache-Control": "public, max-age=31536000, immutable", "Vary": "Accept-Encoding"}
        if want_gzip:
            headers["Content-Encoding"] = "gzip"
        return Response(bundle.get(want_gzip), media_type="text/javascript; charset=utf-8", headers=headers)

    @router.get("/ui/api/runs/{run_id}/metric")
    def metric_series(
        request: Request,
        run_id: str,
        key: str,
        x: str = "step",
        max_points: int = DEFAULT_MAX_POINTS,
        principal: Principal = Depends(data_principal),
        services: Services = Depends(get_services),
    ) -> JSONResponse:
        """One metric of one run, downsampled to at most ``max_points`` points."""
        can_read(request, principal, services.tracking.get_run(run_id).project_id)
        history = services.tracking.get_metric_history(run_id, key)
        if not history:
            raise NotFound(f"metric {key!r} not found in run {run_id!r}")
        body = charts.series_json(history, x_axis=_check_x_axis(x), max_points=_check_max_points(max_points))
        body.update(run_id=run_id, key=key)
        return JSONResponse(body)

    @router.get("/ui/api/compare/metric")
    def compare_series(
        request: Request,
        key: str,
        runs: list[str] = Query(default=[]),
        x: str = "step",
        max_points: int = DEFAULT_MAX_POINTS,
        principal: Principal = Depends(data_principal),
        services: Services = Depends(get_services),
    ) -> JSONResponse:
        """One metric of several runs (each downsampled), for an overlaid chart."""
        ids = list(dict.fromkeys(runs))
        if not 1 <= len(ids) <= charts.MAX_COMPARE_RUNS:
            raise InvalidArgument(f"give between 1 and {charts.MAX_COMPARE_RUNS} runs, not {len(ids)}")
        axis, limit = _check_x_axis(x), _check_max_points(max_points)
        series: list[dict[str, Any]] = []
        for index, run_id in enumerate(ids):
            run = services.tracking.get_run(run_id)
            can_read(request, principal, run.project_id)
            history = services.tracking.get_metric_history(run_id, key) if key in run.metrics else []
            if history:
                item = charts.series_json(history, x_axis=axis, max_points=limit)
                item.update(run_id=run.id, name=run.name or run.id, index=index)  # index: the run's colour
                series.append(item)
        return JSONResponse({"key": key, "series": series})

    @router.get("/ui/api/runs/{run_id}/artifact")
    def artifact_raw(
        request: Request,
        run_id: str,
        path: str,
        download: bool = False,
        principal: Principal = Depends(data_principal),
        services: Services = Depends(get_services),
    ) -> Response:
        """An artifact's bytes with a content type from its name (images show inline)."""
        can_read(request, principal, services.tracking.get_run(run_id).project_id)
        entries = [e for e in services.tracking.list_artifacts(run_id) if e.path == path]
        if not entries:
            raise NotFound(f"artifact {path!r} not found in run {run_id!r}")
        entry = entries[0]
        stream = services.artifacts.open(entry.digest)

        def chunks() -> Iterator[bytes]:
            with stream:
                while chunk := stream.read(_CHUNK):
                    yield chunk

        name = path.rsplit("/", 1)[-1]
        ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
        disposition = "attachment" if download else "inline"
        headers = {
            "Content-Length": str(entry.size),
            "Content-Disposition": f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}",
            "Content-Security-Policy": _ARTIFACT_CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
            "ETag": f'"{entry.digest}"',
        }
        return StreamingResponse(chunks(), media_type=previews.content_type(path), headers=headers)

    return router
