"""Three moto accounts (dev, pre-prod, prod) reached through assume_role, and a call recorder."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from moto import mock_aws

from testbed.local_aws import (
    DEMO_STAGES,
    DEV_ACCOUNT,
    PRE_PROD_ACCOUNT,
    account_session,
    create_bucket,
)
from testbed.promotion_cases import DEV_BUCKET, GROUP, MUTATING_PREFIXES, TARGET_BUCKET


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def dev(aws: None) -> boto3.Session:
    session = account_session(DEV_ACCOUNT)
    create_bucket(session, DEV_BUCKET)
    session.client("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
    return session


@pytest.fixture
def pre_prod(aws: None) -> boto3.Session:
    session = account_session(PRE_PROD_ACCOUNT)
    create_bucket(session, TARGET_BUCKET)
    return session


@pytest.fixture
def config_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a pre-prod stage file; keyword arguments override keys."""

    def write(**overrides: Any) -> Path:
        repo_file = DEMO_STAGES / "pre-prod-config.tfvars.json"
        values = json.loads(repo_file.read_text())
        values.update(
            model_package_group_name=GROUP,
            artifacts_bucket=TARGET_BUCKET,
            feature_columns=None,
        )
        values.update(overrides)
        path = tmp_path / "pre-prod-config.tfvars.json"
        path.write_text(json.dumps(values, indent=2))
        return path

    return write


Call = tuple[str, str, dict[str, Any]]


@pytest.fixture
def api_calls(monkeypatch: pytest.MonkeyPatch) -> list[Call]:
    """Every (service, operation, parameters) called through botocore from now on."""
    calls: list[Call] = []
    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 (private to botocore)

    def record(self: BaseClient, operation_name: str, api_params: Any) -> Any:
        calls.append((self.meta.service_model.service_name, operation_name, dict(api_params)))
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", record)
    return calls


def mutating(calls: list[Call]) -> list[tuple[str, str]]:
    """The calls that change something in AWS."""
    return [(c[0], c[1]) for c in calls if c[1].startswith(MUTATING_PREFIXES)]
