"""LightGBM boosters (native text format) and scikit-learn-API models (pickled).

A ``Booster`` is saved with LightGBM's own text format. The scikit-learn wrappers
(``LGBMClassifier``...) keep state outside the booster (label encoding, objective), which only a
pickle preserves, so they are pickled like any scikit-learn estimator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelyard.core.extras import require_extra
from modelyard.registry.flavors.base import Flavor, load_pickle, save_pickle, top_module

MODEL_FILE = "model.txt"


class LightGBMFlavor(Flavor):
    name = "lightgbm"
    packages = ("lightgbm", "numpy", "scipy", "scikit-learn")

    def accepts(self, model: Any) -> bool:
        return top_module(model) == "lightgbm" and hasattr(model, "predict")

    def save(self, model: Any, directory: Path, input_example: Any = None) -> dict[str, Any]:
        import lightgbm

        if isinstance(model, lightgbm.Booster):
            model.save_model(str(directory / MODEL_FILE))
            return {"model_file": MODEL_FILE, "format": "text", "class": "Booster"}
        config = save_pickle(model, directory)
        config.update(format="pickle", **{"class": type(model).__name__})
        return config

    def load(self, directory: Path, config: dict[str, Any]) -> Any:
        lightgbm = require_extra("lightgbm", purpose="loading a LightGBM model needs lightgbm")

        if config.get("format") == "text":
            return lightgbm.Booster(model_file=str(directory / str(config.get("model_file", MODEL_FILE))))
        return load_pickle(directory, config)
