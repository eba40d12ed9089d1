"""What a stage's registry holds: the promoted versions, newest first, with their lineage.

Read-only: ListModelPackageGroups, ListModelPackages and DescribeModelPackage in the stage account.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from promotion import registry
from promotion.package import containers

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient

DEFAULT_VERSION_LIMIT = 10


@dataclass(frozen=True)
class PromotedVersion:
    """One target package of the stage and where it came from (its lineage metadata)."""

    target_arn: str
    target_version: int
    approval_status: str
    package_status: str
    created_at: str
    source_arn: str
    source_version: str
    promoted_at: str
    git_sha: str
    images: tuple[str, ...] = ()  # each container's image, as the package names it

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return "" if value is None else str(value)


def promoted_version(package: dict[str, Any]) -> PromotedVersion:
    """The status row of one described target package (pure)."""
    lineage = package.get("CustomerMetadataProperties") or {}
    return PromotedVersion(
        target_arn=package["ModelPackageArn"],
        target_version=int(package.get("ModelPackageVersion") or 0),
        approval_status=str(package.get("ModelApprovalStatus", "")),
        package_status=str(package.get("ModelPackageStatus", "")),
        created_at=_text(package.get("CreationTime")),
        source_arn=lineage.get(registry.LINEAGE_SOURCE_ARN, ""),
        source_version=lineage.get(registry.LINEAGE_SOURCE_VERSION, ""),
        promoted_at=_text(package.get("CreationTime")),  # the package is created at promotion
        git_sha=lineage.get(registry.LINEAGE_GIT_SHA, ""),
        images=tuple(str(container.get("Image", "")) for container in containers(package)),
    )


def promoted_versions(
    sm: SageMakerClient, *, group: str, limit: int = DEFAULT_VERSION_LIMIT
) -> list[PromotedVersion]:
    """The stage group's newest `limit` packages, newest first; empty when the group is absent."""
    if not registry.group_exists(sm, group):
        return []
    versions: list[PromotedVersion] = []
    paginator = sm.get_paginator("list_model_packages")
    pages = paginator.paginate(
        ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending"
    )
    for page in pages:
        for summary in page["ModelPackageSummaryList"]:
            package = dict(sm.describe_model_package(ModelPackageName=summary["ModelPackageArn"]))
            versions.append(promoted_version(package))
            if len(versions) >= limit:
                return versions
    return versions


def version_of_package(versions: list[PromotedVersion], package_arn: str) -> PromotedVersion | None:
    """The listed version whose target ARN is `package_arn` (versioned ARNs compare exactly)."""
    return next((v for v in versions if v.target_arn == package_arn), None)
