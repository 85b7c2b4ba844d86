"""``modelyard reproduce NAME@VERSION``: re-run the training of a model version and compare.

What a run records is enough to train again: the git commit and repository of its code (and a
hash of uncommitted changes, if there were any), the entry point, the params, the dataset
versions it read (immutable, addressed by version and digest) and a content-addressed document
of the installed packages. ``reproduce``:

1. reads the model version's run and refuses, with the reason, when the code cannot be recovered:
   no commit recorded, uncommitted changes (unless ``allow_dirty``: the commit alone is used), the
   repository or the commit gone, no Python entry point;
2. clones the repository at that commit into an isolated working copy (the user's checkout is
   never touched) and runs the entry point there with the same Python, against the same stores,
   with ``MODELYARD_REPRODUCE_OF=<run id>`` so that the runs it starts are tagged
   ``modelyard.reproduction_of``;
3. finds the model version the new run registered under the same name, loads both models and
   compares their predictions on the evaluation data (``data``, else the original run's inputs
   with context evaluation/test/validation, else its other inputs): identical, or within
   ``tolerance`` (largest absolute difference, for flavors that are not bit-for-bit deterministic);
4. reports what differed between the two runs either way: code commit, uncommitted changes, the
   dataset versions and digests read, params, Python and package versions (the two environment
   documents compared), and whether the model files themselves are byte-identical.

A reproduction registers a new (draft) version of the model, as any training does; its run's tag
says which run it reproduces.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from modelyard.core.errors import InvalidArgument, NotFound
from modelyard.core.tracking import Run, RunInput, RunQuery, now_millis
from modelyard.tracking import sysinfo

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.core.registry import ModelVersion
    from modelyard.data.service import DatasetService
    from modelyard.registry.service import RegistryService

__all__ = ["EVALUATION_CONTEXTS", "ReproductionReport", "reproduce"]

Status = Literal["reproduced", "within_tolerance", "not_reproduced", "refused", "failed"]
#: Input contexts that name evaluation data, in order of preference.
EVALUATION_CONTEXTS = ("evaluation", "test", "validation", "eval", "holdout")
_LOG_TAIL_LINES = 30


@dataclass
class ReproductionReport:
    """The outcome; ``to_dict`` is the ``--json`` shape."""

    reference: str
    status: Status
    summary: str
    original_run_id: str | None = None
    original: dict[str, Any] = field(default_factory=dict)
    reproduction_ref: str | None = None
    reproduction_run_id: str | None = None
    predictions: dict[str, Any] | None = None
    differences: list[dict[str, Any]] = field(default_factory=list)
    workdir: str | None = None
    log_tail: str | None = None

    @property
    def reproduced(self) -> bool:
        return self.status in ("reproduced", "within_tolerance")

    def difference(self, what: str) -> dict[str, Any] | None:
        return next((d for d in self.differences if d["what"] == what), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "status": self.status,
            "reproduced": self.reproduced,
            "summary": self.summary,
            "original_run_id": self.original_run_id,
            "original": self.original,
            "reproduction_ref": self.reproduction_ref,
            "reproduction_run_id": self.reproduction_run_id,
            "predictions": self.predictions,
            "differences": self.differences,
            "workdir": self.workdir,
            "log_tail": self.log_tail,
        }


class _Refused(Exception):
    """Reproduction cannot start (or cannot continue): the message says why."""

    def __init__(self, message: str, status: Status = "refused") -> None:
        super().__init__(message)
        self.status: Status = status


def reproduce(
    reference: str,
    *,
    registry: RegistryService,
    datasets: DatasetService | None,
    environment: Mapping[str, str],
    workdir: str | Path | None = None,
    tolerance: float = 0.0,
    allow_dirty: bool = False,
    data: str | Path | None = None,
    keep: bool = False,
    timeout: float | None = None,
    python: str | None = None,
    args: Sequence[str] = (),
) -> ReproductionReport:
    """Reproduce the model version ``reference`` (``NAME@3``, ``NAME@champion``...).

    ``environment`` is the child process's whole environment (the edges build it from settings,
    pointing at the same stores); ``datasets`` reads evaluation data. ``workdir`` (which must be
    empty or missing) keeps the working copy; otherwise a temporary one is removed unless ``keep``.
    Unknown references raise NotFound / InvalidArgument; everything else is in the report."""
    if tolerance < 0 or tolerance != tolerance:
        raise InvalidArgument(f"tolerance must be a number >= 0, got {tolerance!r}")
    original = registry.resolve(reference)
    report = ReproductionReport(reference=f"{original.model_name}@{original.version}", status="failed", summary="")
    if original.run_id is None:
        report.status = "refused"
        report.summary = f"{report.reference} was not logged in a run: there is no training to re-run"
        return report
    run = registry.tracking.get_run(original.run_id)
    report.original_run_id = run.id
    report.original = _run_facts(run) | {"manifest_digest": original.manifest_digest}
    target, temporary = _working_copy_path(workdir)
    try:
        commit, script = _check_source(run, allow_dirty)
        report.workdir = str(target)
        _clone(Path(run.tags[sysinfo.TAG_GIT_REPO]), commit, target)
        cwd = _working_directory_in(target, run)
        entry = _entry_point_in(target, cwd, Path(run.tags[sysinfo.TAG_GIT_REPO]), script, commit)
        started = now_millis()
        project = registry.tracking.get_project(run.project_id).name
        child_env = {**environment, "MODELYARD_REPRODUCE_OF": run.id, "MODELYARD_PROJECT": project}
        argv = list(args) if args else _recorded_args(run)
        completed = _run_training(python or sys.executable, entry, argv, cwd, child_env, timeout)
        report.log_tail = _tail(completed.stdout, completed.stderr)
        if completed.returncode != 0:
            raise _Refused(f"the training exited with status {completed.returncode}", "failed")
        new_run, new_version = _find_reproduction(registry, run, original, started)
        report.reproduction_run_id = new_run.id
        report.reproduction_ref = f"{new_version.model_name}@{new_version.version}"
        report.differences = _differences(registry, run, new_run, original, new_version)
        if allow_dirty and run.tags.get(sysinfo.TAG_GIT_DIRTY_HASH):
            report.differences.insert(
                0,
                {
                    "what": "code",
                    "detail": f"the original run had uncommitted changes (dirty hash "
                    f"{run.tags[sysinfo.TAG_GIT_DIRTY_HASH][:12]}) that no commit holds; reproduced from "
                    f"commit {commit[:10]} alone (--allow-dirty)",
                    "original": run.tags[sysinfo.TAG_GIT_DIRTY_HASH],
                    "reproduction": None,
                },
            )
        _compare(report, registry, datasets, run, original, new_version, data, tolerance)
    except _Refused as exc:
        report.status = exc.status
        report.summary = str(exc)
    finally:
        if temporary is not None and not keep:
            shutil.rmtree(temporary, ignore_errors=True)
            report.workdir = None
    return report


# -- source ----------------------------------------------------------------------------------


def _run_facts(run: Run) -> dict[str, Any]:
    tags = run.tags
    return {
        "commit": tags.get(sysinfo.TAG_GIT_COMMIT),
        "dirty_hash": tags.get(sysinfo.TAG_GIT_DIRTY_HASH),
        "repo": tags.get(sysinfo.TAG_GIT_REPO),
        "entry_point": tags.get(sysinfo.TAG_ENTRY_POINT),
        "args": _recorded_args(run),
        "cwd": tags.get(sysinfo.TAG_CWD),
        "environment": tags.get(sysinfo.TAG_ENVIRONMENT),
        "python": tags.get(sysinfo.TAG_PYTHON),
        "params": dict(run.params),
        "inputs": [i.model_dump(mode="json") for i in run.inputs],
    }


def _check_source(run: Run, allow_dirty: bool) -> tuple[str, str]:
    tags = run.tags
    commit = tags.get(sysinfo.TAG_GIT_COMMIT)
    if not commit:
        raise _Refused(
            f"run {run.id} recorded no git commit: it was not started inside a git working copy, "
            "so there is no code to check out"
        )
    dirty = tags.get(sysinfo.TAG_GIT_DIRTY_HASH)
    if dirty and not allow_dirty:
        raise _Refused(
            f"run {run.id} had uncommitted changes (dirty hash {dirty[:12]}): the code it ran is in no commit; "
            f"commit and train again, or pass --allow-dirty to reproduce from commit {commit[:10]} alone"
        )
    repo = tags.get(sysinfo.TAG_GIT_REPO)
    if not repo or not Path(repo).is_dir():
        raise _Refused(f"the repository of run {run.id} ({repo or 'not recorded'}) is not available here")
    if _git(["cat-file", "-e", f"{commit}^{{commit}}"], Path(repo)) is None:
        raise _Refused(f"commit {commit[:10]} of run {run.id} is not in the repository {repo}")
    script = tags.get(sysinfo.TAG_ENTRY_POINT)
    if not script or not script.endswith(".py"):
        raise _Refused(f"run {run.id} was not started from a Python script (entry point {script or 'not recorded'})")
    return commit, script


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=120, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.decode("utf-8", "replace").strip()


def _working_copy_path(workdir: str | Path | None) -> tuple[Path, Path | None]:
    if workdir is None:
        temporary = Path(tempfile.mkdtemp(prefix="modelyard-reproduce-"))
        return temporary / "src", temporary
    target = Path(workdir).expanduser().resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidArgument(f"working directory {target} must be empty or not exist yet")
    return target, None


def _clone(repo: Path, commit: str, target: Path) -> None:
    """A separate clone at ``commit``: the user's checkout, index and worktree list stay untouched."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.rmdir()
    if _git(["clone", "--quiet", "--no-checkout", str(repo), str(target)], repo.parent) is None:
        raise _Refused(f"could not clone {repo}", "failed")
    if _git(["-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", commit], target) is None:
        raise _Refused(f"could not check out commit {commit[:10]} of {repo}", "failed")


