"""The policy lint of `make lint` (scripts/lint_policies.py) finds what real AWS refuses: each
check shown failing on a statement it must refuse, among them the one main v1.0.0 shipped."""

from __future__ import annotations

from typing import Any

import pytest

from scripts import lint_policies
from scripts.lint_policies import Document, lint

ACCOUNT = "222222222222"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/churn-pre-prod-batch-inference-scheduler"


def _identity(*statements: dict[str, Any]) -> Document:
    return Document("test (pre-prod)", "test", "identity", tuple(statements))


def _issues(document: Document) -> set[tuple[str, str]]:
    return {(f.issue, f.detail) for f in lint([document]).unexpected()}


def test_the_lint_refuses_the_manage_module_roles_statement_main_shipped() -> None:
    # GIVEN ManageModuleRoles as v1.0.0 shipped it: role management under iam:PermissionsBoundary
    old = _identity({
        "Sid": "ManageModuleRoles", "Effect": "Allow",
        "Action": ["iam:DeleteRole", "iam:UpdateAssumeRolePolicy"], "Resource": ROLE,
        "Condition": {"StringEquals": {
            "iam:PermissionsBoundary": f"arn:aws:iam::{ACCOUNT}:policy/churn-boundary"}},
    })  # fmt: skip

    # WHEN it is linted
    issues = {issue for issue, _ in _issues(old)}
    details = {detail for _, detail in _issues(old)}

    # THEN both checks refuse it: parliament and the reference the emulator reads
    assert {"UNKNOWN_CONDITION_FOR_ACTION", "CONDITION_KEY_NOT_LISTED"} <= issues
    assert "iam:PermissionsBoundary for iam:DeleteRole" in details


def test_a_statement_parliament_cannot_analyse_is_still_checked() -> None:
    # GIVEN events:PutTargets under events:TargetArn (ArrayOfARN, on which parliament raises) and
    # events:detail-type, a key of PutRule, not of PutTargets
    statement = {
        "Sid": "Targets", "Effect": "Allow", "Action": "events:PutTargets",
        "Resource": f"arn:aws:events:us-east-1:{ACCOUNT}:rule/x",
        "Condition": {"ForAllValues:ArnEquals": {"events:TargetArn": "arn:aws:sns:x"},
                      "ForAllValues:StringEquals": {"events:detail-type": "x"}},
    }  # fmt: skip

    # WHEN it is linted
    report = lint([_identity(statement)])

    # THEN the lint says parliament could not analyse it, and the reference check finds the key
    assert [line for line in report.unanalysed if "Targets" in line and "ArrayOfARN" in line]
    assert {(f.issue, f.detail) for f in report.unexpected()} == {
        ("CONDITION_KEY_NOT_LISTED", "events:detail-type for events:PutTargets")
    }


@pytest.mark.parametrize(
    ("statement", "issue"),
    [
        ({"Action": "sagemaker:CreateModelPackages", "Resource": "*"}, "UNKNOWN_ACTION"),
        ({"Action": "glue:DeleteDatabase", "Resource": "arn:aws:sns:us-east-1:1:topic"},
         "RESOURCE_TYPE_NOT_TAKEN"),
        ({"Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*",
          "Condition": {"StringLike": {"s3:prefix": "x/*"}}}, "CONDITION_KEY_NOT_LISTED"),
    ],
)  # fmt: skip
def test_the_reference_check_finds_each_kind_of_mistake(
    statement: dict[str, Any], issue: str
) -> None:
    assert issue in {i for i, _ in _issues(_identity({"Effect": "Allow", **statement}))}


def test_an_allowance_no_finding_needs_fails_the_lint(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN an allowance for a finding that does not occur
    stale = ("RESOURCE_STAR", "test", "Nothing")
    monkeypatch.setitem(lint_policies.ALLOWED, stale, "no longer needed")
    # THEN the report names it
    assert stale in lint([_identity()]).stale_allowances()


def test_a_terraform_reference_without_a_stand_in_stops_the_lint() -> None:
    from scripts import policy_documents

    with pytest.raises(KeyError, match=r"aws_ecr_repository\.images\.arn"):
        policy_documents._resolve("${aws_ecr_repository.images.arn}", ACCOUNT)


def test_every_condition_key_the_templates_use_is_listed_for_its_action() -> None:
    # GIVEN the table docs/iam.md carries (generated from the reference data)
    rows = lint_policies.condition_key_rows()
    # THEN every key is listed by the reference for each action of its statement, and docs/iam.md
    # shows exactly that table
    assert rows and not [row for row in rows if "NOT LISTED" in row[3]]
    text = lint_policies.DOC_FILE.read_text(encoding="utf-8")
    assert lint_policies.docs_with_table(text, lint_policies.condition_key_table()) == text
