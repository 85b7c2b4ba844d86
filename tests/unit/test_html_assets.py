"""core/html_assets.write_page, the one way every report writes its page: plotly.js shared beside
the page by default (written only when the page loads it, rewritten only when it changed), or
inlined when self-contained; the page itself written atomically."""

from __future__ import annotations

from pathlib import Path

from modelyard.core.html_assets import PLOTLY_FILE, write_page


def _render(src: str | None) -> str:
    return f'<script src="{src}"></script><p>chart</p>' if src else "<script>inlined()</script><p>chart</p>"


def test_shared_by_default_inlined_when_self_contained(tmp_path: Path) -> None:
    calls: list[int] = []

    def script() -> str:
        calls.append(1)
        return "plotly()"

    page = write_page(tmp_path / "a" / "r.html", _render, script)
    assert page.read_text() == '<script src="plotly.min.js"></script><p>chart</p>'
    assert (page.parent / PLOTLY_FILE).read_text() == "plotly()" and calls == [1]
    alone = write_page(tmp_path / "b" / "r.html", _render, script, self_contained=True)
    assert "inlined()" in alone.read_text() and not (alone.parent / PLOTLY_FILE).exists() and calls == [1]
    # a second page in the same folder keeps the same copy (same bytes: not rewritten)
    before = (page.parent / PLOTLY_FILE).stat().st_mtime_ns
    write_page(tmp_path / "a" / "s.html", _render, script)
    assert (page.parent / PLOTLY_FILE).stat().st_mtime_ns == before
    assert sorted(p.name for p in page.parent.iterdir()) == ["plotly.min.js", "r.html", "s.html"]  # no temp file


def test_a_page_without_charts_writes_no_script(tmp_path: Path) -> None:
    page = write_page(tmp_path / "r.html", lambda src: "<p>not evaluated yet</p>", lambda: "plotly()")
    assert page.read_text() == "<p>not evaluated yet</p>" and not (tmp_path / PLOTLY_FILE).exists()
