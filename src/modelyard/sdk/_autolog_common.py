"""What every autologging integration shares: options, patching, the outermost-call guard, and
logging that never raises into the user's code.

A patched training call runs :func:`call_logged`: only the outermost autologged call in the
process logs (a Pipeline's steps, a search's clones, an ensemble's members and ``super().fit``
run unlogged inside it). Without an active run, one is started for the call and ended after it.
Anything that goes wrong while logging is collected and reported as one
:class:`AutologgingWarning` (none with ``silent=True``); the training call's own result or
exception always reaches the caller unchanged.
"""

from __future__ import annotations

import functools
import json
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from modelyard.core.tracking import RunStatus
from modelyard.core.validation import MAX_PARAM_VALUE_LENGTH
from modelyard.sdk import tracking as _sdk

T = TypeVar("T")
MARK = "__modelyard_autolog__"


class AutologgingWarning(UserWarning):
    """Autologging could not record something; the training call itself went on unaffected."""


@dataclass
class Options:
    log_models: bool = True
    max_tuning_runs: int | None = 5
    silent: bool = False


options = Options()
_patches: list[tuple[Any, str, Any]] = []  # (owner, attribute, original), in patch order
_guard = threading.Lock()
_owner: int | None = None  # the thread whose outermost autologged call is running


# -- patching ---------------------------------------------------------------------------------


def is_patched(value: Any) -> bool:
    return hasattr(value, MARK)


def patch(owner: Any, name: str, wrapper: Callable[..., Any]) -> None:
    """Replace ``owner.name`` (a class or module attribute) with ``wrapper``, once."""
    original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    if is_patched(original):
        return
    setattr(wrapper, MARK, original)
    _patches.append((owner, name, original))
    setattr(owner, name, wrapper)


def unpatch_all() -> None:
    while _patches:
        owner, name, original = _patches.pop()
        setattr(owner, name, original)


# -- the guard and the run ----------------------------------------------------------------------


def _claim() -> bool:
    """True for the outermost autologged call; every call made while one runs (in this thread or
    in a worker thread of a parallel backend) is an inner call."""
    global _owner
    with _guard:
        if _owner is not None:
            return False
        _owner = threading.get_ident()
        return True


def _release() -> None:
    global _owner
    with _guard:
        _owner = None


class Recorder:
    """The run an outermost call logs into, and the failures met while logging."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.run_id: str | None = None
        self.failures: list[str] = []

    def attempt(self, step: str, fn: Callable[[], Any]) -> None:
        """Run one logging step; a failure is noted (for the one warning) and the next step goes on."""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fn()
        except Exception as exc:
            self.failures.append(f"{step}: {type(exc).__name__}: {exc}")

    @property
    def client(self) -> Any:
        return _sdk._session.client()

    def log_params(self, params: Mapping[str, Any]) -> None:
        clean = {k: param_text(v) for k, v in params.items()}
        if clean:
            assert self.run_id is not None
            self.client.log_params(self.run_id, clean)

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        if metrics:
            assert self.run_id is not None
            ts = time.time_ns() // 1_000_000
            self.client.log_batch(self.run_id, metrics=[(k, float(v), step, ts) for k, v in metrics.items()])

    def log_json(self, data: Any, artifact_path: str) -> None:
        assert self.run_id is not None
        with tempfile.TemporaryDirectory(prefix="modelyard-autolog-") as tmp:
            path = Path(tmp) / artifact_path
            path.write_text(json.dumps(data, indent=2, default=str))
            self.client.log_artifact(self.run_id, path)

    def log_model(self, model: Any, flavor: str, X: Any = None, artifact_path: str = "model") -> None:
        """A verified package (MLmodel.json with signature, pinned environment and file hashes)
        under the run's ``artifact_path``, loadable with registry.packaging.load_directory.
        An estimator that no flavor accepts (no ``predict``: a scaler, a clustering) logs none."""
        from modelyard.registry.flavors import FLAVORS, get_flavor
        from modelyard.registry.packaging import package_model
        from modelyard.registry.signature import infer_signature

        assert self.run_id is not None
        if not get_flavor(flavor).accepts(model):  # a user's subclass: the generic flavor, if any
            chosen = next((f.name for f in FLAVORS.values() if f.accepts(model)), None)
            if chosen is None:  # nothing to package (a transformer has no predict): no model
                return
            flavor = chosen
        example: Any = None
        try:  # the first rows of the training input are the package's input example
            example = X.iloc[:5] if hasattr(X, "iloc") else X[:5]
            if example is not None:
                infer_signature(example)
        except Exception:  # sparse, ragged, a DMatrix...: no example
            example = None
        with tempfile.TemporaryDirectory(prefix="modelyard-autolog-") as tmp:
            package_model(model, Path(tmp) / "model", flavor=flavor, input_example=example)
            self.client.log_artifacts(self.run_id, Path(tmp) / "model", artifact_path)


def param_text(value: Any) -> str:
    """A param as text: values as ``str`` gives them; objects (estimators, arrays) by their repr,
    cut to the store's limit rather than refused."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_PARAM_VALUE_LENGTH:
        text = text[: MAX_PARAM_VALUE_LENGTH - 3] + "..."
    return text


