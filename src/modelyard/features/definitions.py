"""Definitions in Python: ``load_definitions(path)`` imports a user's ``features.py`` and collects
the entities, feature views and feature services defined at its top level (as ``feast apply``
does), for ``modelyard features apply``.

A Parquet source given as a relative path is read relative to the definition file's directory,
so a repository of definitions and data works from any working directory; the stored definition
holds the absolute path. Anything the file raises while it is imported (a syntax error, a
definition pydantic refuses) is one ``InvalidArgument`` naming the file.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from pathlib import Path

from pydantic import ValidationError

from modelyard.core.errors import InvalidArgument, ModelyardError
from modelyard.core.features import FeatureEntity, FeatureService, FeatureView
from modelyard.features.service import Definition

__all__ = ["load_definitions"]


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"invalid {exc.title}: {where + ': ' if where else ''}{first.get('msg')}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _absolute_source(view: FeatureView, base: Path) -> FeatureView:
    src = view.source
    if src.kind != "parquet" or os.path.isabs(src.location) or "://" in src.location:
        return view
    location = str((base / src.location).resolve())
    return view.model_copy(update={"source": src.model_copy(update={"location": location})})


def load_definitions(path: str | os.PathLike[str]) -> list[Definition]:
    """The definitions at the top level of the Python file ``path``, in definition order."""
    file = Path(path)
    if not file.is_file():
        raise InvalidArgument(f"no definition file {str(file)!r}")
    module_name = f"_modelyard_features_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise InvalidArgument(f"cannot import {str(file)!r}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pydantic look their module up while it runs
    try:
        spec.loader.exec_module(module)
    except ModelyardError as exc:
        raise InvalidArgument(f"{file}: {exc}") from None
    except Exception as exc:  # the user's code: any error is reported in one line
        raise InvalidArgument(f"cannot load definitions from {file}: {_one_line(exc)}") from None
    finally:
        sys.modules.pop(module_name, None)
    base = file.resolve().parent
    found: list[Definition] = []
    for value in vars(module).values():
        if isinstance(value, FeatureView):
            found.append(_absolute_source(value, base))
        elif isinstance(value, FeatureEntity | FeatureService):
            found.append(value)
    if not found:
        raise InvalidArgument(f"{file} defines no entity, feature view or feature service")
    return found
