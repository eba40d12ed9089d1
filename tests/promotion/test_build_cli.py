"""build.py end to end on three moto accounts: resolve, promote, re-run, refuse."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from botocore.client import BaseClient

import build
from promotion import registry
from promotion.artifacts import SOURCE_URI_METADATA
from testbed.local_aws import DEV_ACCOUNT, PRE_PROD_ACCOUNT, PROD_ACCOUNT, role_arn
from testbed.promotion_cases import DEV_BUCKET, GROUP, TARGET_BUCKET, register
from tests.promotion.conftest import Call, mutating


def run_build(config: Path, out: Path, *extra: str) -> int:
    return build.main(
        [
            "--stage", "pre-prod", "--config", str(config), "--output-dir", str(out),
            "--source-role-arn", role_arn(DEV_ACCOUNT),
            "--target-role-arn", role_arn(PRE_PROD_ACCOUNT),
            *extra,
        ]
    )  # fmt: skip


@pytest.fixture
def filtered_after_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    """ListModelPackages answers as SageMaker: a page of MaxResults packages is taken, THEN
    filtered by ModelApprovalStatus, so a page may be empty and carry a NextToken (moto filters
    first). Requested before `api_calls`, which then records the calls as made."""
    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 (private to botocore)

    def answer(self: BaseClient, operation_name: str, api_params: Any) -> Any:
        status = api_params.get("ModelApprovalStatus")
        if operation_name != "ListModelPackages" or status is None:
            return original(self, operation_name, api_params)
        unfiltered = {k: v for k, v in api_params.items() if k != "ModelApprovalStatus"}
        page = original(self, operation_name, unfiltered)
        page["ModelPackageSummaryList"] = [
            s for s in page["ModelPackageSummaryList"] if s["ModelApprovalStatus"] == status
        ]
        return page

    monkeypatch.setattr(BaseClient, "_make_api_call", answer)


@pytest.mark.parametrize(("page_size", "pages"), [(100, 1), (2, 2)])
def test_latest_approved_is_promoted_past_newer_versions_not_approved(
    filtered_after_the_page: None,
    api_calls: list[Call],
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    page_size: int,
    pages: int,
) -> None:
    # GIVEN an old approved version, the wanted one, then newer rejected and pending ones, and
    # a SageMaker that filters its pages by status after taking them
    register(dev, "Approved", run="run-1")
    wanted = register(dev, "Approved", run="run-2")
    register(dev, "Rejected", run="run-3")
    register(dev, "PendingManualApproval", run="run-4")
    monkeypatch.setattr(registry, "RESOLVE_PAGE_SIZE", page_size)
    out = tmp_path / "out"

    # WHEN build.py runs without a pinned ARN
    assert run_build(config_file(), out) == 0

    # THEN the newest Approved version went over, found on the first page that holds one: with
    # pages of 2, the first page (versions 4 and 3) is empty and its NextToken is followed
    tfvars = json.loads((out / "deployment.tfvars.json").read_text())
    assert tfvars["source_model_package_arn"] == wanted
    assert tfvars["source_model_package_version"] == 2
    assert tfvars["model_package_arn"].startswith(
        f"arn:aws:sagemaker:us-east-1:{PRE_PROD_ACCOUNT}:model-package/{GROUP}/"
    )
    assert re.fullmatch(f"{GROUP}-pre-prod-v2-[0-9a-f]{{8}}", tfvars["model_name"])
    assert (out / "pipeline-definition.json").is_file()
    resolving = [
        c for c in api_calls
        if c[1] == "ListModelPackages" and c[2].get("ModelApprovalStatus") == "Approved"
    ]  # fmt: skip
    assert len(resolving) == pages
    assert all(c[2]["MaxResults"] == page_size for c in resolving)
    assert [bool(c[2].get("NextToken")) for c in resolving] == [False] + [True] * (pages - 1)


def test_rerun_with_nothing_new_writes_nothing(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    tmp_path: Path,
    api_calls: list[Call],
) -> None:
    # GIVEN a promoted version
    register(dev)
    config = config_file()
    assert run_build(config, tmp_path / "first") == 0
    first = json.loads((tmp_path / "first" / "deployment.tfvars.json").read_text())
    api_calls.clear()

    # WHEN build.py runs again
    assert run_build(config, tmp_path / "second") == 0

    # THEN no AWS call changed anything and the same package is reused
    assert mutating(api_calls) == []
    second = json.loads((tmp_path / "second" / "deployment.tfvars.json").read_text())
    assert second == {**first, "pipeline_definition_file": second["pipeline_definition_file"]}
    first_definition = (tmp_path / "first" / "pipeline-definition.json").read_bytes()
    assert (tmp_path / "second" / "pipeline-definition.json").read_bytes() == first_definition


def test_pinned_older_approved_version_is_promoted(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path], tmp_path: Path
) -> None:
    older = register(dev, "Approved", run="run-1")
    register(dev, "Approved", run="run-2")

    assert run_build(config_file(), tmp_path, "--model-package-arn", older) == 0

    tfvars = json.loads((tmp_path / "deployment.tfvars.json").read_text())
    assert tfvars["source_model_package_arn"] == older
    assert tfvars["source_model_package_version"] == 1


def test_pinned_version_not_approved_is_refused(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rejected = register(dev, "Rejected")

    code = run_build(config_file(), tmp_path / "out", "--model-package-arn", rejected)

    assert code == 2
    error = capsys.readouterr().err
    assert "has approval status Rejected" in error and rejected in error
    assert "Traceback" not in error
    assert not (tmp_path / "out").exists()


def test_pinned_version_of_another_group_is_refused_before_any_aws_call(
    config_file: Callable[..., Path],
    tmp_path: Path,
    api_calls: list[Call],
    capsys: pytest.CaptureFixture[str],
) -> None:
    other = f"arn:aws:sagemaker:us-east-1:{DEV_ACCOUNT}:model-package/other-group/3"

    code = run_build(config_file(), tmp_path, "--model-package-arn", other)

    assert code == 2
    assert "is not in the configured group 'churn-model'" in capsys.readouterr().err
    assert api_calls == []


def test_no_approved_package_names_group_account_and_region(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    register(dev, "PendingManualApproval")

    assert run_build(config_file(), tmp_path) == 1

    error = capsys.readouterr().err
    assert f"group '{GROUP}' of account {DEV_ACCOUNT} in us-east-1" in error


def test_credentials_of_the_wrong_account_are_refused_before_writing(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    tmp_path: Path,
    api_calls: list[Call],
    capsys: pytest.CaptureFixture[str],
) -> None:
    register(dev)
    api_calls.clear()

    code = build.main(
        [
            "--stage", "pre-prod", "--config", str(config_file()),
            "--output-dir", str(tmp_path / "out"),
            "--source-role-arn", role_arn(DEV_ACCOUNT),
            "--target-role-arn", role_arn(PROD_ACCOUNT),
        ]
    )  # fmt: skip

    assert code == 2
    error = capsys.readouterr().err
    assert f"belong to account {PROD_ACCOUNT}" in error and "'account_id' is 222222222222" in error
    assert [c for c in mutating(api_calls) if c[0] != "sts"] == []
    assert not (tmp_path / "out").exists()


def test_dry_run_prints_the_plan_and_writes_nothing(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    tmp_path: Path,
    api_calls: list[Call],
    capsys: pytest.CaptureFixture[str],
) -> None:
    register(dev)
    api_calls.clear()

    assert run_build(config_file(), tmp_path / "out", "--dry-run") == 0

    printed = capsys.readouterr().out
    assert "create model package group churn-model" in printed
    assert printed.count("copy s3://") == 4
    assert mutating(api_calls) == []
    assert not (tmp_path / "out").exists()


def test_summary_is_appended_to_the_github_step_summary(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    register(dev)
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_SHA", "0123abcd")

    assert run_build(config_file(), tmp_path / "out") == 0

    text = summary.read_text()
    assert text.startswith("earlier step\n")
    assert "| Target package |" in text and "```mermaid" in text
    target = json.loads((tmp_path / "out" / "deployment.tfvars.json").read_text())
    metadata = pre_prod.client("sagemaker").describe_model_package(
        ModelPackageName=target["model_package_arn"]
    )["CustomerMetadataProperties"]
    assert metadata["promotion:git-sha"] == "0123abcd"


def test_unknown_stage_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build.main(["--stage", "staging"])
    assert exit_info.value.code == 2
    assert "choose from 'pre-prod', 'prod'" in capsys.readouterr().err


def test_resolve_only_prints_just_the_arn(
    dev: boto3.Session, config_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    wanted = register(dev)

    code = build.main(
        ["--stage", "pre-prod", "--config", str(config_file()), "--resolve-only",
         "--source-role-arn", role_arn(DEV_ACCOUNT)]
    )  # fmt: skip

    assert code == 0
    assert capsys.readouterr().out == wanted + "\n"


def test_artifacts_bucket_is_the_stage_bucket(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path], tmp_path: Path
) -> None:
    register(dev)

    assert run_build(config_file(), tmp_path) == 0

    keys = [
        o["Key"]
        for o in pre_prod.client("s3").list_objects_v2(Bucket=TARGET_BUCKET)["Contents"]
        if o["Key"].startswith("model-packages/")
    ]
    assert sorted(keys) == [
        f"model-packages/{GROUP}/v1/DriftCheckBaselines/ModelQuality/Statistics/S3Uri/baseline.json",
        f"model-packages/{GROUP}/v1/InferenceSpecification/Containers/0/Environment/"
        "SAGEMAKER_SUBMIT_DIRECTORY/sourcedir.tar.gz",
        f"model-packages/{GROUP}/v1/InferenceSpecification/Containers/0/ModelDataUrl/model.tar.gz",
        f"model-packages/{GROUP}/v1/ModelMetrics/ModelQuality/Statistics/S3Uri/evaluation.json",
    ]


def test_artifacts_under_a_non_ascii_key_are_promoted(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path], tmp_path: Path
) -> None:
    # GIVEN a package whose artifacts are under a key that is not ASCII (S3 keys are UTF-8; S3
    # user metadata, where each copy records its source, is ASCII only)
    arn = register(dev, run="modèle-2026")
    config = config_file()

    # WHEN the dry run, then the promotion, run
    assert run_build(config, tmp_path / "plan", "--dry-run") == 0
    assert run_build(config, tmp_path / "out") == 0

    # THEN the package is promoted, each copy recording its source URI percent-encoded
    tfvars = json.loads((tmp_path / "out" / "deployment.tfvars.json").read_text())
    assert tfvars["source_model_package_arn"] == arn
    key = f"model-packages/{GROUP}/v1/InferenceSpecification/Containers/0/ModelDataUrl/model.tar.gz"
    metadata = pre_prod.client("s3").head_object(Bucket=TARGET_BUCKET, Key=key)["Metadata"]
    assert metadata[SOURCE_URI_METADATA] == f"s3://{DEV_BUCKET}/mod%C3%A8le-2026/model.tar.gz"
    assert unquote(metadata[SOURCE_URI_METADATA]).endswith("/modèle-2026/model.tar.gz")


@pytest.mark.parametrize(
    ("metadata", "overrides", "expected"),
    [
        ({"feature_columns": "a b a"}, {}, "feature columns must be unique"),
        ({"feature_columns": "a " + "b" * 200}, {}, "feature columns must be unique"),
        ({}, {"feature_columns": [f"f{i}" for i in range(2000)]}, "2000 feature columns"),
    ],
    ids=["a column twice", "a name too long", "too many columns"],
)
def test_columns_the_pipeline_refuses_are_refused_before_anything_is_written(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    tmp_path: Path,
    api_calls: list[Call],
    capsys: pytest.CaptureFixture[str],
    metadata: dict[str, str],
    overrides: dict[str, object],
    expected: str,
) -> None:
    # GIVEN a package (or a stage file) naming columns the rendered pipeline cannot take
    register(dev, metadata=metadata or None)
    api_calls.clear()

    # WHEN build.py promotes it, and when it only plans (--dry-run)
    codes = [run_build(config_file(**overrides), tmp_path / "out", *extra)
             for extra in ((), ("--dry-run",))]  # fmt: skip

    # THEN both refuse in one line, exit 2, before any write in either account
    assert codes == [2, 2]
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and all(expected in line for line in errors), errors
    assert [c for c in mutating(api_calls) if c[0] != "sts"] == []
    assert not (tmp_path / "out").exists()
