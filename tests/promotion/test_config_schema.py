"""The stage config's one schema: every bad input refused in one line, before any AWS write."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest

import build
from errors import ConfigError
from promotion.config import REPO_ROOT, json_schema, load_stage_config
from scripts import stage_schema
from testbed.local_aws import DEV_ACCOUNT, PRE_PROD_ACCOUNT, role_arn
from testbed.promotion_cases import BAD_VALUES, KMS, OTHER, register
from tests.promotion.conftest import Call, mutating


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


def test_every_key_is_a_terraform_variable_and_documented() -> None:
    variables = (REPO_ROOT / "variables.tf").read_text()
    interfaces = (REPO_ROOT / "docs" / "interfaces.md").read_text()
    for key in json_schema()["properties"]:
        assert f'variable "{key}"' in variables, key
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
