"""Checks the rehearsal makes of what deploy.yml left behind, beyond the jobs' own results."""

from __future__ import annotations

import json
from typing import Any

from demo.rehearsal.story import Rehearsal, RehearsalError, _outputs, newest_workspace
from testbed.local_aws import PROD_ACCOUNT


def prod_alerts_key(r: Rehearsal) -> list[str]:
    """The prod alerts key's policy, applied from the reviewed plan by the deploy role, names
    the deploy role (and the account), never the plan role that made the plan."""
    prod = r.admins[PROD_ACCOUNT].session()
    name = _outputs(r, newest_workspace(r, "prod"), PROD_ACCOUNT)["scheduler_schedule_name"]
    kms = prod.client("kms")
    key = kms.describe_key(KeyId=f"alias/{name}-alerts")["KeyMetadata"]["KeyId"]
    policy = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    named = sorted({
        arn for statement in policy["Statement"]
        for arn in _as_list((statement.get("Principal") or {}).get("AWS", []))
    })  # fmt: skip
    r.report["prod alerts key principals"] = named
    deploy_role = r.github.variables("prod")["AWS_ROLE_ARN"]
    plan_role = r.github.variables("prod-plan")["AWS_ROLE_ARN"]
    if plan_role in named or deploy_role not in named:
        raise RehearsalError(f"the prod alerts key policy names {named}: it must name the deploy "
                             f"role {deploy_role} and never the plan role {plan_role}")  # fmt: skip
    return named


def _as_list(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]
