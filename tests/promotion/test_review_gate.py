"""The prod review gate on moto: the plan job promotes an inert PendingManualApproval package,
the prod job (after the review) sets exactly the reviewed one Approved; both re-run safely."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

import build
from pipelines.definition.stage_build import StageBuild
from promotion.registry import LINEAGE_SOURCE_ARN
from testbed.local_aws import DEV_ACCOUNT, PRE_PROD_ACCOUNT, role_arn
from testbed.promotion_cases import register
from tests.promotion.conftest import Call, mutating

PENDING = ("--approval-status", "PendingManualApproval")


def run(config: Path, out: Path, *extra: str) -> int:
    """build.py for the prod stage (whose account is the moto target account here)."""
    return build.main(
        [
            "--stage", "prod", "--config", str(config), "--output-dir", str(out),
            "--source-role-arn", role_arn(DEV_ACCOUNT),
            "--target-role-arn", role_arn(PRE_PROD_ACCOUNT),
            *extra,
        ]
    )  # fmt: skip


@pytest.fixture
def prod_config(config_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The prod stage file; rendering (seconds per run, tested elsewhere) is left out."""

    def render_nothing(*_: Any, **__: Any) -> StageBuild:
        return StageBuild("model", {"pipeline_name": "p", "pipeline_definition_file": "f"})

    monkeypatch.setattr(build, "render_stage", render_nothing)
    return config_file(stage="prod")


def target_package(pre_prod: boto3.Session, out: Path) -> dict[str, Any]:
    arn = json.loads((out / "deployment.tfvars.json").read_text())["model_package_arn"]
    return dict(pre_prod.client("sagemaker").describe_model_package(ModelPackageName=arn))


def calls(api_calls: list[Call], operation: str) -> list[dict[str, Any]]:
    return [params for _, name, params in api_calls if name == operation]


