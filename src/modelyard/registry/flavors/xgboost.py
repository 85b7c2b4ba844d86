"""XGBoost boosters and scikit-learn-API models, in XGBoost's own UBJSON format.

The native format (``save_model``) is what XGBoost promises to read across versions, unlike a
pickle. The distribution pinned is ``xgboost-cpu`` (the full ``xgboost`` wheel drags a CUDA
library the project does not want); either provides the ``xgboost`` module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelyard.core.errors import InvalidArgument
from modelyard.core.extras import require_extra
from modelyard.registry.flavors.base import Flavor, top_module

MODEL_FILE = "model.ubj"


class XGBoostFlavor(Flavor):
    name = "xgboost"
    packages = ("xgboost-cpu", "numpy", "scipy")

    def accepts(self, model: Any) -> bool:
        return top_module(model) == "xgboost" and hasattr(model, "save_model")

    def save(self, model: Any, directory: Path, input_example: Any = None) -> dict[str, Any]:
        model.save_model(str(directory / MODEL_FILE))
        return {"model_file": MODEL_FILE, "class": type(model).__name__}

    def load(self, directory: Path, config: dict[str, Any]) -> Any:
        xgboost = require_extra("xgboost", purpose="loading an XGBoost model needs xgboost")

        class_name = str(config.get("class", "Booster"))
        cls = getattr(xgboost, class_name, None)
        if not isinstance(cls, type):
            raise InvalidArgument(f"unknown xgboost model class {class_name!r} in the manifest")
        model = cls()
        model.load_model(str(directory / str(config.get("model_file", MODEL_FILE))))
        return model

    def predict(self, model: Any, data: Any) -> Any:
        xgboost = require_extra("xgboost", purpose="predicting with an XGBoost model needs xgboost")

        if isinstance(model, xgboost.Booster):
            return model.predict(xgboost.DMatrix(data))
        return model.predict(data)
