"""Batch scoring: a registered model version over a CSV or Parquet file (or a dataset version),
chunk by chunk, into a CSV or Parquet file; recorded as a tracking run, so lineage shows which
model version scored which dataset version.

- **Reading** streams: Parquet row batches and CSV blocks through pyarrow, regrouped into chunks
  of ``chunk_rows``; a file is never loaded whole. CSV columns the signature types are parsed as
  those types, so a column does not change type between blocks.
- **Scoring** goes through a ``compute.Executor``. An executor whose tasks run in this process
  (the local one) uses the model loaded here; any other (Ray) receives the package's files,
  checks that they hash to the registered manifest digest and loads them on the worker (once
  per worker process), so models only ever load from verified bytes.
- **Order and memory**: at most ``2 × capacity`` chunks are in flight; results are written in
  input order as the oldest one completes.
- **Writing** is atomic: a temporary file beside the output, renamed over it only once every
  chunk was written and the run recorded. Any error (a missing column, a value of the wrong
  type in chunk 900) removes the temporary file; the output and the stores are left as they were.
- **Lineage**: the run records the use of ``NAME@N`` (``log_model_use``, context ``scoring``:
  lineage draws the ``used_by`` edge model version -> run from it) and is tagged
  ``modelyard.model_version_used = NAME@N``, a dataset version given as input is a run input with
  context ``scoring`` (``read_by``), and the output can be added as a dataset version produced
  by the run (``register_output``), derived from the input version.
"""

from __future__ import annotations

import os
import tempfile
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from modelyard.core.errors import InvalidArgument, NotFound, SignatureError
from modelyard.core.tracking import RunInput, RunStatus, now_millis
from modelyard.core.validation import validate_name
from modelyard.serving.tabular_io import (
    FORMATS,
    AtomicTableWriter,
    arrow_message,
    arrow_types,
    csv_header,
    file_format,
    read_schema,
    rechunk,
    record_batches,
)
from modelyard.tracking.sysinfo import TAG_MODEL_VERSION_USED

if TYPE_CHECKING:
    from modelyard.compute.executor import Executor
    from modelyard.core.datasets import DatasetVersion
    from modelyard.core.registry import ModelVersion
    from modelyard.data.service import DatasetService, Progress
    from modelyard.registry.packaging import LoadedModel
    from modelyard.registry.service import RegistryService
    from modelyard.tracking.service import TrackingService

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "FORMATS",
    "SCORING_CONTEXT",
    "TAG_MODEL_DIGEST",
    "BatchJob",
    "BatchResult",
    "BatchScorer",
    "file_format",
]

#: File extensions read and written, and their format.
DEFAULT_CHUNK_ROWS = 50_000
MAX_CHUNK_ROWS = 10_000_000
#: The context a scored dataset version is recorded with as a run input.
SCORING_CONTEXT = "scoring"
TAG_MODEL_DIGEST = "modelyard.scoring.model_digest"
DEFAULT_PROJECT = "batch-scoring"


@dataclass(frozen=True)
class _Source:
    label: str  # what the user named: a path or a dataset reference
    files: tuple[Path, ...]
    format: str
    dataset: DatasetVersion | None
    total_rows: int | None  # known for Parquet


@dataclass(frozen=True)
class BatchResult:
    model_name: str
    model_version: int
    rows: int
    chunks: int
    output: Path
    run_id: str
    columns: tuple[str, ...]  # the prediction columns added
    input_dataset: str | None  # NAME@vN when the input was a dataset version
    output_dataset: str | None  # NAME@vN when the output was registered

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": f"{self.model_name}@{self.model_version}",
            "rows": self.rows,
            "chunks": self.chunks,
            "output": str(self.output),
            "run_id": self.run_id,
            "columns": list(self.columns),
            "input_dataset": self.input_dataset,
            "output_dataset": self.output_dataset,
        }


@dataclass(frozen=True)
class BatchJob:
    """A scoring job checked by ``BatchScorer.plan``: what ``run`` needs, nothing scored yet."""

    model_ref: str
    version: ModelVersion
    model: LoadedModel
    source: _Source
    target: Path
    out_format: str
    column_types: Mapping[str, pa.DataType]
    features: list[str] | None  # the columns the model reads (None: all)
    schema: pa.Schema  # the input's
    proba: bool
    chunk_rows: int
    project: str
    prediction_column: str
    register_output: str | None

    @property
    def model_label(self) -> str:
        return f"{self.version.model_name}@{self.version.version}"


# -- the tasks (run wherever the executor runs them) ------------------------------------------


def _predict(model: LoadedModel, proba: bool, frame: Any) -> np.ndarray:
    result = model.predict_proba(frame) if proba else model.predict(frame)
    return np.asarray(result)


