"""Any Python object with a ``predict`` method (the generic flavor).

The object is pickled, so its class must be importable where the model is loaded; the manifest
records the class path to say which code that is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelyard.core.errors import InvalidArgument
from modelyard.registry.flavors.base import Flavor, load_pickle, save_pickle


class PythonFlavor(Flavor):
    name = "python"
    packages = ("numpy", "pandas")

    def accepts(self, model: Any) -> bool:
        return callable(getattr(model, "predict", None))

    def save(self, model: Any, directory: Path, input_example: Any = None) -> dict[str, Any]:
        if not self.accepts(model):
            raise InvalidArgument(f"a {type(model).__name__} has no predict method: it cannot be a python model")
        config = save_pickle(model, directory)
        config["class"] = f"{type(model).__module__}.{type(model).__qualname__}"
        return config

    def load(self, directory: Path, config: dict[str, Any]) -> Any:
        return load_pickle(directory, config)
