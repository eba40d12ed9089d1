"""One model's roles stay within that model: two models whose groups share a prefix (`churn`,
`churn-v2`) in one stage account, each deploy role holding exactly its rendered templates. Under
IAM enforcement each role is refused on every resource of the other (and on bootstrap's key
aliases), and allowed the same calls on its own.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from promotion.config import StageConfig, default_config_path, load_stage_config, parse_s3_url
from testbed.enforcement import aws_semantics, enforced
from testbed.iam_policies import module_name, name_prefix, render
from testbed.iam_world import ADMIN_ENVIRONMENT, Role, accounts_for, policy_variables
from testbed.inventory import not_owned, removed, snapshot
from testbed.local_aws import PRE_PROD_ACCOUNT, account_session, create_bucket, local_aws
from testbed.terraform import Terraform
from tests.iam.modules import (
    DEPLOY_ROLE,
    FAILED_PATTERN,
    Module,
    _alarm,
    _schedule,
    deploy_role,
    deploy_with_terraform,
    destroy_with_terraform,
    module_of,
    plan_next_version,
    role_session,
    stage_config_for,
)

GROUPS = ("churn", "churn-v2")
DENIED = {"AccessDenied", "AccessDeniedException", "AuthorizationError", "403"}
Call = Callable[[Any, Module, Module], Any]  # (session, target, caller's own module)


@dataclass(frozen=True)
class Model:
    """One model of the account: its deploy role and its deployed module."""

    role: Role
    module: Module
    endpoint: str
    config: StageConfig
    work: Path
    next_version_plan: dict[str, list[str]]  # its deploy role's plan of source version 4


@pytest.fixture(scope="module")
def models(
    terraform: Terraform, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Model]]:
    """Both models in the pre-prod account, each root module applied by the real Terraform as
    the model's own deploy role under IAM enforcement (the roles and boundaries as bootstrap
    makes them, by an administrator)."""
    base = load_stage_config(default_config_path("pre-prod"))
    work = tmp_path_factory.mktemp("modules")
    with local_aws() as endpoint, pytest.MonkeyPatch.context() as env:
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)
        for key, value in ADMIN_ENVIRONMENT.items():
            env.setenv(key, value)
        plans = {}
        for group in GROUPS:
            config = stage_config_for(base, group)
            boundary = accounts_for(config).permissions_boundary_arn
            account_session(PRE_PROD_ACCOUNT).client("iam").create_policy(
                PolicyName=boundary.rsplit("/", 1)[1],
                PolicyDocument=json.dumps(render("boundary", policy_variables(config,
                                                                              accounts_for(config)))),
            )  # fmt: skip
            plans[group] = (config, boundary, deploy_role(config))
        with aws_semantics(), enforced(), ThreadPoolExecutor(max_workers=2) as pool:
            futures = {
                group: pool.submit(
                    deploy_with_terraform, config, boundary, role, terraform, work, endpoint
                )  # fmt: skip
                for group, (config, boundary, role) in plans.items()
            }
            outputs = {group: future.result() for group, future in futures.items()}
            following = {
                group: pool.submit(plan_next_version, config, role, terraform, work)
                for group, (config, _, role) in plans.items()
            }
            next_plans = {group: future.result() for group, future in following.items()}
        built = {
            group: Model(
                role,
                module_of(config, boundary, outputs[group]),
                endpoint,
                config,
                work,
                next_plans[group],
            )  # fmt: skip
            for group, (config, boundary, role) in plans.items()
        }
        yield built
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)


def _trust_of(caller: Module) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                       "Principal": {"AWS": f"arn:aws:iam::{PRE_PROD_ACCOUNT}:root"}}],
    })  # fmt: skip


def _key_policy(group: str | None = None) -> str:
    """A key policy delegating to IAM, and (with `group`) administered by that model's deploy role,
    as the alerts key's own policy is."""
    admin = [
        {
            "Effect": "Allow",
            "Action": "kms:*",
            "Resource": "*",
            "Principal": {
                "AWS": f"arn:aws:iam::{PRE_PROD_ACCOUNT}:role/{name_prefix(group)}-{DEPLOY_ROLE}"
            },
        }
        for group in [group]
        if group
    ]
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*",
                       "Principal": {"AWS": f"arn:aws:iam::{PRE_PROD_ACCOUNT}:root"}},
                      *admin],
    })  # fmt: skip


