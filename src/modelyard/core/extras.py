"""Optional dependencies ("extras"): the one place a missing one becomes an install hint.

``pip install modelyard`` brings tracking, data, the registry, the server and its web UI. A few
integrations need packages that only some users want (PostgreSQL, S3, Redis, Ray, ONNX, XGBoost,
LightGBM, PyTorch); they are imported where they are used through ``require_extra``, which turns
the ImportError into ``MissingExtra`` with one line naming ``pip install 'modelyard[<extra>]'``.
``missing_extra`` does the same for an ImportError raised anywhere else (the CLI's last resort),
so a missing optional package never ends in a traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from modelyard.core.errors import MissingExtra

__all__ = ["EXTRA_OF_MODULE", "install_hint", "missing_extra", "require_extra"]

#: Top-level module -> the extra that installs it.
EXTRA_OF_MODULE: dict[str, str] = {
    "psycopg": "postgres",
    "s3fs": "s3",
    "aiobotocore": "s3",
    "redis": "redis",
    "ray": "ray",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "skl2onnx": "onnx",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "torch": "pytorch",
    "shap": "explain",
}


def install_hint(extra: str) -> str:
    return f"pip install 'modelyard[{extra}]'"


def _message(module: str, extra: str, purpose: str | None) -> str:
    what = purpose or f"this command needs the {module!r} package"
    return f"{what}, which is not installed: {install_hint(extra)}"


def require_extra(module: str, extra: str | None = None, purpose: str | None = None) -> ModuleType:
    """Import ``module`` or raise MissingExtra naming the extra that installs it.

    ``purpose`` says what needed it ("PostgreSQL stores need psycopg"); the default names the module.
    """
    top = module.partition(".")[0]
    chosen = extra or EXTRA_OF_MODULE.get(top)
    if chosen is None:
        raise ValueError(f"no extra is known for module {module!r}")
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        # Only the module itself (or its own missing dependency) being absent is a missing extra;
        # an ImportError *inside* an installed package is a real error and keeps its traceback.
        missing = (exc.name or "").partition(".")[0]
        if missing and missing != top and missing not in EXTRA_OF_MODULE:
            raise
        raise MissingExtra(_message(module, chosen, purpose), chosen) from None


def missing_extra(exc: ImportError) -> MissingExtra | None:
    """MissingExtra for an ImportError of an optional package, None for any other module."""
    top = (exc.name or "").partition(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    return MissingExtra(_message(top, extra, None), extra)
