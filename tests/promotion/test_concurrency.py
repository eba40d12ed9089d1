"""build.py under concurrency and faults, against one moto server on loopback: parallel runs,
a lost CreateModelPackage response, a run killed mid-copy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ConnectionClosedError
from botocore.httpsession import URLLib3Session

import build
from promotion.artifacts import MIB
from promotion.config import REPO_ROOT
from testbed.local_aws import (
    DEV_ACCOUNT,
    PRE_PROD_ACCOUNT,
    account_session,
    create_bucket,
    local_aws,
    role_arn,
)
from testbed.promotion_cases import DEV_BUCKET, GROUP, PAUSING_RUN, TARGET_BUCKET, register

RUNS = 3


@pytest.fixture
def world() -> Iterator[tuple[boto3.Session, boto3.Session]]:
    """A moto server holding the dev and pre-prod accounts; boto3 points at it."""
    with local_aws() as endpoint:
        # moto's state is per process, shared by every server this process starts: start clean
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
        dev, pre_prod = account_session(DEV_ACCOUNT), account_session(PRE_PROD_ACCOUNT)
        create_bucket(dev, DEV_BUCKET)
        dev.client("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
        create_bucket(pre_prod, TARGET_BUCKET)
        yield dev, pre_prod


def flags(config: Path, out: Path) -> list[str]:
    return ["--stage", "pre-prod", "--config", str(config), "--output-dir", str(out),
            "--source-role-arn", role_arn(DEV_ACCOUNT),
            "--target-role-arn", role_arn(PRE_PROD_ACCOUNT)]  # fmt: skip


def target_packages(pre_prod: boto3.Session) -> list[str]:
    listed = pre_prod.client("sagemaker").list_model_packages(ModelPackageGroupName=GROUP)
    return [p["ModelPackageArn"] for p in listed["ModelPackageSummaryList"]]


def uploads(pre_prod: boto3.Session) -> list[dict[str, Any]]:
    listed = pre_prod.client("s3").list_multipart_uploads(Bucket=TARGET_BUCKET)
    return [dict(upload) for upload in listed.get("Uploads", [])]


def named_package(out: Path) -> str:
    return str(json.loads((out / "deployment.tfvars.json").read_text())["model_package_arn"])


def test_parallel_runs_create_exactly_one_package_and_all_name_it(
    world: tuple[boto3.Session, boto3.Session],
    config_file: Callable[..., Path],
    tmp_path: Path,
) -> None:
    # GIVEN an approved package with a model big enough for the runs to overlap
    dev, pre_prod = world
    register(dev, model_data=os.urandom(8 * MIB))
    config = config_file()

    # WHEN several build.py processes start at once
    runs = [
        subprocess.Popen(
            [sys.executable, "build.py", *flags(config, tmp_path / f"out{i}")],
            cwd=REPO_ROOT,
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(RUNS)
    ]
    results = [(run.wait(timeout=180), *run.communicate()) for run in runs]

    # THEN all succeed, exactly one package exists, and every run's output names it
    assert [code for code, _, _ in results] == [0] * RUNS, [err for _, _, err in results]
    assert len(target_packages(pre_prod)) == 1
    assert {named_package(tmp_path / f"out{i}") for i in range(RUNS)} == set(
        target_packages(pre_prod)
    )
    assert sum("(created)" in out for _, out, _ in results) == 1
    assert sum("(reused)" in out for _, out, _ in results) == RUNS - 1


def test_a_lost_create_response_leaves_exactly_one_package(
    world: tuple[boto3.Session, boto3.Session],
    config_file: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a network that loses the first CreateModelPackage response after the server
    # committed the package (botocore then retries the call)
    dev, pre_prod = world
    register(dev)
    original = build.Identity.client
    lost: list[str] = []

    def lose_first_response(request: Any, **_: Any) -> None:
        if not lost:
            URLLib3Session().send(request)  # the server creates the package...
            lost.append(request.url)
            raise ConnectionClosedError(endpoint_url=request.url)  # ...the answer never comes

    def client(self: build.Identity, name: str) -> Any:
        made = original(self, name)
        if name == "sagemaker" and self.account_id == PRE_PROD_ACCOUNT:
            made.meta.events.register(
                "before-send.sagemaker.CreateModelPackage", lose_first_response
            )
        return made

    monkeypatch.setattr(build.Identity, "client", client)

    # WHEN build.py runs
    assert build.main(flags(config_file(), tmp_path)) == 0

    # THEN the response was lost once, and one package remains: the one the output names
    assert len(lost) == 1
    assert target_packages(pre_prod) == [named_package(tmp_path)]


def test_a_run_killed_mid_copy_finishes_on_rerun_with_no_upload_left(
    world: tuple[boto3.Session, boto3.Session],
    config_file: Callable[..., Path],
    tmp_path: Path,
) -> None:
    # GIVEN a run killed (SIGKILL) in the middle of a multipart copy
    dev, pre_prod = world
    register(dev, model_data=os.urandom(12 * MIB))
    config = config_file()
    run = subprocess.Popen(
        [sys.executable, "-c", PAUSING_RUN, *flags(config, tmp_path / "killed")],
        cwd=REPO_ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert run.stdout is not None
    for line in run.stdout:
        if line.strip() == "PAUSED":
            break
    run.kill()
    run.wait(timeout=30)
    assert len(uploads(pre_prod)) == 1  # the orphan: one part copied, never completed

    # WHEN build.py runs again
    assert build.main(flags(config, tmp_path / "rerun")) == 0

    # THEN it finished the promotion and aborted the interrupted upload
    assert uploads(pre_prod) == []
    assert target_packages(pre_prod) == [named_package(tmp_path / "rerun")]
