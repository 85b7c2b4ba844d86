"""Batch ingestion: a source (file or database) becomes the next version of a dataset.

Order of work, which is what makes a failed or interrupted ingest leave nothing behind:

1. read the source in chunks (Arrow tables), keeping only rows newer than the stored watermark in
   incremental mode, and collect the rows the connector could not parse;
2. decide: malformed rows and rows failing the suite either fail the ingest (nothing is written)
   or go to the quarantine dataset (``NAME.quarantine``); table-level expectations that fail
   (row count, freshness, distribution) always fail it, since no single row is to blame;
3. write Parquet files into a private staging directory under the cache;
4. add the quarantine version first, then the target version, through ``DatasetService.add``
   (itself atomic). A crash between the two leaves a quarantine version and the old target
   version, so the next run reads the same rows again: nothing is lost, and re-adding identical
   quarantine content creates no new version;
5. delete the staging directory, whatever happened.

A full ingest's version is one Parquet file (``part-000001.parquet``). An incremental version is
the previous version's parts plus one new part, so ``NAME@latest`` always holds every row ingested
so far while each part's bytes are stored once. The batch is held in memory as Arrow while it is
validated; sources larger than memory should be ingested incrementally, in slices.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from modelyard.core.datasets import DatasetVersion
from modelyard.core.errors import Conflict, IngestRejected, InvalidArgument, NotFound
from modelyard.data.ingest.checks import validate_frame
from modelyard.data.ingest.connectors import MalformedRow, Progress, Source, WatermarkFilter
from modelyard.data.ingest.schema import SchemaDiff, schema_diff
from modelyard.data.ingest.watermark import Watermark, filter_newer, max_watermark
from modelyard.data.refs import validate_dataset_name
from modelyard.data.service import DatasetService
from modelyard.data.validation import FAILED_COLUMN, Suite, ValidationReport, split_failing_rows

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["BatchIngestor", "IngestRejected", "IngestResult", "OnInvalid"]

OnInvalid = Literal["fail", "quarantine"]
_PART_RE = re.compile(r"^part-(\d+)\.parquet$")
_SHOWN_MALFORMED = 5


@dataclass
class IngestResult:
    target: str
    source: str
    version: DatasetVersion | None  # None: incremental and nothing new
    created: bool
    rows: int  # rows written by this ingest (good rows)
    quarantined: int = 0  # rows sent to quarantine (failed validation or malformed)
    quarantine_version: DatasetVersion | None = None
    malformed: list[MalformedRow] = field(default_factory=list)
    report: ValidationReport | None = None
    schema_changes: SchemaDiff = field(default_factory=SchemaDiff)
    watermark: Watermark | None = None
    previous_watermark: Watermark | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "source": self.source,
            "version": self.version.as_dict() if self.version else None,
            "created": self.created,
            "rows": self.rows,
            "quarantined": self.quarantined,
            "quarantine_version": self.quarantine_version.ref if self.quarantine_version else None,
            "malformed": [{"file": m.file, "line": m.line, "reason": m.reason} for m in self.malformed],
            "validation": self.report.to_dict() if self.report else None,
            "schema_changes": self.schema_changes.as_dict(),
            "watermark": self.watermark.params() if self.watermark else None,
            "previous_watermark": self.previous_watermark.params() if self.previous_watermark else None,
        }


class _NoProgress:
    def phase(self, description: str, total: int | None) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass


class BatchIngestor:
    """Ingest sources into dataset versions through a ``DatasetService``."""

    def __init__(self, service: DatasetService) -> None:
        self.service = service

    def ingest(
        self,
        source: Source,
        to: str,
        *,
        incremental_on: str | None = None,
        suite: Suite | None = None,
        on_invalid: OnInvalid = "fail",
        quarantine: str | None = None,
        message: str | None = None,
        params: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
        profile_report: bool = False,
    ) -> IngestResult:
        """Ingest ``source`` as the next version of ``to`` (see the module docstring for the
        order of work). ``profile_report`` profiles the batch for the HTML report's plots."""
        to = validate_dataset_name(to)
        quarantine = validate_dataset_name(quarantine or f"{to}.quarantine")
        if on_invalid not in ("fail", "quarantine"):
            raise InvalidArgument(f"on_invalid must be 'fail' or 'quarantine', not {on_invalid!r}")
        if quarantine == to:
            raise InvalidArgument("the quarantine dataset must differ from the target dataset")
        progress = progress or _NoProgress()
        previous = self._latest(to)
        previous_mark = self._previous_watermark(previous, incremental_on)

        table = self._read(source, progress, previous_mark)
        malformed = list(source.malformed)
        result = IngestResult(to, source.description, None, False, 0, malformed=malformed)
        result.previous_watermark = previous_mark
        if malformed and on_invalid == "fail":
            shown = "; ".join(m.describe() for m in malformed[:_SHOWN_MALFORMED])
            more = f" (and {len(malformed) - _SHOWN_MALFORMED} more)" if len(malformed) > _SHOWN_MALFORMED else ""
            raise IngestRejected(
                f"{len(malformed)} malformed row(s), nothing written: {shown}{more}", malformed=malformed
            )
        if incremental_on is not None and table.num_rows == 0 and not malformed:
            result.watermark = previous_mark
            return result  # nothing new since the last ingest

        good, bad, report = self._validate(table, suite, on_invalid, profile_report)
        result.report = report
        if incremental_on is not None:
            newest = max_watermark(table, incremental_on)
            result.watermark = Watermark(incremental_on, newest) if newest is not None else previous_mark
        accumulate = previous is not None and previous_mark is not None
        good, result.schema_changes = self._reconcile_schema(previous, good, strict=accumulate)

        if accumulate:
            malformed = self._unseen_malformed(quarantine, to, malformed)
            result.malformed = malformed
        quarantine_rows = _quarantine_table(bad, malformed)
        has_quarantine = quarantine_rows is not None and quarantine_rows.num_rows > 0
        if accumulate and not good.num_rows and not has_quarantine and result.watermark == previous_mark:
            return result  # only rows seen before (e.g. a malformed line already quarantined)
        staging = Path(tempfile.mkdtemp(prefix="ingest-", dir=self._staging_root()))
        try:
            self._check_unchanged(to, previous)
            if quarantine_rows is not None and has_quarantine:
                qdir = staging / "quarantine"
                qdir.mkdir()
                previous_q = self._latest(quarantine) if accumulate else None
                if previous_q is not None and previous_q.params.get("ingest.target") != to:
                    previous_q = None
                if previous_q is not None:
                    quarantine_rows, fits = self._fit_schema(previous_q, quarantine_rows)
                    previous_q = previous_q if fits else None  # else a fresh quarantine, not mixed types
                qnumber = self._link_previous_parts(previous_q, qdir) + 1 if previous_q is not None else 1
                _write_parquet(quarantine_rows, qdir / f"part-{qnumber:06d}.parquet")
                progress.phase(f"adding {quarantine_rows.num_rows:,} quarantined rows to {quarantine}", None)
                qresult = self.service.add(
                    qdir,
                    name=quarantine,
                    message=f"rows of {to} that failed validation or could not be parsed",
                    parents=[previous_q] if previous_q is not None else [],
                    params={**self._params(source, suite, params), "ingest.target": to},
                    source=source.description,
                )
                result.quarantine_version = qresult.version
                result.quarantined = quarantine_rows.num_rows
            if accumulate and not good.num_rows and result.watermark == previous_mark:
                return result  # nothing for the target: only new quarantined rows
            target_dir = staging / "target"
            target_dir.mkdir()
            number = 1
            if accumulate and previous is not None:
                number = self._link_previous_parts(previous, target_dir) + 1
            _write_parquet(good, target_dir / f"part-{number:06d}.parquet")
            self._check_unchanged(to, previous)
            version_params = self._params(source, suite, params)
            version_params["ingest.rows"] = str(good.num_rows)
            if result.quarantine_version is not None:
                version_params["ingest.quarantine"] = result.quarantine_version.ref
            if result.watermark is not None:
                version_params.update(result.watermark.params())
            added = self.service.add(
                target_dir,
                name=to,
                message=message or f"ingested from {source.description}",
                parents=[previous] if accumulate and previous is not None else [],
                params=version_params,
                progress=progress,
                source=source.description,
            )
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        result.version, result.created, result.rows = added.version, added.created, good.num_rows
        return result

    # --- steps -------------------------------------------------------------------------------

    def _latest(self, name: str) -> DatasetVersion | None:
        try:
            return self.service.store.get_latest_dataset_version(name)
        except NotFound:
            return None

    def _check_unchanged(self, name: str, previous: DatasetVersion | None) -> None:
        """Another ingest of the same dataset may have finished while this one read: adding now
        would build on a stale version (and watermark). Refuse; running again is safe."""
        latest = self._latest(name)
        if (latest.version if latest else None) != (previous.version if previous else None):
            raise Conflict(
                f"{name} changed while this ingest ran ({latest.ref if latest else 'removed'}): nothing added "
                f"to {name}; run the ingest again"
            )

    @staticmethod
    def _previous_watermark(previous: DatasetVersion | None, column: str | None) -> Watermark | None:
        if column is None or previous is None:
            return None
        mark = Watermark.from_params(previous.params)
        if mark is not None and mark.column != column:
            raise InvalidArgument(
                f"{previous.ref} was ingested incrementally on {mark.column!r}, not {column!r}: "
                f"use --incremental-on {mark.column} (or ingest into a new dataset)"
            )
        return mark

    @staticmethod
    def _read(source: Source, progress: Progress, mark: Watermark | None) -> pa.Table:
        import pyarrow as pa

        newer = WatermarkFilter(mark.column, mark.value) if mark is not None else None
        chunks = []
        for chunk in source.read(progress, newer):
            chunks.append(filter_newer(chunk, mark) if mark is not None else chunk)
        if not chunks:
            return pa.table({})
        try:
            return pa.concat_tables(chunks, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidArgument(
                f"the chunks of {source.description} do not share one schema: {str(exc).splitlines()[0]}"
            )

    def _validate(
        self, table: pa.Table, suite: Suite | None, on_invalid: OnInvalid, with_profile: bool
    ) -> tuple[pa.Table, pa.Table | None, ValidationReport | None]:
        """(rows to write, rows to quarantine, the report)."""
        import pyarrow as pa

        if suite is None:
            return table, None, None
        frame = table.to_pandas()
        report = validate_frame(frame, suite, self.service, with_profile=with_profile)
        if report.success:
            return table, None, report
        if on_invalid == "fail":
            raise IngestRejected(
                f"validation failed, nothing written: {'; '.join(r.expectation for r in report.failed)}", report
            )
        good_frame, failing = split_failing_rows(frame, suite)
        good = table.take(pa.array(good_frame.index.to_numpy(), type=pa.int64()))
        # Table-level expectations judge what would be written: the good rows.
        table_level = Suite(suite.name, [e for e in suite.expectations if not e.row_level])
        verdict = validate_frame(good_frame, table_level, self.service, with_profile=False)
        if not verdict.success:
            raise IngestRejected(
                f"validation failed, nothing written (no row to quarantine for): "
                f"{'; '.join(r.expectation for r in verdict.failed)}",
                report,
            )
        # From the Arrow rows, not the pandas frame: quarantined columns keep the source's types.
        positions = pa.array(failing.index.to_numpy(), type=pa.int64())
        bad = table.take(positions)
        bad = bad.append_column(FAILED_COLUMN, pa.array(failing[FAILED_COLUMN].tolist(), pa.string()))
        bad = bad.append_column("_source_row", positions)
        return good, bad, report

    def _unseen_malformed(self, quarantine: str, to: str, malformed: list[MalformedRow]) -> list[MalformedRow]:
        """Malformed rows not already in the (accumulated) quarantine of ``to``: a bad line of a
        file that grows between incremental ingests is quarantined once, not on every run."""
        import pyarrow.parquet as pq

        previous_q = self._latest(quarantine) if malformed else None
        if previous_q is None or previous_q.params.get("ingest.target") != to:
            return malformed
        root = self.service.materialise(previous_q)
        known: set[tuple[str, str]] = set()
        wanted = ["_source_file", "_raw"]
        for name in self.service.files(previous_q):  # only these columns: parts may differ in schema
            path = root if previous_q.kind == "file" else root.joinpath(*name.split("/"))
            if name.endswith(".parquet") and set(wanted) <= set(pq.read_schema(path).names):
                part = pq.read_table(path, columns=wanted)
                known.update(zip(part.column(0).to_pylist(), part.column(1).to_pylist(), strict=True))
        return [m for m in malformed if (m.file, m.text) not in known]

    def _previous_schema(self, previous: DatasetVersion) -> pa.Schema | None:
        import pyarrow.parquet as pq

        names = sorted(self.service.files(previous))
        if not names or not all(n.endswith(".parquet") for n in names):
            return None
        root = self.service.materialise(previous)
        first = root if previous.kind == "file" else root.joinpath(*names[-1].split("/"))
        return pq.read_schema(first)

    def _reconcile_schema(
        self, previous: DatasetVersion | None, table: pa.Table, *, strict: bool
    ) -> tuple[pa.Table, SchemaDiff]:
        """The diff from the previous version's schema; when the new rows join the old parts
        (``strict``), retyped columns are cast back to the old type if that loses nothing."""
        import pyarrow as pa

        old = self._previous_schema(previous) if previous is not None else None
        if old is None or not table.num_columns:
            return table, SchemaDiff()
        diff = schema_diff(old, table.schema)
        if not strict or not diff.retyped:
            return table, diff
        for name, _, _ in diff.retyped:
            index = table.schema.get_field_index(name)
            try:
                table = table.set_column(index, name, table.column(name).cast(old.field(name).type, safe=True))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                raise InvalidArgument(
                    f"the schema of the new rows does not fit {previous.ref if previous else 'the previous version'}"
                    f" ({'; '.join(diff.lines())}): ingest without --incremental-on for a full refresh, "
                    f"or into a new dataset"
                )
        return table, diff

    def _fit_schema(self, previous: DatasetVersion, table: pa.Table) -> tuple[pa.Table, bool]:
        """``table`` cast to the previous version's column types where they differ, and whether
        that worked (new and missing columns are fine: they read as null)."""
        try:
            return self._reconcile_schema(previous, table, strict=True)[0], True
        except InvalidArgument:
            return table, False

    def _link_previous_parts(self, previous: DatasetVersion, target_dir: Path) -> int:
        """Place the previous version's parts in the staging directory (hard links into the
        verified cache when possible); returns the highest part number."""
        root = self.service.materialise(previous)
        highest = 0
        for name in self.service.files(previous):
            src = root if previous.kind == "file" else root.joinpath(*name.split("/"))
            dest = target_dir.joinpath(*name.split("/"))
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dest)
            except OSError:
                shutil.copyfile(src, dest)
            match = _PART_RE.match(Path(name).name)
            if match:
                highest = max(highest, int(match.group(1)))
        return highest

    def _staging_root(self) -> Path:
        root = self.service.cache_dir / "ingest"
        root.mkdir(parents=True, exist_ok=True)
        return root

    @staticmethod
    def _params(source: Source, suite: Suite | None, extra: Mapping[str, Any] | None) -> dict[str, str]:
        out = {"ingest.source": source.description, "ingest.format": source.format}
        if source.query:
            out["ingest.query"] = source.query
        if suite is not None:
            out["ingest.suite"] = suite.name
        out.update({str(k): str(v) for k, v in (extra or {}).items()})
        return out


def _quarantine_table(bad: pa.Table | None, malformed: list[MalformedRow]) -> pa.Table | None:
    """Failing rows (with ``_failed_expectations`` and ``_source_row``) and malformed rows (with
    ``_source_file``, ``_source_line`` and the raw text in ``_raw``), in one table."""
    import pyarrow as pa

    tables = [bad] if bad is not None and bad.num_rows else []
    if malformed:
        tables.append(
            pa.table(
                {
                    "_source_file": pa.array([m.file for m in malformed], pa.string()),
                    "_source_line": pa.array([m.line for m in malformed], pa.int64()),
                    "_raw": pa.array([m.text for m in malformed], pa.string()),
                    FAILED_COLUMN: pa.array([f"malformed: {m.reason}" for m in malformed], pa.string()),
                }
            )
        )
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]


def _write_parquet(table: pa.Table, path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table.replace_schema_metadata(None), path)
