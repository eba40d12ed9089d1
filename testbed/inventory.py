"""What is left in each account after the teardown, against what docs/going-live.md says is kept.

Listed as an administrator sees it. `GONE` must be empty after `terraform destroy` of the stages
and the approval trigger; `KEPT` is reported (the guide says why each stays).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import boto3


def _stage_gone(session: boto3.Session) -> dict[str, list[str]]:
    sm = session.client("sagemaker")
    scheduler = session.client("scheduler")
    cloudwatch = session.client("cloudwatch")
    groups = [g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]]
    return {
        "pipelines": [p["PipelineName"] for p in sm.list_pipelines()["PipelineSummaries"]],
        "models": [m["ModelName"] for m in sm.list_models()["Models"]],
        "schedule groups": [name for name in groups if name != "default"],
        "alarms": [
            a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]
        ],  # fmt: skip
        "dashboards": [
            d["DashboardName"] for d in cloudwatch.list_dashboards()["DashboardEntries"]
        ],  # fmt: skip
        "topics": [t["TopicArn"] for t in session.client("sns").list_topics()["Topics"]],
        "queues": session.client("sqs").list_queues().get("QueueUrls", []),
        "rules": [r["Name"] for r in session.client("events").list_rules()["Rules"]],
        "results databases": [
            d["Name"] for d in session.client("glue").get_databases()["DatabaseList"]
        ],  # fmt: skip
    }


def _dev_gone(session: boto3.Session) -> dict[str, list[str]]:
    return {
        "functions": [
            f["FunctionName"] for f in session.client("lambda").list_functions()["Functions"]
        ],  # fmt: skip
        "tables": session.client("dynamodb").list_tables()["TableNames"],
        "queues": session.client("sqs").list_queues().get("QueueUrls", []),
        "rules": [r["Name"] for r in session.client("events").list_rules()["Rules"]],
        "log groups": [
            g["logGroupName"] for g in session.client("logs").describe_log_groups()["logGroups"]
        ],  # fmt: skip
    }


def _kept(session: boto3.Session, buckets: list[str]) -> dict[str, Any]:
    s3 = session.client("s3")
    objects: Counter[str] = Counter()
    for bucket in buckets:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                objects[f"{bucket}/{item['Key'].split('/', 1)[0]}/"] += 1
    packages = session.client("sagemaker").list_model_packages(
        ModelPackageType="Versioned", MaxResults=100
    )
    kms = session.client("kms")
    states = Counter(
        kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"]
        for k in kms.list_keys()["Keys"]
    )
    return {"model packages": len(packages["ModelPackageSummaryList"]),
            "objects by prefix": dict(sorted(objects.items())),
            "KMS keys by state": dict(states)}  # fmt: skip


def left_over(sessions: dict[str, boto3.Session]) -> dict[str, dict[str, Any]]:
    """For each account (dev, pre-prod, prod): what must be gone, and what is kept."""
    report: dict[str, dict[str, Any]] = {}
    for name, session in sessions.items():
        gone = _dev_gone(session) if name == "dev" else _stage_gone(session)
        buckets = [b["Name"] for b in session.client("s3").list_buckets()["Buckets"]]
        report[name] = {
            "not removed": {kind: items for kind, items in gone.items() if items},
            "kept": _kept(session, buckets),
        }
    return report


def snapshot(session: boto3.Session) -> dict[str, set[str]]:
    """What a stage account holds that a stage's `terraform destroy` must leave alone unless it
    is the module's own: roles (and their policies and boundaries), customer-managed policies,
    buckets and objects, KMS keys by state and aliases, results databases and their tables."""
    iam, s3 = session.client("iam"), session.client("s3")
    kms, glue = session.client("kms"), session.client("glue")
    found: dict[str, set[str]] = {kind: set() for kind in (
        "roles", "role policies", "policies", "buckets", "objects", "keys", "aliases", "tables",
    )}  # fmt: skip
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        found["roles"].add(name)
        described = iam.get_role(RoleName=name)["Role"]
        boundary = described.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
        attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        inline = iam.list_role_policies(RoleName=name)["PolicyNames"]
        found["role policies"] |= {f"{name} {p['PolicyArn']}" for p in attached}
        found["role policies"] |= {f"{name} inline {p}" for p in inline}
        found["role policies"] |= {f"{name} boundary {boundary}"} if boundary else set()
    found["policies"] = {p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]}
    for bucket in (b["Name"] for b in s3.list_buckets()["Buckets"]):
        found["buckets"].add(bucket)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            found["objects"] |= {f"{bucket}/{item['Key']}" for item in page.get("Contents", [])}
    for key in kms.list_keys()["Keys"]:
        state = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"]
        found["keys"].add(f"{key['KeyId']} {state}")
    found["aliases"] = {
        f"{a['AliasName']} {a.get('TargetKeyId')}" for a in kms.list_aliases()["Aliases"]
        if not a["AliasName"].startswith("alias/aws/")
    }  # fmt: skip
    for database in glue.get_databases()["DatabaseList"]:
        tables = glue.get_tables(DatabaseName=database["Name"])["TableList"]
        found["tables"] |= {f"{database['Name']}.{t['Name']}" for t in tables}
        found["tables"].add(f"{database['Name']}.")
    return found


def removed(before: dict[str, set[str]], after: dict[str, set[str]]) -> dict[str, list[str]]:
    """What is in `before` and not in `after`, by kind (a key that changed state counts)."""
    return {kind: sorted(before[kind] - after.get(kind, set()))
            for kind in before if before[kind] - after.get(kind, set())}  # fmt: skip


def not_owned(gone: dict[str, list[str]], owned: set[str]) -> dict[str, list[str]]:
    """The removals that are not the module's: items naming none of `owned` (the module's
    resource names and the ids of its alerts keys)."""
    foreign = {kind: [item for item in items if not any(name in item for name in owned)]
               for kind, items in gone.items()}  # fmt: skip
    return {kind: items for kind, items in foreign.items() if items}
