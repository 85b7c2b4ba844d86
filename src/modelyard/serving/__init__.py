"""The serving room: the model server (``app.py``: modelyard's own protocol, MLflow's scoring protocol
and the Open Inference Protocol (KServe V2) over the same endpoints, with micro-batching in
``batching.py`` and Prometheus metrics), the endpoint/variant interfaces deployments plug into
(``endpoint.py``), batch scoring, container builds and scale-out on Ray Serve.

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
    "BatchConfig": "modelyard.serving.batching",
    "CostModel": "modelyard.serving.batching",
    "MicroBatcher": "modelyard.serving.batching",
    "Endpoint": "modelyard.serving.endpoint",
    "PredictionRecord": "modelyard.serving.endpoint",
    "PredictionSink": "modelyard.serving.endpoint",
    "ServedVariant": "modelyard.serving.endpoint",
    "ServingState": "modelyard.serving.endpoint",
    "InputSpec": "modelyard.serving.host",
    "ModelHost": "modelyard.serving.host",
    "ServingApp": "modelyard.serving.app",
    "create_serving_app": "modelyard.serving.app",
    "load_endpoints": "modelyard.serving.app",
    "ServingMetrics": "modelyard.serving.metrics",
    "ServeConfig": "modelyard.serving.workers",
    "serve": "modelyard.serving.workers",
    "DeploymentService": "modelyard.serving.deployments",
    "VariantRequest": "modelyard.serving.deployments",
    "parse_variant": "modelyard.serving.deployments",
    "PredictionLogger": "modelyard.serving.predlog",
    "predictions": "modelyard.serving.predictions",
    "AutoRollback": "modelyard.serving.rollback",
    "MetricWindows": "modelyard.serving.rollback",
    "RollbackDecision": "modelyard.serving.rollback",
    "RollbackRule": "modelyard.serving.rollback",
    "SloRule": "modelyard.serving.rollback",
    "compare_variants": "modelyard.serving.abtest",
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
