"""Least privilege, proven: every flow passes with exactly the shipped policies, and dropping any
statement a local flow exercises makes that flow fail with one line naming the missing action.

One moto server for the module; IAM is enforced only while a flow runs (testbed/enforcement/).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import pipelines.definition.pipeline as pipeline
from testbed.enforcement import aws_semantics, enforced
from testbed.iam_world import World, as_role, build_world, reset_stage
from testbed.local_aws import PRE_PROD_ACCOUNT, local_aws
from tests.iam import flows
from tests.iam.classification import PROVEN, PROVEN_BY_FALLBACK, Case
from utils import new_session

Flow = Callable[[World, pytest.MonkeyPatch], flows.Outcome]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The three accounts, roles with the shipped policies, two Approved source versions."""
    real_render = pipeline.render_definition
    rendered: dict[str, str] = {}

    def render_once(**kwargs: Any) -> str:
        # IAM does not depend on the definition's content: render it for real once (the local
        # run needs a real one) and reuse it, which spares seconds of SDK work per promotion.
        if "definition" not in rendered:
            rendered["definition"] = real_render(**kwargs)
        return rendered["definition"]

    with pytest.MonkeyPatch.context() as patch, local_aws() as endpoint:
        patch.setattr(pipeline, "render_definition", render_once)
        built = build_world(endpoint, tmp_path_factory.mktemp("iam"))
        with pytest.MonkeyPatch.context() as env:
            outcome = flows.promote(
                built, "deploy-pre-prod", "pre-prod", built.source_arns[-1], env
            )
            assert outcome.code == 0, outcome.stderr
            flows.deploy_stage(built, "pre-prod")
            smoke = flows.smoke_run(built, env)  # uploads the input the local runs score
            assert smoke.code == 0, smoke.stderr
        yield built
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)


def _definition(world: World) -> Path:
    return Path(flows.deployment(world, "pre-prod")["pipeline_definition_file"])


def _target_package(world: World) -> str:
    return str(flows.deployment(world, "pre-prod")["model_package_arn"])


