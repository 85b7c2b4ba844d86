"""Model flavors: one small module per library, looked up by name or detected from the model.

Detection goes from the most specific flavor to the generic "python" one, and looks only at the
model's class module, so detecting a flavor never imports XGBoost, LightGBM or onnxruntime.
"""

from __future__ import annotations

from typing import Any

from modelyard.core.errors import InvalidArgument
from modelyard.registry.flavors.base import Flavor
from modelyard.registry.flavors.lightgbm import LightGBMFlavor
from modelyard.registry.flavors.onnx import OnnxFlavor
from modelyard.registry.flavors.python import PythonFlavor
from modelyard.registry.flavors.pytorch import PyTorchFlavor
from modelyard.registry.flavors.sklearn import SklearnFlavor
from modelyard.registry.flavors.xgboost import XGBoostFlavor

__all__ = ["FLAVORS", "Flavor", "detect_flavor", "get_flavor"]

#: In detection order: specific libraries first, the generic python flavor last.
FLAVORS: dict[str, Flavor] = {
    f.name: f
    for f in (XGBoostFlavor(), LightGBMFlavor(), OnnxFlavor(), PyTorchFlavor(), SklearnFlavor(), PythonFlavor())
}


def get_flavor(name: str) -> Flavor:
    try:
        return FLAVORS[name]
    except KeyError:
        raise InvalidArgument(f"unknown model flavor {name!r}; known: {', '.join(sorted(FLAVORS))}") from None


def detect_flavor(model: Any) -> Flavor:
    for flavor in FLAVORS.values():
        if flavor.accepts(model):
            return flavor
    raise InvalidArgument(
        f"cannot package a {type(model).__module__}.{type(model).__name__}: it matches no flavor "
        "(give it a predict method to use the generic 'python' flavor)"
    )
