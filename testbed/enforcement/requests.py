"""The resources and condition keys AWS evaluates for a request, for testbed/enforcement/__init__.py
(correction 9).

moto authorizes the calls of most services on resource `*` (correction 1 then compares only the
action) and gives identity policies no resource tags, request tags or `iam:PermissionsBoundary`.
For the calls of the module's resources (batch-config-template.tf) this builds what AWS uses,
by the Service Authorization Reference: the resource ARN(s) of the call, `aws:RequestTag/*` and
`aws:TagKeys` from the request, `aws:ResourceTag/*` from the resource, `iam:PermissionsBoundary`
(the boundary set on the role, or the one the request sets), `events:source`,
`events:detail-type`, `events:TargetArn`, `sns:Protocol` and `sns:Endpoint`; and the actions AWS
authorizes besides the call's own: `kms:TagResource` on every key of the account and Region when
CreateKey carries tags (AWS KMS guide, "Controlling access to tags"), `sagemaker:AddTags` with
`sagemaker:TaggingAction` when CreateModel or CreatePipeline carries tags (their dependent action).
A call it does not know keeps moto's handling.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

Values = str | list[str]


@dataclass
class Check:
    """One authorization AWS makes for a request: an action on one resource, with its context."""

    action: str
    resource: str
    context: dict[str, Values] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    """What the request says, as moto hands it over."""

    service: str
    operation: str
    account: str
    region: str
    method: str
    path: str
    params: Mapping[str, Any]

    @property
    def arn_base(self) -> str:
        return f"arn:aws:{self.service}:{self.region}:{self.account}"


def request_of(
    service: str, action: str, account: str, region: str, method: str, path: str,
    data: Mapping[str, Any], body: bytes | None,
) -> Request:  # fmt: skip
    """The request's parameters: the JSON body, else the query-protocol form."""
    params: dict[str, Any] = {}
    if body:
        try:
            loaded = json.loads(body)
            params = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            params = {}
    if not params:
        flat = {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in data.items()}
        params = unflatten_query(flat)
    return Request(service, action, account, region, method, path, params)


def unflatten_query(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The query protocol's flat form as the nested shape (IAM, SNS and CloudWatch, which the
    Terraform provider calls with it): `Tags.member.1.Key=k` becomes `{"Tags": [{"Key": "k"}]}`,
    `Attributes.entry.1.key` / `.value` pairs become a dict."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        node = nested
        parts = [part for part in key.split(".") if part not in ("member", "entry")]
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(nested)


def _lists(node: Any) -> Any:
    """Dicts keyed 1..n become lists; a list of {key, value} pairs becomes a dict."""
    if not isinstance(node, dict):
        return node
    items = {key: _lists(value) for key, value in node.items()}
    if items and all(key.isdigit() for key in items):
        values = [items[key] for key in sorted(items, key=int)]
        if all(isinstance(v, dict) and set(v) == {"key", "value"} for v in values):
            return {str(v["key"]): v["value"] for v in values}
        return values
    return items


