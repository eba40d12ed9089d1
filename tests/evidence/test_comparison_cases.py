"""Champion/challenger on what a run really writes: nulls, several prediction columns, typed
columns and repeated ids (each of these passed a comparison that should not have)."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
from moto import mock_aws

from errors import PromotionError
from pipelines import compare
from promotion.registry import LINEAGE_SOURCE_ARN, LINEAGE_SOURCE_VERSION
from utils import new_session

ACCOUNT = "123456789012"  # moto's default account
BUCKET = "artifacts-bucket"
ROWS = 1000


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield new_session(region_name="eu-west-1")


def _stage(
    aws: Any, make_config: Any, outputs: Mapping[int, pd.DataFrame], **config: Any
) -> tuple[Any, Any]:
    """Versions 6 and 7 in the stage, and a scorer writing what Postprocess writes: Parquet
    files and a ``_SUCCESS`` naming the id columns. Without an id_column the ids are the row's
    source file and number."""
    config.setdefault("id_column", None)
    stage = make_config(account_id=ACCOUNT, artifacts_bucket=BUCKET,
                        sagemaker_execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/x",
                        evaluation_input_url="s3://eval-bucket/in/", **config)  # fmt: skip
    sm, s3 = aws.client("sagemaker"), aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    sm.create_model_package_group(ModelPackageGroupName=stage.model_package_group_name)
    for version in outputs:
        sm.create_model_package(
            ModelPackageGroupName=stage.model_package_group_name,
            CustomerMetadataProperties={
                LINEAGE_SOURCE_ARN: compare.source_arn(aws, stage, version),
                LINEAGE_SOURCE_VERSION: str(version),
            },
        )
    ids = [stage.id_column] if stage.id_column else ["source_file", "row_number"]

    def score(version: int, _package: str, output_url: str) -> Any:
        frame = outputs[version].assign(model_package_version=version, execution_id="e")
        buffer = io.BytesIO()
        frame.to_parquet(buffer)
        bucket, key = output_url.removeprefix("s3://").split("/", 1)
        folder = f"{key}2026-01-01/e{version}/"
        s3.put_object(Bucket=bucket, Key=f"{folder}part-00000.parquet", Body=buffer.getvalue())
        success = {"status": "SUCCEEDED", "id_columns": ids, "prediction_rows": len(frame)}
        s3.put_object(Bucket=bucket, Key=f"{folder}_SUCCESS", Body=json.dumps(success).encode())
        return lambda: None

    return stage, score


def _compare(
    aws: Any, make_config: Any, outputs: Mapping[int, pd.DataFrame], **config: Any
) -> dict[str, Any]:
    """The comparison's JSON document of versions 6 and 7 scoring ``outputs``."""
    stage, score = _stage(aws, make_config, outputs, **config)
    document, _report = compare.run_comparison(
        aws, stage, champion=6, challenger=7, score=score, run_id="t"
    )
    return document


def _rows(**columns: Any) -> pd.DataFrame:
    return pd.DataFrame({"source_file": "eval.csv", "row_number": np.arange(ROWS), **columns})


def test_a_challenger_predicting_nan_for_every_row_fails(aws: Any, make_config: Any) -> None:
    # GIVEN a champion with predictions and a challenger whose every prediction is NaN
    champion = _rows(prediction=np.linspace(0, 1, ROWS))
    challenger = _rows(prediction=np.full(ROWS, np.nan))
    # WHEN compared
    document = _compare(aws, make_config, {6: champion, 7: challenger})
    # THEN every row is a large difference, and the report is valid JSON (no NaN)
    assert document["verdict"] == "fail"
    assert document["result"]["large_share"] == 1.0
    json.loads(json.dumps(document), parse_constant=lambda name: pytest.fail(name))


def test_rows_null_on_one_side_or_both_are_large_differences(aws: Any, make_config: Any) -> None:
    # GIVEN 3 % of rows null on the champion's side only, 3 % on the challenger's only, 3 % both
    values = np.linspace(0, 1, ROWS)
    a, b = values.copy(), values.copy()
    a[:30] = np.nan
    b[30:60] = np.nan
    a[60:90] = b[60:90] = np.nan
    # WHEN compared
    document = _compare(aws, make_config, {6: _rows(prediction=a), 7: _rows(prediction=b)})
    # THEN all 9 % count as large differences (more than the 5 % allowed): fail
    assert document["result"]["large_share"] == pytest.approx(0.09)
    assert document["result"]["nulls"] == {"champion": 60, "challenger": 60}
    assert document["verdict"] == "fail"


