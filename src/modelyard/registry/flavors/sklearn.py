"""scikit-learn estimators and pipelines: pickled, with the scikit-learn version pinned.

scikit-learn has no portable format of its own; its documentation recommends pickle together
with the exact library version, which the package's environment records. ``onnx_export.py``
converts to ONNX when a portable artifact is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelyard.registry.flavors.base import Flavor, load_pickle, save_pickle, top_module


class SklearnFlavor(Flavor):
    name = "sklearn"
    packages = ("scikit-learn", "numpy", "scipy", "joblib")

    def accepts(self, model: Any) -> bool:
        return top_module(model) == "sklearn" and hasattr(model, "predict")

    def save(self, model: Any, directory: Path, input_example: Any = None) -> dict[str, Any]:
        config = save_pickle(model, directory)
        config["class"] = f"{type(model).__module__}.{type(model).__qualname__}"
        return config

    def load(self, directory: Path, config: dict[str, Any]) -> Any:
        return load_pickle(directory, config)
