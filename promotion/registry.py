"""Model registry queries: resolve the source package, find a promoted copy, create and wait."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from errors import (
    ConfigError,
    NoApprovedPackageError,
    PackageFailedError,
    PackageNotApprovedError,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient

LOG = logging.getLogger(__name__)
_PACKAGE_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:([a-z0-9-]+):(\d{12}):model-package/([a-zA-Z0-9-]{1,63})/(\d+)$"
)
# CustomerMetadataProperties keys recording where a target package came from.
LINEAGE_SOURCE_ARN = "promotion:source-model-package-arn"
LINEAGE_SOURCE_ACCOUNT = "promotion:source-account-id"
LINEAGE_SOURCE_VERSION = "promotion:source-version"
LINEAGE_GIT_SHA = "promotion:git-sha"
LINEAGE_CLIENT_TOKEN = "promotion:client-token"  # the CreateModelPackage idempotency token

WAIT_DELAY_SECONDS = 5
WAIT_MAX_ATTEMPTS = 120  # ten minutes
CREATE_ATTEMPTS = 3
RESOLVE_PAGE_SIZE = 100  # ListModelPackages: MaxResults 1-100
_CONNECTION_ERRORS = (
    ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError,
)  # fmt: skip


@dataclass(frozen=True)
class PackageArn:
    """The parts of a versioned model package ARN."""

    region: str
    account_id: str
    group: str
    version: int


def parse_package_arn(arn: str) -> PackageArn:
    """Parse a versioned model package ARN or raise ConfigError naming it."""
    match = _PACKAGE_ARN.match(arn)
    if not match:
        raise ConfigError(
            f"--model-package-arn {arn!r} is not a versioned model package ARN "
            "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)"
        )
    region, account, group, version = match.groups()
    return PackageArn(region, account, group, int(version))


def check_pinned_arn(arn: str, *, group: str, account_id: str, region: str) -> PackageArn:
    """Check, before any AWS call, that a pinned ARN belongs to the configured group."""
    parts = parse_package_arn(arn)
    # Group names are case-insensitive in SageMaker ARNs.
    if (parts.group.lower(), parts.account_id, parts.region) != (group.lower(), account_id, region):
        raise PackageNotApprovedError(
            f"{arn} is not in the configured group {group!r} of account {account_id} in "
            f"{region}; pin a version of that group"
        )
    return parts


def resolve_latest_approved(sm: SageMakerClient, *, group: str, account_id: str) -> str:
    """The newest Approved package of `group`: the first one of the pages ListModelPackages
    answers, newest first, following NextToken while a page holds none.

    A page may be empty and still carry a NextToken: SageMaker takes a page of packages, then
    filters it by status (documented for ListTrainingJobs' StatusEquals; the SageMaker Python
    SDK loops on NextToken for this lookup, aws/sagemaker-python-sdk#5092), so an older
    Approved version can stand behind newer Rejected or pending ones. Pages of 100 (the most
    MaxResults takes) make that one call unless 100 newer versions are not Approved.
    """
    pages = sm.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
        PaginationConfig={"PageSize": RESOLVE_PAGE_SIZE},
    )
    for page in pages:
        summaries = page["ModelPackageSummaryList"]
        if summaries:
            return summaries[0]["ModelPackageArn"]
    region = sm.meta.region_name
    raise NoApprovedPackageError(
        f"no Approved model package in group {group!r} of account {account_id} in {region}; "
        "approve a version in the model registry first"
    )


def describe_approved(sm: SageMakerClient, arn: str) -> dict[str, Any]:
    """Describe a source package and refuse unless it is Approved and Completed."""
    try:
        package: dict[str, Any] = dict(sm.describe_model_package(ModelPackageName=arn))
    except ClientError as error:
        if error.response["Error"]["Code"] != "ValidationException":
            raise
        raise PackageNotApprovedError(
            f"{arn} cannot be described: {error.response['Error']['Message']}; "
            "check the ARN and version"
        ) from error
    package.pop("ResponseMetadata", None)
    status = package.get("ModelApprovalStatus")
    if status != "Approved":
        raise PackageNotApprovedError(
            f"{arn} has approval status {status}; approve it in the registry or pin an "
            "Approved version"
        )
    if package.get("ModelPackageStatus") != "Completed":
        raise PackageNotApprovedError(
            f"{arn} has status {package.get('ModelPackageStatus')}; only Completed packages "
            "can be promoted"
        )
    return package


def group_exists(sm: SageMakerClient, group: str) -> bool:
    """Whether the model package group exists, asked with a List call."""
    paginator = sm.get_paginator("list_model_package_groups")
    for page in paginator.paginate(NameContains=group):
        if any(g["ModelPackageGroupName"] == group for g in page["ModelPackageGroupSummaryList"]):
            return True
    return False


def find_promoted(sm: SageMakerClient, *, group: str, source_arn: str) -> dict[str, Any] | None:
    """The newest target package whose lineage names `source_arn`, or None."""
    found = find_all_promoted(sm, group=group, source_arn=source_arn)
    return found[0] if found else None


def find_all_promoted(sm: SageMakerClient, *, group: str, source_arn: str) -> list[dict[str, Any]]:
    """Every target package whose lineage names `source_arn`, newest first (described)."""
    if not group_exists(sm, group):
        return []
    found: list[dict[str, Any]] = []
    paginator = sm.get_paginator("list_model_packages")
    pages = paginator.paginate(
        ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending"
    )
    for page in pages:
        for summary in page["ModelPackageSummaryList"]:
            package: dict[str, Any] = dict(
                sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            )
            metadata = package.get("CustomerMetadataProperties") or {}
            if metadata.get(LINEAGE_SOURCE_ARN) == source_arn:
                package.pop("ResponseMetadata", None)
                found.append(package)
    return found


def create_package(
    sm: SageMakerClient,
    request: dict[str, Any],
    *,
    source_arn: str,
    attempts: int = CREATE_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """CreateModelPackage so that a lost response never leaves a second package.

    `request` carries `ClientToken` and the same token in its lineage metadata. When the
    connection fails after sending (the server may have created the package), botocore must not
    blindly send again: we look for a package carrying our token first, and resend only if there
    is none. AWS itself answers a repeated token with the first package; servers that ignore the
    token (moto) are covered by the look-up.
    """
    token = request["ClientToken"]
    group = request["ModelPackageGroupName"]
    handler_id = f"no-blind-retry-{token}"

    def no_blind_retry(caught_exception: Exception | None = None, **_: Any) -> None:
        if caught_exception is not None:
            raise caught_exception

    sm.meta.events.register_first(
        "needs-retry.sagemaker.CreateModelPackage", no_blind_retry, unique_id=handler_id
    )
    try:
        for attempt in range(1, attempts + 1):
            try:
                return str(sm.create_model_package(**request)["ModelPackageArn"])
            except _CONNECTION_ERRORS:
                for package in find_all_promoted(sm, group=group, source_arn=source_arn):
                    metadata = package.get("CustomerMetadataProperties") or {}
                    if metadata.get(LINEAGE_CLIENT_TOKEN) == token:
                        LOG.info("the create was committed before its answer was lost")
                        return str(package["ModelPackageArn"])
                if attempt == attempts:
                    raise
                sleep(2**attempt)
    finally:
        sm.meta.events.unregister("needs-retry.sagemaker.CreateModelPackage", unique_id=handler_id)
    raise AssertionError("unreachable")  # pragma: no cover


def failure_reason(package: dict[str, Any]) -> str:
    """The failure reasons SageMaker recorded on a package, joined."""
    details = package.get("ModelPackageStatusDetails") or {}
    reasons = [
        f"{status.get('Name')}: {status.get('FailureReason', status.get('Status'))}"
        for key in ("ValidationStatuses", "ImageScanStatuses")
        for status in details.get(key, [])
        if status.get("Status") == "Failed"
    ]
    return "; ".join(reasons) or "no reason recorded"


def wait_until_completed(
    sm: SageMakerClient,
    arn: str,
    *,
    delay: float = WAIT_DELAY_SECONDS,
    max_attempts: int = WAIT_MAX_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll a package until Completed; Failed or a timeout raises."""
    for attempt in range(max_attempts):
        package = dict(sm.describe_model_package(ModelPackageName=arn))
        status = package["ModelPackageStatus"]
        if status == "Completed":
            package.pop("ResponseMetadata", None)
            return package
        if status in ("Failed", "Deleting"):
            raise PackageFailedError(
                f"{arn} is {status}: {failure_reason(package)}; delete it and re-run"
            )
        if attempt < max_attempts - 1:
            sleep(delay)
    raise WaitTimeoutError(
        f"{arn} is not Completed after {max_attempts * delay:.0f} s; re-run to keep waiting"
    )
