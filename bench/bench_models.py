"""The models bench_local scores, side by side: the demo's scikit-learn model (script mode,
testbed/inference.py) and a built-in XGBoost model (``xgboost-model``, no user code), both trained
on the breast cancer rows with features f00..f29.

Each kind knows its package container and how the baseline computes exactly the scores the
pipeline publishes for it (tests/local/test_bench_baseline.py holds the two equal)."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from testbed.seed import archive

REPO = Path(__file__).resolve().parents[1]
NAMES = [f"f{i:02d}" for i in range(30)]
REGION = "us-east-1"
REGISTRY = f"683313688378.dkr.ecr.{REGION}.amazonaws.com"  # AWS's sklearn/XGBoost images
SKLEARN_IMAGE = f"{REGISTRY}/sagemaker-scikit-learn:1.4-2"
XGBOOST_IMAGE = f"{REGISTRY}/sagemaker-xgboost:3.0-5"


def _training_rows() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    features, labels = load_breast_cancer(return_X_y=True)
    return pd.DataFrame(features, columns=NAMES), labels


@dataclass(frozen=True)
class ModelKind:
    """One kind of model in the benchmark."""

    name: str

    def train(self) -> Any:
        """The model, trained on the breast cancer rows."""
        frame, labels = _training_rows()
        if self.name == "sklearn":
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(
                frame, labels
            )
        import xgboost as xgb

        params = {"objective": "binary:logistic", "max_depth": 4, "eta": 0.3}
        return xgb.train(params, xgb.DMatrix(frame.to_numpy(), label=labels), 50)

    def save(self, model: Any, path: Path) -> None:
        """The model as the baseline loads it."""
        if self.name == "sklearn":
            joblib.dump(model, path)
        else:
            path.write_bytes(self.model_file(model))

    def load(self, path: Path) -> Any:
        """What ``save`` wrote."""
        if self.name == "sklearn":
            return joblib.load(path)
        import xgboost as xgb

        booster = xgb.Booster()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            booster.load_model(bytearray(path.read_bytes()))
        return booster

    @staticmethod
    def model_file(booster: Any) -> bytes:
        """The booster as the built-in algorithm saves ``xgboost-model``."""
        return bytes(booster.save_raw("ubj"))

    def archive(self, model: Any) -> bytes:
        """model.tar.gz: model.joblib and code/inference.py, or xgboost-model alone."""
        if self.name == "sklearn":
            pickled = io.BytesIO()
            joblib.dump(model, pickled)
            code = (REPO / "testbed" / "inference.py").read_bytes()
            return archive({"model.joblib": pickled.getvalue(), "code/inference.py": code})
        return archive({"xgboost-model": self.model_file(model)})

    def container(self, model_data_url: str) -> dict[str, Any]:
        """The package's container for this kind."""
        if self.name == "sklearn":
            environment = {
                "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
            }
            return {"Image": SKLEARN_IMAGE, "ModelDataUrl": model_data_url,
                    "Environment": environment}  # fmt: skip
        return {"Image": XGBOOST_IMAGE, "Framework": "XGBOOST", "ModelDataUrl": model_data_url}

    def scores(self, frame: pd.DataFrame, model: Any) -> np.ndarray:
        """The scores the pipeline publishes for ``frame``'s features, as float64.

        scikit-learn: the demo's ``predict_fn`` on float32 features (as its ``input_fn`` gives
        them). XGBoost: the booster on the float64 features (the container's CSV decoder), its
        float32 scores printed and read back as doubles (exact).
        """
        if self.name == "sklearn":
            from testbed import inference

            return np.asarray(
                inference.predict_fn(frame[NAMES].to_numpy(dtype=np.float32), model), np.float64
            )
        import xgboost as xgb

        matrix = xgb.DMatrix(frame[NAMES].to_numpy(dtype=np.float64))
        return np.asarray(model.predict(matrix, validate_features=False), np.float64)


KINDS = (ModelKind("sklearn"), ModelKind("xgboost"))
