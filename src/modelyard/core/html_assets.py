"""Script assets of the HTML files modelyard writes (model cards, validation reports, the model,
drift and monitoring reports).

A report that embeds plotly.js is one self-contained file (about 4.7 MB, mostly the library); a
folder of them shares one copy instead: ``plotly.min.js`` written beside the reports, which load
it with a relative ``<script src>``. Every report writes its page with ``write_page``: the shared
copy by default, plotly.js inlined when asked to be self-contained (``--self-contained`` on the
command line). The copy is written once, and again only when its bytes differ (another plotly
version), atomically, so concurrent writers and open pages never see half a file. plotly.js is
read from the installed ``plotly`` package (``plotly_js``, imported only when a page needs it;
never a CDN).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

#: The shared copy's file name, beside the HTML files that load it.
PLOTLY_FILE = "plotly.min.js"


def plotly_js() -> str:
    """plotly.js from the installed plotly package (never a CDN)."""
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def inline_script(code: str) -> str:
    """``code`` made safe inside ``<script>...</script>`` (a literal ``</script`` would end it)."""
    if "</script" in code.lower():
        code = code.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")
    return code


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` unless it already holds exactly these bytes; True if written.

    The file is replaced atomically (a temporary file in the same directory, then a rename)."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    _replace(path, data)
    return True


def write_shared_script(html_path: Path, code: str, name: str = PLOTLY_FILE) -> str:
    """Write ``code`` as ``name`` beside ``html_path`` (if missing or different) and return the
    relative ``src`` the HTML file loads it by."""
    write_if_changed(html_path.parent / name, code.encode("utf-8"))
    return name


def write_page(
    path: Path,
    render: Callable[[str | None], str],
    script: Callable[[], str],
    *,
    self_contained: bool = False,
    name: str = PLOTLY_FILE,
) -> Path:
    """Write the HTML page ``render(src)`` builds to ``path`` atomically and return ``path``.

    ``self_contained=True`` renders it with ``src=None`` (the page inlines the script itself);
    otherwise with ``src=name``, and when the page does load it (a page without charts may not),
    writes ``script()`` as ``name`` beside it, if missing or different."""
    html = render(None if self_contained else name)
    if not self_contained and f'<script src="{name}"' in html:
        write_shared_script(path, script(), name)
    write_text_atomic(path, html)
    return path


def write_text_atomic(path: Path, text: str) -> None:
    """Write an HTML file atomically (readers see the old or the new file, never a part)."""
    _replace(path, text.encode("utf-8"))


def _replace(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