def test_plan_job_promotes_an_inert_pending_package(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    prod_config: Path,
    tmp_path: Path,
    api_calls: list[Call],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN an approved source version
    source = register(dev)
    api_calls.clear()

    # WHEN the plan job promotes it
    assert run(prod_config, tmp_path, "--model-package-arn", source, *PENDING) == 0

    # THEN the prod package waits for the review, and says so on its life cycle and the summary
    assert target_package(pre_prod, tmp_path)["ModelApprovalStatus"] == "PendingManualApproval"
    (create,) = calls(api_calls, "CreateModelPackage")
    assert create["ModelApprovalStatus"] == "PendingManualApproval"
    assert create["ModelLifeCycle"]["Stage"] == "prod"
    assert create["ModelLifeCycle"]["StageStatus"] == "PendingApproval"
    assert source in create["ModelLifeCycle"]["StageDescription"]
    # (the terminal gets the summary as aligned text; the job summary keeps the Markdown table)
    assert re.search(r"\n  Approval status +PendingManualApproval\n", capsys.readouterr().out)


def test_plan_job_rerun_reuses_the_pending_package_and_writes_nothing(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    prod_config: Path,
    tmp_path: Path,
    api_calls: list[Call],
) -> None:
    source = register(dev)
    assert run(prod_config, tmp_path / "first", "--model-package-arn", source, *PENDING) == 0
    api_calls.clear()

    assert run(prod_config, tmp_path / "second", "--model-package-arn", source, *PENDING) == 0

    assert [c for c in mutating(api_calls) if c[0] != "sts"] == []
    first = target_package(pre_prod, tmp_path / "first")["ModelPackageArn"]
    assert target_package(pre_prod, tmp_path / "second")["ModelPackageArn"] == first


def test_approve_sets_exactly_the_reviewed_package_approved_with_stage_credentials_only(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    prod_config: Path,
    tmp_path: Path,
    api_calls: list[Call],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a reviewed plan job's build outputs
    source = register(dev)
    assert run(prod_config, tmp_path, "--model-package-arn", source, *PENDING) == 0
    capsys.readouterr()
    api_calls.clear()

    # WHEN the prod job approves it
    assert run(prod_config, tmp_path, "--approve", "--model-package-arn", source) == 0

    # THEN that package is Approved, its life cycle records it, its lineage is intact ...
    package = target_package(pre_prod, tmp_path)
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["CustomerMetadataProperties"][LINEAGE_SOURCE_ARN] == source
    (update,) = calls(api_calls, "UpdateModelPackage")
    assert update["ModelPackageArn"] == package["ModelPackageArn"]
    assert update["ModelLifeCycle"]["Stage"] == "prod"
    assert update["ModelLifeCycle"]["StageStatus"] == "Approved"
    # ... it wrote nothing else, and never went to the dev account
    assert [c for c in mutating(api_calls) if c[0] != "sts"] == [
        ("sagemaker", "UpdateModelPackage")
    ]
    assert not [c for c in calls(api_calls, "AssumeRole") if DEV_ACCOUNT in c["RoleArn"]]
    assert capsys.readouterr().out.startswith("Approved: arn:aws:sagemaker:")

    # AND a re-run of the prod job changes nothing
    api_calls.clear()
    assert run(prod_config, tmp_path, "--approve") == 0
    assert [c for c in mutating(api_calls) if c[0] != "sts"] == []
    assert capsys.readouterr().out.startswith("Already Approved: arn:aws:sagemaker:")

    # AND a re-run of the plan job reuses it without setting it back to pending
    assert run(prod_config, tmp_path / "again", "--model-package-arn", source, *PENDING) == 0
    assert target_package(pre_prod, tmp_path / "again")["ModelApprovalStatus"] == "Approved"


def test_approve_refuses_a_package_other_than_the_reviewed_one(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    prod_config: Path,
    tmp_path: Path,
    api_calls: list[Call],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN reviewed build outputs that name another target package than lineage finds
    source = register(dev)
    assert run(prod_config, tmp_path, "--model-package-arn", source, *PENDING) == 0
    tfvars_path = tmp_path / "deployment.tfvars.json"
    tfvars = json.loads(tfvars_path.read_text())
    reviewed = tfvars["model_package_arn"].rsplit("/", 1)[0] + "/99"
    tfvars_path.write_text(json.dumps({**tfvars, "model_package_arn": reviewed}))
    capsys.readouterr()
    api_calls.clear()

    # WHEN the prod job approves
    code = run(prod_config, tmp_path, "--approve")

    # THEN nothing is approved, and one line says why
    assert code == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"names {reviewed}, but the package" in error
    assert calls(api_calls, "UpdateModelPackage") == []


def test_approve_refuses_a_package_rejected_in_the_registry(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    prod_config: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = register(dev)
    assert run(prod_config, tmp_path, "--model-package-arn", source, *PENDING) == 0
    arn = target_package(pre_prod, tmp_path)["ModelPackageArn"]
    pre_prod.client("sagemaker").update_model_package(
        ModelPackageArn=arn,
        ModelApprovalStatus="Rejected",
        CustomerMetadataProperties=target_package(pre_prod, tmp_path)["CustomerMetadataProperties"],
    )
    capsys.readouterr()

    assert run(prod_config, tmp_path, "--approve") == 1

    assert "has approval status Rejected" in capsys.readouterr().err
    assert target_package(pre_prod, tmp_path)["ModelApprovalStatus"] == "Rejected"


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda out, source: None, "--approve needs the reviewed build outputs"),
        (
            lambda out, source: (out / "deployment.tfvars.json").write_text(
                json.dumps(
                    {
                        "source_model_package_arn": source.replace("/1", "/2"),
                        "model_package_arn": "x",
                    }
                )  # fmt: skip
            ),
            "is not the source of the reviewed build",
        ),
    ],
    ids=["no reviewed build", "another source"],
)
def test_approve_checks_the_reviewed_build_before_any_aws_call(
    prod_config: Path,
    tmp_path: Path,
    api_calls: list[Call],
    capsys: pytest.CaptureFixture[str],
    prepare: Callable[[Path, str], object],
    message: str,
) -> None:
    source = f"arn:aws:sagemaker:us-east-1:{DEV_ACCOUNT}:model-package/churn-model/1"
    prepare(tmp_path, source)

    assert run(prod_config, tmp_path, "--approve", "--model-package-arn", source) == 2

    assert message in capsys.readouterr().err
    assert api_calls == []


def test_approve_takes_no_approval_status(prod_config: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(prod_config, tmp_path, "--approve", *PENDING)
    assert exit_info.value.code == 2


def test_approve_dry_run_says_what_it_would_do_and_writes_nothing(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    prod_config: Path,
    tmp_path: Path,
    api_calls: list[Call],
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = register(dev)
    assert run(prod_config, tmp_path, "--model-package-arn", source, *PENDING) == 0
    capsys.readouterr()
    api_calls.clear()

    assert run(prod_config, tmp_path, "--approve", "--dry-run") == 0

    assert capsys.readouterr().out.startswith("approve arn:aws:sagemaker:")
    assert [c for c in mutating(api_calls) if c[0] != "sts"] == []
    assert target_package(pre_prod, tmp_path)["ModelApprovalStatus"] == "PendingManualApproval"
