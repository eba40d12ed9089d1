"""Fixtures of the approval trigger tests: moto's AWS, a GitHub stand-in, one container."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from approval_trigger import lambda_function as fn
from approval_trigger import settings as cfg
from tests.approval_trigger.support import (
    GROUP,
    IDENTITY,
    REGION,
    REPOSITORY,
    SECRET_ID,
    TABLE,
    FakeGitHub,
    create_resources,
    fake_credentials,
    fake_github,
)
from utils import new_session


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with fake_github() as fake:
        yield fake


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    fake_credentials(monkeypatch)
    with mock_aws():
        session = new_session(region_name=REGION)
        create_resources(session)
        yield session


@pytest.fixture
def config(github: FakeGitHub) -> cfg.Settings:
    return cfg.Settings(
        repository=REPOSITORY,
        token_secret_id=SECRET_ID,
        group_name=GROUP,
        dedup_table=TABLE,
        api_url=github.url,
    )


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def run(aws: boto3.Session, config: cfg.Settings, sleeps: list[float]) -> Any:
    """Handle an event with one container's runtime and a recording sleep."""
    runtime = fn.Runtime(session=aws)

    def _run(event: dict[str, Any], **overrides: Any) -> dict[str, Any]:
        return fn.handle_event(
            event,
            settings=overrides.pop("settings", config),
            runtime=runtime,
            identity=overrides.pop("identity", IDENTITY),
            sleep=sleeps.append,
            **overrides,
        )

    return _run


@pytest.fixture
def sdk_log_levels() -> Iterator[None]:
    names = ("approval_trigger", "boto3", "botocore", "urllib3")
    saved = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)