def test_every_declared_prediction_column_is_compared_none_is_an_id(
    aws: Any, make_config: Any
) -> None:
    # GIVEN prediction and confidence, and 30 % of the rows' prediction off by 0.5 while the
    # two versions' confidence mostly differs
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 1, ROWS)
    shifted = base.copy()
    shifted[: ROWS * 3 // 10] += 0.5
    champion = _rows(prediction=base, confidence=np.round(rng.uniform(0, 1, ROWS), 1))
    challenger = _rows(prediction=shifted, confidence=np.round(rng.uniform(0, 1, ROWS), 1))
    # WHEN compared under prediction_columns ["prediction", "confidence"]
    document = _compare(aws, make_config, {6: champion, 7: challenger},
                        prediction_columns=["prediction", "confidence"])  # fmt: skip
    # THEN rows are matched by the recorded ids only, all are compared, and it fails
    result = document["result"]
    assert result["id_columns"] == ["source_file", "row_number"]
    assert result["rows"]["compared"] == ROWS
    assert set(result["columns"]) == {"prediction", "confidence"}
    assert result["columns"]["prediction"]["large_share"] == pytest.approx(0.3)
    assert document["verdict"] == "fail"


def test_a_string_label_column_is_compared_by_equality(aws: Any, make_config: Any) -> None:
    # GIVEN the documented ["label:string", "score"], an id column of the model's own, and
    # labels that differ on 10 % of the rows while the scores agree
    labels = np.where(np.arange(ROWS) % 2 == 0, "cat", "dog")
    other = labels.copy()
    other[:100] = "bird"
    score = np.linspace(0, 1, ROWS)
    ids = {"record_id": [f"r{i:04d}" for i in range(ROWS)]}
    champion = pd.DataFrame({**ids, "label": labels, "score": score})
    challenger = pd.DataFrame({**ids, "label": other, "score": score})
    # WHEN compared
    document = _compare(aws, make_config, {6: champion, 7: challenger}, id_column="record_id",
                        prediction_columns=["label:string", "score"])  # fmt: skip
    # THEN the label mismatches are the large differences: fail
    result = document["result"]
    assert result["id_columns"] == ["record_id"]
    assert result["columns"]["label"]["large_share"] == pytest.approx(0.1)
    assert result["columns"]["score"]["large_share"] == 0.0
    assert document["verdict"] == "fail"


def test_repeated_ids_are_refused_naming_the_version_and_an_id(aws: Any, make_config: Any) -> None:
    # GIVEN id_policy count and an evaluation input whose 3,000 rows repeat ids r0..r999
    ids = {"record_id": [f"r{i % ROWS}" for i in range(3 * ROWS)]}
    frame = pd.DataFrame({**ids, "prediction": np.zeros(3 * ROWS)})
    # WHEN compared THEN refused in one line, before any many-to-many join
    with pytest.raises(PromotionError) as refused:
        _compare(aws, make_config, {6: frame, 7: frame}, id_column="record_id", id_policy="count")
    message = str(refused.value)
    assert "\n" not in message and refused.value.exit_code == 1
    assert "version 6" in message and "'r0'" in message


def test_a_refused_comparison_still_blocks_a_stage_it_blocks(
    aws: Any, make_config: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a stage whose comparison blocks prod, and versions whose output repeats ids
    frame = pd.DataFrame({"record_id": ["r1", "r1"], "prediction": [0.0, 0.0]})
    stage, score = _stage(aws, make_config, {6: frame, 7: frame}, id_column="record_id",
                          id_policy="count", comparison_blocks_prod=True)  # fmt: skip
    monkeypatch.setattr(compare, "local_scorer", lambda *_args: score)
    # WHEN the command compares them
    code = compare.main(
        ["--stage", "pre-prod", "--config", str(stage.path), "--champion", "6",
         "--challenger", "7", "--output", str(tmp_path), "--local"],
        session_factory=boto3.Session,
    )  # fmt: skip
    # THEN it fails, and the report it leaves says why and blocks the prod plan (no report
    # would let the prod plan go ahead)
    document = json.loads((tmp_path / "comparison.json").read_text())
    assert code == 1
    assert document["status"] == "refused" and document["blocks_prod"] is True
    assert "version 6: id 'r1'" in document["reason"]
    assert "no verdict (blocks the prod plan)" in (tmp_path / "comparison.md").read_text()
