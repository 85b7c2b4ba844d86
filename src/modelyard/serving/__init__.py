"""The serving subsystem: batch scoring, container builds and scale-out on Ray Serve (and the model
server, deployments and prediction logs).

Above ``evaluation`` and ``registry`` in the layers: models load only through the registry's
hash-verified ``RegistryService.load``. Names are loaded on first use (PEP 562), so importing the
package costs nothing until a name is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BatchResult": "modelyard.serving.batch",
    "BatchScorer": "modelyard.serving.batch",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'modelyard.serving' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