def _arn(session: Any, kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{session.region_name}:{PRE_PROD_ACCOUNT}:{kind}/{name.lower()}"


# Each call, made by one model's role on the target module (the other's, or its own). The
# writes are those Terraform makes on update and destroy; the reads those of a plan.
CALLS: dict[str, Call] = {
    # SageMaker pipeline and model
    "UpdatePipeline": lambda s, t, me: s.client("sagemaker").update_pipeline(
        PipelineName=t.pipeline, PipelineDefinition=json.dumps({"Version": "2020-12-01"})),
    "DescribePipeline": lambda s, t, me: s.client("sagemaker").describe_pipeline(
        PipelineName=t.pipeline),
    "AddTags pipeline": lambda s, t, me: s.client("sagemaker").add_tags(
        ResourceArn=_arn(s, "pipeline", t.pipeline), Tags=[{"Key": "k", "Value": "v"}]),
    "AddTags model": lambda s, t, me: s.client("sagemaker").add_tags(
        ResourceArn=_arn(s, "model", t.model), Tags=[{"Key": "k", "Value": "v"}]),
    "DescribeModel": lambda s, t, me: s.client("sagemaker").describe_model(ModelName=t.model),
    # Schedule and its group
    "UpdateSchedule": lambda s, t, me: s.client("scheduler").update_schedule(
        **_schedule(t.schedule, load_stage_config(default_config_path("pre-prod")),
                    t.scheduler_role)),
    "GetSchedule": lambda s, t, me: s.client("scheduler").get_schedule(
        Name=t.schedule, GroupName=t.schedule),
    "TagResource schedule group": lambda s, t, me: s.client("scheduler").tag_resource(
        ResourceArn=f"arn:aws:scheduler:{s.region_name}:{PRE_PROD_ACCOUNT}:schedule-group/"
        f"{t.schedule}", Tags=[{"Key": "k", "Value": "v"}]),
    # The scheduler role and its trust policy
    "UpdateAssumeRolePolicy": lambda s, t, me: s.client("iam").update_assume_role_policy(
        RoleName=t.scheduler_role, PolicyDocument=_trust_of(me)),
    "GetRole": lambda s, t, me: s.client("iam").get_role(RoleName=t.scheduler_role),
    "PutRolePolicy": lambda s, t, me: s.client("iam").put_role_policy(
        RoleName=t.scheduler_role, PolicyName="start-pipeline",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]})),
    "TagRole": lambda s, t, me: s.client("iam").tag_role(
        RoleName=t.scheduler_role, Tags=[{"Key": "k", "Value": "v"}]),
    "UpdateRoleDescription": lambda s, t, me: s.client("iam").update_role_description(
        RoleName=t.scheduler_role, Description="changed"),
    # Alarms and dashboard
    "PutMetricAlarm": lambda s, t, me: s.client("cloudwatch").put_metric_alarm(
        **_alarm(t.alarms[0], t.topic_arn)),
    "DescribeAlarms": lambda s, t, me: s.client("cloudwatch").describe_alarms(
        AlarmNames=list(t.alarms)),
    "PutDashboard": lambda s, t, me: s.client("cloudwatch").put_dashboard(
        DashboardName=t.dashboard, DashboardBody=json.dumps({"widgets": []})),
    # Topic and its subscription
    "SetTopicAttributes": lambda s, t, me: s.client("sns").set_topic_attributes(
        TopicArn=t.topic_arn, AttributeName="DisplayName", AttributeValue="changed"),
    "Subscribe": lambda s, t, me: s.client("sns").subscribe(
        TopicArn=t.topic_arn, Protocol="email", Endpoint="someone@example.com"),
    "GetTopicAttributes": lambda s, t, me: s.client("sns").get_topic_attributes(
        TopicArn=t.topic_arn),
    # Dead-letter queue
    "SetQueueAttributes": lambda s, t, me: s.client("sqs").set_queue_attributes(
        QueueUrl=t.queue_url, Attributes={"MessageRetentionPeriod": "1209600"}),
    "GetQueueAttributes": lambda s, t, me: s.client("sqs").get_queue_attributes(
        QueueUrl=t.queue_url),
    # Alerts key and its alias
    "PutKeyPolicy": lambda s, t, me: s.client("kms").put_key_policy(
        KeyId=t.key_arn, PolicyName="default", Policy=_key_policy(t.group)),
    "EnableKeyRotation": lambda s, t, me: s.client("kms").enable_key_rotation(KeyId=t.key_arn),
    "TagResource key": lambda s, t, me: s.client("kms").tag_resource(
        KeyId=t.key_arn, Tags=[{"TagKey": "ModelPackageGroup", "TagValue": me.group}]),
    "GetKeyPolicy": lambda s, t, me: s.client("kms").get_key_policy(
        KeyId=t.key_arn, PolicyName="default"),
    "UpdateAlias": lambda s, t, me: s.client("kms").update_alias(
        AliasName=t.alias, TargetKeyId=t.key_arn),
    # Failure rule and its target
    "PutRule": lambda s, t, me: s.client("events").put_rule(
        Name=t.rule, EventPattern=json.dumps(FAILED_PATTERN)),
    "PutTargets": lambda s, t, me: s.client("events").put_targets(
        Rule=t.rule, Targets=[{"Id": "alerts-topic", "Arn": t.topic_arn}]),
    "DescribeRule": lambda s, t, me: s.client("events").describe_rule(Name=t.rule),
    # Results catalog
    "UpdateDatabase": lambda s, t, me: s.client("glue").update_database(
        Name=t.database, DatabaseInput={"Name": t.database, "Description": "changed"}),
}  # fmt: skip

