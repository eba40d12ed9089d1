"""Each model's own inputs, checked against its columns before anything is written: a smoke input
with the demo's columns is refused for another model, by build.py (package metadata) and by the
smoke run (the deployed pipeline's own columns)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import build
from errors import ConfigError
from pipelines import compare, smoke
from pipelines.definition.layout import definition_feature_columns
from pipelines.evidence.model_inputs import check_columns, header_of
from pipelines.steps import preprocess
from promotion.config import load_stage_config
from testbed.local_aws import DEV_ACCOUNT, PRE_PROD_ACCOUNT, account_session, role_arn
from testbed.promotion_cases import register
from tests.promotion.conftest import Call, mutating
from utils import new_session

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_SMOKE_INPUT = REPO_ROOT / "demo" / "smoke-input.csv"  # the demo's f00..f29
CHURN = "tenure monthly_charges contract_months"


def churn_input(tmp_path: Path, header: str = "record_id,tenure,monthly_charges,contract_months",
                rows: str = "1,14,70.35,12\n") -> Path:  # fmt: skip
    path = tmp_path / "smoke-input.csv"
    path.write_text(f"{header}\n{rows}")
    return path


def run_build(config: Path, out: Path, *extra: str) -> int:
    return build.main(
        ["--stage", "pre-prod", "--config", str(config), "--output-dir", str(out),
         "--source-role-arn", role_arn(DEV_ACCOUNT),
         "--target-role-arn", role_arn(PRE_PROD_ACCOUNT), "--dry-run", *extra]
    )  # fmt: skip


def test_a_smoke_input_with_the_demos_columns_is_refused_for_another_model(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], api_calls: list[Call],
) -> None:  # fmt: skip
    # GIVEN a churn model (its columns in the package's metadata) and the demo's smoke input
    register(dev, metadata={"feature_columns": CHURN})
    api_calls.clear()
    # WHEN build.py checks it
    code = run_build(config_file(), tmp_path / "out", "--check-input", str(DEMO_SMOKE_INPUT))
    # THEN one line names the missing columns, where they come from, and the file; exit 2
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1, error
    assert (
        "lacks 3 of the model's 4 columns (3 feature column(s) and the id column): tenure, "
        "monthly_charges, contract_months "
    ) in error[0]
    assert "feature_columns metadata of arn:aws:sagemaker:" in error[0]
    assert error[0].endswith(f"fix {DEMO_SMOKE_INPUT}: its header must name every feature "
                             "column and the id column record_id")  # fmt: skip
    assert mutating(api_calls) == []


def test_the_models_own_input_passes_the_check(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path], tmp_path: Path,
) -> None:  # fmt: skip
    register(dev, metadata={"feature_columns": CHURN})
    assert run_build(config_file(), tmp_path / "out", "--check-input",
                     str(churn_input(tmp_path))) == 0  # fmt: skip


def test_the_stage_key_is_the_models_columns_when_set(
    dev: boto3.Session, pre_prod: boto3.Session, config_file: Callable[..., Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    register(dev, metadata={"feature_columns": CHURN})
    config = config_file(feature_columns=["tenure", "plan"])
    assert run_build(config, tmp_path / "out", "--check-input", str(churn_input(tmp_path))) == 2
    assert "plan (from the stage key feature_columns of" in capsys.readouterr().err


def deployed(pre_prod: boto3.Session, config_path: Path, features: list[str]) -> None:
    """A pipeline deployed in pre-prod whose Preprocess reads `features` (as rendered)."""
    config = load_stage_config(config_path)
    definition = {"Version": "2020-12-01", "Steps": [{
        "Name": "Preprocess", "Type": "Processing",
        "Arguments": {"AppSpecification": {"ContainerArguments": [
            "--input-dir", "/opt/ml/processing/input", "--feature-columns", ",".join(features[:2]),
            "--feature-columns", ",".join(features[2:]), "--id-column", "record_id"]}},
    }]}  # fmt: skip
    pre_prod.client("sagemaker").create_pipeline(
        PipelineName=f"{config.model_package_group_name}-pre-prod-batch-inference",
        PipelineDefinition=json.dumps(definition), RoleArn=config.sagemaker_execution_role_arn,
        ClientRequestToken="deployed-by-terraform-000000000001",
    )  # fmt: skip


def test_the_smoke_run_refuses_an_input_without_the_deployed_models_columns(
    pre_prod: boto3.Session, config_file: Callable[..., Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], api_calls: list[Call],
) -> None:  # fmt: skip
    # GIVEN a deployed churn pipeline (the stage names no feature_columns: the package did)
    config = config_file()
    deployed(pre_prod, config, CHURN.split())
    api_calls.clear()
    # WHEN its smoke run is given the demo's input
    code = smoke.main(["--stage", "pre-prod", "--config", str(config), "--input",
                       str(DEMO_SMOKE_INPUT), "--run-id", "run-1"],
                      session_factory=lambda **_: account_session(PRE_PROD_ACCOUNT))  # fmt: skip
    # THEN nothing is uploaded or started: one line names the columns and the file
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1, error
    assert "tenure, monthly_charges, contract_months" in error[0]
    assert "the deployed pipeline churn-model-pre-prod-batch-inference" in error[0]
    assert mutating(api_calls) == []


def test_definition_features_are_read_from_preprocess_arguments() -> None:
    arguments = ["--feature-columns", "a,b", "--id-column", "x", "--feature-columns", "c"]
    definition = {"Steps": [{"Name": "Transform"}, {"Name": "Preprocess", "Arguments": {
        "AppSpecification": {"ContainerArguments": arguments}}}]}  # fmt: skip
    assert definition_feature_columns(definition) == ("a", "b", "c")
    assert definition_feature_columns({"Steps": []}) == ()


def test_a_column_named_twice_is_refused_and_parquet_headers_are_read(tmp_path: Path) -> None:
    twice = churn_input(tmp_path, header="record_id,tenure,tenure,monthly_charges")
    with pytest.raises(
        ConfigError, match="column .tenure. appears 2 times; rename or drop the copies"
    ):
        check_columns(twice, features=["tenure"], id_column=None, source="s")
    table = pa.table({"record_id": [1], "tenure": [3.0]})
    pq.write_table(table, tmp_path / "rows.parquet")
    assert header_of(tmp_path / "rows.parquet") == ["record_id", "tenure"]
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ConfigError, match="is empty"):
        header_of(empty)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("c001,12,70.5\nc006,5\n", "malformed or non-numeric data (CSV parse error: Expected 3"),
        ("c001,12,70.5\nc002,two,80\n", "malformed or non-numeric data"),
        ("c001,12,70.5\nc002,,80\n", "missing value in feature column 'tenure' at row 2"),
    ],
    ids=["short-row", "a-word", "missing"],
)
def test_rows_preprocess_would_refuse_are_refused_before_anything_runs(
    tmp_path: Path, rows: str, message: str
) -> None:
    # GIVEN a smoke input whose header is right but one row is not (found at deploy time before)
    path = tmp_path / "smoke-input.csv"
    path.write_text("record_id,tenure,monthly_charges\n" + rows)
    # WHEN it is checked THEN the row is named, as Preprocess would name it
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_columns(path, features=["tenure", "monthly_charges"], id_column="record_id",
                      source="s")  # fmt: skip


def test_a_file_delimited_by_semicolons_is_named_as_such(tmp_path: Path) -> None:
    # A spreadsheet's export with semicolons reads as one column: say that, not "lacks 3 of 3"
    semicolons = churn_input(tmp_path, header="record_id;tenure;monthly_charges")
    with pytest.raises(ConfigError, match="looks delimited by something else than commas"):
        check_columns(semicolons, features=["tenure", "monthly_charges"], id_column="record_id",
                      source="s")  # fmt: skip


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "does not exist"), ("record_id,tenure\n", "holds no rows yet")],
)
def test_evaluation_rows_without_rows_compare_nothing_and_say_why(
    config_file: Callable[..., Path], tmp_path: Path, content: str | None, reason: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    rows = tmp_path / "evaluation-rows.csv"
    if content is not None:
        rows.write_text(content)
    args: Any = SimpleNamespace(
        config=config_file(evaluation_input_url=None), stage="pre-prod", find_champion=False,
        output=tmp_path / "report", input=None, input_file=rows, champion=3, challenger=4,
    )  # fmt: skip
    assert compare.run(args, session=new_session(), sleep=lambda _: None) == 0
    document = json.loads((tmp_path / "report" / "comparison.json").read_text())
    assert document["status"] == "nothing" and reason in document["reason"]
    assert str(rows) in document["reason"]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("smoke-input.csv", "record_id, tenure, monthly_charges, contract_months\n1,14,70.35,12\n",
         "the header writes ' tenure' with spaces around the name: remove them"),
        ("smoke-input.txt", "record_id,tenure,monthly_charges,contract_months\n1,14,70.35,12\n",
         "unsupported file type; expected CSV or Parquet: write it as CSV named .csv"),
        ("smoke-input.csv", "record_id,tenure,monthly_charges,contract_months,tenure\n1,1,2,3,4\n",
         "column 'tenure' appears 2 times"),
    ],
    ids=["spaces", "txt", "twice"],
)  # fmt: skip
def test_the_smoke_run_refuses_what_preprocess_would_before_uploading(
    pre_prod: boto3.Session, config_file: Callable[..., Path], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], api_calls: list[Call], name: str, text: str, message: str,
) -> None:  # fmt: skip
    # GIVEN a deployed churn pipeline and a smoke input Preprocess would refuse
    config = config_file()
    deployed(pre_prod, config, CHURN.split())
    smoke_input = tmp_path / name
    smoke_input.write_text(text)
    # Preprocess itself refuses it (the same rules, applied in the step)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / name).write_text(text)
    out = tmp_path / "out"
    step = ["--input-dir", str(tmp_path / "in"), "--shards-dir", str(out / "s"), "--ids-dir",
            str(out / "i"), "--feature-columns", CHURN.replace(" ", ","), "--id-column",
            "record_id"]  # fmt: skip
    assert preprocess.main(step) == 1
    assert message in capsys.readouterr().err
    api_calls.clear()
    # WHEN the smoke run is given it
    code = smoke.main(["--stage", "pre-prod", "--config", str(config), "--input",
                       str(smoke_input), "--run-id", "run-1"],
                      session_factory=lambda **_: account_session(PRE_PROD_ACCOUNT))  # fmt: skip
    # THEN refused in one line naming the file and the fix; nothing uploaded or started
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1, error
    assert str(smoke_input) in error[0] and message in error[0]
    assert mutating(api_calls) == []
