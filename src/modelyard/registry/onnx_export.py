"""scikit-learn -> ONNX export (skl2onnx), for a portable artifact that onnxruntime serves.

The input type is taken from the example (float32 for numeric features, as skl2onnx's converters
expect); classifiers are converted without the ZipMap post-processing so that the probability
output is a plain array. The converted model is an ``onnx.ModelProto``: log it with
``log_model`` (flavor "onnx") like any other model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelyard.core.errors import InvalidArgument
from modelyard.core.extras import require_extra


def sklearn_to_onnx(model: Any, input_example: Any, *, target_opset: int | None = None) -> Any:
    """Convert a fitted estimator or pipeline; ``input_example`` fixes the feature count."""
    to_onnx = require_extra("skl2onnx", purpose="ONNX export needs skl2onnx").to_onnx
    from sklearn.base import is_classifier

    example = np.asarray(input_example.to_numpy() if hasattr(input_example, "to_numpy") else input_example)
    if example.ndim != 2 or example.dtype.kind not in "iuf":
        raise InvalidArgument(f"ONNX export needs a 2-D numeric input example, got {example.dtype} {example.shape}")
    options = {id(model): {"zipmap": False}} if is_classifier(model) else None
    try:
        return to_onnx(model, example[:1].astype(np.float32), options=options, target_opset=target_opset)
    except (RuntimeError, NotImplementedError, TypeError, ValueError) as exc:
        raise InvalidArgument(f"cannot convert {type(model).__name__} to ONNX: {exc}") from None
