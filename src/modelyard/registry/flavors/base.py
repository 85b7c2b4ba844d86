"""The flavor interface: how one kind of model is written to a directory and read back.

A flavor knows its library's native, version-tolerant format where there is one (XGBoost's UBJSON,
LightGBM's text model, ONNX protobuf) and falls back to pickle only where the library itself
offers nothing else (scikit-learn, plain Python objects). Loading happens only after every file's
hash was verified (see ``packaging.py``), which is what makes pickle acceptable here.
"""

from __future__ import annotations

import pickle
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from modelyard.core.errors import InvalidArgument

PICKLE_FILE = "model.pkl"


class Flavor(ABC):
    #: The name stored in the manifest and in the registry.
    name: ClassVar[str]
    #: Distributions whose installed versions are pinned in the package's environment.
    packages: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def accepts(self, model: Any) -> bool:
        """Is ``model`` an object of this flavor (checked without importing its library)?"""

    @abstractmethod
    def save(self, model: Any, directory: Path, input_example: Any = None) -> dict[str, Any]:
        """Write the model's files into ``directory``; return the flavor's manifest section.
        ``input_example`` is there for flavors that need data to serialise (TorchScript tracing)."""

    @abstractmethod
    def load(self, directory: Path, config: dict[str, Any]) -> Any:
        """The native model from a directory that ``save`` wrote (hashes already verified)."""

    def predict(self, model: Any, data: Any) -> Any:
        """Run the native model on data already checked against the signature."""
        return model.predict(data)

    def has_proba(self, model: Any) -> bool:
        """Does the native model give class probabilities? (The scikit-learn API's
        ``predict_proba``: classifiers of scikit-learn, XGBoost and LightGBM have it.)"""
        return hasattr(model, "predict_proba")

    def predict_proba(self, model: Any, data: Any) -> Any:
        """Class probabilities, one column per class (``InvalidArgument`` when the model has none)."""
        if not self.has_proba(model):
            raise InvalidArgument(f"this {self.name} model ({type(model).__name__}) gives no class probabilities")
        return model.predict_proba(data)

    def class_labels(self, model: Any) -> list[Any] | None:
        """The classes the columns of ``predict_proba`` stand for, in order, when the model says."""
        if not hasattr(model, "classes_"):
            return None
        return [c.item() if hasattr(c, "item") else c for c in model.classes_]


def top_module(model: Any) -> str:
    return type(model).__module__.split(".", 1)[0]


def save_pickle(model: Any, directory: Path) -> dict[str, Any]:
    (directory / PICKLE_FILE).write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    return {"model_file": PICKLE_FILE, "serialization": "pickle", "protocol": pickle.HIGHEST_PROTOCOL}


def load_pickle(directory: Path, config: dict[str, Any]) -> Any:
    with open(directory / str(config.get("model_file", PICKLE_FILE)), "rb") as handle:
        return pickle.load(handle)  # only ever on hash-verified files