# Destructive calls: only ever made on the other model (they must all be refused).
DESTROY: dict[str, Call] = {
    "DeletePipeline": lambda s, t, me: s.client("sagemaker").delete_pipeline(
        PipelineName=t.pipeline, ClientRequestToken="x" * 32),
    "DeleteModel": lambda s, t, me: s.client("sagemaker").delete_model(ModelName=t.model),
    "DeleteSchedule": lambda s, t, me: s.client("scheduler").delete_schedule(
        Name=t.schedule, GroupName=t.schedule),
    "DeleteScheduleGroup": lambda s, t, me: s.client("scheduler").delete_schedule_group(
        Name=t.schedule),
    "DeleteRole": lambda s, t, me: s.client("iam").delete_role(RoleName=t.scheduler_role),
    "DeleteAlarms": lambda s, t, me: s.client("cloudwatch").delete_alarms(AlarmNames=[t.alarms[0]]),
    "DeleteDashboards": lambda s, t, me: s.client("cloudwatch").delete_dashboards(
        DashboardNames=[t.dashboard]),
    "DeleteTopic": lambda s, t, me: s.client("sns").delete_topic(TopicArn=t.topic_arn),
    "DeleteQueue": lambda s, t, me: s.client("sqs").delete_queue(QueueUrl=t.queue_url),
    "ScheduleKeyDeletion": lambda s, t, me: s.client("kms").schedule_key_deletion(
        KeyId=t.key_arn, PendingWindowInDays=7),
    "UntagResource key": lambda s, t, me: s.client("kms").untag_resource(
        KeyId=t.key_arn, TagKeys=["ModelPackageGroup"]),
    "DeleteAlias": lambda s, t, me: s.client("kms").delete_alias(AliasName=t.alias),
    "UpdateAlias to own key": lambda s, t, me: s.client("kms").update_alias(
        AliasName=t.alias, TargetKeyId=me.key_arn),
    "PutTargets to own topic": lambda s, t, me: s.client("events").put_targets(
        Rule=t.rule, Targets=[{"Id": "alerts-topic", "Arn": me.topic_arn}]),
    "DeleteRule": lambda s, t, me: s.client("events").delete_rule(Name=t.rule),
    "DeleteDatabase": lambda s, t, me: s.client("glue").delete_database(Name=t.database),
}  # fmt: skip

