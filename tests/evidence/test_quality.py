"""The data-quality gate in Preprocess, the baseline CLI and the documented Model Monitor schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pytest
from moto import mock_aws

from pipelines import baseline as baseline_cli
from pipelines.definition.quality_inputs import METRIC_NAMESPACE, Baseline, package_baseline
from pipelines.steps import preprocess, quality

FEATURES = ["a", "b", "count"]
QUALITY_MODULE = Path(quality.__file__)


def training(rows: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Two normal features and one whole-number feature."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(10, 2, rows),
            "b": rng.normal(0, 1, rows),
            "count": rng.integers(0, 50, rows),
            "target": rng.integers(0, 2, rows),
        }
    )


@pytest.fixture
def baseline_dir(tmp_path: Path) -> Path:
    """statistics/ and constraints/ as the processing inputs lay them out."""
    files = baseline_cli.write_baseline(training(), tmp_path / "files")
    root = tmp_path / "baseline"
    for part, path in zip(("statistics", "constraints"), files, strict=True):
        (root / part).mkdir(parents=True)
        (root / part / path.name).write_bytes(path.read_bytes())
    return root


def run_preprocess(tmp_path: Path, batch: pd.DataFrame, baseline: Path, policy: str) -> int:
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    batch.insert(0, "id", [f"r{i}" for i in range(len(batch))])
    batch.to_csv(data / "batch.csv", index=False)
    options = {
        "policy": policy,
        "baseline_dir": baseline,
        "output_dir": tmp_path / "quality",
        "metric_namespace": METRIC_NAMESPACE,
        "pipeline_name": "p",
        "region": "eu-west-1",
    }
    argv = [
        *("--input-dir", str(data), "--shards-dir", str(tmp_path / "shards")),
        *("--ids-dir", str(tmp_path / "ids"), "--failure-file", str(tmp_path / "message")),
        *("--resource-config", str(tmp_path / "none"), "--feature-columns", ",".join(FEATURES)),
        *("--id-column", "id", "--quality-code", str(QUALITY_MODULE)),
    ]
    for key, value in options.items():
        argv += ["--quality-option", f"{key}={value}"]
    return preprocess.main(argv)


def result_of(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "quality" / "algo-1-data-quality.json").read_text())


def metric_values(cloudwatch: Any) -> list[float]:
    stats = cloudwatch.get_metric_data(
        MetricDataQueries=[{"Id": "v", "MetricStat": {"Metric": {
            "Namespace": METRIC_NAMESPACE, "MetricName": quality.METRIC_NAME,
            "Dimensions": [{"Name": "PipelineName", "Value": "p"}]}, "Period": 60, "Stat": "Sum"}}],
        StartTime=pd.Timestamp.now(tz="UTC") - pd.Timedelta(hours=1),
        EndTime=pd.Timestamp.now(tz="UTC") + pd.Timedelta(hours=1),
    )  # fmt: skip
    return list(stats["MetricDataResults"][0]["Values"])


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="eu-west-1")


def test_clean_batch_passes_and_publishes_zero(
    tmp_path: Path, baseline_dir: Path, aws: Any
) -> None:
    # GIVEN a batch drawn like the training data
    batch = training(400, seed=1)[FEATURES]
    # WHEN Preprocess runs with policy warn
    code = run_preprocess(tmp_path, batch, baseline_dir, "warn")
    # THEN it succeeds, the result passes, shards exist and the metric says 0 violations
    assert code == 0
    assert result_of(tmp_path)["status"] == "pass"
    assert list((tmp_path / "shards").glob("*.csv"))
    assert (tmp_path / "quality" / "algo-1-data-quality.md").read_text().startswith("### Data")
    assert metric_values(aws) == [0.0]


def test_drift_fails_the_run_and_names_the_feature(tmp_path: Path, baseline_dir: Path) -> None:
    # GIVEN a batch whose feature b moved by 4 standard deviations
    batch = training(400, seed=1)[FEATURES]
    batch["b"] += 4.0
    # WHEN Preprocess runs with policy fail
    code = run_preprocess(tmp_path, batch, baseline_dir, "fail")
    # THEN it fails with one line naming b, writes no shard, and the result shows the drift
    message = (tmp_path / "message").read_text()
    assert code == 1
    assert message.startswith("preprocess failed: data quality: b (drift 0.8")
    assert "a (" not in message
    assert not list((tmp_path / "shards").glob("*"))
    violations = result_of(tmp_path)["violations"]
    assert [(v["feature_name"], v["constraint_check_type"]) for v in violations] == [
        ("b", "baseline_drift_check")
    ]


def test_warn_policy_continues_and_publishes_the_violation(
    tmp_path: Path, baseline_dir: Path, aws: Any
) -> None:
    # GIVEN the drifted batch
    batch = training(400, seed=1)[FEATURES]
    batch["b"] += 4.0
    # WHEN Preprocess runs with policy warn
    code = run_preprocess(tmp_path, batch, baseline_dir, "warn")
    # THEN the run goes on (shards written) and CloudWatch receives 1 violation
    assert code == 0
    assert list((tmp_path / "shards").glob("*.csv"))
    assert result_of(tmp_path)["status"] == "violations"
    assert metric_values(aws) == [1.0]


def test_missing_column_is_reported(tmp_path: Path, baseline_dir: Path) -> None:
    # GIVEN a batch without column a
    batch = training(50, seed=1)[["b", "count"]]
    # WHEN Preprocess runs (even with warn: a batch without a feature cannot be scored)
    code = run_preprocess(tmp_path, batch, baseline_dir, "warn")
    # THEN it fails and the data-quality result records the input error naming the column
    assert code == 1
    result = result_of(tmp_path)
    assert result["status"] == "error"
    wanted = "lacks 1 of the model's 4 columns (3 feature column(s) and the id column): a"
    assert wanted in result["error"]


def test_missing_column_check_when_a_baseline_feature_is_not_profiled() -> None:
    # GIVEN a baseline of a and b and a profile of b only
    statistics = baseline_cli.statistics_document(training(100)[["a", "b"]])
    profile = quality.FeatureProfile(quality.baseline_cdf(statistics["features"][1])[0])
    profile.add(np.zeros(10))
    # WHEN evaluated
    result = quality.evaluate({"b": profile}, statistics=statistics, constraints=None)
    # THEN a is a missing_column_check violation
    assert {"feature_name": "a", "constraint_check_type": "missing_column_check",
            "description": "not in the batch"} in result["violations"]  # fmt: skip


def test_wrong_type_fractional_values_in_an_integral_feature(
    tmp_path: Path, baseline_dir: Path
) -> None:
    # GIVEN a batch whose whole-number feature now holds fractions (a unit change)
    batch = training(400, seed=1)[FEATURES]
    batch["count"] = batch["count"] / 3.7
    # WHEN Preprocess runs with policy fail
    code = run_preprocess(tmp_path, batch, baseline_dir, "fail")
    # THEN a data_type_check violation on count fails the run
    assert code == 1
    checks = {
        (v["feature_name"], v["constraint_check_type"]) for v in result_of(tmp_path)["violations"]
    }
    assert ("count", "data_type_check") in checks


def test_wrong_type_text_in_a_feature_is_an_input_error(tmp_path: Path, baseline_dir: Path) -> None:
    # GIVEN text in feature a
    batch = training(20, seed=1)[FEATURES].astype({"a": object})
    batch.loc[3, "a"] = "ten"
    # WHEN Preprocess runs
    code = run_preprocess(tmp_path, batch, baseline_dir, "warn")
    # THEN it fails and the result says why
    assert code == 1
    assert result_of(tmp_path)["status"] == "error"


def test_completeness_and_sign_constraints() -> None:
    # GIVEN constraints requiring completeness 1 and non-negative values
    constraints = {"features": [{"name": "x", "inferred_type": "Fractional", "completeness": 1.0,
                                 "num_constraints": {"is_non_negative": True}}]}  # fmt: skip
    profile = quality.FeatureProfile()
    profile.add(np.array([1.0, -2.0, np.nan]))
    # WHEN evaluated
    result = quality.evaluate({"x": profile}, statistics=None, constraints=constraints)
    # THEN both constraints are violated
    kinds = [v["constraint_check_type"] for v in result["violations"]]
    assert kinds == ["completeness_check", "non_negative_check"]


def test_policy_off_renders_no_check_and_warn_renders_the_inputs(make_config: Any) -> None:
    # GIVEN a package baseline and the two policies
    from pipelines.definition.pipeline import render_definition

    found = Baseline("s3://b/k/statistics.json", "s3://b/k/constraints.json")

    def preprocess_args(policy: str) -> dict[str, Any]:
        definition = json.loads(render_definition(
            config=make_config(data_quality=policy), pipeline_name="p", model_name="m",
            model_package_version=1, feature_columns=FEATURES, baseline=found))  # fmt: skip
        return definition["Steps"][0]["Arguments"]

    # WHEN rendered (once: a render takes seconds) THEN warn adds the module,
    # both baseline files, an output and the options
    warn = preprocess_args("warn")
    names = [i["InputName"] for i in warn["ProcessingInputs"]]
    assert names[-3:] == ["quality-code", "baseline-statistics", "baseline-constraints"]
    assert [o["OutputName"] for o in warn["ProcessingOutputConfig"]["Outputs"]][0] == "quality"
    assert "policy=warn" in warn["AppSpecification"]["ContainerArguments"]
    # AND off adds nothing (the same helper, without rendering again)
    from pipelines.definition.definition import _quality_parts

    assert _quality_parts(make_config(data_quality="off"), "p", {}, found) == ([], [], [])


def test_package_baseline_prefers_drift_check_baselines() -> None:
    # GIVEN packages with both, one, or no data-quality baseline
    def quality_of(prefix: str) -> dict[str, Any]:
        return {"ModelDataQuality": {"Statistics": {"S3Uri": f"{prefix}/s.json"},
                                     "Constraints": {"S3Uri": f"{prefix}/c.json"}}}  # fmt: skip

    both = {"DriftCheckBaselines": quality_of("s3://d"), "ModelMetrics": quality_of("s3://m")}
    # WHEN read THEN DriftCheckBaselines wins, ModelMetrics is the fallback, none is None
    assert package_baseline(both) == Baseline("s3://d/s.json", "s3://d/c.json")
    assert package_baseline({"ModelMetrics": quality_of("s3://m")}) == Baseline(
        "s3://m/s.json", "s3://m/c.json"
    )
    assert package_baseline({"ModelMetrics": {"ModelQuality": {}}}) is None


def test_the_alarm_reads_the_metric_the_check_publishes() -> None:
    # GIVEN the root module WHEN read THEN its data-quality alarm names our namespace and metric
    from promotion.config import REPO_ROOT

    text = (REPO_ROOT / "batch-config-template.tf").read_text(encoding="utf-8")
    block = text[text.index('resource "aws_cloudwatch_metric_alarm" "data_quality"') :]
    assert f'namespace           = "{METRIC_NAMESPACE}"' in block
    assert f'metric_name         = "{quality.METRIC_NAME}"' in block


def test_a_host_without_rows_reports_no_violation(tmp_path: Path, baseline_dir: Path) -> None:
    # GIVEN a gate that saw no rows (more instances than input files)
    gate = quality.Gate(FEATURES, {"policy": "fail", "baseline_dir": str(baseline_dir),
                                   "output_dir": str(tmp_path)}, "algo-2")  # fmt: skip
    # WHEN it finishes THEN nothing fails and nothing is a violation
    assert gate.finish() is None
    result = json.loads((tmp_path / "algo-2-data-quality.json").read_text())
    assert (result["status"], result["violations"], result["rows"]) == ("pass", [], 0)
