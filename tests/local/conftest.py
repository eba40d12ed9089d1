"""Fixtures of the local runner tests: fake credentials, moto and a tiny model."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import numpy as np
import pytest
from moto import mock_aws
from sklearn.linear_model import LogisticRegression

from tests.local.local_helpers import BUCKET, REGION
from utils import new_session


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake keys and a region; nothing points at a real account or endpoint."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def session(fake_credentials: None) -> Iterator[boto3.Session]:
    """A boto3 session inside moto, with the test bucket created."""
    with mock_aws():
        sess = new_session(region_name=REGION)
        sess.client("s3").create_bucket(Bucket=BUCKET)
        yield sess


@pytest.fixture(scope="session")
def tiny_model() -> LogisticRegression:
    """A 3-feature classifier: class 1 when the first feature is large."""
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 3))
    labels = (features[:, 0] > 0).astype(int)
    return LogisticRegression().fit(features, labels)