# Bootstrap's key aliases of the caller's own model: never the module's to repoint or delete.
BOOTSTRAP_ALIAS_CALLS: dict[str, Callable[[Any, str, Module], Any]] = {
    "UpdateAlias": lambda s, alias, me: s.client("kms").update_alias(
        AliasName=alias, TargetKeyId=me.key_arn),
    "DeleteAlias": lambda s, alias, me: s.client("kms").delete_alias(AliasName=alias),
    "TagResource": lambda s, alias, me: s.client("kms").tag_resource(
        KeyId=alias, Tags=[{"TagKey": "ModelPackageGroup", "TagValue": me.group}]),
}  # fmt: skip


def _on(call: Callable[[Any, Any, Module], Any], target: Any, me: Module, session: Any) -> Any:
    return call(session, target, me)


def _outcome(call: Callable[[], Any]) -> str:
    try:
        call()
    except ClientError as error:
        code = error.response["Error"]["Code"]
        return "denied" if code in DENIED else f"failed ({code})"
    return "allowed"


def _as(model: Model, call: Callable[[Any], Any], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", model.endpoint)
    session = role_session(model.role, "us-east-1")
    with aws_semantics(), enforced():
        return _outcome(lambda: call(session))


@pytest.mark.parametrize(("caller", "target"), [GROUPS, GROUPS[::-1]], ids=["churn", "churn-v2"])
def test_a_deploy_role_is_refused_on_every_resource_of_the_other_model(
    models: dict[str, Model], caller: str, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two models whose group names share a prefix, deployed in one account
    me, other = models[caller], models[target]

    # WHEN one's deploy role reads, changes and deletes each resource of the other
    outcomes = {
        name: _as(me, functools.partial(_on, call, other.module, me.module), monkeypatch)
        for name, call in {**CALLS, **DESTROY}.items()
    }

    # THEN IAM refuses every call
    assert {name: got for name, got in outcomes.items() if got != "denied"} == {}


@pytest.mark.parametrize("caller", GROUPS)
def test_a_deploy_role_is_allowed_the_same_calls_on_its_own_model(
    models: dict[str, Model], caller: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a model's own resources
    me = models[caller]

    # WHEN its deploy role makes the same calls on them
    outcomes = {
        name: _as(me, functools.partial(_on, call, me.module, me.module), monkeypatch)
        for name, call in CALLS.items()
    }

    # THEN IAM allows each (the refusals above are the other model's, not the calls')
    assert {name: got for name, got in outcomes.items() if got != "allowed"} == {}


@pytest.mark.parametrize("caller", GROUPS)
def test_a_deploy_role_cannot_touch_bootstraps_key_aliases(
    models: dict[str, Model], caller: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN bootstrap's artifacts and state key aliases of the same model
    me = models[caller]

    # WHEN the module's deploy role repoints, deletes or retags them
    outcomes = {
        f"{name} {alias}": _as(me, functools.partial(_on, call, alias, me.module), monkeypatch)
        for alias in me.module.bootstrap_aliases
        for name, call in BOOTSTRAP_ALIAS_CALLS.items()
    }

    # THEN IAM refuses each
    assert {name: got for name, got in outcomes.items() if got != "denied"} == {}


# Administration of a key the deploy role tagged with its own group: the alerts key's own policy
# grants these to the deploy role; no identity policy may grant them under the tag.
TAKEOVER: dict[str, Callable[[Any, str], Any]] = {
    "PutKeyPolicy": lambda s, key: s.client("kms").put_key_policy(
        KeyId=key, PolicyName="default", Policy=_key_policy()),
    "ScheduleKeyDeletion": lambda s, key: s.client("kms").schedule_key_deletion(
        KeyId=key, PendingWindowInDays=7),
    "EnableKeyRotation": lambda s, key: s.client("kms").enable_key_rotation(KeyId=key),
    "UntagResource": lambda s, key: s.client("kms").untag_resource(
        KeyId=key, TagKeys=["ModelPackageGroup"]),
}  # fmt: skip


def _on_key(call: Callable[[Any, str], Any], key: str, session: Any) -> Any:
    return call(session, key)


@pytest.mark.parametrize("caller", GROUPS)
def test_a_deploy_role_cannot_take_over_another_workloads_untagged_key(
    models: dict[str, Model], caller: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN another workload's key in the stage account: no tags, AWS's default key policy
    # (the account delegates to IAM)
    me = models[caller]
    monkeypatch.setenv("AWS_ENDPOINT_URL", me.endpoint)
    key = account_session(PRE_PROD_ACCOUNT).client("kms").create_key()["KeyMetadata"]["Arn"]

    # WHEN the deploy role tags it with its own group (CreateKey with tags needs kms:TagResource
    # on every key, so IAM lets it), then administers it
    own_tag = [{"TagKey": "ModelPackageGroup", "TagValue": me.module.group}]
    tagged = _as(me, lambda s: s.client("kms").tag_resource(KeyId=key, Tags=own_tag), monkeypatch)
    outcomes = {
        name: _as(me, functools.partial(_on_key, call, key), monkeypatch)
        for name, call in TAKEOVER.items()
    }  # fmt: skip

    # THEN the tag gives it nothing: every administration call is refused
    assert tagged == "allowed"
    assert {name: got for name, got in outcomes.items() if got != "denied"} == {}


def _create_key(session: Any, group: str) -> Any:
    tags = [{"TagKey": "Stage", "TagValue": "pre-prod"},
            {"TagKey": "ModelPackageGroup", "TagValue": group}]  # fmt: skip
    return session.client("kms").create_key(Tags=tags, Description="alerts")


def _create_model(session: Any, group: str, name: str) -> Any:
    config = load_stage_config(default_config_path("pre-prod"))
    return session.client("sagemaker").create_model(
        ModelName=name, ExecutionRoleArn=config.sagemaker_execution_role_arn,
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x"},
        Tags=[{"Key": "ModelPackageGroup", "Value": group}, {"Key": "Stage", "Value": "pre-prod"}],
    )  # fmt: skip


@pytest.mark.parametrize(("caller", "other"), [GROUPS, GROUPS[::-1]], ids=["churn", "churn-v2"])
def test_a_deploy_role_creates_its_key_and_models_only_under_its_own_tag(
    models: dict[str, Model], caller: str, other: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a model's deploy role; AWS also authorizes kms:TagResource for a CreateKey with tags
    # and sagemaker:AddTags for a CreateModel with tags (testbed/enforcement/requests.py)
    me = models[caller]
    version = 100 + GROUPS.index(caller)

    # WHEN it creates a key and a model tagged with its group, then with the other's
    outcomes = {
        "own key": _as(me, functools.partial(_create_key, group=caller), monkeypatch),
        "own model": _as(me, functools.partial(
            _create_model, group=caller, name=f"{caller}-pre-prod-v{version}"), monkeypatch),
        "key tagged as the other": _as(me, functools.partial(_create_key, group=other),
                                       monkeypatch),
        "model tagged as the other": _as(me, functools.partial(
            _create_model, group=other, name=f"{caller}-pre-prod-v{version + 10}"), monkeypatch),
    }  # fmt: skip

    # THEN only the creations under its own group's tag pass
    assert outcomes == {
        "own key": "allowed", "own model": "allowed",
        "key tagged as the other": "denied", "model tagged as the other": "denied",
    }  # fmt: skip


# The deploy role holds two statements that allow tagging a model on creation: terraform-apply's
# (the module's model) and compare's (its temporary models).
WITHOUT = {
    "key": [("terraform-apply-alerts", "TagAlertsKeyOnCreate")],
    "model": [("terraform-apply", "TagModuleModelsOnCreate"),
              ("compare", "TagTemporaryModelsOnCreate")],
}  # fmt: skip


@pytest.mark.parametrize("create", list(WITHOUT))
def test_without_its_tag_on_create_statements_the_creation_is_refused(
    models: dict[str, Model], create: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the churn deploy role without the statements that allow tagging on creation
    me = models["churn"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", me.endpoint)
    iam = account_session(PRE_PROD_ACCOUNT).client("iam")
    for template, sid in WITHOUT[create]:
        document = me.role.documents[template]
        kept = [s for s in document["Statement"] if s["Sid"] != sid]
        assert len(kept) == len(document["Statement"]) - 1
        iam.put_role_policy(RoleName=me.role.name, PolicyName=template,
                            PolicyDocument=json.dumps({**document, "Statement": kept}))  # fmt: skip
    try:
        # WHEN it creates its key or model with its tags
        key = functools.partial(_create_key, group="churn")
        model = functools.partial(_create_model, group="churn", name="churn-pre-prod-v200")
        outcome = _as(me, key if create == "key" else model, monkeypatch)
    finally:
        for template, _ in WITHOUT[create]:
            iam.put_role_policy(RoleName=me.role.name, PolicyName=template,
                                PolicyDocument=json.dumps(me.role.documents[template]))  # fmt: skip

    # THEN it is refused (the tagging AWS authorizes with the creation is not allowed)
    assert outcome == "denied"


# Last in this file, as it takes churn down (the tests above need both models deployed).
def test_promoting_the_next_version_changes_only_that_versions_resources(
    models: dict[str, Model],
) -> None:
    # GIVEN each model deployed at source version 3 WHEN its deploy role plans version 4
    # THEN the plan (prod's reviewer reads the same) replaces the model, the new one first, and
    # updates the pipeline and the schedule: no standing resource changes for a tag, and no
    # policy is left to be read during apply
    for model in models.values():
        assert model.next_version_plan == {
            "module.stage.aws_sagemaker_model.this": ["create", "delete"],
            "module.stage.aws_sagemaker_pipeline.this": ["update"],
            "module.stage.aws_scheduler_schedule.this": ["update"],
        }


def test_taking_a_stage_down_leaves_the_bootstrap_and_the_other_model_untouched(
    models: dict[str, Model], terraform: Terraform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN both models deployed, and results a run of churn has published (its predictions and
    # the authoritative manifest of their date, in the stage's data bucket)
    me, other = models["churn"], models["churn-v2"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", me.endpoint)
    admin = account_session(PRE_PROD_ACCOUNT)
    bucket, prefix = parse_s3_url(me.config.output_data_url)
    create_bucket(admin, bucket)
    for key in (f"{prefix}execution=churn-1/dt=2026-12-01/part-0.parquet",
                f"{prefix}_authoritative/dt=2026-12-01/symlink.txt"):  # fmt: skip
        admin.client("s3").put_object(Bucket=bucket, Key=key, Body=b"published")
    before = snapshot(admin)
    key_id = me.module.key_arn.rsplit("/", 1)[1]
    owned = {module_name(me.module.pipeline), me.module.database, key_id}

    # WHEN churn's deploy role destroys its stage with the real Terraform, under enforcement
    with aws_semantics(), enforced():
        output = destroy_with_terraform(me.config, me.role, terraform, me.work)

    # THEN the destroy completes (DeleteRole and DeleteDatabase included), removes only what
    # churn's module owns, and churn-v2's module, the bootstrap's keys, aliases, boundaries and
    # roles, and the published results are all there
    assert "Destroy complete!" in output
    gone = removed(before, snapshot(admin))
    assert not_owned(gone, owned) == {}
    assert {me.module.scheduler_role} <= set(gone["roles"])
    assert f"{me.module.database}." in gone["tables"]
    assert "objects" not in gone and "buckets" not in gone and "policies" not in gone
    outcomes = {
        name: _as(other, functools.partial(_on, call, other.module, other.module), monkeypatch)
        for name, call in CALLS.items()
    }
    assert {name: got for name, got in outcomes.items() if got != "allowed"} == {}