def _recorded_args(run: Run) -> list[str]:
    """The command-line arguments the training was started with (none if not recorded)."""
    try:
        args = json.loads(run.tags.get(sysinfo.TAG_ARGS, "[]"))
    except json.JSONDecodeError:
        return []
    return [str(a) for a in args] if isinstance(args, list) else []


def _working_directory_in(target: Path, run: Run) -> Path:
    """The recorded working directory, inside the working copy; the copy's root when the run
    was started outside the repository or recorded none (runs from before it was recorded)."""
    recorded = run.tags.get(sysinfo.TAG_CWD)
    if not recorded or Path(recorded).is_absolute():
        return target
    cwd = (target / recorded).resolve()
    if not cwd.is_relative_to(target.resolve()) or not cwd.is_dir():
        raise _Refused(f"the working directory {recorded} of run {run.id} is not in the recorded commit")
    return cwd


def _entry_point_in(target: Path, cwd: Path, repo: Path, script: str, commit: str) -> Path:
    """The recorded entry point inside the working copy (a relative entry point is relative to
    the recorded working directory, as Python resolved it)."""
    path = Path(script)
    if path.is_absolute():
        try:
            relative = path.resolve().relative_to(repo.resolve())
        except ValueError:
            raise _Refused(f"the entry point {script} is outside the repository {repo}")
        entry = target / relative
    else:
        entry = cwd / path
        root = target.resolve()
        relative = entry.relative_to(root) if entry.is_relative_to(root) else path
    if not entry.is_file():
        raise _Refused(f"the entry point {relative.as_posix()} is not in commit {commit[:10]}")
    return entry