def _tags(pairs: Any, key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {str(t[key]): str(t.get(value, "")) for t in pairs or [] if isinstance(t, dict)}


def _request_tags(tags: Mapping[str, str]) -> dict[str, Values]:
    context: dict[str, Values] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    if tags:
        context["aws:TagKeys"] = sorted(tags)
    return context


def _resource_tags(tags: Mapping[str, str]) -> dict[str, Values]:
    return {f"aws:ResourceTag/{k}": v for k, v in tags.items()}


# SageMaker: names in ARNs are lower case.
def _sagemaker(request: Request) -> list[Check] | None:
    from moto.sagemaker.models import sagemaker_backends

    p, op, base = request.params, request.operation, request.arn_base
    action = f"sagemaker:{op}"
    if "ModelName" in p and op in ("CreateModel", "DeleteModel", "DescribeModel"):
        arn = f"{base}:model/{str(p['ModelName']).lower()}"
    elif "PipelineName" in p and op in (
        "CreatePipeline", "UpdatePipeline", "DeletePipeline", "DescribePipeline",
        "StartPipelineExecution",
    ):  # fmt: skip
        name = str(p["PipelineName"])
        arn = name if name.startswith("arn:") else f"{base}:pipeline/{name.lower()}"
    elif "ResourceArn" in p and op in ("AddTags", "DeleteTags", "ListTags"):
        arn = str(p["ResourceArn"])
    else:
        return None
    backend = sagemaker_backends[request.account][request.region]
    try:
        existing = _tags(backend.list_tags(arn)[0])
    except Exception:  # not there (yet): no resource tags
        existing = {}
    requested = _tags(p.get("Tags"))
    context = {**_resource_tags(existing), **_request_tags(requested)}
    checks = [Check(action, arn, context)]
    if requested and op in ("CreateModel", "CreatePipeline"):
        tagging = {**_request_tags(requested), "sagemaker:TaggingAction": op}
        checks.append(Check("sagemaker:AddTags", arn, tagging))
    return checks


def _kms(request: Request) -> list[Check] | None:
    from moto.kms.models import kms_backends

    backend = kms_backends[request.account][request.region]
    p, op, base = request.params, request.operation, request.arn_base

    def key_check(action: str, key_id: str) -> Check:
        try:
            key = backend.describe_key(key_id)
        except Exception:
            return Check(action, f"{base}:key/{key_id}")
        tags = _tags(backend.list_resource_tags(key.id)["Tags"], "TagKey", "TagValue")
        return Check(action, key.arn, _resource_tags(tags))

    action = f"kms:{op}"
    if op == "CreateKey":
        requested = _tags(p.get("Tags"), "TagKey", "TagValue")
        checks = [Check(action, "*", _request_tags(requested))]
        if requested:
            checks.append(Check("kms:TagResource", f"{base}:key/*", _request_tags(requested)))
        return checks
    if op in ("CreateAlias", "UpdateAlias", "DeleteAlias"):
        alias = str(p["AliasName"])
        target = p.get("TargetKeyId") or backend.get_key_id_from_alias(alias) or ""
        checks = [Check(action, f"{base}:{alias}")]
        if op == "UpdateAlias":  # the key it points to now, and the one it will point to
            current = backend.get_key_id_from_alias(alias)
            checks += [key_check(action, current)] if current else []
        return [*checks, key_check(action, str(target))]
    if "KeyId" in p:
        check = key_check(action, str(p["KeyId"]))
        if op == "TagResource":
            requested = _tags(p.get("Tags"), "TagKey", "TagValue")
            check.context.update(_request_tags(requested))
        return [check]
    return None


def _sns(request: Request) -> list[Check] | None:
    p, op, base = request.params, request.operation, request.arn_base
    action = f"sns:{op}"
    if op == "CreateTopic":
        return [Check(action, f"{base}:{p['Name']}")]
    if op in ("GetSubscriptionAttributes", "SetSubscriptionAttributes", "Unsubscribe"):
        return [Check(action, "*")]
    arn = p.get("TopicArn") or p.get("ResourceArn")
    if not arn:
        return None
    context: dict[str, Values] = {}
    if op == "Subscribe":
        context = {"sns:Protocol": str(p.get("Protocol", ""))}
        if p.get("Endpoint"):
            context["sns:Endpoint"] = str(p["Endpoint"])
    return [Check(action, str(arn), context)]


def _events(request: Request) -> list[Check] | None:
    p, op, base = request.params, request.operation, request.arn_base
    action = f"events:{op}"
    name = p.get("Name") if op in ("PutRule", "DeleteRule", "DescribeRule") else p.get("Rule")
    if op in ("TagResource", "UntagResource", "ListTagsForResource"):
        return [Check(action, str(p["ResourceARN"]))]
    if not name:
        return None
    context: dict[str, Values] = {}
    if op == "PutRule" and p.get("EventPattern"):
        pattern = json.loads(p["EventPattern"])
        for key in ("source", "detail-type"):
            if key in pattern:
                context[f"events:{key}"] = [str(v) for v in pattern[key]]
    if op == "PutTargets":
        context["events:TargetArn"] = [str(t["Arn"]) for t in p.get("Targets", [])]
    return [Check(action, f"{base}:rule/{name}", context)]


def _scheduler(request: Request) -> list[Check] | None:
    parsed = urlparse(request.path)
    parts = [unquote(part) for part in parsed.path.strip("/").split("/")]
    group = parse_qs(parsed.query).get("groupName", [request.params.get("GroupName", "default")])[0]
    base, action = request.arn_base, f"scheduler:{request.operation}"
    if len(parts) == 2 and parts[0] == "schedules":
        return [Check(action, f"{base}:schedule/{group}/{parts[1]}")]
    if len(parts) == 2 and parts[0] == "schedule-groups":
        return [Check(action, f"{base}:schedule-group/{parts[1]}")]
    if len(parts) >= 2 and parts[0] == "tags":
        return [Check(action, "/".join(parts[1:]))]
    return None


def _cloudwatch(request: Request) -> list[Check] | None:
    p, op = request.params, request.operation
    base = f"arn:aws:cloudwatch:{request.region}:{request.account}"
    action = f"cloudwatch:{op}"
    if op in ("PutMetricAlarm", "DeleteAlarms", "DescribeAlarms"):
        names = [p["AlarmName"]] if "AlarmName" in p else list(p.get("AlarmNames", []))
        return [Check(action, f"{base}:alarm:{name}") for name in names] or None
    if op in ("PutDashboard", "GetDashboard", "DeleteDashboards"):
        names = [p["DashboardName"]] if "DashboardName" in p else list(p.get("DashboardNames", []))
        return [
            Check(action, f"arn:aws:cloudwatch::{request.account}:dashboard/{name}")
            for name in names
        ] or None
    if op in ("TagResource", "UntagResource", "ListTagsForResource"):
        return [Check(action, str(p["ResourceARN"]))]
    if op == "PutMetricData":  # no resource types; the namespace is the condition key
        return [Check(action, "*", {"cloudwatch:namespace": str(p.get("Namespace", ""))})]
    return None


def _glue(request: Request) -> list[Check] | None:
    p, op, base = request.params, request.operation, request.arn_base
    action = f"glue:{op}"
    if op in ("CreateDatabase", "UpdateDatabase", "DeleteDatabase", "GetDatabase"):
        name = p.get("Name") or (p.get("DatabaseInput") or {}).get("Name")
        if not name:
            return None
        checks = [Check(action, f"{base}:catalog"), Check(action, f"{base}:database/{name}")]
        if op == "DeleteDatabase":  # and everything in it (Glue Developer Guide, "Specifying
            # AWS Glue resource ARNs": DeleteDatabase names the tables and functions too)
            checks += [Check(action, f"{base}:table/{name}/*"),
                       Check(action, f"{base}:userDefinedFunction/{name}/*")]  # fmt: skip
        return checks
    if op in ("CreateTable", "UpdateTable", "DeleteTable", "GetTable") and "DatabaseName" in p:
        database = p["DatabaseName"]
        table = p.get("Name") or (p.get("TableInput") or {}).get("Name")
        return [
            Check(action, f"{base}:catalog"),
            Check(action, f"{base}:database/{database}"),
            Check(action, f"{base}:table/{database}/{table}"),
        ]
    return None


def _iam(request: Request) -> list[Check] | None:
    from moto.iam.models import iam_backends

    p, op = request.params, request.operation
    if "RoleName" not in p:
        return None
    backend = iam_backends[request.account]["aws"]
    arn = f"arn:aws:iam::{request.account}:role/{p['RoleName']}"
    try:
        role = backend.get_role(str(p["RoleName"]))
    except Exception:  # not there (yet): no boundary, no tags
        role = None
    # The boundary the request sets, else the role's: testbed/enforcement keeps it only for the
    # actions whose reference entry lists iam:PermissionsBoundary (CreateRole, PutRolePolicy, ...).
    boundary = p.get("PermissionsBoundary") or (role.permissions_boundary_arn if role else None)
    context: dict[str, Values] = {"iam:PermissionsBoundary": str(boundary)} if boundary else {}
    if role is not None:
        context.update(_resource_tags(_tags(role.tags)))
    if role is not None:
        context.update({f"iam:ResourceTag/{k}": v for k, v in _tags(role.tags).items()})
    if op in ("CreateRole", "TagRole"):
        context.update(_request_tags(_tags(p.get("Tags"))))
    if op == "UntagRole":
        context["aws:TagKeys"] = [str(key) for key in p.get("TagKeys") or []]
    return [Check(f"iam:{op}", arn, context)]


def _ecr(request: Request) -> list[Check] | None:
    from testbed.enforcement import ecr  # it builds on this module's types

    return ecr.checks(request)


_SERVICES: dict[str, Callable[[Request], list[Check] | None]] = {
    "sagemaker": _sagemaker,
    "kms": _kms,
    "sns": _sns,
    "events": _events,
    "scheduler": _scheduler,
    "monitoring": _cloudwatch,
    "cloudwatch": _cloudwatch,
    "iam": _iam,
    "glue": _glue,
    "ecr": _ecr,
}


def checks_for(request: Request) -> list[Check] | None:
    """The authorizations AWS makes for the request, or None to keep moto's."""
    builder = _SERVICES.get(request.service)
    return builder(request) if builder else None
