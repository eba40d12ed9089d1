"""ECR's authorization, for testbed/enforcement/__init__.py (correction 12).

moto authorizes every ECR call on resource `*` (correction 1 then compares only the action) and
evaluates no repository policy. AWS (Service Authorization Reference, Amazon Elastic Container
Registry) authorizes each repository call on the repository's ARN, built from the request's
`repositoryName` and `registryId` (the caller's own registry when absent: "If you do not specify
a registry, the default registry is assumed", ECR API reference), with the repository's tags as
`aws:ResourceTag/*` (and `ecr:ResourceTag/*`); `GetAuthorizationToken` has no resource type.
CreateRepository with tags is also authorized as `ecr:TagResource` (its dependent action).

A call on a repository of another account is allowed only when the caller's identity policies
AND the repository's policy allow it (IAM User Guide, "Cross-account policy evaluation logic";
ECR User Guide, "Private repository policies": "A user or role only needs to be allowed
permission for an action through either a repository policy or an IAM policy" within one
account). The repository policy is read from the owning account's registry and evaluated with
the same corrected statement semantics (principals as AWS matches them, conditions as AWS
documents, only the keys the reference lists).
"""

from __future__ import annotations

import json
from typing import Any

from testbed.enforcement.requests import Check, Request, Values

_ARN_ACCOUNT = 4


def _tags(pairs: Any) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in pairs or [] if isinstance(t, dict)}


def _repository(account: str, region: str, name: str) -> Any:
    from moto.ecr.models import ecr_backends

    return ecr_backends[account][region].repositories.get(name)


def checks(request: Request) -> list[Check] | None:
    """The authorizations AWS makes for an ECR request, or None to keep moto's handling."""
    p, op = request.params, request.operation
    action = f"ecr:{op}"
    if op == "GetAuthorizationToken":
        return [Check(action, "*")]
    if p.get("resourceArn"):  # TagResource, UntagResource, ListTagsForResource
        arn = str(p["resourceArn"])
        name = arn.split(":repository/", 1)[-1]
        registry = arn.split(":")[_ARN_ACCOUNT]
    elif p.get("repositoryName"):
        name, registry = str(p["repositoryName"]), str(p.get("registryId") or request.account)
        arn = f"arn:aws:ecr:{request.region}:{registry}:repository/{name}"
    else:
        return None
    context: dict[str, Values] = {}
    repository = _repository(registry, request.region, name)
    if repository is not None:
        from moto.ecr.models import ecr_backends

        tagger = ecr_backends[registry][request.region].tagger
        tags = _tags(tagger.list_tags_for_resource(repository.arn).get("tags"))
        for key, value in tags.items():
            context[f"aws:ResourceTag/{key}"] = value
            context[f"ecr:ResourceTag/{key}"] = value
    found = [Check(action, arn, context)]
    requested = _tags(p.get("tags"))
    if requested and op in ("CreateRepository", "TagResource"):
        tagging: dict[str, Values] = {f"aws:RequestTag/{k}": v for k, v in requested.items()}
        tagging["aws:TagKeys"] = sorted(requested)
        found[0].context.update(tagging)
        if op == "CreateRepository":
            found.append(Check("ecr:TagResource", arn, tagging))
    return found


def _names_caller(statement: dict[str, Any], forms: set[str]) -> bool:
    """Whether a statement's Principal names the caller (AWS principals only: a repository
    policy's callers here are roles and users)."""
    expected = statement.get("Principal")
    aws = expected.get("AWS") if isinstance(expected, dict) else expected
    values = [aws] if isinstance(aws, str) else list(aws or [])
    return any(value == "*" or value in forms for value in values)


def repository_policy_allows(
    check: Check, caller_account: str, forms: set[str], context: dict[str, Any]
) -> bool:
    """Whether the repository's own policy allows a call from another account (True for every
    other check: a call in the caller's account, or not on a repository).

    Args:
        check: one authorization of the request.
        caller_account: the caller's account.
        forms: every Principal value that names the caller (its session, role, account).
        context: the request's condition values (the caller's principal keys included).
    """
    from moto.iam import access_control

    from testbed.enforcement.reference import listed_context

    if not check.action.startswith("ecr:") or ":repository/" not in check.resource:
        return True
    parts = check.resource.split(":")
    account, region = parts[_ARN_ACCOUNT], parts[3]
    if account == caller_account:
        return True
    repository = _repository(account, region, check.resource.split(":repository/", 1)[1])
    if repository is None or not repository.policy:
        return False  # another account's repository without a policy: only its account may
    document = json.loads(repository.policy)
    statements = document.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    # A statement naming another principal does not apply (moto's evaluation would deny it);
    # one naming no Resource is about this repository (ECR's repository policies name none).
    applying = [{"Resource": check.resource, **s} for s in statements if _names_caller(s, forms)]
    if not applying:
        return False
    listed = listed_context(check.action, check.resource, {**context, **check.context})
    policy = json.dumps({**document, "Statement": applying})
    result = access_control.IAMPolicy(policy).is_action_permitted(
        check.action, check.resource, None, listed
    )
    return bool(result == access_control.PermissionResult.PERMITTED)
