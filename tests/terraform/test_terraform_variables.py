"""The root module's inputs: the stage files and build.py's keys set them, exactly and validly."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

# Variables whose validation must exist (issue 5): stage, account ids, ARNs, instance types,
# schedule expression and time zone.
MUST_VALIDATE = (
    "stage",
    "account_id",
    "source_account_id",
    "sagemaker_execution_role_arn",
    "kms_key_arn",
    "source_role_arn",
    "target_role_arn",
    "model_package_arn",
    "source_model_package_arn",
    "processing_instance_type",
    "transform_instance_type",
    "schedule_expression",
    "schedule_timezone",
)

# Values each variable's regex validations must reject.
BAD_VALUES = {
    "account_id": ["12345678901", "1234567890123", "abcdefghijkl"],
    "source_account_id": ["0000"],
    "region": ["US-EAST-1", "useast1"],
    "sagemaker_execution_role_arn": ["arn:aws:iam::222222222222:user/someone", "my-role"],
    "kms_key_arn": ["arn:aws:s3:::bucket", "1234abcd-12ab-34cd-56ef-1234567890ab"],
    "model_package_arn": [
        "arn:aws:sagemaker:us-east-1:222222222222:model-package-group/group",
        "arn:aws:sagemaker:us-east-1:222222222222:model-package/group",
    ],
    "processing_instance_type": ["m5.xlarge", "ml.m5", "ML.M5.XLARGE"],
    "transform_instance_type": ["c5.2xlarge"],
    "schedule_expression": [
        "rate(0 minutes)",
        "rate(5 weeks)",
        "cron(0 3 * * ?)",
        "at(2030-01-01 00:00:00)",
        "every day",
    ],
    "schedule_timezone": ["Not a zone", "Europe/", "+02:00"],
    "model_name": ["-starts-with-hyphen", "a" * 64, "under_score"],
    "pipeline_name": ["a" * 257, "has space", "ends-with-hyphen-"],
    "input_data_url": ["https://bucket/input/", "s3:/bucket"],
    "alarm_email": ["not-an-email", "a@b"],
}

# Values the same validations must accept (beyond the stage files' own).
GOOD_VALUES = {
    "schedule_expression": [
        "rate(1 hour)",
        "rate(15 minutes)",
        "cron(0 3 * * ? *)",
        "cron(0/30 8-17 ? * MON-FRI *)",
        "at(2030-01-01T00:00:00)",
    ],
    "schedule_timezone": ["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+5"],
    "kms_key_arn": [
        "arn:aws:kms:us-east-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:us-east-1:222222222222:alias/batch-inference",
    ],
    "model_name": ["a" * 63, "breast-cancer-classifier-pre-prod-v3"],
}

_REGEX_CALL = re.compile(r'regex\("((?:[^"\\]|\\.)*)",\s*var\.(\w+)\)')


def regex_validations(variable: dict[str, Any]) -> list[re.Pattern[str]]:
    """The patterns of `can(regex("...", var.x))` in a variable's validation conditions."""
    patterns = []
    for validation in variable.get("validation", []):
        for literal, _ in _REGEX_CALL.findall(validation["condition"]):
            patterns.append(re.compile(json.loads(f'"{literal}"')))  # HCL escapes, as JSON
    return patterns


def passes(variable: dict[str, Any], value: str) -> bool:
    """Whether a string value satisfies one of the variable's regex validations (an `anytrue`
    of several, or the only one) - the way Terraform's `can(regex(...))` would."""
    return any(pattern.search(value) for pattern in regex_validations(variable))


def test_stage_file_sets_only_declared_variables(
    root_module: dict[str, Any], stage_configs: dict[str, dict[str, Any]], stage: str
) -> None:
    # GIVEN the stage file and the module's variables
    declared = set(root_module["variable"])

    # WHEN comparing its keys with them
    undeclared = set(stage_configs[stage]) - declared

    # THEN every key is a variable (Terraform would warn, and the value would be ignored)
    assert not undeclared, f"{stage}-config.tfvars.json sets undeclared variables: {undeclared}"


def test_deployment_keys_are_declared_and_required(
    root_module: dict[str, Any], deployment_tfvars: dict[str, dict[str, Any]], stage: str
) -> None:
    # GIVEN the keys build.py writes to build/<stage>/deployment.tfvars.json
    keys = set(deployment_tfvars[stage])

    # THEN each is a variable without a default: a plan without build.py's output must fail
    variables = root_module["variable"]
    assert keys <= set(variables), keys - set(variables)
    assert not [key for key in keys if "default" in variables[key]]


