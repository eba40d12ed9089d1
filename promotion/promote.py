"""One promotion: look at both accounts, decide what to do (the plan: promotion/plan.py), then
do it: copy what is missing, create the package, wait until it is Completed."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from promotion import approval, registry
from promotion.artifacts import (
    CopyResult,
    CopySettings,
    ProgressFactory,
    abort_incomplete_uploads,
    copy_artifact,
)
from promotion.config import StageConfig
from promotion.image_copy import Fetch, Moved, copy_image, https_fetch, plans_by_digest
from promotion.image_plan import PlannedImage
from promotion.images import images_document, summary_note
from promotion.lease import Lease, LeaseSettings, hold, lease_key, owner_record
from promotion.plan import (
    PlannedCopy,
    PromotionPlan,
    create_package_shape,
    create_request,
    plan_promotion,
)
from promotion.prefixes import record_listing, verify_copy

LOG = logging.getLogger(__name__)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient

__all__ = ["PromotionPlan", "PromotionResult", "apply_promotion", "plan_promotion", "promote"]


@dataclass(frozen=True)
class PromotionResult:
    """The target package and what was written to get it."""

    target_package: dict[str, Any]
    reused: bool
    copies: list[CopyResult]
    images: list[PlannedImage] = field(default_factory=list)
    moved: dict[str, Moved] = field(default_factory=dict)  # image digest -> bytes moved
    artifacts: dict[str, str] = field(default_factory=dict)  # source URI -> its ETag, as copied

    @property
    def target_arn(self) -> str:
        """The target package ARN."""
        return str(self.target_package["ModelPackageArn"])

    def images_document(self, stage: str) -> dict[str, Any]:
        """`build/<stage>/images.json` (promotion/images.py)."""
        source = self.target_package["CustomerMetadataProperties"][registry.LINEAGE_SOURCE_ARN]
        decisions = [image.decision for image in self.images]
        return images_document(source, stage, decisions, self.artifacts)


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
    lease: Lease | None = None,
    source_ecr: Any = None,
    target_ecr: Any = None,
    fetch: Fetch | None = None,
) -> PromotionResult:
    """Carry out a plan: copy what is missing, create the package, wait until Completed.

    Run it under the promotion lease (`promote`) unless nothing else can run at the same time.
    A package promoted before (found by lineage) is reused as it is: a PendingManualApproval one
    keeps waiting for its review, an Approved one is never set back to pending.
    """
    wait_args: dict[str, Any] = {"sleep": sleep} if sleep else {}
    if plan.existing:
        existing = plan.existing
        if existing["ModelPackageStatus"] != "Completed":
            existing = registry.wait_until_completed(
                target_sm, existing["ModelPackageArn"], **wait_args
            )
        # Its copies are those the plan found in place (reuse requires them: promotion/reuse.py).
        there = [CopyResult(p.copy, p.source_head["ContentLength"], "skipped")
                 for p in plan.copies if p.already_copied]  # fmt: skip
        return PromotionResult(existing, reused=True, copies=there, images=plan.images,
                               artifacts=plan.source_etags)  # fmt: skip
    group = config.model_package_group_name
    if plan.create_group:
        create_group(target_sm, group, source_account_id=config.source_account_id)
    results = copy_objects(plan.all_copies, config, source_s3=source_s3, target_s3=target_s3,
                           settings=settings, progress=progress)  # fmt: skip
    for prefix in plan.prefixes:  # after its objects: a recorded listing means a complete copy
        verify_copy(target_s3, prefix.reference, prefix.objects)
        record_listing(target_s3, bucket=config.artifacts_bucket, key=prefix.listing_key,
                       body=prefix.listing, kms_key_arn=config.kms_key_arn)  # fmt: skip
    moved = {}
    for image in plans_by_digest([i.copy for i in plan.images if i.copy is not None]):
        fetch = fetch or https_fetch()
        moved[image.digest] = copy_image(source_ecr, target_ecr, image, fetch=fetch)
    request, _ = create_request(plan, config, create_package_shape(target_sm), git_sha=git_sha,
                                approval_status=approval_status)  # fmt: skip
    if lease:
        lease.check()  # never create after another run took the promotion over
    arn = registry.create_package(target_sm, request, source_arn=plan.source_arn)
    package = registry.wait_until_completed(target_sm, arn, **wait_args)
    return PromotionResult(package, reused=False, copies=results, images=plan.images, moved=moved,
                           artifacts=plan.source_etags)  # fmt: skip


def copy_objects(
    planned: list[PlannedCopy],
    config: StageConfig,
    *,
    source_s3: S3Client,
    target_s3: S3Client,
    settings: CopySettings,
    progress: ProgressFactory | None,
) -> list[CopyResult]:
    """Copy each object not copied yet (aborting uploads an interrupted run left first)."""
    pending = [p.copy for p in planned if not p.already_copied]
    aborted = abort_incomplete_uploads(
        target_s3, bucket=config.artifacts_bucket, keys=[c.target_key for c in pending]
    )
    if aborted:
        LOG.info("aborted %d incomplete upload(s) left by an interrupted run", aborted)
    results = []
    for item in planned:
        if item.already_copied:
            results.append(CopyResult(item.copy, item.source_head["ContentLength"], "skipped"))
            continue
        results.append(
            copy_artifact(
                item.copy,
                source_s3=source_s3,
                target_s3=target_s3,
                source_head=item.source_head,
                kms_key_arn=config.kms_key_arn,
                settings=settings,
                progress=progress,
            )  # fmt: skip
        )
    return results


def create_group(sm: SageMakerClient, group: str, *, source_account_id: str) -> None:
    """Create the target model package group; one created meanwhile by another run is fine."""
    try:
        sm.create_model_package_group(
            ModelPackageGroupName=group,
            ModelPackageGroupDescription=f"Promoted from account {source_account_id} by build.py",
        )
    except ClientError as error:
        if not registry.group_exists(sm, group):
            raise
        LOG.info("model package group %s was created meanwhile (%s)", group, error)


def promote(
    plan: PromotionPlan,
    config: StageConfig,
    *,
    source_sm: SageMakerClient,
    source_s3: S3Client,
    target_sm: SageMakerClient,
    target_s3: S3Client,
    settings: CopySettings,
    lease_settings: LeaseSettings | None = None,
    git_sha: str | None = None,
    progress: ProgressFactory | None = None,
    on_wait: Callable[[dict[str, Any]], None] | None = None,
    approval_status: str = approval.APPROVED,
    source_ecr: Any = None,
    target_ecr: Any = None,
    pinned_images: Mapping[str, str] | None = None,
    pinned_artifacts: Mapping[str, str] | None = None,
    fetch: Fetch | None = None,
) -> PromotionResult:
    """Apply `plan` under the promotion lease: one target package whatever the concurrency.

    A plan that reuses a package writes nothing and takes no lease. Otherwise the lease is taken
    (waiting while another live run holds it), the plan is made again under it, since the other
    run may have promoted the same version meanwhile, and then applied.
    """
    if plan.existing:
        return apply_promotion(plan, config, source_s3=source_s3, target_sm=target_sm,
                               target_s3=target_s3, settings=settings)  # fmt: skip
    ecr = {"source_ecr": source_ecr, "target_ecr": target_ecr}
    key = lease_key(config.model_package_group_name, plan.source_version)
    owner = owner_record(f"build.py {config.stage} {os.environ.get('GITHUB_RUN_ID', 'local')}")
    with hold(
        target_s3, bucket=config.artifacts_bucket, key=key, owner=owner,
        settings=lease_settings or LeaseSettings(), on_wait=on_wait,
    ) as lease:  # fmt: skip
        fresh = plan_promotion(
            config, source_arn=plan.source_arn, source_sm=source_sm, source_s3=source_s3,
            target_sm=target_sm, target_s3=target_s3, pinned_images=pinned_images,
            pinned_artifacts=pinned_artifacts, **ecr,
        )  # fmt: skip
        return apply_promotion(
            fresh, config, source_s3=source_s3, target_sm=target_sm, target_s3=target_s3,
            settings=settings, git_sha=git_sha, progress=progress, lease=lease,
            approval_status=approval_status, fetch=fetch, **ecr,
        )  # fmt: skip


def image_rows(result: PromotionResult, *, pinned_from: str | None) -> list[tuple[str, str]]:
    """The summary's rows for the package's containers: an inference pipeline is named as one,
    and each image with the digest the stage runs and how it got there."""
    rows: list[tuple[str, str]] = []
    main = [i for i in result.images if i.decision.place.startswith("InferenceSpecification.")]
    if len(main) > 1:
        rows.append(("Inference pipeline", f"{len(main)} containers, run in sequence by "
                     "SageMaker (each one's output is the next one's input)"))  # fmt: skip
    for image in result.images:
        decision = image.decision
        note = summary_note(decision)
        moved = result.moved.get(decision.digest or "")
        if moved is not None:
            note += (
                f"; {moved.layers_copied} blob(s) copied (layers and the image config), "
                f"{moved.layers_skipped} already there, {moved.downloaded} B moved"
            )
        elif image.copy is not None:
            note += "; already in the stage"
        if decision.kind == "copy" and pinned_from:
            note += f"; the digest {pinned_from} promoted"
        label = "Image" if len(result.images) == 1 else f"Image {decision.place}"
        rows.append((label, f"{decision.target} ({note})"))
    return rows
