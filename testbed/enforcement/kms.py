"""KMS key policies, for testbed/enforcement/__init__.py (correction 13).

moto evaluates no key policy: any identity policy allowing a KMS action on a key is enough. AWS
evaluates the key policy first (AWS KMS Developer Guide, "Key policies in AWS KMS": "Unless the key
policy explicitly allows it, you cannot use IAM policies to allow access to a KMS key"; "Allows
access to the AWS account and enables IAM policies"):

- a key policy statement naming the caller (its role or session, or "*") that allows the action
  allows it, whatever the caller's identity policies say, unless one of them denies it;
- a statement naming the caller's account (`arn:aws:iam::<account>:root`) that allows the action
  lets the caller's identity policies decide;
- otherwise, and wherever a key policy statement applying to the caller denies, the call is denied.

Only calls on an existing key of the caller's account are decided here (the key named by the
request's KeyId, or an alias's key); CreateKey and calls on another account's key keep the
identity-policy evaluation (so a cross-account key policy, the dev artifacts key's, is not
exercised here). A role is named by its ARN with its path (the caller's forms include it);
`NotPrincipal` is not read (no key policy of the templates uses it).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from testbed.enforcement.requests import Check

Decision = Literal["deny", "allow", "identity"]
_ARN_ACCOUNT = 4


def _principals(statement: dict[str, Any]) -> list[str]:
    expected = statement.get("Principal")
    aws = expected.get("AWS") if isinstance(expected, dict) else expected
    return [aws] if isinstance(aws, str) else [str(value) for value in aws or []]


def _key_policy(check: Check, caller_account: str) -> dict[str, Any] | None:
    from moto.kms.models import kms_backends

    if not check.action.startswith("kms:") or ":key/" not in check.resource:
        return None
    parts = check.resource.split(":")
    account, region, key_id = parts[_ARN_ACCOUNT], parts[3], check.resource.split(":key/", 1)[1]
    if account != caller_account or key_id == "*":
        return None
    key = kms_backends[account][region].keys.get(key_id)
    return json.loads(key.policy) if key is not None and key.policy else None


def key_policy_decision(
    check: Check, caller_account: str, caller: set[str], account: set[str], context: dict[str, Any]
) -> Decision | None:
    """What the key's policy says about this call, or None when no key policy applies.

    Args:
        check: one authorization of the request.
        caller_account: the caller's account.
        caller: the Principal values naming the caller itself (its session and role ARNs).
        account: the Principal values naming the caller's account (its ID and root ARN).
        context: the request's condition values (the caller's principal keys included).
    """
    from moto.iam import access_control

    from testbed.enforcement.reference import listed_context

    document = _key_policy(check, caller_account)
    if document is None:
        return None
    statements = document.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    listed = listed_context(check.action, check.resource, {**context, **check.context})

    def matches(statement: dict[str, Any]) -> bool:
        bare = {k: v for k, v in statement.items() if k != "Principal"}
        result = access_control.IAMPolicyStatement(bare).is_action_permitted(
            check.action, check.resource, None, listed
        )
        return result != access_control.PermissionResult.NEUTRAL

    def naming(names: set[str]) -> list[dict[str, Any]]:
        return [s for s in statements if any(p in names for p in _principals(s)) and matches(s)]

    direct, delegated = naming(caller | {"*"}), naming(account)
    if any(s.get("Effect") == "Deny" for s in direct + delegated):
        return "deny"
    if any(s.get("Effect") == "Allow" for s in direct):
        return "allow"
    return "identity" if delegated else "deny"
