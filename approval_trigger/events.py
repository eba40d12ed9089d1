"""Decide (pure) whether an EventBridge event is a state change this function must dispatch.

Nothing in an event is trusted: the package ARN must name this function's own partition, region
and account (taken from the ARN Lambda invoked, never from the event's ``account``/``region``
claims) and the configured group; every field has a type and a size limit. A refused event is
answered with one short reason that never echoes more than a few dozen characters of it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .failures import ConfigurationError

EVENT_SOURCE = "aws.sagemaker"
EVENT_DETAIL_TYPE = "SageMaker Model Package State Change"
DISPATCH_STATUSES = ("Approved", "Rejected")
# One state change: SageMaker's timestamp string (or epoch milliseconds) or the event id.
MAX_CHANGE_CHARS = 64
MAX_SHOWN_CHARS = 160
_FUNCTION_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z]{2}(-[a-z]+)+-\d{1,2}):"
    r"(?P<account>\d{12}):function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]{1,128})?"
)
# SageMaker's EntityName rule for the group and a decimal version: no other character fits.
_MODEL_PACKAGE_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):sagemaker:(?P<region>[a-z0-9-]{1,32}):(?P<account>\d{12}):"
    r"model-package/(?P<group>[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62})/[1-9][0-9]{0,9}"
)
_CHANGE = re.compile(rf"[0-9A-Za-z:.+_ -]{{1,{MAX_CHANGE_CHARS}}}")


@dataclass(frozen=True)
class FunctionIdentity:
    """Where this function runs: the only place whose packages it dispatches."""

    partition: str
    region: str
    account: str

    @classmethod
    def from_function_arn(cls, arn: object) -> FunctionIdentity:
        """Parse the context's ``invoked_function_arn`` (a version or alias suffix is allowed)."""
        match = _FUNCTION_ARN.fullmatch(arn) if isinstance(arn, str) else None
        if match is None:
            raise ConfigurationError(f"invoked function ARN {show(arn)} is not a Lambda ARN")
        return cls(match["partition"], match["region"], match["account"])


@dataclass(frozen=True)
class Dispatch:
    """A state change that starts a deploy."""

    model_package_arn: str
    status: str
    dedup_key: str

    @property
    def workflow_input_arn(self) -> str:
        """The ``model_package_arn`` input: the package when approved, empty when rejected."""
        return self.model_package_arn if self.status == "Approved" else ""


@dataclass(frozen=True)
class Ignored:
    """An event that starts nothing, with the reason (one short line)."""

    reason: str


def show(value: object) -> str:
    """``repr`` of an untrusted value, cut to a few dozen characters (one line, no control)."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS else f"{text[: MAX_SHOWN_CHARS - 3]}..."


def _change(detail: Mapping[str, Any], event: Mapping[str, Any]) -> str | Ignored:
    """The identity of the state change: ``LastModifiedTime``, else the event id."""
    for name, value in (
        ("LastModifiedTime", detail.get("LastModifiedTime")),
        ("id", event.get("id")),
    ):
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**15:
            return str(value)
        if isinstance(value, str) and _CHANGE.fullmatch(value):
            return value
        return Ignored(
            f"{name} {show(value)} is not a timestamp or id of at most {MAX_CHANGE_CHARS} chars"
        )
    return Ignored("the event has neither LastModifiedTime nor an id")


def _package(arn: object, identity: FunctionIdentity, group_name: str) -> str | Ignored:
    match = _MODEL_PACKAGE_ARN.fullmatch(arn) if isinstance(arn, str) else None
    if match is None:
        return Ignored(f"ModelPackageArn {show(arn)} is not a model package version ARN")
    where = (match["partition"], match["region"], match["account"])
    if where != (identity.partition, identity.region, identity.account):
        return Ignored(
            f"model package {show(arn)} is not in this function's partition, region and account"
            f" ({identity.partition}, {identity.region}, {identity.account})"
        )
    # SageMaker writes the group part of a package ARN in lower case.
    if match["group"].lower() != group_name.lower():
        return Ignored(f"model package {show(arn)} is not a version of {group_name!r}")
    return match.string


def decide(
    event: Mapping[str, Any], *, identity: FunctionIdentity, group_name: str
) -> Dispatch | Ignored:
    """Decide whether an event starts a deploy.

    The de-duplication key is ``ARN#status#change``, where ``change`` is the package's
    ``LastModifiedTime`` from the event (the event id when absent): every delivery of one state
    change carries the same detail, so repeats collide, while a second genuine approval of the
    same package (after a reject) has a new modification time and dispatches again.
    """
    if not isinstance(event, Mapping):
        return Ignored("the event is not a JSON object")
    if event.get("source") != EVENT_SOURCE or event.get("detail-type") != EVENT_DETAIL_TYPE:
        return Ignored("not a SageMaker model package state change")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return Ignored("the event has no detail")
    group = detail.get("ModelPackageGroupName")
    if group != group_name:
        return Ignored(f"model package group {show(group)} is not {group_name!r}")
    status = detail.get("ModelApprovalStatus")
    if not isinstance(status, str) or status not in DISPATCH_STATUSES:
        return Ignored(f"approval status {show(status)} starts no deploy")
    package_status = detail.get("ModelPackageStatus")
    if package_status is not None and package_status != "Completed":
        return Ignored(f"model package status is {show(package_status)}, not Completed")
    arn = _package(detail.get("ModelPackageArn"), identity, group_name)
    if isinstance(arn, Ignored):
        return arn
    change = _change(detail, event)
    if isinstance(change, Ignored):
        return change
    return Dispatch(model_package_arn=arn, status=status, dedup_key=f"{arn}#{status}#{change}")
