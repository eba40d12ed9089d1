"""The demo's other model kinds (testbed/model_kinds.py) and the own container's server."""

from __future__ import annotations

import io
import json
import math
import tarfile
from pathlib import Path

import numpy as np
import pytest

from testbed import model_kinds, own_serve, seed


def test_the_own_server_scores_a_row_as_the_weights_say_and_refuses_a_short_row(
    tmp_path: Path,
) -> None:
    # GIVEN the own container's model.tar.gz, extracted and loaded as the server loads it
    weights = model_kinds.own_weights()
    with tarfile.open(fileobj=io.BytesIO(model_kinds.own_archive())) as archive:
        archive.extractall(tmp_path, filter="data")
    assert json.loads((tmp_path / "model.json").read_text()) == weights
    assert (tmp_path / "code" / "serve.py").read_bytes() == model_kinds.OWN_SERVER.read_bytes()
    own_serve.load(tmp_path)
    first = seed.split()[1][seed.FEATURES].iloc[:1]
    row = first.iloc[0].to_numpy()
    # WHEN a row is scored THEN it is the logistic model's probability
    expected = 1 / (1 + math.exp(-(float(row @ np.array(weights["weights"])) + weights["bias"])))
    assert float(own_serve.score(",".join(repr(float(v)) for v in row))) == pytest.approx(expected)
    # ... and the scikit-learn model it was exported from agrees
    assert expected == pytest.approx(seed.train_model().predict_proba(first)[0, 1], abs=1e-9)
    # WHEN a row lacks a feature THEN it is refused, never scored with fewer weights
    with pytest.raises(ValueError, match="a row has 29 values; the model reads 30"):
        own_serve.score(",".join("1.0" for _ in range(29)))


def test_the_own_image_layers_are_the_same_bytes_at_every_run() -> None:
    # GIVEN the application layer built twice  THEN its bytes (so the digest) do not change
    files = {"opt/program/serve": model_kinds.OWN_SERVER.read_bytes()}
    assert model_kinds._layer(files) == model_kinds._layer(files)
