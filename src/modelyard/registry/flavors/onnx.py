"""ONNX models (``onnx.ModelProto``), served with onnxruntime on the CPU.

``predict`` feeds the input to the graph's first input and returns its first output (for
converted classifiers: the labels). ``OnnxModel.run`` gives every output when more is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelyard.core.extras import require_extra
from modelyard.registry.flavors.base import Flavor, top_module

MODEL_FILE = "model.onnx"


class OnnxModel:
    """An onnxruntime session with a ``predict`` that accepts arrays or DataFrames."""

    def __init__(self, model_bytes: bytes) -> None:
        onnxruntime = require_extra("onnxruntime", purpose="ONNX models need onnxruntime")
        self.session = onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        self._float = "float" in first.type and "double" not in first.type

    def run(self, data: Any) -> list[Any]:
        array = np.asarray(data.to_numpy() if hasattr(data, "to_numpy") else data)
        if self._float and array.dtype != np.float32:
            array = array.astype(np.float32)
        return list(self.session.run(None, {self.input_name: array}))

    def predict(self, data: Any) -> Any:
        return self.run(data)[0]


class OnnxFlavor(Flavor):
    name = "onnx"
    packages = ("onnx", "onnxruntime", "numpy")

    def accepts(self, model: Any) -> bool:
        return top_module(model) == "onnx" and type(model).__name__ == "ModelProto"

    def save(self, model: Any, directory: Path, input_example: Any = None) -> dict[str, Any]:
        (directory / MODEL_FILE).write_bytes(model.SerializeToString())
        return {"model_file": MODEL_FILE, "opset": [int(o.version) for o in model.opset_import]}

    def load(self, directory: Path, config: dict[str, Any]) -> Any:
        return OnnxModel((directory / str(config.get("model_file", MODEL_FILE))).read_bytes())
