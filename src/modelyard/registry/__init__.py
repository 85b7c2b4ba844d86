"""The model registry subsystem: packaging (flavors, signatures), references and the registry service.

Above ``tracking`` in the layers: it uses the metadata store's registry interface and the
artifact store, never a concrete store or an edge. Names are loaded on first use (PEP 562), so
importing the service or the references does not import numpy and pandas, which only packaging
and signatures need.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LoadedModel": "modelyard.registry.packaging",
    "StoredPackage": "modelyard.registry.packaging",
    "load_directory": "modelyard.registry.packaging",
    "package_model": "modelyard.registry.packaging",
    "store_model": "modelyard.registry.packaging",
    "TRANSITIONS": "modelyard.registry.service",
    "RegistryService": "modelyard.registry.service",
    "allow_everyone": "modelyard.registry.service",
    "ColumnSpec": "modelyard.registry.signature",
    "Signature": "modelyard.registry.signature",
    "infer_signature": "modelyard.registry.signature",
    "ModelRef": "modelyard.registry.uri",
    "parse_model_ref": "modelyard.registry.uri",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'modelyard.registry' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
