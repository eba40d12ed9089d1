"""The demo flow end to end on an embedded moto server: registry -> build.py -> local pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from demo.__main__ import run_demo
from demo.local_aws import local_aws
from demo.seed import FEATURES, ID_COLUMN, train_model


def test_demo_predictions_equal_the_models_own(tmp_path: Path) -> None:
    # GIVEN the three-account local AWS
    with local_aws():
        # WHEN the demo promotes the approved version and runs the pre-prod pipeline locally
        result = run_demo(rows=700, output_dir=tmp_path / "out", build_dir=tmp_path / "build")

    # THEN every row is scored exactly once, by version 1, with the model's own predictions
    assert result.status == "Succeeded"
    assert result.source_version == 1
    assert set(result.step_seconds) == {"Preprocess", "Transform", "Postprocess", "Publish"}
    scored = result.predictions.set_index(ID_COLUMN).loc[result.sample[ID_COLUMN]]
    assert len(result.predictions) == len(result.sample) == 700
    assert (scored["model_package_version"] == 1).all()
    expected = train_model(seed=0).predict_proba(result.sample[FEATURES])[:, 1]
    np.testing.assert_allclose(scored["prediction"].to_numpy(), expected, rtol=0, atol=1e-5)
    assert (tmp_path / "out" / "predictions.parquet").is_file()
    assert result.output_prefix.startswith("s3://batch-inference-data-222222222222/predictions/")