def test_every_flow_passes_with_exactly_the_shipped_policies(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN roles holding exactly the shipped policies and a pre-prod promotion of version 2
    latest, older = world.source_arns[-1], world.source_arns[0]

    # WHEN each job of deploy.yml runs as its role, and the pipeline runs as the execution role
    resolved = flows.resolve(world, monkeypatch)
    rerun = flows.promote(world, "deploy-pre-prod", "pre-prod", latest, monkeypatch)
    smoke = flows.smoke_run(world, monkeypatch)
    local = flows.local_run(world, monkeypatch, _definition(world), _target_package(world))
    dry_rollback = flows.promote(
        world, "deploy-pre-prod", "pre-prod", older, monkeypatch, "--dry-run"
    )
    rollback = flows.promote(world, "deploy-pre-prod", "pre-prod", older, monkeypatch)
    prod_plan = flows.plan_prod(world, monkeypatch)
    prod_rerun = flows.plan_prod(world, monkeypatch)
    approved = flows.approve_prod(world, monkeypatch)
    approved_again = flows.approve_prod(world, monkeypatch)
    pre_prod_status = flows.status(world, "deploy-pre-prod", "pre-prod", monkeypatch)
    prod_status = flows.status(world, "plan-prod", "prod", monkeypatch)
    deploy_prod_status = flows.status(world, "deploy-prod", "prod", monkeypatch)

    # THEN every flow succeeds and does what it should
    flows_run = (resolved, rerun, smoke, local, dry_rollback, rollback, prod_plan, prod_rerun)
    statuses = (pre_prod_status, prod_status, deploy_prod_status)
    for outcome in (*flows_run, approved, approved_again, *statuses):
        assert outcome.code == 0, outcome.stderr
    assert resolved.stdout.strip() == latest
    assert "(reused)" in rerun.stdout
    assert "execution Succeeded" in smoke.stdout
    assert "local execution" in local.stdout and local.stdout.strip().endswith("Succeeded")
    assert "dry run: nothing written" in dry_rollback.stdout
    assert "(created)" in rollback.stdout and "(version 1)" in rollback.stdout
    assert "streaming it instead" not in caplog.text  # every copy was server-side
    assert "(created)" in prod_plan.stdout and "(reused)" in prod_rerun.stdout
    assert "PendingManualApproval" in prod_plan.stdout
    assert approved.stdout.startswith("Approved:")
    assert approved_again.stdout.startswith("Already Approved:")
    assert "Succeeded" in pre_prod_status.stdout  # the smoke execution, read with its manifest
    assert "Approved" in prod_status.stdout and "not deployed" in prod_status.stdout


def test_the_plan_role_cannot_create_an_approved_package(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a prod stage with nothing promoted
    reset_stage(world, "prod")

    # WHEN the plan role promotes with the default status, Approved
    outcome = flows.promote(world, "plan-prod", "prod", world.source_arns[-1], monkeypatch)

    # THEN IAM refuses the package (condition sagemaker:ModelApprovalStatus), in one line
    assert outcome.code == 1
    assert [line for line in outcome.error_lines if "sagemaker:CreateModelPackage" in line]


@pytest.mark.parametrize(
    ("role", "registry_reader_allowed"),
    [
        ("deploy-pre-prod", True),
        ("plan-prod", True),
        ("deploy-prod", False),
        ("execution-prod", False),
    ],
)
def test_only_the_promoting_roles_may_assume_the_registry_reader(
    world: World, monkeypatch: pytest.MonkeyPatch, role: str, registry_reader_allowed: bool
) -> None:
    # GIVEN a role of a stage account whose identity policy would allow the call
    reader = world.roles["registry-reader"]
    statement = {
        "Sid": "Probe",
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "Resource": reader.arn,
    }
    template = next(iter(world.roles[role].documents))
    document = world.roles[role].documents[template]
    world.put_policy(role, template, {**document, "Statement": [*document["Statement"], statement]})
    try:
        # WHEN it assumes the registry reader (trust: account principal + aws:PrincipalArn)
        with as_role(world, role, monkeypatch), aws_semantics(), enforced():
            sts = new_session(region_name="us-east-1").client("sts")
            try:
                sts.assume_role(RoleArn=reader.arn, RoleSessionName="probe")
                allowed = True
            except sts.exceptions.ClientError:
                allowed = False
    finally:
        world.put_policy(role, template, document)

    # THEN only the roles named in the reader's trust get in
    assert allowed is registry_reader_allowed


FLOWS: dict[str, Flow] = {
    "resolve": flows.resolve,
    "smoke run": flows.smoke_run,
    "local run": lambda w, m: flows.local_run(w, m, _definition(w), _target_package(w)),
    "pre-prod dry run": lambda w, m: flows.promote(
        w, "deploy-pre-prod", "pre-prod", w.source_arns[-1], m, "--dry-run"
    ),
    "pre-prod promotion": lambda w, m: flows.promote(
        w, "deploy-pre-prod", "pre-prod", w.source_arns[-1], m
    ),
    "pre-prod multipart promotion": lambda w, m: flows.promote_in_parts(
        w, "deploy-pre-prod", "pre-prod", w.source_arns[-1], m
    ),
    "prod approval": flows.approve_prod,
    "pre-prod status": lambda w, m: flows.status(w, "deploy-pre-prod", "pre-prod", m),
}
RESETS = {
    "pre-prod dry run": "pre-prod",
    "pre-prod promotion": "pre-prod",
    "pre-prod multipart promotion": "pre-prod",
}


@pytest.mark.parametrize("case", PROVEN, ids=str)
def test_dropping_a_statement_fails_its_flow_naming_the_action(
    world: World, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    # GIVEN the role without one statement (a promotion flow starts from an empty stage)
    document = world.roles[case.role].documents[case.template]
    kept = [s for s in document["Statement"] if s["Sid"] != case.sid]
    assert len(kept) == len(document["Statement"]) - 1
    world.put_policy(case.role, case.template, {**document, "Statement": kept})
    if case.flow in RESETS:
        reset_stage(world, RESETS[case.flow])
    if case.flow == "prod approval":  # a fresh package waiting for its review
        reset_stage(world, "prod")
        assert flows.plan_prod(world, monkeypatch).code == 0
    try:
        # WHEN the flow that needs it runs
        outcome = FLOWS[case.flow](world, monkeypatch)
    finally:
        world.put_policy(case.role, case.template, document)

    # THEN it fails, and one line names the refused action; no traceback
    assert outcome.code != 0
    assert "Traceback" not in outcome.stderr + outcome.stdout
    named = [
        line for line in (outcome.error_lines + outcome.stdout.splitlines()) if case.action in line
    ]
    assert named, f"no line names {case.action}:\n{outcome.stdout}\n{outcome.stderr}"


@pytest.mark.parametrize("case", PROVEN_BY_FALLBACK, ids=str)
def test_without_a_server_side_copy_statement_the_promotion_streams_the_artifacts(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, case: Case
) -> None:
    # GIVEN the deploy role without a statement server-side copies need (s3:GetObject on the dev
    # artifacts; the parts of a multipart copy), and an empty stage
    document = world.roles[case.role].documents[case.template]
    kept = [s for s in document["Statement"] if s["Sid"] != case.sid]
    world.put_policy(case.role, case.template, {**document, "Statement": kept})
    reset_stage(world, RESETS[case.flow])
    try:
        # WHEN it promotes
        outcome = FLOWS[case.flow](world, monkeypatch)
    finally:
        world.put_policy(case.role, case.template, document)

    # THEN the server-side copy is refused (as S3 refuses CopyObject without read on the
    # source, CreateMultipartUpload without s3:PutObject) and build.py streams the artifacts
    # instead: slower, same result
    assert outcome.code == 0, outcome.stderr
    assert case.action in caplog.text


def test_the_world_really_enforces(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the execution role, which may not touch the registry
    # WHEN it lists model package groups with IAM enforced
    with as_role(world, "execution-pre-prod", monkeypatch), aws_semantics(), enforced():
        sm = new_session(region_name="us-east-1").client("sagemaker")
        with pytest.raises(sm.exceptions.ClientError) as denied:
            sm.list_model_package_groups()

    # THEN SageMaker's kind of denial comes back, naming the action
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "sagemaker:ListModelPackageGroups" in json.dumps(denied.value.response)
    assert PRE_PROD_ACCOUNT in str(denied.value)