class _LoadedTask:
    """A chunk task for an in-process executor: the model loaded by the caller."""

    def __init__(self, model: LoadedModel, proba: bool) -> None:
        self.model = model
        self.proba = proba

    def __call__(self, frame: Any) -> np.ndarray:
        return _predict(self.model, self.proba, frame)


_WORKER_MODELS: dict[str, LoadedModel] = {}  # per worker process: manifest digest -> model


class _PackageTask:
    """A chunk task for a remote executor: carries the package's bytes, loads them (verified
    against the registered manifest digest) once per worker process."""

    def __init__(self, files: Mapping[str, bytes], digest: str, proba: bool) -> None:
        self.files = dict(files)
        self.digest = digest
        self.proba = proba

    def __call__(self, frame: Any) -> np.ndarray:
        model = _WORKER_MODELS.get(self.digest)
        if model is None:
            from modelyard.registry.packaging import load_package_files

            model = _WORKER_MODELS[self.digest] = load_package_files(self.files, self.digest)
        return _predict(model, self.proba, frame)


# -- the scorer -------------------------------------------------------------------------------


class BatchScorer:
    """Scores files with registered model versions. ``datasets`` lets ``input`` be a dataset
    version reference and ``register_output`` add the output as one."""

    def __init__(
        self, registry: RegistryService, tracking: TrackingService, datasets: DatasetService | None = None
    ) -> None:
        self.registry = registry
        self.tracking = tracking
        self.datasets = datasets

    def score(
        self,
        model_ref: str,
        input: str | os.PathLike[str],
        output: str | os.PathLike[str],
        *,
        executor: Executor | None = None,
        progress: Progress | None = None,
        **options: Any,
    ) -> BatchResult:
        """``plan`` then ``run``: score ``input`` with ``model_ref`` into ``output``."""
        return self.run(self.plan(model_ref, input, output, **options), executor=executor, progress=progress)

    def plan(
        self,
        model_ref: str,
        input: str | os.PathLike[str],
        output: str | os.PathLike[str],
        *,
        proba: bool = False,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        project: str = DEFAULT_PROJECT,
        prediction_column: str = "prediction",
        register_output: str | None = None,
    ) -> BatchJob:
        """Check everything that can be checked before a row is scored (and before a cluster is
        started): the output's format and directory, the model version (loaded, verified), the
        input (a file, or a dataset version materialised locally) and its columns against the
        signature. The output (``.csv``/``.parquet``) will hold the input's columns, then
        ``prediction_column`` (``<prediction_column>_<i>`` for several outputs), or with ``proba``
        one ``proba_<class>`` column per class."""
        if not isinstance(chunk_rows, int) or not 1 <= chunk_rows <= MAX_CHUNK_ROWS:
            raise InvalidArgument(f"chunk_rows must be from 1 to {MAX_CHUNK_ROWS:,}, got {chunk_rows!r}")
        if not prediction_column or not prediction_column.strip():
            raise InvalidArgument("the prediction column needs a name")
        target = Path(output)
        out_format = file_format(target, "output")
        if not target.parent.is_dir():
            raise NotFound(f"output directory {os.fspath(target.parent)!r} does not exist")
        if target.is_dir():
            raise InvalidArgument(f"output {os.fspath(target)!r} is a directory")
        if register_output is not None:
            from modelyard.data.refs import validate_dataset_name

            validate_dataset_name(register_output)
            if self.datasets is None:
                raise InvalidArgument("registering the output needs the dataset store")
        validate_name(project, "project name")

        version = self.registry.resolve(model_ref)
        model_label = f"{version.model_name}@{version.version}"
        model = self.registry.load(model_label)
        if proba and not model.has_proba:
            raise InvalidArgument(f"model {model_label} ({model.flavor}) gives no class probabilities: drop --proba")
        column_types = arrow_types(model.signature)
        source = self._source(input, column_types)
        if any(path.resolve() == target.resolve() for path in source.files):
            raise InvalidArgument("the output would overwrite the input: choose another --output")
        features = self._features(model, source, column_types, model_label)
        schema = read_schema(source.files[0], source.format, column_types)
        labels = model.class_labels
        named = ([f"proba_{label}" for label in labels] if labels is not None else []) if proba else [prediction_column]
        clash = sorted(set(named) & set(schema.names))
        if clash:
            raise InvalidArgument(
                f"the input already has a column named {clash[0]!r}: choose another --prediction-column"
            )
        return BatchJob(
            model_ref=model_ref,
            version=version,
            model=model,
            source=source,
            target=target,
            out_format=out_format,
            column_types=column_types,
            features=features,
            schema=schema,
            proba=proba,
            chunk_rows=chunk_rows,
            project=project,
            prediction_column=prediction_column,
            register_output=register_output,
        )

    def run(self, job: BatchJob, *, executor: Executor | None = None, progress: Progress | None = None) -> BatchResult:
        """Score a planned job on ``executor`` (default: inline, in this process) and record it.
        A failure leaves neither the output nor a finished run behind."""
        if executor is None:
            from modelyard.compute.backends.local import LocalExecutor

            executor = LocalExecutor()  # inline: nothing to shut down
        model_label = job.model_label
        task = self._task(job, executor)
        started = now_millis()
        writer = AtomicTableWriter(job.target, job.out_format)
        try:
            if progress is not None:
                progress.phase(f"scoring with {model_label}", job.source.total_rows)
            rows, chunks, added = self._run(job, task, executor, writer, progress)
            run_id, output_dataset = self._record(job, writer, started, rows, chunks, executor.name)
        except BaseException:
            writer.discard()
            raise
        return BatchResult(
            model_name=job.version.model_name,
            model_version=job.version.version,
            rows=rows,
            chunks=chunks,
            output=job.target,
            run_id=run_id,
            columns=tuple(added or [job.prediction_column]),
            input_dataset=None if job.source.dataset is None else job.source.dataset.ref,
            output_dataset=output_dataset,
        )

    # -- steps ----------------------------------------------------------------------------
    def _source(self, input: str | os.PathLike[str], column_types: Mapping[str, pa.DataType]) -> _Source:
        text = os.fspath(input)
        path = Path(text)
        if path.is_file():
            fmt = file_format(path, "input")
            return _Source(os.fspath(path.resolve()), (path,), fmt, None, self._rows(path, fmt))
        if path.exists():
            raise InvalidArgument(f"input {text!r} is not a file")
        if self.datasets is None or Path(text).suffix.lower() in FORMATS:
            raise NotFound(f"input file {text!r} does not exist")
        try:
            dataset = self.datasets.resolve(text)
        except InvalidArgument:
            raise NotFound(f"input {text!r} is neither a file nor a dataset version reference")
        local = self.datasets.materialise(dataset)
        if local.is_file():
            files: list[Path] = [local]
        else:
            files = sorted(p for p in local.rglob("*") if p.is_file() and p.suffix.lower() in FORMATS)
        formats = {file_format(p, "input") for p in files}
        if len(formats) != 1:
            found = ", ".join(sorted(formats)) or "none"
            raise InvalidArgument(
                f"dataset {dataset.ref} must hold CSV or Parquet files of one format to be scored (found: {found})"
            )
        fmt = formats.pop()
        total = sum(self._rows(p, fmt) or 0 for p in files) if fmt == "parquet" else None
        return _Source(text, tuple(files), fmt, dataset, total)

    @staticmethod
    def _rows(path: Path, fmt: str) -> int | None:
        if fmt != "parquet":
            return None
        import pyarrow.parquet as pq

        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidArgument(f"input {os.fspath(path)!r} is not a Parquet file: {exc}")

    @staticmethod
    def _features(
        model: LoadedModel, source: _Source, column_types: Mapping[str, pa.DataType], model_label: str
    ) -> list[str] | None:
        """The input columns the model reads (None: all of them), after checking that every
        file has them."""
        signature = model.signature
        wanted = (
            [str(spec.name) for spec in signature.inputs]
            if signature is not None and signature.kind == "columns"
            else None
        )
        for path in source.files:
            try:
                names = read_schema(path, source.format, column_types).names
            except (pa.ArrowInvalid, OSError) as exc:
                message = arrow_message(exc, csv_header(path) if source.format == "csv" else [])
                raise InvalidArgument(f"cannot read {source.format} input {os.fspath(path)!r}: {message}")
            if wanted is not None:
                missing = [name for name in wanted if name not in names]
                if missing:
                    raise SignatureError(
                        f"input {source.label!r} lacks column(s) {', '.join(map(repr, missing))} "
                        f"that {model_label} needs",
                        column=missing[0],
                    )
        return wanted

    def _task(self, job: BatchJob, executor: Executor) -> Any:
        if executor.in_process:
            return _LoadedTask(job.model, job.proba)
        from modelyard.registry.packaging import read_package_files

        with tempfile.TemporaryDirectory(prefix="modelyard-score-") as tmp:
            self.registry.export(job.model_label, Path(tmp) / "model")
            files = read_package_files(Path(tmp) / "model")
        return _PackageTask(files, job.version.manifest_digest, job.proba)

    def _run(
        self, job: BatchJob, task: Any, executor: Executor, writer: AtomicTableWriter, progress: Progress | None
    ) -> tuple[int, int, list[str]]:
        source, features, labels = job.source, job.features, job.model.class_labels
        window = max(2, 2 * executor.capacity)
        pending: deque[tuple[pa.Table, Future[np.ndarray]]] = deque()
        rows = chunks = 0
        added: list[str] = []

        def write_oldest() -> None:
            nonlocal rows, chunks, added
            chunk, future = pending.popleft()
            table, added = _with_predictions(chunk, future.result(), job.proba, job.prediction_column, labels)
            writer.write(table)
            rows += chunk.num_rows
            chunks += 1
            if progress is not None:
                progress.advance(chunk.num_rows)

        try:
            batches = record_batches(source.files, source.format, job.chunk_rows, job.column_types)
            for chunk in rechunk(batches, job.chunk_rows):
                frame = (chunk.select(features) if features is not None else chunk).to_pandas()
                pending.append((chunk, executor.submit(task, frame)))
                if len(pending) >= window:
                    write_oldest()
            while pending:
                write_oldest()
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidArgument(
                f"cannot read {source.format} input {source.label!r}: {arrow_message(exc, job.schema.names)}"
            )
        finally:
            for _, future in pending:
                executor.cancel(future)
        return rows, chunks, added

    def _record(
        self, job: BatchJob, writer: AtomicTableWriter, started: int, rows: int, chunks: int, executor_name: str
    ) -> tuple[str, str | None]:
        """The run that says what was scored with what; then the output is renamed into place
        and, if asked, added as a dataset version produced by the run."""
        version, source, target, model_label = job.version, job.source, job.target, job.model_label
        run = self.tracking.create_run(
            job.project,
            name=f"predict {model_label}",
            start_time=started,
            tags={TAG_MODEL_VERSION_USED: model_label, TAG_MODEL_DIGEST: version.manifest_digest},
        )
        try:
            # The tag shows on the run; the recorded use is what the lineage walk finds it by.
            self.tracking.log_model_use(run.id, version.model_name, version.version, SCORING_CONTEXT)
            self.tracking.log_params(
                run.id,
                {
                    "model": model_label,
                    "model_reference": job.model_ref,
                    "input": source.label,
                    "output": os.fspath(target.resolve()),
                    "output_kind": "proba" if job.proba else "prediction",
                    "chunk_rows": job.chunk_rows,
                    "executor": executor_name,
                },
            )
            if source.dataset is not None:
                dataset = source.dataset
                self.tracking.log_inputs(
                    run.id,
                    [
                        RunInput(
                            name=dataset.name,
                            version=f"v{dataset.version}",
                            digest=dataset.manifest_digest,
                            source=dataset.source,
                            context=SCORING_CONTEXT,
                        )
                    ],
                )
            self.tracking.log_batch(
                run.id,
                metrics=[
                    self.tracking.make_metric("rows_scored", rows),
                    self.tracking.make_metric("chunks", chunks),
                ],
            )
            writer.commit(job.schema.append(pa.field(job.prediction_column, pa.float64())))
            output_dataset: str | None = None
            if job.register_output is not None and self.datasets is not None:
                added = self.datasets.add(
                    target,
                    name=job.register_output,
                    message=f"predictions of {model_label} on {source.label}",
                    parents=[source.dataset] if source.dataset is not None else [],
                    code=f"run:{run.id}",
                    params={"model": model_label},
                )
                output_dataset = added.version.ref
                self.tracking.set_tags(run.id, {"modelyard.scoring.output_dataset": output_dataset})
        except BaseException:
            self.tracking.end_run(run.id, RunStatus.FAILED)
            raise
        self.tracking.end_run(run.id, RunStatus.FINISHED)
        return run.id, output_dataset


