"""Suites of expectations, validation runs, and the split of passing and failing rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelyard.core.errors import InvalidArgument
from modelyard.data.validation.expectations import (
    Between,
    Expectation,
    ExpectationResult,
    InSet,
    NotNull,
    Unique,
    from_dict,
)
from modelyard.data.validation.profile import Profile, profile


@dataclass
class Suite:
    name: str
    expectations: list[Expectation] = field(default_factory=list)

    @classmethod
    def from_yaml(cls, source: str | Path) -> Suite:
        """A suite from a YAML file path or YAML text::

        name: customers
        expectations:
          - {expect: not_null, column: id}
          - {expect: between, column: age, min: 0, max: 120}
        """
        import yaml

        text = source.read_text() if isinstance(source, Path) else source
        if isinstance(source, str) and "\n" not in source and Path(source).exists():
            text = Path(source).read_text()
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidArgument(f"suite is not valid YAML: {' '.join(str(exc).split())}")
        if not isinstance(data, dict) or not isinstance(data.get("expectations"), list):
            raise InvalidArgument("a suite is a mapping with a list under 'expectations'")
        return cls(name=str(data.get("name", "suite")), expectations=[from_dict(e) for e in data["expectations"]])

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "expectations": [
                {"expect": e.kind, **{k: v for k, v in asdict(e).items() if v is not None}} for e in self.expectations
            ],
        }

    def to_yaml(self) -> str:
        import yaml

        return str(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def suggest(cls, prof: Profile, name: str = "suggested") -> Suite:
        """A starting suite from a profile: not-null where there are no nulls, observed ranges,
        observed category sets, uniqueness where every value is distinct."""
        expectations: list[Expectation] = []
        for col in prof.columns.values():
            if col.nulls == 0:
                expectations.append(NotNull(column=col.name))
            if col.kind == "numeric" and col.min is not None:
                expectations.append(Between(column=col.name, min=col.min, max=col.max))
            if col.kind in ("categorical", "boolean") and col.top and len(col.top) == col.distinct:
                expectations.append(InSet(column=col.name, values=sorted(col.top)))
            if col.count and col.distinct == col.count - col.nulls and col.kind in ("numeric", "text"):
                expectations.append(Unique(column=col.name))
        return cls(name=name, expectations=expectations)


@dataclass
class ValidationReport:
    suite: str
    rows: int
    results: list[ExpectationResult]
    profile: Profile
    reference_profile: Profile | None = None

    @property
    def success(self) -> bool:
        return all(r.success for r in self.results)

    @property
    def failed(self) -> list[ExpectationResult]:
        return [r for r in self.results if not r.success]

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "rows": self.rows,
            "success": self.success,
            "results": [asdict(r) for r in self.results],
        }

    def to_html(self, path: str | Path | None = None, title: str | None = None, *, self_contained: bool = True) -> str:
        """The report as HTML, written to ``path`` when given (``core/html_assets.write_page``).
        plotly.js is inlined; with a path and ``self_contained=False`` it is the shared
        ``plotly.min.js`` written beside the file."""
        from modelyard.core.html_assets import plotly_js, write_page
        from modelyard.data.validation.report import render_html

        if path is None:
            return render_html(self, title=title)
        pages: list[str] = []

        def render(src: str | None) -> str:
            pages.append(render_html(self, title=title, plotly_src=src))
            return pages[-1]

        write_page(Path(path), render, plotly_js, self_contained=self_contained)
        return pages[-1]


def validate(
    frame: pd.DataFrame, suite: Suite, reference: pd.DataFrame | None = None, *, with_profile: bool = True
) -> ValidationReport:
    results = [e.evaluate(frame, reference) for e in suite.expectations]
    prof = profile(frame) if with_profile else Profile(rows=len(frame), columns={})
    ref_prof = profile(reference) if (with_profile and reference is not None) else None
    return ValidationReport(suite.name, len(frame), results, prof, ref_prof)


FAILED_COLUMN = "_failed_expectations"


def split_failing_rows(frame: pd.DataFrame, suite: Suite) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows passing every row-level expectation, and the failing rows with a column naming what
    they failed (for a quarantine dataset: nothing is dropped)."""
    row_level = [e for e in suite.expectations if e.row_level]
    if not row_level:
        return frame, frame.iloc[0:0].assign(**{FAILED_COLUMN: pd.Series(dtype="object")})
    masks = [e.failing_mask(frame) for e in row_level]
    any_bad = np.logical_or.reduce(masks)
    reasons = np.array([""] * len(frame), dtype=object)
    for expectation, mask in zip(row_level, masks, strict=True):
        label = expectation.describe()
        idx = np.flatnonzero(mask)
        reasons[idx] = [f"{r}; {label}" if r else label for r in reasons[idx]]
    failing = frame.loc[any_bad].copy()
    failing[FAILED_COLUMN] = reasons[any_bad]
    return frame.loc[~any_bad], failing
