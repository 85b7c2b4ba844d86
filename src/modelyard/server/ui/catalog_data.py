"""Downloads of the dataset and model pages: a dataset version's file, a model card (Markdown or
its standalone HTML) and a recorded validation report (HTML, rendered again from its JSON).

Like the run artifact route, these answer JSON errors and 401 rather than HTML pages. The two
HTML documents carry inline script (the figures; plotly.js itself is the server's copy, inlined
only in a download), so they are sent with a CSP ``sandbox allow-scripts``: their scripts run in
an opaque origin and can reach neither the UI's cookies nor its pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.data.validation import records
from modelyard.data.validation.report import render_html
from modelyard.reports.cards import build_card
from modelyard.server.app import Services
from modelyard.server.deps import Principal, get_services
from modelyard.server.ui import previews
from modelyard.server.ui._common import can_read, data_principal
from modelyard.server.ui.catalog import can_read_datasets, dataset_service, registry_service
from modelyard.server.ui.data import plotly_version

_CHUNK = 1024 * 1024
_FILE_CSP = "default-src 'none'; sandbox"
_DOCUMENT_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; sandbox allow-scripts"
)


def _plotly_url() -> str:
    """plotly.js as this server serves it (from the installed package; see ``data``)."""
    return f"/ui/vendor/plotly-{plotly_version()}.min.js"


def _disposition(name: str, attachment: bool) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    kind = "attachment" if attachment else "inline"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _document(body: str | bytes, media_type: str, filename: str, download: bool) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": _disposition(filename, download),
            "Content-Security-Policy": _DOCUMENT_CSP,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-cache",
        },
    )


def build_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/ui/api/datasets/file")
    def dataset_file(
        request: Request,
        name: str,
        version: int,
        path: str,
        principal: Principal = Depends(data_principal),
        services: Services = Depends(get_services),
    ) -> Response:
        """One file of a dataset version, streamed and verified as it is read; always a download."""
        can_read_datasets(request, principal)
        service = dataset_service(services)
        found = service.store.get_dataset_version(name, version)
        entry = service.files(found).get(path)
        if entry is None:
            raise NotFound(f"{found.ref} has no file {path!r}")
        digest, size = entry
        stream = services.artifacts.open(digest)

        def chunks() -> Iterator[bytes]:
            with stream:
                while chunk := stream.read(_CHUNK):
                    yield chunk

        headers = {
            "Content-Length": str(size),
            "Content-Disposition": _disposition(path.rsplit("/", 1)[-1], True),
            "Content-Security-Policy": _FILE_CSP,
            "X-Content-Type-Options": "nosniff",
            "ETag": f'"{digest}"',
        }
        return StreamingResponse(chunks(), media_type=previews.content_type(path), headers=headers)

    @router.get("/ui/api/models/card")
    def model_card(
        request: Request,
        name: str,
        version: int,
        format: str = "md",
        download: bool = False,
        principal: Principal = Depends(data_principal),
        services: Services = Depends(get_services),
    ) -> Response:
        """The card as Markdown (a download by default) or as the registry's standalone HTML."""
        registry = registry_service(services)
        can_read(request, principal, registry.get_model(name).project_id)
        card = build_card(registry, name, version)
        stem = f"{name.replace('/', '_')}-v{version}-card"
        if format == "md":
            return _document(card.to_markdown(), "text/markdown; charset=utf-8", f"{stem}.md", True)
        if format == "html":  # a download is one self-contained file; the view loads the server's plotly.js
            html = card.to_html(plotly_src=None if download else _plotly_url())
            return _document(html, "text/html; charset=utf-8", f"{stem}.html", download)
        raise InvalidArgument(f"format must be md or html, not {format!r}")

    @router.get("/ui/api/validation/report")
    def validation_report(
        request: Request,
        run: str,
        download: bool = False,
        principal: Principal = Depends(data_principal),
        services: Services = Depends(get_services),
    ) -> Response:
        """The HTML report of a recorded validation, rendered from its stored JSON."""
        found = services.stores.tracking.get_run(run)
        can_read(request, principal, found.project_id)
        document = records.load_report_document(services.stores.tracking, services.artifacts, found.id)
        dataset = document.get("dataset", {}).get("ref", "")
        report = records.report_from_document(document)
        html = render_html(
            report,
            title=f"Validation of {dataset} against {report.suite}",
            plotly_src=None if download else _plotly_url(),
        )
        return _document(html, "text/html; charset=utf-8", f"validation-{found.id}.html", download)

    return router
