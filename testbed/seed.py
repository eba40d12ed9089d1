"""Seed the dev account's model registry with a real scikit-learn model.

The model is a StandardScaler + LogisticRegression trained on three quarters of scikit-learn's
bundled breast cancer data set (the other quarter is held out to score and to measure accuracy),
packaged as the SageMaker scikit-learn container serves it: `model.joblib` at the root of
model.tar.gz and the inference module under `code/`, named by SAGEMAKER_PROGRAM.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import boto3
import joblib
import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

# Short names: CustomerMetadataProperties values hold at most 256 characters.
FEATURES = [f"f{i:02d}" for i in range(30)]
ID_COLUMN = "record_id"
INFERENCE_MODULE = Path(__file__).with_name("inference.py")
SKLEARN_IMAGE_VERSION = "1.2-1"
LABEL_COLUMN = "label"  # kept by the demo to measure accuracy; never sent to the pipeline
HOLDOUT_FRACTION = 0.25
ApprovalStatus = Literal["Approved", "Rejected", "PendingManualApproval"]
# Two Approved versions, so the demo can roll back from the newest one (3) to the older one (1).
VERSION_STATUSES: tuple[ApprovalStatus, ...] = (
    "Approved", "Rejected", "Approved", "PendingManualApproval",
)  # fmt: skip


def dataset() -> pd.DataFrame:
    """The breast cancer data with features renamed f00..f29 (dataset order) and a target."""
    data = load_breast_cancer()
    frame = pd.DataFrame(data.data, columns=FEATURES)
    frame["target"] = data.target
    return frame


def split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training rows and the held-out rows (stratified, always the same)."""
    frame = dataset()
    train, held_out = train_test_split(
        frame, test_size=HOLDOUT_FRACTION, stratify=frame["target"], random_state=0
    )
    return train, held_out


def train_model(seed: int = 0) -> Pipeline:
    """Fit the demo classifier on the training rows; `seed` varies the regularisation."""
    frame = split()[0]
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0 / (1 + seed), max_iter=1000))
    model.fit(frame[FEATURES], frame["target"])
    return model


def model_archive(model: Pipeline) -> bytes:
    """model.tar.gz: model.joblib at the root, the inference module under code/."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        dumped = io.BytesIO()
        joblib.dump(model, dumped)
        _add(archive, "model.joblib", dumped.getvalue())
        _add(archive, "code/inference.py", INFERENCE_MODULE.read_bytes())
    return buffer.getvalue()


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def sample_input(rows: int, *, seed: int = 7, labels: bool = False) -> pd.DataFrame:
    """Rows to score: held-out rows (with replacement) and a record id column first.

    With `labels`, the true class is kept as a last `label` column (for accuracy; drop it before
    sending the rows to the pipeline).
    """
    frame = split()[1]
    picked = frame.sample(n=rows, replace=rows > len(frame), random_state=seed)
    picked = picked.reset_index(drop=True)
    picked.insert(0, ID_COLUMN, [f"r{i:07d}" for i in range(rows)])
    picked = picked.rename(columns={"target": LABEL_COLUMN})
    return picked if labels else picked.drop(columns=[LABEL_COLUMN])


def sklearn_image(region: str) -> str:
    """The AWS scikit-learn serving image of the region (from the SDK's bundled table)."""
    from sagemaker.core import image_uris

    return str(image_uris.retrieve("sklearn", region=region, version=SKLEARN_IMAGE_VERSION))


def register_versions(
    session: boto3.Session,
    *,
    group: str,
    bucket: str,
    statuses: Sequence[ApprovalStatus] = VERSION_STATUSES,
) -> list[str]:
    """Register one model package per status in `group` (created when missing); return ARNs."""
    sm = session.client("sagemaker")
    s3 = session.client("s3")
    region = session.region_name
    if not sm.list_model_package_groups(NameContains=group)["ModelPackageGroupSummaryList"]:
        sm.create_model_package_group(ModelPackageGroupName=group)
    image = sklearn_image(region)
    arns = []
    for index, status in enumerate(statuses):
        model = train_model(seed=index)
        prefix = f"training/{group}/run-{index + 1}"
        s3.put_object(Bucket=bucket, Key=f"{prefix}/model.tar.gz", Body=model_archive(model))
        metrics = _evaluation(model)
        s3.put_object(Bucket=bucket, Key=f"{prefix}/evaluation.json", Body=metrics)
        arns.append(
            sm.create_model_package(
                ModelPackageGroupName=group,
                ModelPackageDescription=f"breast cancer classifier, training run {index + 1}",
                ModelApprovalStatus=status,
                InferenceSpecification=_inference_spec(image, f"s3://{bucket}/{prefix}", region),
                DriftCheckBaselines=data_quality_baseline(s3, bucket, prefix),
                ModelMetrics={
                    "ModelQuality": {
                        "Statistics": {
                            "ContentType": "application/json",
                            "S3Uri": f"s3://{bucket}/{prefix}/evaluation.json",
                        }
                    }
                },
                CustomerMetadataProperties={
                    # Metadata values may not hold commas (CustomerMetadataValue pattern).
                    "feature_columns": " ".join(FEATURES),
                    "training_data": "sklearn.datasets.load_breast_cancer",
                },
                Domain="MACHINE_LEARNING",
                Task="CLASSIFICATION",
            )["ModelPackageArn"]
        )
    return arns


def _inference_spec(image: str, prefix: str, region: str) -> Any:
    return {
        "Containers": [
            {
                "Image": image,
                "ModelDataUrl": f"{prefix}/model.tar.gz",
                "Environment": {
                    "SAGEMAKER_PROGRAM": "inference.py",
                    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                    "SAGEMAKER_REGION": region,
                },
            }
        ],
        "SupportedContentTypes": ["text/csv", "application/json", "application/x-parquet"],
        "SupportedResponseMIMETypes": ["text/csv", "application/json"],
        "SupportedTransformInstanceTypes": ["ml.m5.large", "ml.m5.xlarge"],
    }


def _evaluation(model: Pipeline) -> bytes:
    frame = split()[1]
    accuracy = float(np.mean(model.predict(frame[FEATURES]) == frame["target"]))
    report = {"binary_classification_metrics": {"accuracy": {"value": accuracy}}}
    return json.dumps(report).encode()


def data_quality_baseline(s3: Any, bucket: str, prefix: str) -> Any:
    """Upload statistics.json and constraints.json of the training features (the documented
    Model Monitor schema, from pipelines.baseline); return the DriftCheckBaselines member."""
    from pipelines.baseline import constraints_document, statistics_document

    statistics = statistics_document(dataset()[FEATURES])
    documents = {"Statistics": statistics, "Constraints": constraints_document(statistics)}
    quality = {}
    for member, document in documents.items():
        key = f"{prefix}/baseline/{member.lower()}.json"
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(document).encode())
        quality[member] = {"ContentType": "application/json", "S3Uri": f"s3://{bucket}/{key}"}
    return {"ModelDataQuality": quality}