def _warn(recorder: Recorder) -> None:
    if recorder.failures and not options.silent:
        detail = "; ".join(recorder.failures[:3])
        more = f" (and {len(recorder.failures) - 3} more)" if len(recorder.failures) > 3 else ""
        warnings.warn(
            f"modelyard autolog could not record {recorder.what}: {detail}{more}",
            AutologgingWarning,
            stacklevel=4,
        )


@contextmanager
def _run(recorder: Recorder, run_name: str) -> Iterator[Callable[[BaseException | None], None]]:
    """Use the active run or start one; yields the function that ends a run this call started."""
    started = False
    try:
        active = _sdk.active_run()
        if active is None:
            active = _sdk.start_run(name=run_name)
            started = True
        recorder.run_id = active.id
    except Exception as exc:
        recorder.failures.append(f"starting a run: {type(exc).__name__}: {exc}")

    def finish(error: BaseException | None) -> None:
        if not started or recorder.run_id is None:
            return
        try:
            status = RunStatus.FAILED if error is not None else RunStatus.FINISHED
            _sdk._end_runs(status, run_id=recorder.run_id, suppress_flush_errors=True)
        except Exception as exc:
            recorder.failures.append(f"ending the run: {type(exc).__name__}: {exc}")

    yield finish


def call_logged(what: str, call: Callable[[], T], record: Callable[[Recorder, T], None]) -> T:
    """Run ``call`` (the user's training call); if it is the outermost one, log it with ``record``."""
    if not _claim():
        return call()
    recorder = Recorder(what)
    try:
        with _run(recorder, what) as finish:
            try:
                result = call()
            except BaseException as error:
                finish(error)
                raise
            if recorder.run_id is not None:
                try:
                    record(recorder, result)
                except Exception as exc:  # a bug in a record function is still only a warning
                    recorder.failures.append(f"{type(exc).__name__}: {exc}")
            finish(None)
    finally:
        _release()
        _warn(recorder)
    return result


def wrap_method(
    original: Callable[..., Any],
    name_of: Callable[[Any], str],
    record: Callable[[Recorder, Any, tuple[Any, ...], dict[str, Any], Any], None],
) -> Callable[..., Any]:
    """A method wrapper: ``record(recorder, self, args, kwargs, result)`` logs the outermost call."""

    @functools.wraps(original)
    def patched(self: Any, *args: Any, **kwargs: Any) -> Any:
        return call_logged(
            name_of(self),
            lambda: original(self, *args, **kwargs),
            lambda recorder, result: record(recorder, self, args, kwargs, result),
        )

    return patched
