"""Reuse only what is provably ours; the promotion lease (S3 conditional writes) on moto."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

import build
from errors import WaitTimeoutError
from promotion import lease as leases
from promotion.package import creatable
from promotion.plan import create_package_shape
from promotion.registry import LINEAGE_SOURCE_ARN
from testbed.local_aws import DEV_ACCOUNT, PRE_PROD_ACCOUNT, role_arn
from testbed.promotion_cases import GROUP, TARGET_BUCKET, register
from tests.promotion.conftest import Call, mutating

KEY = leases.lease_key(GROUP, 1)
FAST = leases.LeaseSettings(ttl_seconds=60, renew_seconds=20, poll_seconds=1, max_wait_seconds=3)


def run_build(config: Path, out: Path) -> int:
    return build.main(
        ["--stage", "pre-prod", "--config", str(config), "--output-dir", str(out),
         "--source-role-arn", role_arn(DEV_ACCOUNT),
         "--target-role-arn", role_arn(PRE_PROD_ACCOUNT)]
    )  # fmt: skip


def packages(pre_prod: boto3.Session) -> list[str]:
    listed = pre_prod.client("sagemaker").list_model_packages(ModelPackageGroupName=GROUP)
    return [p["ModelPackageArn"] for p in listed["ModelPackageSummaryList"]]


def plant(pre_prod: boto3.Session, source_arn: str, model_data_url: str) -> str:
    """A package someone else created in the stage group, claiming our lineage."""
    sm = pre_prod.client("sagemaker")
    if not sm.list_model_package_groups()["ModelPackageGroupSummaryList"]:
        sm.create_model_package_group(ModelPackageGroupName=GROUP)
    return sm.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1",
                    "ModelDataUrl": model_data_url,
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },  # fmt: skip
        CustomerMetadataProperties={LINEAGE_SOURCE_ARN: source_arn},
    )["ModelPackageArn"]


def promoted_package(
    dev: boto3.Session, pre_prod: boto3.Session, config: Path, out: Path
) -> dict[str, Any]:
    """A version registered in dev and promoted by build.py: its package in the stage."""
    register(dev)
    assert run_build(config, out) == 0
    tfvars = json.loads((out / "deployment.tfvars.json").read_text())
    described = pre_prod.client("sagemaker").describe_model_package(
        ModelPackageName=tfvars["model_package_arn"]
    )
    return dict(described)


def test_a_planted_package_with_our_lineage_is_refused_not_reused(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    tmp_path: Path,
    api_calls: list[Call],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a package in the stage group that names our source but points at someone's data
    source = register(dev)
    pre_prod.client("s3").put_object(Bucket=TARGET_BUCKET, Key="theirs/model.tar.gz", Body=b"x")
    planted = plant(pre_prod, source, f"s3://{TARGET_BUCKET}/theirs/model.tar.gz")
    api_calls.clear()

    # WHEN build.py runs
    code = run_build(config_file(), tmp_path)

    # THEN it refuses in one line naming the package and the fix, and writes nothing
    error = capsys.readouterr().err.strip()
    assert code == 1 and "\n" not in error
    assert planted in error and "is not a copy this promotion made" in error
    assert f"delete it from group {GROUP}" in error
    assert mutating(api_calls) == []


def test_a_package_pointing_at_our_keys_without_the_source_etag_is_refused(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a promotion, then its model copy replaced by other bytes (no recorded source ETag)
    config = config_file()
    described = promoted_package(dev, pre_prod, config, tmp_path / "first")
    url = described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    bucket, key = url.removeprefix("s3://").split("/", 1)
    pre_prod.client("s3").put_object(Bucket=bucket, Key=key, Body=b"someone else's model")

    # WHEN build.py runs again THEN the package is refused, naming the copy
    assert run_build(config, tmp_path / "second") == 1
    error = capsys.readouterr().err
    assert f"its copy {url} does not carry the source ETag" in error


def test_a_package_with_our_copies_but_its_own_environment_is_refused(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a promotion, then a newer package in the stage group with the same lineage, copies
    # and image, but an environment of its own (another entry point and threshold)
    config = config_file()
    ours = promoted_package(dev, pre_prod, config, tmp_path / "first")
    sm = pre_prod.client("sagemaker")
    request = creatable(ours, create_package_shape(sm))
    container = request["InferenceSpecification"]["Containers"][0]
    own = {"SAGEMAKER_PROGRAM": "other.py", "MODEL_THRESHOLD": "0.0"}
    container["Environment"] = {**container.get("Environment", {}), **own}
    forged = sm.create_model_package(**{**request, "ModelPackageGroupName": GROUP})[
        "ModelPackageArn"
    ]

    # WHEN build.py runs again THEN the newer package is refused, named, with the field that
    # differs; nothing deploys it
    assert run_build(config, tmp_path / "second") == 1
    error = capsys.readouterr().err.strip()
    assert forged in error and "sets Environment of InferenceSpecification.Containers.0" in error
    assert not (tmp_path / "second" / "deployment.tfvars.json").exists()


@pytest.mark.parametrize(
    ("status", "expected_code"), [("Rejected", 1), ("PendingManualApproval", 0)]
)
def test_a_rejected_target_is_refused_and_a_pending_one_reused(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    status: str,
    expected_code: int,
) -> None:
    # GIVEN a promoted version whose stage package was then Rejected (or set pending review)
    register(dev)
    config = config_file()
    assert run_build(config, tmp_path / "first") == 0
    arn = json.loads((tmp_path / "first" / "deployment.tfvars.json").read_text())[
        "model_package_arn"
    ]
    sm = pre_prod.client("sagemaker")
    metadata = sm.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"]
    # moto 5.2.5 drops the metadata on update unless it is passed again (AWS keeps it)
    sm.update_model_package(
        ModelPackageArn=arn,
        ModelApprovalStatus=status,  # type: ignore[arg-type]
        CustomerMetadataProperties=metadata,
    )
    capsys.readouterr()

    # WHEN build.py runs again
    code = run_build(config, tmp_path / "second")

    # THEN a Rejected package is refused in one line; a pending one is reused
    assert code == expected_code
    if status == "Rejected":
        error = capsys.readouterr().err.strip()
        assert f"{arn} (promoted from" in error and "is Rejected" in error
    else:
        reused = json.loads((tmp_path / "second" / "deployment.tfvars.json").read_text())
        assert reused["model_package_arn"] == arn
    assert packages(pre_prod) == [arn]


def test_the_lease_excludes_a_second_holder_until_released(pre_prod: boto3.Session) -> None:
    # GIVEN a held lease
    s3 = pre_prod.client("s3")
    first = leases.acquire(s3, bucket=TARGET_BUCKET, key=KEY, owner={"holder": "a"}, settings=FAST)
    slept: list[float] = []

    # WHEN another run tries to take it THEN it waits, then gives up in one line
    with pytest.raises(WaitTimeoutError, match="is held by a .* for more than 3 s"):
        leases.acquire(s3, bucket=TARGET_BUCKET, key=KEY, owner={"holder": "b", "pid": os.getpid()},
                       settings=FAST, sleep=slept.append)  # fmt: skip
    assert slept == [1, 1, 1]

    # WHEN the holder releases it THEN the other run gets it at once
    first.release()
    second = leases.acquire(s3, bucket=TARGET_BUCKET, key=KEY, owner={"holder": "b"}, settings=FAST)
    assert second.etag != first.etag


def test_an_expired_or_dead_holder_is_taken_over_and_learns_it_lost(
    pre_prod: boto3.Session,
) -> None:
    # GIVEN a lease whose holder stalled past its expiry
    s3 = pre_prod.client("s3")
    stalled = leases.acquire(
        s3, bucket=TARGET_BUCKET, key=KEY, owner={"holder": "a"}, settings=FAST
    )
    expired = {"holder": "a", "expires_at": time.time() - 1, "released": False}
    s3.put_object(Bucket=TARGET_BUCKET, Key=KEY, Body=json.dumps(expired).encode())

    # WHEN another run comes THEN it takes the lease over without waiting
    taker = leases.acquire(s3, bucket=TARGET_BUCKET, key=KEY, owner={"holder": "b"}, settings=FAST,
                           sleep=lambda _: pytest.fail("waited"))  # fmt: skip

    # AND the stalled holder learns at its next renewal that it must not create anything
    stalled.renew()
    with pytest.raises(Exception, match="was taken over by another run"):
        stalled.check()
    taker.check()
    # AND a holder on this host whose process is gone is free at once
    assert leases.is_free({"host": leases.socket.gethostname(), "pid": 2**22 + 7,
                           "expires_at": time.time() + 60})  # fmt: skip
    assert not leases.is_free({"host": leases.socket.gethostname(), "pid": os.getpid(),
                               "expires_at": time.time() + 60})  # fmt: skip


def test_a_run_that_finishes_while_another_plans_is_reused_not_refused(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN another run that completes the whole promotion right after this run has looked for
    # the first stage copy (and found none)
    register(dev)
    config = config_file()
    from promotion import plan

    original_head = plan.head
    raced: list[int] = []
    started: list[bool] = []

    def head_then_race(s3: object, uri: str) -> object:
        found = original_head(s3, uri)  # type: ignore[arg-type]
        if uri.startswith(f"s3://{TARGET_BUCKET}/") and not started:
            started.append(True)  # the other run's own heads pass straight through
            raced.append(run_build(config, tmp_path / "other"))
        return found

    monkeypatch.setattr(plan, "head", head_then_race)

    # WHEN this run goes on
    code = run_build(config, tmp_path / "this")

    # THEN it reuses the other run's package instead of refusing it as foreign
    assert raced == [0] and code == 0
    assert len(packages(pre_prod)) == 1
    named = {
        json.loads((tmp_path / run / "deployment.tfvars.json").read_text())["model_package_arn"]
        for run in ("other", "this")
    }
    assert named == set(packages(pre_prod))
