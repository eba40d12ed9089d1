"""One promotion: look at both accounts, decide what to do (the plan), then do it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from botocore.model import Shape

from errors import CopyError, PackageFailedError
from promotion import approval, registry
from promotion.artifacts import (
    CopyResult,
    CopySettings,
    ProgressFactory,
    copy_artifact,
    head,
    is_copied,
)
from promotion.config import StageConfig
from promotion.package import (
    ArtifactCopy,
    artifact_prefix,
    build_create_request,
    creatable,
    map_images,
    plan_copies,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient


@dataclass(frozen=True)
class PlannedCopy:
    """An artifact and whether a current copy exists already."""

    copy: ArtifactCopy
    source_head: dict[str, Any]
    already_copied: bool


@dataclass(frozen=True)
class PromotionPlan:
    """What a promotion will do. `existing` set means the source was promoted before."""

    source: dict[str, Any]
    existing: dict[str, Any] | None
    create_group: bool
    copies: list[PlannedCopy] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def source_arn(self) -> str:
        """The source package ARN."""
        return str(self.source["ModelPackageArn"])

    @property
    def source_version(self) -> int:
        """The source package version."""
        return int(self.source["ModelPackageVersion"])

    def describe(self, approval_status: str = approval.APPROVED) -> list[str]:
        """The plan as lines for `--dry-run`."""
        if self.existing:
            status = self.existing["ModelPackageStatus"]
            verb = "reuse" if status == "Completed" else f"wait for ({status})"
            return [f"{verb} {self.existing['ModelPackageArn']} (promoted before)"]
        lines = ["create model package group " + self.source["ModelPackageGroupName"]]
        lines = lines if self.create_group else []
        for planned in self.copies:
            verb = "skip (already copied)" if planned.already_copied else "copy"
            size = planned.source_head["ContentLength"]
            lines.append(
                f"{verb} {planned.copy.source_uri} -> {planned.copy.target_uri} ({size} B)"
            )
        lines.append(f"create a model package ({approval_status}) from {self.source_arn}")
        return lines


@dataclass(frozen=True)
class PromotionResult:
    """The target package and what was written to get it."""

    target_package: dict[str, Any]
    reused: bool
    copies: list[CopyResult]

    @property
    def target_arn(self) -> str:
        """The target package ARN."""
        return str(self.target_package["ModelPackageArn"])


def plan_promotion(
    config: StageConfig,
    *,
    source_arn: str,
    source_sm: SageMakerClient,
    source_s3: S3Client,
    target_sm: SageMakerClient,
    target_s3: S3Client,
) -> PromotionPlan:
    """Read both accounts and decide; writes nothing."""
    source = registry.describe_approved(source_sm, source_arn)
    group = config.model_package_group_name
    existing = registry.find_promoted(target_sm, group=group, source_arn=source_arn)
    if existing:
        if existing["ModelPackageStatus"] == "Failed":
            raise PackageFailedError(
                f"{existing['ModelPackageArn']} (promoted from {source_arn}) is Failed: "
                f"{registry.failure_reason(existing)}; delete it and re-run"
            )
        return PromotionPlan(source, existing, create_group=False)
    shape = create_package_shape(target_sm)
    prefix = artifact_prefix(group, int(source["ModelPackageVersion"]))
    view = creatable(source, shape)
    copies = plan_copies(view, bucket=config.artifacts_bucket, prefix=prefix)
    planned = []
    for copy in copies:
        source_head = head(source_s3, copy.source_uri)
        if source_head is None:
            raise CopyError(
                f"{source_arn} references {copy.source_uri}, which does not exist; "
                "restore the object or approve another version"
            )
        done = is_copied(source_head, head(target_s3, copy.target_uri))
        planned.append(PlannedCopy(copy, source_head, done))
    create_group = not registry.group_exists(target_sm, group)
    notices = map_images(  # the view is not used after this, so images may be mapped in it
        view,
        image_uri_map=config.image_uri_map,
        source_account_id=config.source_account_id,
    )
    return PromotionPlan(source, None, create_group, planned, notices)


def create_package_shape(sm: SageMakerClient) -> Shape:
    """The CreateModelPackage input shape: what a new package may carry."""
    shape = sm.meta.service_model.operation_model("CreateModelPackage").input_shape
    assert shape is not None  # the operation has an input
    return shape


def apply_promotion(
    plan: PromotionPlan,
    config: StageConfig,
    *,
    source_s3: S3Client,
    target_sm: SageMakerClient,
    target_s3: S3Client,
    settings: CopySettings,
    git_sha: str | None = None,
    progress: ProgressFactory | None = None,
    sleep: Callable[[float], None] | None = None,
    approval_status: str = approval.APPROVED,
) -> PromotionResult:
    """Carry out a plan: copy what is missing, create the package, wait until Completed.

    A package promoted before (found by lineage) is reused as it is: a PendingManualApproval one
    keeps waiting for its review, an Approved one is never set back to pending."""
    wait_args: dict[str, Any] = {"sleep": sleep} if sleep else {}
    if plan.existing:
        existing = plan.existing
        if existing["ModelPackageStatus"] != "Completed":
            existing = registry.wait_until_completed(
                target_sm, existing["ModelPackageArn"], **wait_args
            )
        return PromotionResult(existing, reused=True, copies=[])
    group = config.model_package_group_name
    if plan.create_group:
        target_sm.create_model_package_group(
            ModelPackageGroupName=group,
            ModelPackageGroupDescription=(
                f"Promoted from account {config.source_account_id} by build.py"
            ),
        )
    results = []
    for planned in plan.copies:
        if planned.already_copied:
            size = planned.source_head["ContentLength"]
            results.append(CopyResult(planned.copy, size, "skipped"))
            continue
        results.append(
            copy_artifact(
                planned.copy,
                source_s3=source_s3,
                target_s3=target_s3,
                source_head=planned.source_head,
                kms_key_arn=config.kms_key_arn,
                settings=settings,
                progress=progress,
            )
        )
    lineage = {
        registry.LINEAGE_SOURCE_ARN: plan.source_arn,
        registry.LINEAGE_SOURCE_ACCOUNT: config.source_account_id,
        registry.LINEAGE_SOURCE_VERSION: str(plan.source_version),
        registry.LINEAGE_PROMOTED_AT: datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if git_sha:
        lineage[registry.LINEAGE_GIT_SHA] = git_sha
    shape = create_package_shape(target_sm)
    request, _ = build_create_request(
        plan.source,
        create_shape=shape,
        uri_map={p.copy.source_uri: p.copy.target_uri for p in plan.copies},
        lineage=lineage,
        image_uri_map=config.image_uri_map,
        source_account_id=config.source_account_id,
        approval_status=approval_status,
        model_life_cycle=approval.life_cycle(
            config.stage, approval_status, f"promoted from {plan.source_arn} by build.py"
        ),
    )
    request["ModelPackageGroupName"] = group
    if config.kms_key_arn:
        request["SecurityConfig"] = {"KmsKeyId": config.kms_key_arn}
    arn = target_sm.create_model_package(**request)["ModelPackageArn"]
    package = registry.wait_until_completed(target_sm, arn, **wait_args)
    return PromotionResult(package, reused=False, copies=results)
