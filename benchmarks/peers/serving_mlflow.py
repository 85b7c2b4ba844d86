"""MLflow side of the serving benchmark: save the pickled estimator as an MLflow model (with its
signature, as ``mlflow.sklearn.log_model`` would), for ``mlflow models serve --env-manager local``.

    python serving_mlflow.py MODEL_PKL OUT_DIR
"""

from __future__ import annotations

import pickle
import sys

import mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.datasets import load_breast_cancer


def main() -> None:
    with open(sys.argv[1], "rb") as handle:
        model = pickle.load(handle)
    frame, _ = load_breast_cancer(return_X_y=True, as_frame=True)
    signature = infer_signature(frame.head(), model.predict(frame.head()))
    mlflow.sklearn.save_model(model, sys.argv[2], signature=signature, input_example=frame.head(2))


if __name__ == "__main__":
    main()
