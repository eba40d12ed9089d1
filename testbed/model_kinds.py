"""Two more kinds of model beside the demo's scikit-learn one, trained on the same rows (seed.py):
a built-in XGBoost model and a team's own container whose image lives in the dev account's ECR.

- XGBoost: a booster trained with the real `xgboost` package, saved as the built-in algorithm
  saves it (`xgboost-model` alone in model.tar.gz, no user code), on AWS's XGBoost image.
- Own container: a logistic model exported as plain weights (the scaler folded in) and served by
  testbed/own_serve.py, a standard-library server of SageMaker's HTTP contract. Its image is
  pushed into the dev ECR as `docker push` would (testbed/images.py: tiny layers, one of them
  holding the server); the package declares `LOCAL_SERVE_COMMAND` so the local runner can serve
  it without Docker (docs/model-kinds.md).
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from typing import Any

import boto3
import numpy as np

from testbed import seed
from testbed.images import PushedImage, image_uri, push_image

XGBOOST_IMAGE_VERSION = "1.7-1"
XGBOOST_PARAMETERS = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "seed": 0}
XGBOOST_ROUNDS = 40
OWN_SERVER = seed.INFERENCE_MODULE.with_name("own_serve.py")
OWN_TAG = "1.0"
OWN_SERVE_COMMAND = "python3 /opt/ml/model/code/serve.py"
SUPPORTED = {"SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"],
             "SupportedTransformInstanceTypes": ["ml.m5.large", "ml.m5.xlarge"]}  # fmt: skip


def train_xgboost() -> Any:
    """A booster for the built-in algorithm, on the scikit-learn model's training rows."""
    import xgboost as xgb

    frame = seed.split()[0]
    matrix = xgb.DMatrix(frame[seed.FEATURES].to_numpy(), label=frame["target"].to_numpy())
    return xgb.train(XGBOOST_PARAMETERS, matrix, XGBOOST_ROUNDS)


def xgboost_archive(booster: Any) -> bytes:
    """model.tar.gz as the built-in algorithm writes it: `xgboost-model` alone."""
    return seed.archive({"xgboost-model": bytes(booster.save_raw("ubj"))})


def own_weights() -> dict[str, Any]:
    """The scikit-learn model's logistic regression with its scaler folded in: a score is
    sigmoid(bias + sum(weight * feature)), which needs nothing but the standard library."""
    model = seed.train_model()
    scaler, logistic = model.steps[0][1], model.steps[-1][1]
    weights = logistic.coef_[0] / scaler.scale_
    bias = float(logistic.intercept_[0] - np.sum(weights * scaler.mean_))
    return {"features": seed.FEATURES, "weights": weights.tolist(), "bias": bias}


def own_archive() -> bytes:
    """model.tar.gz of the own container: the weights, and the server for local runs."""
    return seed.archive({"model.json": json.dumps(own_weights()).encode(),
                    "code/serve.py": OWN_SERVER.read_bytes()})  # fmt: skip


def push_own_image(session: boto3.Session, repository: str) -> tuple[str, PushedImage]:
    """Create the dev repository (mutable tags, as teams keep them) and push the image: a base
    layer and an application layer holding the server. Return its URI by tag, and the push."""
    ecr = session.client("ecr")
    ecr.create_repository(repositoryName=repository)
    layers = [gzip.compress(b"a tiny base layer", mtime=0),
              _layer({"opt/program/serve": OWN_SERVER.read_bytes()})]  # fmt: skip
    pushed = push_image(ecr, repository, layers, tag=OWN_TAG)
    account = session.client("sts").get_caller_identity()["Account"]
    return image_uri(account, str(session.region_name), repository, OWN_TAG), pushed


def register(
    session: boto3.Session, *, group: str, bucket: str, container: dict[str, Any], body: bytes
) -> str:
    """One Approved package in `group` (created) with this container; its model.tar.gz is
    `body`, uploaded below the bucket. Return the package ARN."""
    sm, s3 = session.client("sagemaker"), session.client("s3")
    sm.create_model_package_group(ModelPackageGroupName=group)
    key = f"training/{group}/run-1/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    specification: Any = {"Containers": [{**container, "ModelDataUrl": f"s3://{bucket}/{key}"}],
                     **SUPPORTED}  # fmt: skip
    return str(
        sm.create_model_package(
            ModelPackageGroupName=group,
            ModelApprovalStatus="Approved",
            InferenceSpecification=specification,
            CustomerMetadataProperties={"feature_columns": " ".join(seed.FEATURES)},
        )["ModelPackageArn"]
    )


def xgboost_container(region: str) -> dict[str, Any]:
    """The built-in algorithm's container: AWS's image, no user code."""
    from sagemaker.core import image_uris

    image = image_uris.retrieve("xgboost", region=region, version=XGBOOST_IMAGE_VERSION)
    return {"Image": str(image), "Framework": "XGBOOST"}


def own_container(image: str) -> dict[str, Any]:
    """The own container, with the command that serves it on a machine without Docker."""
    return {"Image": image, "Environment": {"LOCAL_SERVE_COMMAND": OWN_SERVE_COMMAND}}


def _layer(files: dict[str, bytes]) -> bytes:
    """An image layer: a gzip-compressed tar, the same bytes at every run (no timestamps)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)