def _run_training(
    python: str, entry: Path, args: list[str], cwd: Path, env: Mapping[str, str], timeout: float | None
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [python, str(entry), *args],
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise _Refused(f"the training did not finish within {timeout} s", "failed")
    except OSError as exc:
        raise _Refused(f"could not start {python}: {exc}", "failed")


def _tail(stdout: str | None, stderr: str | None) -> str:
    lines = ((stdout or "") + (stderr or "")).splitlines()
    return "\n".join(lines[-_LOG_TAIL_LINES:])


def _find_reproduction(
    registry: RegistryService, run: Run, original: ModelVersion, started: int
) -> tuple[Run, ModelVersion]:
    query = RunQuery(
        project_ids=[run.project_id],
        filter=f"tags.`{sysinfo.TAG_REPRODUCTION_OF}` = '{run.id}' AND start_time >= {started}",
        order_by=("start_time DESC",),
        max_results=1000,
    )
    runs = {r.id: r for r in registry.tracking.search_runs(query).runs}
    if not runs:
        raise _Refused("the training finished but started no run (it must call modelyard.start_run)", "failed")
    for version in registry.store.list_model_versions(original.model_name):  # newest first
        if version.run_id in runs and version.id != original.id:
            return registry.tracking.get_run(version.run_id), version
    raise _Refused(
        f"the training finished but registered no new version of model {original.model_name!r} "
        f"(runs {', '.join(sorted(runs))})",
        "failed",
    )


# -- what differed ---------------------------------------------------------------------------


def _differences(
    registry: RegistryService, old: Run, new: Run, old_version: ModelVersion, new_version: ModelVersion
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    old_commit, new_commit = old.tags.get(sysinfo.TAG_GIT_COMMIT), new.tags.get(sysinfo.TAG_GIT_COMMIT)
    if old_commit != new_commit:
        out.append(_diff("code", f"commit {old_commit} originally, {new_commit} now", old_commit, new_commit))
    new_dirty = new.tags.get(sysinfo.TAG_GIT_DIRTY_HASH)
    if new_dirty:
        out.append(
            _diff("code", f"the working copy changed while training (dirty hash {new_dirty[:12]})", None, new_dirty)
        )
    out.extend(_data_differences(old.inputs, new.inputs))
    if old.params != new.params:
        keys = sorted(set(old.params) | set(new.params))
        changed = [k for k in keys if old.params.get(k) != new.params.get(k)]
        detail = "; ".join(f"{k}: {old.params.get(k, '(unset)')} -> {new.params.get(k, '(unset)')}" for k in changed)
        out.append(
            _diff("params", detail, {k: old.params.get(k) for k in changed}, {k: new.params.get(k) for k in changed})
        )
    out.extend(_environment_differences(registry, old, new))
    old_files = _model_files(registry, old_version)
    new_files = _model_files(registry, new_version)
    if old_files != new_files:
        changed = sorted(k for k in set(old_files) | set(new_files) if old_files.get(k) != new_files.get(k))
        out.append(_diff("model files", f"the packaged model files differ: {', '.join(changed)}", None, None))
    return out


def _diff(what: str, detail: str, original: Any, reproduction: Any) -> dict[str, Any]:
    return {"what": what, "detail": detail, "original": original, "reproduction": reproduction}


def _input_key(item: RunInput) -> tuple[str, str]:
    return (item.name, item.context or "")


def _data_differences(old: Sequence[RunInput], new: Sequence[RunInput]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    before = {_input_key(i): i for i in old}
    after = {_input_key(i): i for i in new}
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        label = key[0] + (f" ({key[1]})" if key[1] else "")
        if a is None and b is not None:
            out.append(
                _diff("data", f"{label}: not read originally, {b.version} ({_short(b.digest)}) now", None, b.version)
            )
        elif b is None and a is not None:
            out.append(
                _diff("data", f"{label}: {a.version} ({_short(a.digest)}) originally, not read now", a.version, None)
            )
        elif a is not None and b is not None and (a.version, a.digest) != (b.version, b.digest):
            out.append(
                _diff(
                    "data",
                    f"{label}: {a.version} ({_short(a.digest)}) originally, {b.version} ({_short(b.digest)}) now",
                    {"version": a.version, "digest": a.digest},
                    {"version": b.version, "digest": b.digest},
                )
            )
    return out


def _short(digest: str | None) -> str:
    return (digest or "no digest")[:19]


def _environment_differences(registry: RegistryService, old: Run, new: Run) -> list[dict[str, Any]]:
    old_digest, new_digest = old.tags.get(sysinfo.TAG_ENVIRONMENT), new.tags.get(sysinfo.TAG_ENVIRONMENT)
    if old_digest == new_digest:
        return []
    before, after = _environment(registry, old_digest), _environment(registry, new_digest)
    if before is None or after is None:
        missing = "original" if before is None else "reproduction"
        return [_diff("packages", f"the {missing} run's environment document is not available", old_digest, new_digest)]
    out: list[dict[str, Any]] = []
    for key in ("python", "implementation", "platform"):
        if before.get(key) != after.get(key):
            out.append(
                _diff(key, f"{before.get(key)} originally, {after.get(key)} now", before.get(key), after.get(key))
            )
    old_pkgs: dict[str, str] = dict(before.get("packages") or {})
    new_pkgs: dict[str, str] = dict(after.get("packages") or {})
    changes: dict[str, list[str | None]] = {
        name: [old_pkgs.get(name), new_pkgs.get(name)]
        for name in sorted(set(old_pkgs) | set(new_pkgs))
        if old_pkgs.get(name) != new_pkgs.get(name)
    }
    if changes:
        shown = ", ".join(f"{n} {o or '(absent)'} -> {v or '(absent)'}" for n, (o, v) in list(changes.items())[:10])
        more = f" and {len(changes) - 10} more" if len(changes) > 10 else ""
        out.append({"what": "packages", "detail": shown + more, "changes": changes})
    return out


def _environment(registry: RegistryService, digest: str | None) -> dict[str, Any] | None:
    if not digest:
        return None
    try:
        doc = json.loads(registry.artifacts.get_bytes(digest))
    except (NotFound, ValueError, OSError):
        return None
    return doc if isinstance(doc, dict) else None


def _model_files(registry: RegistryService, version: ModelVersion) -> dict[str, str]:
    """The package's files by digest, without MLmodel.json (it names the run, so always differs)."""
    from modelyard.registry.packaging import MLMODEL_FILE

    files = registry.store.list_model_files(version.model_name, version.version)
    return {f.path: f.digest for f in files if f.path != MLMODEL_FILE}


# -- predictions -----------------------------------------------------------------------------


def _compare(
    report: ReproductionReport,
    registry: RegistryService,
    datasets: DatasetService | None,
    run: Run,
    original: ModelVersion,
    new_version: ModelVersion,
    data: str | Path | None,
    tolerance: float,
) -> None:
    import numpy as np

    label, frame, note = _evaluation_data(datasets, run, data)
    if note:
        report.differences.append({"what": "evaluation data", "detail": note})
    old_model = registry.load(report.reference, allow_decommissioned=True)
    new_model = registry.load(f"{new_version.model_name}@{new_version.version}", allow_decommissioned=True)
    try:
        before = np.asarray(old_model.predict(frame))
        after = np.asarray(new_model.predict(frame))
    except Exception as exc:  # a model that cannot predict on the data: report it, do not crash
        raise _Refused(f"could not predict on {label}: {type(exc).__name__}: {exc}".splitlines()[0], "failed")
    result: dict[str, Any] = {"data": label, "rows": len(frame), "tolerance": tolerance}
    report.predictions = result
    if before.shape != after.shape:
        result.update(mismatched=len(frame), max_abs_diff=None)
        report.status = "not_reproduced"
        report.summary = f"predictions have different shapes: {before.shape} originally, {after.shape} now"
    else:
        numeric = before.dtype.kind in "biuf" and after.dtype.kind in "biuf"
        if numeric:
            a, b = before.astype(float), after.astype(float)
            same = (a == b) | (np.isnan(a) & np.isnan(b))
            diff = np.where(same, 0.0, np.abs(a - b))
            diff = np.where(np.isnan(diff), np.inf, diff)
            max_diff = float(diff.max()) if diff.size else 0.0
            rows_same = same.reshape(len(a), -1).all(axis=1) if a.ndim else np.array([bool(same)])
            result.update(mismatched=int((~rows_same).sum()), max_abs_diff=max_diff)
            within = max_diff <= tolerance
        else:
            equal = before == after
            rows_same = equal.reshape(len(before), -1).all(axis=1) if before.ndim else np.array([bool(equal)])
            result.update(mismatched=int((~rows_same).sum()), max_abs_diff=None)
            within = bool(rows_same.all())
        if result["mismatched"] == 0:
            report.status = "reproduced"
            report.summary = f"{report.reproduction_ref} predicts exactly what {report.reference} does on {label}"
        elif within:
            report.status = "within_tolerance"
            report.summary = (
                f"{report.reproduction_ref} predicts what {report.reference} does on {label} within "
                f"{tolerance} ({result['mismatched']} of {len(frame)} rows not identical)"
            )
        else:
            report.status = "not_reproduced"
            report.summary = f"{result['mismatched']} of {len(frame)} predictions on {label} differ" + (
                "" if result["max_abs_diff"] is None else f" (max |diff| {result['max_abs_diff']:.6g})"
            )
    if report.status == "not_reproduced":
        causes = sorted({d["what"] for d in report.differences if d["what"] != "evaluation data"})
        report.summary += f"; what differed: {', '.join(causes)}" if causes else "; nothing recorded differed"
    result["identical"] = result["mismatched"] == 0


def _evaluation_data(
    datasets: DatasetService | None, run: Run, data: str | Path | None
) -> tuple[str, pd.DataFrame, str | None]:
    """(label, frame, note): ``data`` first, then the run's evaluation inputs, then any input."""
    from modelyard.data.tabular import read_table

    if data is not None:
        path = Path(data)
        if path.is_file():
            return str(path), read_table([path]).to_pandas(), None
        if datasets is None:
            raise _Refused(f"{data} is not a file, and this store keeps no datasets")
        try:
            return str(data), _read_dataset(datasets, str(data)), None
        except (NotFound, InvalidArgument) as exc:
            raise _Refused(f"evaluation data {data}: {exc}")
    if not run.inputs:
        raise _Refused(f"run {run.id} recorded no dataset it read: pass evaluation data with --data", "failed")
    if datasets is None:
        raise _Refused("this store keeps no datasets: pass evaluation data with --data (a file)", "failed")
    ranked = sorted(
        run.inputs,
        key=lambda i: (
            EVALUATION_CONTEXTS.index(i.context) if i.context in EVALUATION_CONTEXTS else len(EVALUATION_CONTEXTS)
        ),
    )
    chosen = ranked[0]
    ref = f"{chosen.name}@{chosen.version}" if chosen.version else chosen.name
    note = None
    if chosen.context not in EVALUATION_CONTEXTS:
        note = f"run {run.id} recorded no evaluation data; predictions compared on its input {ref}"
    try:
        return ref, _read_dataset(datasets, ref), note
    except (NotFound, InvalidArgument) as exc:
        raise _Refused(f"evaluation data {ref}: {exc}", "failed")


def _read_dataset(datasets: DatasetService, ref: str) -> pd.DataFrame:
    from modelyard.data.tabular import read_table

    record = datasets.resolve(ref)
    root = datasets.materialise(record)
    if record.kind == "file":
        return read_table([root]).to_pandas()
    return read_table([root.joinpath(*name.split("/")) for name in datasets.files(record)]).to_pandas()
