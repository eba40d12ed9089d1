"""The stage config's one schema: every bad input refused in one line, before any AWS write."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest

import build
from demo.local_aws import DEV_ACCOUNT, PRE_PROD_ACCOUNT, role_arn
from errors import ConfigError
from promotion.config import REPO_ROOT, json_schema, load_stage_config
from scripts import stage_schema
from tests.promotion.conftest import Call, mutating, register

OTHER = "333333333333"
KMS = f"arn:aws:kms:us-east-1:{PRE_PROD_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"

# (overrides of the pre-prod file, a fragment of the one-line refusal)
BAD_VALUES: list[tuple[dict[str, Any], str]] = [
    ({"kms_key_id": KMS}, "unknown key 'kms_key_id'; did you mean 'kms_key_arn'?"),
    ({"regoin": "us-east-1"}, "unknown key 'regoin'; did you mean 'region'?"),
    ({"vpc_config": {"subnets": ["subnet-1"], "security_group_ids": ["sg-1"]}},
     "unknown key 'vpc_config.subnets'; did you mean 'subnet_ids'?"),
    ({"region": "mars-north-1"}, "'mars-north-1' is not an AWS region"),
    ({"region": "us-east-1\n"}, "key 'region' contains a control character"),
    ({"sagemaker_execution_role_arn": role_arn(OTHER)},
     f"'sagemaker_execution_role_arn' belongs to account {OTHER} but 'account_id' is 2222"),
    ({"sagemaker_execution_role_arn": f"arn:aws-cn:iam::{PRE_PROD_ACCOUNT}:role/x"},
     "'sagemaker_execution_role_arn' is in partition aws-cn but region us-east-1 is in aws"),
    ({"target_role_arn": role_arn(DEV_ACCOUNT)}, "'target_role_arn' belongs to account 1111"),
    ({"source_role_arn": role_arn(PRE_PROD_ACCOUNT)}, "'source_role_arn' belongs to account 2222"),
    ({"kms_key_arn": KMS.replace("us-east-1", "eu-west-1")},
     "'kms_key_arn' is in region eu-west-1 but the stage's region is us-east-1"),
    ({"kms_key_arn": KMS.replace(PRE_PROD_ACCOUNT, OTHER)}, "'kms_key_arn' belongs to account"),
    ({"kms_key_arn": KMS.replace("arn:aws:", "arn:aws-us-gov:")}, "in partition aws-us-gov"),
    ({"kms_key_arn": KMS + "\n"}, "key 'kms_key_arn' contains a control character"),
    ({"schedule_expression": "rate(0 minutes)"}, "the rate must be a positive number"),
    ({"schedule_expression": "rate(5 minute)"}, "use the singular unit for 1"),
    ({"schedule_expression": "rate(1 fortnight)"}, "is not rate(N unit)"),
    ({"schedule_expression": "cron(x)"}, "cron(...) takes six fields"),
    ({"schedule_expression": "cron(0 3 * * * *)"}, "exactly one of day-of-month and day-of-week"),
    ({"schedule_expression": "cron(0 25 * * ? *)"}, "the hours field '25' is not valid"),
    ({"schedule_expression": "at(tomorrow)"}, "at(...) takes yyyy-mm-ddThh:mm:ss"),
    ({"schedule_timezone": "Mars/Olympus"}, "'Mars/Olympus' is not an IANA time zone"),
    ({"tags": {"team": "x" * 257}}, "values are at most 256"),
    ({"tags": {"k" * 129: "v"}}, "must be 1-128 letters"),
    ({"tags": {f"t{i}": "v" for i in range(51)}}, "has 51 tags; AWS allows at most 50"),
    ({"tags": {"aws:owner": "me"}}, "starts with 'aws:'"),
    ({"max_payload_mb": 50, "max_concurrent_transforms": 4},
     "max_concurrent_transforms x max_payload_mb is 200"),
    ({"feature_columns": ["a", "b\nc"]}, "key 'feature_columns.1' contains a control character"),
    ({"feature_columns": ["a,b"]}, "key 'feature_columns.0' 'a,b' is not a column name"),
    ({"feature_columns": []}, "key 'feature_columns' must have at least 1 item"),
    ({"id_column": ""}, "key 'id_column' '' is not a column name"),
    ({"prediction_columns": ["p", "run_date"]}, "key 'prediction_columns' names run_date"),
    ({"id_column": "score", "prediction_columns": ["score"]}, "'prediction_columns' names score"),
    ({"id_column": None, "prediction_columns": ["row_number"]}, "names row_number"),
    ({"prediction_columns": ["a", "a"]}, "column names must be unique"),
    ({"prediction_columns": ["a:double", "a:string"]}, "column names must be unique"),
    ({"prediction_columns": ["p:float"]}, "'p:float' is not name or name:type with a type of"),
    ({"prediction_columns": ["run_date:string"]}, "key 'prediction_columns' names run_date"),
    ({"processing_instance_count": "2"}, "must be a whole number from 1 to 100, got '2'"),
    ({"schedule_enabled": "yes"}, "key 'schedule_enabled' must be a valid boolean"),
    ({"stage": "staging"}, "key 'stage' must be 'pre-prod' or 'prod'"),
    ({"account_id": None}, "key 'account_id' must be a valid string, got None"),
    ({"image_uri_map": {"a": 1}}, "key 'image_uri_map.a' must be a valid string"),
    ({"vpc_config": {"subnet_ids": [[[[["deep"]]]]], "security_group_ids": ["sg-1"]}},
     "is nested too deeply"),
]  # fmt: skip


@pytest.mark.parametrize(("overrides", "fragment"), BAD_VALUES)
def test_bad_values_are_refused_in_one_line(
    config_file: Callable[..., Path], overrides: dict[str, Any], fragment: str
) -> None:
    # GIVEN a stage file with one bad value WHEN it is loaded
    path = config_file(**overrides)
    with pytest.raises(ConfigError) as error:
        load_stage_config(path)
    # THEN one line names the file, the key and the problem
    message = str(error.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert fragment in message


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'{"stage": "pre-prod", "stage": "prod"}', "key 'stage' appears twice"),
        (b'{"stage": "pr\xe9-prod"}', "byte 13 is not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'["pre-prod"]', "must be a JSON object"),
        (b" " * 300_000 + b"{}", "too big for a stage config"),
    ],
)
def test_malformed_files_are_refused_in_one_line(
    tmp_path: Path, content: bytes, fragment: str
) -> None:
    path = tmp_path / "pre-prod-config.tfvars.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=fragment):
        load_stage_config(path)


@pytest.mark.parametrize(
    "expression",
    ["rate(1 minute)", "rate(12 hours)", "cron(0 3 * * ? *)", "cron(0/15 8-17 ? * MON-FRI *)",
     "cron(0 10 L * ? 2027)", "at(2027-01-31T23:59:00)"],
)  # fmt: skip
def test_valid_schedules_pass(config_file: Callable[..., Path], expression: str) -> None:
    assert load_stage_config(config_file(schedule_expression=expression)).schedule_expression


def test_stage_files_and_published_schema_agree() -> None:
    # GIVEN the committed JSON Schema for editors and the docs table
    committed = json.loads((REPO_ROOT / "docs" / "stage-config.schema.json").read_text())
    # THEN they are what the one schema generates (run scripts/stage_schema.py --write)
    assert committed == json_schema()
    assert stage_schema.main(["--check"]) == 0
    # AND both stage files pass it and the loader; a misspelt key fails it too
    for stage in ("pre-prod", "prod"):
        values = json.loads((REPO_ROOT / f"{stage}-config.tfvars.json").read_text())
        jsonschema.validate(values, committed)
        assert load_stage_config(REPO_ROOT / f"{stage}-config.tfvars.json", stage=stage)
        with pytest.raises(jsonschema.ValidationError, match="kms_key_id"):
            jsonschema.validate({**values, "kms_key_id": None}, committed)


def test_every_key_is_an_attribute_of_the_terraform_config_and_documented() -> None:
    # (tests/terraform/test_terraform_module.py compares types and defaults, through Terraform)
    variables = (REPO_ROOT / "variables.tf").read_text()
    config = variables[variables.index('variable "config"') : variables.index("validation {")]
    interfaces = (REPO_ROOT / "docs" / "interfaces.md").read_text()
    for key in json_schema()["properties"]:
        assert re.search(rf"^    {key} +=", config, re.M), key
        assert f"`{key}`" in interfaces or f"`{key.rsplit('_', 1)[0]}_" in interfaces, key


REFUSED_RUNS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("misspelt key", {"kms_key_id": KMS}, []),
    ("role of another account", {"sagemaker_execution_role_arn": role_arn(OTHER)}, []),
    ("payload x concurrency", {"max_payload_mb": 100, "max_concurrent_transforms": 2}, []),
    ("trailing newline", {"artifacts_bucket": "pre-prod-artifacts\n"}, []),
    ("pinned ARN of another group", {},
     ["--model-package-arn", f"arn:aws:sagemaker:us-east-1:{DEV_ACCOUNT}:model-package/other/1"]),
    ("unwritable output dir", {}, ["--output-dir", "{blocked}/out"]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "overrides", "flags"), REFUSED_RUNS)
def test_refused_inputs_write_nothing_to_aws(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    tmp_path: Path,
    api_calls: list[Call],
    capsys: pytest.CaptureFixture[str],
    case: str,
    overrides: dict[str, Any],
    flags: list[str],
) -> None:
    # GIVEN an approved package and one bad input
    register(dev)
    (tmp_path / "blocked").write_text("a file, not a directory")
    flags = [flag.replace("{blocked}", str(tmp_path / "blocked")) for flag in flags]
    api_calls.clear()

    # WHEN build.py runs
    code = build.main(
        ["--stage", "pre-prod", "--config", str(config_file(**overrides)),
         "--output-dir", str(tmp_path / "out"),
         "--source-role-arn", role_arn(DEV_ACCOUNT),
         "--target-role-arn", role_arn(PRE_PROD_ACCOUNT), *flags]
    )  # fmt: skip

    # THEN it exits 2 with one line, and AWS saw no write at all
    error = capsys.readouterr().err.strip()
    assert code == 2, case
    assert error.startswith("build.py: error: ") and "\n" not in error
    assert mutating(api_calls) == []
