"""The IAM emulator (testbed/enforcement) follows AWS's reference, not our templates: a request's
condition context holds only the keys the Service Authorization Reference lists for its action and
resource type (parliament's copy, testbed/enforcement/reference.py), and S3 answers conditional
writes as the S3 User Guide says.

The statements `OLD_*` are those main v1.0.0 shipped: the emulator used to prove them, real AWS
refuses them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from testbed.enforcement import aws_semantics, enforced
from testbed.enforcement.reference import action, data_path, listed_context
from testbed.iam_policies import REPO_ROOT, render
from testbed.iam_world import ADMIN_ENVIRONMENT, Role, _create_role
from testbed.local_aws import PRE_PROD_ACCOUNT, account_session, create_bucket, local_aws
from tests.iam.modules import role_session
from utils import new_session

ACCOUNT = PRE_PROD_ACCOUNT
GROUP = "churn"
SCHEDULER = "churn-pre-prod-batch-inference-scheduler"
SCHEDULER_ARN = f"arn:aws:iam::{ACCOUNT}:role/{SCHEDULER}"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/churn-boundary-pre-prod"
BUCKET = "reference-artifacts"
MANAGE_ACTIONS = [
    "iam:DeleteRole", "iam:UpdateAssumeRolePolicy", "iam:UpdateRole", "iam:UpdateRoleDescription",
]  # fmt: skip
OLD_MANAGE_MODULE_ROLES = {
    "Sid": "ManageModuleRoles", "Effect": "Allow", "Action": MANAGE_ACTIONS,
    "Resource": SCHEDULER_ARN,
    "Condition": {"StringEquals": {"iam:PermissionsBoundary": BOUNDARY}},
}  # fmt: skip
CREATE_ONLY_WRITES: list[dict[str, Any]] = [
    {"Sid": "WriteModelCopies", "Effect": "Allow", "Action": "s3:PutObject",
     "Resource": f"arn:aws:s3:::{BUCKET}/model-packages/*",
     "Condition": {"StringEquals": {"s3:if-none-match": "*"}}},
    {"Sid": "UploadModelCopyParts", "Effect": "Allow", "Action": "s3:PutObject",
     "Resource": f"arn:aws:s3:::{BUCKET}/model-packages/*",
     "Condition": {"Bool": {"s3:ObjectCreationOperation": "false"}}},
    {"Sid": "ReadSource", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
     "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]},
]  # fmt: skip


def _document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _shipped(sid: str) -> dict[str, Any]:
    """One statement of terraform-apply as bootstrap renders it for `churn` in pre-prod."""
    variables = {
        "partition": "aws", "region": "us-east-1", "account_id": ACCOUNT,
        "module_name": "churn-pre-prod-batch-inference", "model_package_group_name": GROUP,
        "permissions_boundary_arn": BOUNDARY, "sagemaker_pipeline_name": "p",
        "sagemaker_prefix": GROUP, "execution_role_arn": "arn:aws:iam::1:role/e",
        "results_database": "churn_pre_prod_batch_inference",
    }  # fmt: skip
    statements = render("terraform-apply", variables)["Statement"]
    return next(s for s in statements if s["Sid"] == sid)


# --- the reference itself (no AWS) -------------------------------------------------------------


def test_the_reference_is_parliaments_pinned_copy() -> None:
    # GIVEN the data the emulator and the policy lint read
    lock = (REPO_ROOT / "requirements" / "dev.txt").read_text(encoding="utf-8")
    # THEN it is parliament's, of the version the dev lock pins with its hashes
    assert data_path().parent.name == "parliament"
    assert "parliament==1.6.4 \\\n    --hash=sha256:" in lock
    assert version("parliament") == "1.6.4"


@pytest.mark.parametrize(
    ("name", "key", "listed"),
    [
        ("iam:CreateRole", "iam:PermissionsBoundary", True),
        ("iam:PutRolePolicy", "iam:PermissionsBoundary", True),
        ("iam:DeleteRole", "iam:PermissionsBoundary", False),
        ("iam:UpdateAssumeRolePolicy", "iam:PermissionsBoundary", False),
        ("iam:DeleteRole", "aws:ResourceTag/ModelPackageGroup", True),  # the role type's key
        ("s3:PutObject", "s3:if-none-match", True),
        ("s3:PutObject", "s3:ObjectCreationOperation", True),
        ("s3:PutObject", "s3:prefix", False),
        ("s3:ListBucket", "s3:prefix", True),
        ("sagemaker:CreateModelPackage", "sagemaker:ModelApprovalStatus", True),
        ("kms:CreateKey", "aws:RequestTag/ModelPackageGroup", True),
        ("sts:AssumeRole", "aws:PrincipalArn", True),  # a global key
    ],
)
def test_a_key_counts_only_where_the_reference_lists_it(name: str, key: str, listed: bool) -> None:
    # GIVEN a request of the action carrying the key
    resource = SCHEDULER_ARN if name.startswith("iam:") else "*"
    # WHEN the emulator builds its context
    context = listed_context(name, resource, {key: "v"})
    # THEN the key stays exactly when the reference lists it for the action (or it is global)
    assert (key in context) is listed


def test_keys_of_a_resource_type_count_only_for_that_type() -> None:
    # GIVEN glue:DeleteDatabase, whose resource types are the catalog, the database, its tables
    # and functions; a connection's type lists aws:ResourceTag, a database's does not
    delete = action("glue:DeleteDatabase")
    assert delete is not None
    types = {t.name for t in delete.resource_types}
    # THEN the functions of the database are one of its resource types (issue 24)
    assert {"database", "table", "userdefinedfunction"} <= types
    database = "arn:aws:glue:us-east-1:1:database/d"
    assert not delete.allows("aws:ResourceTag/k", database)


def test_an_action_the_reference_does_not_list_carries_global_keys_only() -> None:
    context = listed_context("iam:NoSuchAction", "*", {"aws:PrincipalArn": "a", "iam:X": "b"})
    assert context == {"aws:PrincipalArn": "a"}


# --- the emulator, on a moto server --------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """A stage account with a module's scheduler role (as the deploy role creates it)."""

    endpoint: str


