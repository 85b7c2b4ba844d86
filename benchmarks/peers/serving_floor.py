"""The floor of the serving benchmark: a minimal hand-written FastAPI + uvicorn app, as an engineer
would write it in ten minutes (unpickle the model, turn JSON rows into an array, predict).

    uvicorn serving_floor:app --workers 2   (with MODEL_PATH=the pickled estimator)
"""

from __future__ import annotations

import os
import pickle
import warnings

import numpy as np
from fastapi import FastAPI, Request

warnings.filterwarnings("ignore", message="X does not have valid feature names")

with open(os.environ["MODEL_PATH"], "rb") as handle:
    model = pickle.load(handle)

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/predict")
async def predict(request: Request) -> dict[str, list[int]]:
    rows = await request.json()
    return {"predictions": model.predict(np.asarray(rows, dtype=np.float64)).tolist()}