def _with_predictions(
    chunk: pa.Table, result: np.ndarray, proba: bool, prediction_column: str, labels: list[Any] | None
) -> tuple[pa.Table, list[str]]:
    """The chunk with the prediction columns appended; the names of the columns added."""
    if result.ndim == 0 or result.shape[0] != chunk.num_rows:
        raise InvalidArgument(f"the model returned {result.shape} predictions for a chunk of {chunk.num_rows} rows")
    if result.ndim == 1:
        columns = {prediction_column: result}
    else:
        flat = result.reshape(result.shape[0], -1)
        if proba:
            names = (
                [f"proba_{label}" for label in labels]
                if labels is not None and len(labels) == flat.shape[1]
                else [f"proba_{i}" for i in range(flat.shape[1])]
            )
        elif flat.shape[1] == 1:
            names = [prediction_column]
        else:
            names = [f"{prediction_column}_{i}" for i in range(flat.shape[1])]
        columns = {name: flat[:, i] for i, name in enumerate(names)}
    clash = sorted(set(columns) & set(chunk.column_names))
    if clash:
        raise InvalidArgument(f"the input already has a column named {clash[0]!r}: choose another --prediction-column")
    table = chunk
    for name, values in columns.items():
        table = table.append_column(name, pa.array(values))
    return table, list(columns)