@pytest.fixture(scope="module")
def stage() -> Iterator[Stage]:
    with local_aws() as endpoint, pytest.MonkeyPatch.context() as env:
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)
        for key, value in ADMIN_ENVIRONMENT.items():
            env.setenv(key, value)
        admin = account_session(ACCOUNT)
        admin.client("iam").create_policy(
            PolicyName=BOUNDARY.rsplit("/", 1)[1],
            PolicyDocument=json.dumps(_document({"Effect": "Allow", "Action": "sqs:SendMessage",
                                                 "Resource": "*"})),
        )  # fmt: skip
        create_bucket(admin, BUCKET)
        yield Stage(endpoint)
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)


@pytest.fixture(autouse=True)
def _at_the_stage(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests that use the moto server reach it as an administrator (conftest clears it)."""
    if "stage" in request.fixturenames:
        monkeypatch.setenv("AWS_ENDPOINT_URL", request.getfixturevalue("stage").endpoint)


def _scheduler_role(tags: dict[str, str]) -> None:
    iam = account_session(ACCOUNT).client("iam")
    with contextlib.suppress(ClientError):
        iam.delete_role(RoleName=SCHEDULER)
    iam.create_role(
        RoleName=SCHEDULER, PermissionsBoundary=BOUNDARY,
        AssumeRolePolicyDocument=json.dumps(_document({
            "Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"Service": "scheduler.amazonaws.com"}})),
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )  # fmt: skip


def _deployer(name: str, *statements: dict[str, Any]) -> Role:
    """A role holding exactly `statements` (a fresh one per name: names are per test)."""
    trust = _document({"Effect": "Allow", "Action": "sts:AssumeRole",
                       "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}})  # fmt: skip
    iam = account_session(ACCOUNT).client("iam")
    if name in {r["RoleName"] for r in iam.list_roles()["Roles"]}:
        iam.delete_role_policy(RoleName=name, PolicyName="policy")
        iam.delete_role(RoleName=name)
    return _create_role(ACCOUNT, name, trust, {"policy": _document(*statements)})


def _outcome(role: Role, call: str, monkeypatch: pytest.MonkeyPatch, stage: Stage) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL", stage.endpoint)
    iam = role_session(role, "us-east-1").client("iam")
    calls = {
        "UpdateRoleDescription": lambda: iam.update_role_description(
            RoleName=SCHEDULER, Description="changed"),
        "UpdateRole": lambda: iam.update_role(RoleName=SCHEDULER, MaxSessionDuration=3600),
        "UpdateAssumeRolePolicy": lambda: iam.update_assume_role_policy(
            RoleName=SCHEDULER, PolicyDocument=json.dumps(_document({
                "Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"Service": "scheduler.amazonaws.com"}}))),
        "DeleteRole": lambda: iam.delete_role(RoleName=SCHEDULER),
    }  # fmt: skip
    with aws_semantics(), enforced():
        try:
            calls[call]()
        except ClientError as error:
            return "denied" if error.response["Error"]["Code"] == "AccessDenied" else "failed"
    return "allowed"


CALLS = ["UpdateRoleDescription", "UpdateRole", "UpdateAssumeRolePolicy", "DeleteRole"]


@pytest.mark.parametrize("call", CALLS)
def test_the_emulator_refuses_the_old_manage_module_roles_statement(
    stage: Stage, call: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the module's scheduler role, carrying the boundary, and a deploy role holding the
    # statement main v1.0.0 shipped (its actions conditioned on iam:PermissionsBoundary)
    _scheduler_role({"ModelPackageGroup": GROUP})
    role = _deployer("old-deployer", OLD_MANAGE_MODULE_ROLES)

    # WHEN it manages the role as Terraform does on a trust change and on destroy
    outcome = _outcome(role, call, monkeypatch, stage)

    # THEN it is refused, as AWS refuses it: the reference lists no iam:PermissionsBoundary for
    # these actions, so the condition never holds
    assert outcome == "denied"


@pytest.mark.parametrize("call", CALLS)
def test_the_shipped_statement_manages_only_the_models_tagged_role(
    stage: Stage, call: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the shipped ManageModuleRoles (the exact role ARN and the group's tag)
    role = _deployer("deployer", _shipped("ManageModuleRoles"))

    # WHEN it manages the scheduler role tagged with its group, then one tagged with another's
    _scheduler_role({"ModelPackageGroup": "churn-v2"})
    others = _outcome(role, call, monkeypatch, stage)
    _scheduler_role({"ModelPackageGroup": GROUP})
    own = _outcome(role, call, monkeypatch, stage)

    # THEN only its own model's role is allowed
    assert (own, others) == ("allowed", "denied")


def test_deleting_the_results_database_needs_its_functions_too(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the results database, and the catalog statement main v1.0.0 shipped (its tables but
    # not its user-defined functions), then the shipped one
    database = "churn_pre_prod_batch_inference"
    account_session(ACCOUNT).client("glue").create_database(DatabaseInput={"Name": database})
    old = dict(_shipped("DeleteResultsCatalog"))
    old["Resource"] = [r for r in old["Resource"] if ":userDefinedFunction/" not in r]
    outcomes = {}
    for name, statement in (("old", old), ("shipped", _shipped("DeleteResultsCatalog"))):
        role = _deployer(f"{name}-catalog", statement)
        monkeypatch.setenv("AWS_ENDPOINT_URL", stage.endpoint)
        glue = role_session(role, "us-east-1").client("glue")
        with aws_semantics(), enforced():
            try:
                glue.delete_database(Name=database)
                outcomes[name] = "allowed"
            except ClientError as error:
                outcomes[name] = error.response["Error"]["Code"]

    # THEN only the statement naming userDefinedFunction/<db>/* may delete it (Glue Developer
    # Guide, "Specifying AWS Glue resource ARNs")
    assert outcomes["old"] in ("AccessDeniedException", "AccessDenied", "403")
    assert outcomes["shipped"] == "allowed"


# --- conditional writes --------------------------------------------------------------------------


def _s3(stage: Stage, monkeypatch: pytest.MonkeyPatch, role: Role) -> Any:
    monkeypatch.setenv("AWS_ENDPOINT_URL", stage.endpoint)
    return role_session(role, "us-east-1").client("s3")


def _code(call: Any) -> str:
    try:
        call()
    except ClientError as error:
        status = error.response["ResponseMetadata"]["HTTPStatusCode"]
        return f"{status} {error.response['Error']['Code']}"
    return "200"


def test_s3_answers_conditional_copies_as_the_user_guide_says(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a role whose policy enforces create-only writes on model-packages/ (promote's)
    admin_s3 = new_session(region_name="us-east-1").client("s3")
    admin_s3.put_object(Bucket=BUCKET, Key="source/model.tar.gz", Body=b"model")
    admin_s3.put_object(Bucket=BUCKET, Key="model-packages/existing", Body=b"x")
    s3 = _s3(stage, monkeypatch, _deployer("writer", *CREATE_ONLY_WRITES))
    source = {"Bucket": BUCKET, "Key": "source/model.tar.gz"}

    def copy(key: str, **extra: Any) -> Any:
        return lambda: s3.copy_object(Bucket=BUCKET, Key=key, CopySource=source, **extra)

    # WHEN it copies with and without If-None-Match, and uploads create-only
    with aws_semantics(), enforced():
        outcomes = {
            "CopyObject": _code(copy("model-packages/a")),
            "CopyObject If-None-Match": _code(copy("model-packages/b", IfNoneMatch="*")),
            "PutObject If-None-Match, new key": _code(lambda: s3.put_object(
                Bucket=BUCKET, Key="model-packages/c", Body=b"c", IfNoneMatch="*")),
            "PutObject If-None-Match, existing key": _code(lambda: s3.put_object(
                Bucket=BUCKET, Key="model-packages/existing", Body=b"c", IfNoneMatch="*")),
        }  # fmt: skip

    # THEN no copy can be made under the enforcing policy: 403 without the header, 501 with it
    # (S3 User Guide, "Enforce conditional writes on Amazon S3 buckets"); create-only uploads
    # work, and 412 where the key exists
    assert outcomes == {
        "CopyObject": "403 AccessDenied",
        "CopyObject If-None-Match": "501 NotImplemented",
        "PutObject If-None-Match, new key": "200",
        "PutObject If-None-Match, existing key": "412 PreconditionFailed",
    }


def test_a_multipart_copy_completed_create_only_is_accepted_under_the_same_policy(
    stage: Stage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the same policy, and a copy in one part (UploadPartCopy) completed with If-None-Match
    admin_s3 = new_session(region_name="us-east-1").client("s3")
    admin_s3.put_object(Bucket=BUCKET, Key="source/small", Body=b"small")
    s3 = _s3(stage, monkeypatch, _deployer("parts-writer", *CREATE_ONLY_WRITES))

    def copy_in_parts(key: str) -> str:
        def call() -> None:
            upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
            part = s3.upload_part_copy(
                Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=1,
                CopySource={"Bucket": BUCKET, "Key": "source/small"},
            )["CopyPartResult"]  # fmt: skip
            s3.complete_multipart_upload(
                Bucket=BUCKET, Key=key, UploadId=upload, IfNoneMatch="*",
                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
            )  # fmt: skip

        return _code(call)

    # WHEN it copies to a new key, then to the same key again
    with aws_semantics(), enforced():
        first, second = copy_in_parts("model-packages/parts"), copy_in_parts("model-packages/parts")

    # THEN the first is accepted and the second refused as existing: create-only copies that
    # AWS accepts under the enforcing policy
    assert (first, second) == ("200", "412 PreconditionFailed")
    assert admin_s3.get_object(Bucket=BUCKET, Key="model-packages/parts")["Body"].read() == (
        b"small"
    )


def test_sts_refuses_a_session_longer_than_the_roles_maximum(stage: Stage) -> None:
    # GIVEN a role with the default MaxSessionDuration (one hour) and one allowing two hours
    iam = account_session(ACCOUNT).client("iam")
    root = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    trust = json.dumps(
        _document({"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": root})
    )
    for name, seconds in (("one-hour", 3600), ("two-hours", 7200)):
        if name not in {r["RoleName"] for r in iam.list_roles()["Roles"]}:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust,
                            MaxSessionDuration=seconds)  # fmt: skip
    sts = account_session(ACCOUNT).client("sts")

    def assume(name: str) -> str:
        arn = f"arn:aws:iam::{ACCOUNT}:role/{name}"
        try:
            sts.assume_role(RoleArn=arn, RoleSessionName="job", DurationSeconds=7200)
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        return "granted"

    # WHEN a two-hour session of each is asked for
    with aws_semantics():
        outcomes = {name: assume(name) for name in ("one-hour", "two-hours")}

    # THEN STS refuses what the role does not allow (STS API reference, DurationSeconds)
    assert outcomes == {"one-hour": "ValidationError", "two-hours": "granted"}
