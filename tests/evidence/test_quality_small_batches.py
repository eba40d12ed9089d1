"""The data-quality gate on small batches against a baseline with missing values, and errors
of the gate itself (they must not turn a warn-only check into a failed run)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipelines.steps import quality
from tests.evidence.test_quality import FEATURES, result_of, run_preprocess


@pytest.mark.parametrize(
    ("completeness", "rows"), [(0.949, 2), (0.5, 5), (0.05, 20), (0.0, 3), (0.0, 1000)]
)
def test_floor_is_zero_when_even_an_all_missing_batch_fits_the_bound(
    completeness: float, rows: int
) -> None:
    # GIVEN a baseline completeness and a batch so small that all-missing stays within the bound
    # THEN the floor is 0 (it raised "math domain error", or divided by zero at 0.0)
    assert quality.completeness_floor(completeness, rows) == 0.0


def test_floor_is_unchanged_where_the_bound_is_below_one() -> None:
    # GIVEN batches large enough for the bound to matter THEN the floor lies below the baseline
    for completeness, rows in ((0.9, 100), (0.949, 3), (0.5, 10), (0.99, 10_000)):
        floor = quality.completeness_floor(completeness, rows)
        assert 0.0 < floor < completeness
    assert quality.completeness_floor(1.0, 5) == 1.0  # no missing values: none allowed


def _baseline(tmp_path: Path, completeness: object) -> Path:
    root = tmp_path / "baseline"
    (root / "constraints").mkdir(parents=True)
    features = [
        {"name": name, "inferred_type": "Fractional", "completeness": completeness}
        for name in FEATURES
    ]
    (root / "constraints" / "constraints.json").write_text(json.dumps({"features": features}))
    return root


def _batch(rows: int) -> pd.DataFrame:
    return pd.DataFrame({name: [float(n) for n in range(rows)] for name in FEATURES})


@pytest.mark.parametrize("policy", ["warn", "fail"])
@pytest.mark.parametrize(("completeness", "rows"), [(0.949, 2), (0.5, 5), (0.05, 20), (0.0, 3)])
def test_small_batches_pass_a_baseline_with_missing_values(
    tmp_path: Path, policy: str, completeness: float, rows: int
) -> None:
    # GIVEN a baseline with missing values and a small complete batch
    code = run_preprocess(tmp_path, _batch(rows), _baseline(tmp_path, completeness), policy)
    # THEN Preprocess succeeds, the check passes and the shards are written
    assert code == 0
    assert result_of(tmp_path)["status"] == "pass"
    assert list((tmp_path / "shards").glob("*.csv"))


@pytest.mark.parametrize("broken", ["unreadable baseline", "bad constraint value"])
def test_a_gate_error_under_warn_is_a_warning_and_the_run_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], broken: str
) -> None:
    # GIVEN a gate that breaks: while loading its baseline, or while judging the batch
    baseline = _baseline(tmp_path, "high" if broken == "bad constraint value" else 0.9)
    if broken == "unreadable baseline":
        (baseline / "constraints" / "constraints.json").write_text("{not json")
    # WHEN Preprocess runs with policy warn
    code = run_preprocess(tmp_path, _batch(50), baseline, "warn")
    # THEN the run succeeds with its shards, and the log says the batch went unchecked
    assert code == 0
    assert list((tmp_path / "shards").glob("*.csv"))
    assert "WARNING data-quality gate error while " in capsys.readouterr().out
    assert not (tmp_path / "message").exists()


@pytest.mark.parametrize("broken", ["unreadable baseline", "bad constraint value"])
def test_a_gate_error_under_fail_is_a_one_line_failure(tmp_path: Path, broken: str) -> None:
    baseline = _baseline(tmp_path, "high" if broken == "bad constraint value" else 0.9)
    if broken == "unreadable baseline":
        (baseline / "constraints" / "constraints.json").write_text("{not json")
    # WHEN Preprocess runs with policy fail
    code = run_preprocess(tmp_path, _batch(50), baseline, "fail")
    # THEN it fails with one line in the failure file, and leaves no shard behind
    message = (tmp_path / "message").read_text()
    assert code == 1
    assert message.startswith("preprocess failed: data-quality gate error while ")
    assert "\n" not in message
    assert not list((tmp_path / "shards").glob("*"))