def test_both_var_files_set_every_required_variable(
    root_module: dict[str, Any],
    stage_configs: dict[str, dict[str, Any]],
    deployment_tfvars: dict[str, dict[str, Any]],
    stage: str,
) -> None:
    # GIVEN -var-file=<stage>-config.tfvars.json -var-file=build/<stage>/deployment.tfvars.json
    given = set(stage_configs[stage]) | set(deployment_tfvars[stage])

    # WHEN listing the variables without a default
    required = {name for name, body in root_module["variable"].items() if "default" not in body}

    # THEN the two files set all of them, and nothing else
    assert required - given == set(), f"{stage}: required but not set: {required - given}"
    assert given - set(root_module["variable"]) == set()


def test_stage_file_and_deployment_keys_do_not_overlap(
    stage_configs: dict[str, dict[str, Any]],
    deployment_tfvars: dict[str, dict[str, Any]],
    stage: str,
) -> None:
    # A key in both files would silently take the second file's value.
    assert set(stage_configs[stage]) & set(deployment_tfvars[stage]) == set()


def test_stage_file_names_its_own_stage(
    stage_configs: dict[str, dict[str, Any]], stage: str
) -> None:
    assert stage_configs[stage]["stage"] == stage


def test_every_variable_is_described_and_typed_never_any(root_module: dict[str, Any]) -> None:
    # GIVEN every variable of the root module
    problems = []
    for name, body in root_module["variable"].items():
        # THEN it has a description and an explicit type that is not `any`
        if not str(body.get("description", "")).strip():
            problems.append(f"{name}: no description")
        kind = str(body.get("type", ""))
        if not kind:
            problems.append(f"{name}: no type")
        elif re.search(r"\bany\b", kind):
            problems.append(f"{name}: typed with any ({kind})")
    assert problems == []


def test_structured_variables_use_typed_objects(root_module: dict[str, Any]) -> None:
    variables = root_module["variable"]
    assert variables["vpc_config"]["type"].startswith("${object({")
    assert "subnet_ids = list(string)" in variables["vpc_config"]["type"]
    assert variables["schedule_retry_policy"]["type"].startswith("${object({")
    assert "optional(number" in variables["schedule_retry_policy"]["type"]
    assert variables["tags"]["type"] == "${map(string)}"
    assert variables["feature_columns"]["type"] == "${list(string)}"


@pytest.mark.parametrize("name", MUST_VALIDATE)
def test_variable_has_a_validation(root_module: dict[str, Any], name: str) -> None:
    validations = root_module["variable"][name].get("validation", [])
    assert validations, f"variable {name} has no validation block"
    assert all(v.get("error_message") for v in validations)


def test_stage_is_validated_against_the_two_stages(root_module: dict[str, Any]) -> None:
    condition = root_module["variable"]["stage"]["validation"][0]["condition"]
    assert condition == '${contains(["pre-prod", "prod"], var.stage)}'


def test_stage_values_pass_the_regex_validations(
    root_module: dict[str, Any],
    stage_configs: dict[str, dict[str, Any]],
    deployment_tfvars: dict[str, dict[str, Any]],
    stage: str,
) -> None:
    # GIVEN every string value the two var files give
    values = {**stage_configs[stage], **deployment_tfvars[stage]}
    failures = []
    for name, value in values.items():
        variable = root_module["variable"][name]
        # WHEN the variable validates it with a regex, THEN the value passes
        if isinstance(value, str) and regex_validations(variable) and not passes(variable, value):
            failures.append(f"{name}={value!r}")
    assert failures == []


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, vs in BAD_VALUES.items() for v in vs])
def test_regex_validation_rejects(root_module: dict[str, Any], name: str, value: str) -> None:
    variable = root_module["variable"][name]
    assert regex_validations(variable), f"{name} has no regex validation"
    assert not passes(variable, value)


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, vs in GOOD_VALUES.items() for v in vs])
def test_regex_validation_accepts(root_module: dict[str, Any], name: str, value: str) -> None:
    assert passes(root_module["variable"][name], value)


def test_build_py_model_names_fit_the_model_name_validation(root_module: dict[str, Any]) -> None:
    # GIVEN build.py's model names, for a short and a 63-character group name
    from promotion.package import model_name_for

    variable = root_module["variable"]["model_name"]
    for group in ("breast-cancer-classifier", "g" * 63):
        for stage in ("pre-prod", "prod"):
            # THEN Terraform accepts them
            assert passes(variable, model_name_for(group, stage, 1234))


def test_build_py_pipeline_names_fit_the_pipeline_name_validation(
    root_module: dict[str, Any], repo_root: Any, stage: str
) -> None:
    from pipelines.definition import pipeline
    from promotion.config import load_stage_config

    config = load_stage_config(repo_root / f"{stage}-config.tfvars.json", stage=stage)
    assert passes(root_module["variable"]["pipeline_name"], pipeline.pipeline_name_for(config))
