"""Baselines round-trip through the schema AWS documents for Model Monitor.

Statistics: https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-statistics.html
Constraints: https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-byoc-constraints.html
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines import baseline
from pipelines.steps import quality
from tests.evidence.test_quality import training

NUMERIC_KEYS = {"common", "mean", "sum", "std_dev", "min", "max", "distribution"}
MONITORING_KEYS = {"evaluate_constraints", "emit_metrics", "datatype_check_threshold",
                   "domain_content_threshold", "distribution_constraints"}  # fmt: skip
DISTRIBUTION_KEYS = {"perform_comparison", "comparison_threshold", "comparison_method"}


def check_statistics(document: dict[str, Any]) -> None:
    """The documented statistics.json structure (types and key names)."""
    assert document["version"] == 0 and isinstance(document["dataset"]["item_count"], int)
    for feature in document["features"]:
        assert feature["inferred_type"] in ("Fractional", "Integral", "String")
        if feature["inferred_type"] == "String":
            stats = feature["string_statistics"]
            assert {"common", "distinct_count", "distribution"} <= set(stats)
            assert all({"value", "count"} == set(b) for b in
                       stats["distribution"]["categorical"]["buckets"])  # fmt: skip
            continue
        stats = feature["numerical_statistics"]
        assert set(stats) == NUMERIC_KEYS
        assert set(stats["common"]) == {"num_present", "num_missing"}
        kll = stats["distribution"]["kll"]
        assert all(set(b) == {"lower_bound", "upper_bound", "count"} for b in kll["buckets"])
        assert set(kll["sketch"]["parameters"]) == {"c", "k"}
        assert all(isinstance(level, list) for level in kll["sketch"]["data"])


def check_constraints(document: dict[str, Any]) -> None:
    """The documented constraints.json structure."""
    assert document["version"] == 0
    for feature in document["features"]:
        assert {"name", "inferred_type", "completeness"} <= set(feature)
        assert 0 <= feature["completeness"] <= 1
    assert set(document["monitoring_config"]) == MONITORING_KEYS
    assert set(document["monitoring_config"]["distribution_constraints"]) == DISTRIBUTION_KEYS


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_cli_writes_documented_files_that_read_back(tmp_path: Path, suffix: str) -> None:
    # GIVEN a training dataset with a label, a text column and a missing value
    frame = training(500)
    frame["segment"] = np.where(frame["b"] > 0, "north", "south")
    frame.loc[7, "a"] = np.nan
    data = tmp_path / f"train.{suffix}"
    frame.to_csv(data, index=False) if suffix == "csv" else frame.to_parquet(data)
    # WHEN the CLI writes a baseline without the label
    code = baseline.main(["--input", str(data), "--output", str(tmp_path / "out"),
                          "--exclude", "target", "--comparison-threshold", "0.2"])  # fmt: skip
    # THEN both files follow the documented schema
    statistics = json.loads((tmp_path / "out" / "statistics.json").read_text())
    constraints = json.loads((tmp_path / "out" / "constraints.json").read_text())
    assert code == 0
    check_statistics(statistics)
    check_constraints(constraints)
    by_name = {f["name"]: f for f in statistics["features"]}
    assert set(by_name) == {"a", "b", "count", "segment"}
    assert by_name["count"]["inferred_type"] == "Integral"
    assert by_name["a"]["numerical_statistics"]["common"] == {"num_present": 499, "num_missing": 1}
    assert (
        constraints["monitoring_config"]["distribution_constraints"]["comparison_threshold"] == 0.2
    )
    # AND read back by the check, the training data itself passes against them
    profiles = {}
    for name in ("a", "b", "count"):
        profile = quality.FeatureProfile(quality.baseline_cdf(by_name[name])[0])
        profile.add(pd.to_numeric(frame[name]).to_numpy(dtype=float))
        profiles[name] = profile
    numeric = {
        **constraints,
        "features": [f for f in constraints["features"] if f["name"] != "segment"],
    }
    stats = {
        **statistics,
        "features": [f for f in statistics["features"] if f["name"] != "segment"],
    }
    result = quality.evaluate(profiles, statistics=stats, constraints=numeric)
    assert result["violations"] == []
    assert max(f["distance"] for f in result["features"]) < 1e-9


def test_cli_refuses_an_unknown_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a dataset WHEN a column that is not there is asked for THEN one line, exit 2
    data = tmp_path / "train.csv"
    training(10).to_csv(data, index=False)
    assert baseline.main(["--input", str(data), "--output", str(tmp_path), "--columns", "zz"]) == 2
    assert capsys.readouterr().err.strip() == "error: the dataset has no column(s) zz"


def test_sketch_weights_add_up_to_the_count() -> None:
    # GIVEN many values WHEN sketched THEN items x 2**level approximate the count
    data = baseline.sketch_data(np.arange(10_000, dtype=float))
    level = len(data) - 1
    assert all(not items for items in data[:-1])
    assert abs(len(data[-1]) * 2**level - 10_000) <= 2**level
