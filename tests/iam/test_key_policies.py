"""The embedded AWS decides a call on a KMS key by the key's policy first, as AWS KMS does
(testbed/enforcement/kms.py, correction 13): a statement naming the caller's role (its path
included), one naming the account (the identity policies decide), a Deny, and nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from testbed.enforcement import _role_arn_with_path
from testbed.enforcement.kms import key_policy_decision
from testbed.enforcement.requests import Check

ACCOUNT = "123456789012"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/runner/build"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/service/runner"  # a role with a path
ACCOUNT_FORMS = {ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root"}


@pytest.fixture
def aws() -> Iterator[Any]:
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        session.client("iam").create_role(
            RoleName="runner", Path="/service/", AssumeRolePolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": []}))  # fmt: skip
        yield session


def _decision(
    session: Any, statements: list[dict[str, Any]], action: str = "kms:PutKeyPolicy"
) -> str | None:
    policy = json.dumps({"Version": "2012-10-17", "Statement": statements})
    key = session.client("kms").create_key(Policy=policy)["KeyMetadata"]["Arn"]
    caller = {SESSION, _role_arn_with_path(SESSION)}
    return key_policy_decision(Check(action, key), ACCOUNT, caller, ACCOUNT_FORMS, {})


def _allow(principal: str, effect: str = "Allow") -> dict[str, Any]:
    return {"Effect": effect, "Action": "kms:*", "Resource": "*", "Principal": {"AWS": principal}}


def test_a_statement_naming_the_role_with_its_path_allows(aws: Any) -> None:
    # GIVEN a key policy naming the role by its ARN, path included (a session ARN has no path)
    # THEN the key policy alone allows the role's call
    assert _role_arn_with_path(SESSION) == ROLE
    assert _decision(aws, [_allow(ROLE)]) == "allow"


def test_the_account_statement_lets_the_identity_policies_decide(aws: Any) -> None:
    assert _decision(aws, [_allow(f"arn:aws:iam::{ACCOUNT}:root")]) == "identity"


def test_a_deny_naming_the_role_wins_over_an_allow(aws: Any) -> None:
    statements = [_allow(f"arn:aws:iam::{ACCOUNT}:root"), _allow(ROLE, effect="Deny")]
    assert _decision(aws, statements) == "deny"


def test_a_key_policy_naming_neither_denies(aws: Any) -> None:
    # GIVEN a policy naming only another role: neither the role nor IAM may use the key
    other = f"arn:aws:iam::{ACCOUNT}:role/someone-else"
    assert _decision(aws, [_allow(other)]) == "deny"


def test_a_call_not_on_a_key_of_the_account_is_not_decided_here(aws: Any) -> None:
    check = Check("kms:CreateKey", "*")
    assert key_policy_decision(check, ACCOUNT, {SESSION}, ACCOUNT_FORMS, {}) is None
