"""Validation reports kept with the data they judged: each run of ``modelyard data validate`` is
recorded as a tracking run, so it is found again from the dataset version (the web UI lists them).

Why a run, and not a new table or a file beside the version: a run already holds everything a
report needs (the dataset version as an input with context ``validation``, pass/fail counts as
metrics, the report as a content-addressed artifact, who ran it and when), it lives in a project so
the same read permissions apply to reports as to any other result, it joins the lineage graph for
free (``read_by (validation)``), and it needs no schema migration. The version is found again by
one indexed tag (``modelyard.validation.dataset = NAME@vN``) through the ordinary run search.

The stored document is JSON (``validation/report.json``): the results, the profile and the
reference profile. The HTML report is not stored: it inlines plotly.js (about 4.8 MB) and is
rendered again, identically, from the JSON when someone asks for it (``report_from_document``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from modelyard.artifacts.interfaces import ArtifactStore
from modelyard.core.datasets import DatasetVersion
from modelyard.core.errors import InvalidArgument
from modelyard.core.tracking import ArtifactEntry, Metric, Run, RunInput, RunQuery, RunStatus, now_millis
from modelyard.data.validation.expectations import ExpectationResult
from modelyard.data.validation.profile import ColumnProfile, Profile
from modelyard.data.validation.suite import Suite, ValidationReport
from modelyard.store.interfaces import TrackingStore

__all__ = [
    "REPORT_ARTIFACT",
    "REPORT_FORMAT",
    "TAG_DATASET",
    "TAG_DIGEST",
    "TAG_SUCCESS",
    "TAG_SUITE",
    "find_validation_runs",
    "load_report_document",
    "record_validation",
    "report_from_document",
]

REPORT_ARTIFACT = "validation/report.json"
REPORT_FORMAT = "modelyard.validation-report/1"
TAG_DATASET = "modelyard.validation.dataset"  # NAME@vN: how a version finds its reports
TAG_DIGEST = "modelyard.validation.digest"
TAG_SUITE = "modelyard.validation.suite"
TAG_SUCCESS = "modelyard.validation.success"
INPUT_CONTEXT = "validation"


def _document(
    version: DatasetVersion, report: ValidationReport, suite: Suite | None, reference: str | None
) -> dict[str, Any]:
    return {
        "format": REPORT_FORMAT,
        "dataset": {
            "name": version.name,
            "version": version.version,
            "ref": version.ref,
            "digest": version.manifest_digest,
        },
        **report.to_dict(),  # suite (its name), rows, success, results
        "suite_spec": suite.to_dict() if suite is not None else None,
        "reference": reference,
        "profile": report.profile.to_dict(),
        "reference_profile": report.reference_profile.to_dict() if report.reference_profile else None,
    }


def record_validation(
    store: TrackingStore,
    artifacts: ArtifactStore,
    version: DatasetVersion,
    report: ValidationReport,
    *,
    project: str,
    suite: Suite | None = None,
    reference: str | None = None,
    clock: Callable[[], int] = now_millis,
) -> Run:
    """Record ``report`` (of ``version``) as a finished run in ``project`` (created if missing).

    The report blob is stored before the run points at it, so a run never references a missing
    artifact; the run ends FINISHED whether the data passed or not (the verdict is the
    ``modelyard.validation.success`` tag and the ``validation.failed`` metric): the validation
    itself ran to completion."""
    started = clock()
    body = orjson.dumps(
        _document(version, report, suite, reference),
        option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
        default=str,
    )
    blob = artifacts.put_bytes(body)
    project_id = store.get_or_create_project(project).id
    tags = {
        TAG_DATASET: version.ref,
        TAG_DIGEST: version.manifest_digest,
        TAG_SUITE: report.suite,
        TAG_SUCCESS: "true" if report.success else "false",
    }
    run = store.create_run(project_id, name=f"validate {version.ref}", start_time=started, tags=tags)
    store.log_inputs(
        run.id,
        [
            RunInput(
                name=version.name,
                version=f"v{version.version}",
                digest=version.manifest_digest,
                source=version.source,
                context=INPUT_CONTEXT,
            )
        ],
    )
    store.add_artifacts(run.id, [ArtifactEntry(path=REPORT_ARTIFACT, digest=blob.digest, size=blob.size)])
    counts = {
        "validation.expectations": len(report.results),
        "validation.failed": len(report.failed),
        "validation.rows": report.rows,
    }
    store.log_batch(
        run.id,
        metrics=[Metric(k, float(v), 0, started) for k, v in counts.items()],
        params={"suite": report.suite, **({"reference": reference} if reference else {})},
    )
    return store.update_run(run.id, status=RunStatus.FINISHED, end_time=clock())


def find_validation_runs(
    store: TrackingStore, version: DatasetVersion, project_ids: Sequence[str], *, max_results: int = 200
) -> list[Run]:
    """The runs that recorded a validation of ``version`` in ``project_ids``, newest first."""
    if not project_ids:
        return []
    value = version.ref.replace("\\", "\\\\").replace("'", "\\'")
    result = store.search_runs(
        RunQuery(
            project_ids=list(project_ids),
            filter=f"tags.`{TAG_DATASET}` = '{value}'",
            order_by=("start_time DESC",),
            max_results=max_results,
            include_params=True,
        )
    )
    return result.runs


def load_report_document(store: TrackingStore, artifacts: ArtifactStore, run_id: str) -> dict[str, Any]:
    """The stored report of a validation run (its bytes verified by the artifact store)."""
    entries = [e for e in store.list_artifacts(run_id, prefix="validation") if e.path == REPORT_ARTIFACT]
    if not entries:
        raise InvalidArgument(f"run {run_id!r} holds no validation report ({REPORT_ARTIFACT})")
    try:
        document = orjson.loads(artifacts.get_bytes(entries[0].digest))
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"the validation report of run {run_id!r} is not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != REPORT_FORMAT:
        raise InvalidArgument(f"the validation report of run {run_id!r} is not a {REPORT_FORMAT} document")
    return document


def _profile(data: Mapping[str, Any] | None) -> Profile | None:
    if not data:
        return None
    fields = set(ColumnProfile.__dataclass_fields__)
    columns = {
        name: ColumnProfile(**{k: v for k, v in col.items() if k in fields})
        for name, col in data.get("columns", {}).items()
    }
    return Profile(rows=int(data.get("rows", 0)), columns=columns)


def report_from_document(document: Mapping[str, Any]) -> ValidationReport:
    """The ``ValidationReport`` a stored document was written from (to render its HTML again)."""
    fields = set(ExpectationResult.__dataclass_fields__)
    results = [ExpectationResult(**{k: v for k, v in r.items() if k in fields}) for r in document.get("results", [])]
    for result in results:  # JSON turned NaN into null: keep numbers numbers for the renderer
        result.observed = {k: (math.nan if v is None else v) for k, v in result.observed.items()}
    profile = _profile(document.get("profile")) or Profile(rows=int(document.get("rows", 0)), columns={})
    return ValidationReport(
        str(document.get("suite", "suite")),
        int(document.get("rows", 0)),
        results,
        profile,
        _profile(document.get("reference_profile")),
    )
