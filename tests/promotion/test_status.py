"""build.py --status after a promotion, a re-run and a rollback, in the three-account world."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

import build
from promotion.config import load_stage_config
from testbed.deploy import apply_with_boto3
from testbed.local_aws import DEV_ACCOUNT, PRE_PROD_ACCOUNT, create_bucket, role_arn
from testbed.promotion_cases import register
from tests.promotion.conftest import Call, mutating

ROLES = (
    "--source-role-arn",
    role_arn(DEV_ACCOUNT),
    "--target-role-arn",
    role_arn(PRE_PROD_ACCOUNT),
)
OUTPUT_BUCKET = "batch-inference-data-222222222222"


def promote_and_deploy(
    config: Path, session: boto3.Session, out: Path, *extra: str
) -> dict[str, Any]:
    """build.py, then what terraform apply would do with its outputs."""
    assert build.main(["--stage", "pre-prod", "--config", str(config),
                       "--output-dir", str(out), *ROLES, *extra]) == 0  # fmt: skip
    tfvars: dict[str, Any] = json.loads((out / "deployment.tfvars.json").read_text())
    apply_with_boto3(session, load_stage_config(config), tfvars)
    return tfvars


def write_manifest(s3: Any, run_date: str, execution_id: str, rows: int, **times: str) -> str:
    folder = f"predictions/{run_date}/{execution_id}/"
    manifest = {"status": "SUCCEEDED", "run_date": run_date, "prediction_rows": rows, **times}
    s3.put_object(Bucket=OUTPUT_BUCKET, Key=folder + "_SUCCESS", Body=json.dumps(manifest))
    return f"s3://{OUTPUT_BUCKET}/{folder}"


def test_status_follows_the_deployed_model_after_a_rollback(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    tmp_path: Path,
    api_calls: list[Call],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN two Approved versions; version 2 promoted and deployed (commit abc), promoted again
    # (a re-run that reuses it), then a rollback to version 1 (commit def) deployed
    older = register(dev, run="run-1")
    newer = register(dev, run="run-2", model_data=b"other-model")
    create_bucket(pre_prod, OUTPUT_BUCKET)
    config = config_file()
    monkeypatch.setenv("GITHUB_SHA", "abc0000000000000")
    promote_and_deploy(config, pre_prod, tmp_path / "b1")
    promote_and_deploy(config, pre_prod, tmp_path / "b2")
    monkeypatch.setenv("GITHUB_SHA", "def0000000000000")
    rolled_back = promote_and_deploy(
        config, pre_prod, tmp_path / "b3", "--model-package-arn", older
    )
    # ... one SageMaker execution that wrote its manifest, and one local run (manifest only)
    sm = pre_prod.client("sagemaker")
    execution = sm.start_pipeline_execution(
        PipelineName=rolled_back["pipeline_name"],
        PipelineParameters=[
            {"Name": "RunDate", "Value": "2026-01-02"},
            {"Name": "OutputDataUrl", "Value": f"s3://{OUTPUT_BUCKET}/predictions/"},
        ],
        ClientRequestToken="status-test-execution-00000000001",
    )["PipelineExecutionArn"]
    sagemaker_output = write_manifest(
        pre_prod.client("s3"), "2026-01-02", execution.split("/")[-1], 70
    )
    local_output = write_manifest(
        pre_prod.client("s3"), "2026-01-01", "localrun0001", 700,
        started_at="2026-01-01T03:00:00.250Z", finished_at="2026-01-01T03:01:30+00:00",
    )  # fmt: skip
    api_calls.clear()
    capsys.readouterr()

    # WHEN an operator asks for the status as JSON
    assert build.main(["--stage", "pre-prod", "--config", str(config), *ROLES[2:],
                       "--status", "--json"]) == 0  # fmt: skip
    status = json.loads(capsys.readouterr().out)

    # THEN it changed nothing, and lists both versions newest first with their lineage
    assert mutating(api_calls) == []
    assert [v["source_arn"] for v in status["versions"]] == [older, newer]
    assert [v["git_sha"] for v in status["versions"]] == ["def0000000000000", "abc0000000000000"]
    assert {v["approval_status"] for v in status["versions"]} == {"Approved"}
    # ... the pipeline and the schedule both run the rolled-back version's package
    runs = {d["resource"]: d["model_package_arn"] for d in status["deployed"]}
    assert runs == {"pipeline": rolled_back["model_package_arn"],
                    "schedule": rolled_back["model_package_arn"]}  # fmt: skip
    # ... and the last runs with their rows and output folders
    found = {e["execution_id"]: (e["source"], e["rows"], e["output"]) for e in status["executions"]}
    assert found == {
        execution.split("/")[-1]: ("sagemaker", 70, sagemaker_output),
        "localrun0001": ("manifest", 700, local_output),
    }
    # ... the local run with the start and duration its manifest gives
    local = next(e for e in status["executions"] if e["source"] == "manifest")
    assert (local["started_at"], local["duration_seconds"]) == ("2026-01-01T03:00:00+00:00", 89.75)
    print("status API calls:", sorted({f"{c[0]}:{c[1]}" for c in api_calls}))


def test_status_as_text_is_aligned_and_says_what_is_missing(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a stage account with nothing promoted or deployed
    create_bucket(pre_prod, OUTPUT_BUCKET)

    # WHEN the status is printed for a terminal
    code = build.main(["--stage", "pre-prod", "--config", str(config_file()), *ROLES[2:],
                       "--status"])  # fmt: skip

    # THEN it says so plainly, without Markdown
    printed = capsys.readouterr().out
    assert code == 0
    assert "Promoted versions of churn-model, newest first:\n  none" in printed
    assert "pipeline churn-model-pre-prod-batch-inference: not deployed" in printed
    assert "|" not in printed and "###" not in printed
