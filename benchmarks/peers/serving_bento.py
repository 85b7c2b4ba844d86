"""BentoML 1.4 side of the serving benchmark: the same pickled estimator as a BentoML service with
two workers; ``BENTO_BATCH=1`` turns on its adaptive batching (``batchable=True``).

    bentoml serve serving_bento:Classifier --port PORT   (MODEL_PATH, BENTO_BATCH, BENTO_MAX_LATENCY_MS)
"""

from __future__ import annotations

import os
import pickle
import warnings

import bentoml
import numpy as np

warnings.filterwarnings("ignore", message="X does not have valid feature names")
BATCH = os.environ.get("BENTO_BATCH") == "1"
MAX_LATENCY_MS = int(os.environ.get("BENTO_MAX_LATENCY_MS", "100"))
MAX_BATCH = int(os.environ.get("BENTO_MAX_BATCH", "64"))


@bentoml.service(workers=2, traffic={"timeout": 30})
class Classifier:
    def __init__(self) -> None:
        with open(os.environ["MODEL_PATH"], "rb") as handle:
            self.model = pickle.load(handle)

    if BATCH:

        @bentoml.api(batchable=True, max_batch_size=MAX_BATCH, max_latency_ms=MAX_LATENCY_MS)
        def predict(self, input_data: np.ndarray) -> np.ndarray:
            return self.model.predict(input_data)

    else:

        @bentoml.api
        def predict(self, input_data: np.ndarray) -> np.ndarray:
            return self.model.predict(input_data)
