"""The review gate of a stage: a package promoted as PendingManualApproval is inert until a
reviewed run marks it Approved (`build.py --approve`).

The stage and its approval are recorded on the TARGET package's `ModelLifeCycle`, in the stage's
own account: writing it on the source package would need `sagemaker:UpdateModelPackage` in the
dev registry, and IAM cannot limit that action to the life cycle (the same call may approve or
reject any version), so the registry reader would become a registry writer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from errors import ConfigError, PromotionError

if TYPE_CHECKING:
    from mypy_boto3_sagemaker import SageMakerClient

APPROVED: Final = "Approved"
PENDING: Final = "PendingManualApproval"
# Statuses a promotion may create (and may reuse when lineage finds a package of the source).
APPROVAL_STATUSES = (APPROVED, PENDING)
_STAGE_STATUS = {APPROVED: "Approved", PENDING: "PendingApproval"}
_DESCRIPTION_LIMIT = 1024  # ApprovalDescription and ModelLifeCycle.StageDescription


@dataclass(frozen=True)
class ReviewedBuild:
    """What the reviewed plan was built from: `build/<stage>/deployment.tfvars.json`."""

    path: Path
    source_arn: str
    target_arn: str


def life_cycle(stage: str, approval_status: str, description: str) -> dict[str, str]:
    """The target package's `ModelLifeCycle`: the stage it is promoted into, and its review."""
    return {
        "Stage": stage,
        "StageStatus": _STAGE_STATUS[approval_status],
        "StageDescription": description[:_DESCRIPTION_LIMIT],
    }


def read_reviewed_build(path: Path) -> ReviewedBuild:
    """Read the reviewed build outputs, or raise ConfigError naming the file."""
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
        return ReviewedBuild(
            path, str(values["source_model_package_arn"]), str(values["model_package_arn"])
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"--approve needs the reviewed build outputs, but {path} cannot be read ({error}); "
            "download the plan job's artifact there or pass --output-dir"
        ) from error


def needs_approval(package: dict[str, Any] | None, reviewed: ReviewedBuild, account: str) -> bool:
    """Decide (pure): True when the reviewed package must be set Approved, False when it is.

    Raises:
        PromotionError: no package carries the reviewed source's lineage, lineage finds another
            package than the reviewed one, or the package is not Completed or was Rejected.
    """
    if package is None:
        raise PromotionError(
            f"no model package in account {account} was promoted from {reviewed.source_arn}; "
            "re-run the plan job (build.py --approval-status PendingManualApproval) and review "
            "again"
        )
    arn = package["ModelPackageArn"]
    if arn != reviewed.target_arn:
        raise PromotionError(
            f"the reviewed build ({reviewed.path}) names {reviewed.target_arn}, but the package "
            f"promoted from {reviewed.source_arn} in account {account} is {arn}; "
            "re-run the plan job and review again"
        )
    if package.get("ModelPackageStatus") != "Completed":
        raise PromotionError(
            f"{arn} is {package.get('ModelPackageStatus')}, not Completed; "
            "re-run the plan job and review again"
        )
    status = package.get("ModelApprovalStatus")
    if status == APPROVED:
        return False
    if status != PENDING:
        raise PromotionError(
            f"{arn} has approval status {status} in account {account}; someone decided against "
            "it in the registry: re-run the plan job to promote again, or approve it there"
        )
    return True


def approve(sm: SageMakerClient, package: dict[str, Any], *, stage: str, description: str) -> None:
    """Mark the reviewed package Approved and record the stage's approval on its life cycle."""
    sm.update_model_package(
        ModelPackageArn=package["ModelPackageArn"],
        ModelApprovalStatus=APPROVED,
        ApprovalDescription=description[:_DESCRIPTION_LIMIT],
        ModelLifeCycle=life_cycle(stage, APPROVED, description),  # type: ignore[arg-type]
        # Sent unchanged: moto 5.2.5 clears the properties an update omits (AWS keeps them), and
        # the lineage in them is how the package is found again.
        CustomerMetadataProperties=package.get("CustomerMetadataProperties") or {},
    )
