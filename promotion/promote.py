"""One promotion: look at both accounts, decide what to do (the plan), then do it."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from botocore.model import Shape

from errors import CopyError
from promotion import approval, registry
from promotion.artifacts import (
    CopyResult,
    CopySettings,
    ProgressFactory,
    abort_incomplete_uploads,
    copy_artifact,
    head,
    is_copied,
)
from promotion.config import StageConfig
from promotion.lease import Lease, LeaseSettings, hold, lease_key, owner_record
from promotion.package import (
    ArtifactCopy,
    artifact_prefix,
    build_create_request,
    creatable,
    map_images,
    plan_copies,
)
from promotion.reuse import choose_reusable

LOG = logging.getLogger(__name__)

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
    """Read both accounts and decide; writes nothing.

    Raises:
        PromotionError: a package found by lineage is not provably ours (see promotion/reuse.py).
    """
    source = registry.describe_approved(source_sm, source_arn)
    group = config.model_package_group_name
    shape = create_package_shape(target_sm)
    prefix = artifact_prefix(group, int(source["ModelPackageVersion"]))
    view = creatable(source, shape)
    # Packages first, copies second: a package is created only after all its copies exist, so
    # one found here has complete copies below. In the other order a concurrent run could create
    # its package between the two reads, and this run would see it without its copies.
    found = registry.find_all_promoted(target_sm, group=group, source_arn=source_arn)
    planned = []
    for copy in plan_copies(view, bucket=config.artifacts_bucket, prefix=prefix):
        source_head = head(source_s3, copy.source_uri)
        if source_head is None:
            raise CopyError(
                f"{source_arn} references {copy.source_uri}, which does not exist; "
                "restore the object or approve another version"
            )
        done = is_copied(source_head, head(target_s3, copy.target_uri))
        planned.append(PlannedCopy(copy, source_head, done))
    existing = choose_reusable(found, planned, source_arn=source_arn, group=group)
    if existing:
        return PromotionPlan(source, existing, create_group=False, copies=planned)
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
    lease: Lease | None = None,
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
        return PromotionResult(existing, reused=True, copies=there)
    group = config.model_package_group_name
    if plan.create_group:
        create_group(target_sm, group, source_account_id=config.source_account_id)
    pending = [p.copy for p in plan.copies if not p.already_copied]
    aborted = abort_incomplete_uploads(
        target_s3, bucket=config.artifacts_bucket, keys=[c.target_key for c in pending]
    )
    if aborted:
        LOG.info("aborted %d incomplete upload(s) left by an interrupted run", aborted)
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
            )  # fmt: skip
        )
    request, _ = create_request(
        plan, config, target_sm, git_sha=git_sha, approval_status=approval_status
    )
    if lease:
        lease.check()  # never create after another run took the promotion over
    arn = registry.create_package(target_sm, request, source_arn=plan.source_arn)
    package = registry.wait_until_completed(target_sm, arn, **wait_args)
    return PromotionResult(package, reused=False, copies=results)


def create_request(
    plan: PromotionPlan,
    config: StageConfig,
    target_sm: SageMakerClient,
    *,
    git_sha: str | None,
    approval_status: str = approval.APPROVED,
) -> tuple[dict[str, Any], str]:
    """The CreateModelPackage request and its idempotency token.

    The token is derived from the stage and the whole request (source ARN and lineage included),
    so every retry and every run that would create the same package sends the same token, and
    AWS answers a repeated token with the package it created first.
    """
    lineage = {
        registry.LINEAGE_SOURCE_ARN: plan.source_arn,
        registry.LINEAGE_SOURCE_ACCOUNT: config.source_account_id,
        registry.LINEAGE_SOURCE_VERSION: str(plan.source_version),
    }
    if git_sha:
        lineage[registry.LINEAGE_GIT_SHA] = git_sha
    request, _ = build_create_request(
        plan.source,
        create_shape=create_package_shape(target_sm),
        uri_map={p.copy.source_uri: p.copy.target_uri for p in plan.copies},
        lineage=lineage,
        image_uri_map=config.image_uri_map,
        source_account_id=config.source_account_id,
        approval_status=approval_status,
        model_life_cycle=approval.life_cycle(
            config.stage, approval_status, f"promoted from {plan.source_arn} by build.py"
        ),
    )
    request["ModelPackageGroupName"] = config.model_package_group_name
    if config.kms_key_arn:
        request["SecurityConfig"] = {"KmsKeyId": config.kms_key_arn}
    identity = {"stage": config.stage, "account": config.account_id, "request": request}
    token = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    token = token[:32]
    request["CustomerMetadataProperties"][registry.LINEAGE_CLIENT_TOKEN] = token
    request["ClientToken"] = token
    return request, token


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
) -> PromotionResult:
    """Apply `plan` under the promotion lease: one target package whatever the concurrency.

    A plan that reuses a package writes nothing and takes no lease. Otherwise the lease is taken
    (waiting while another live run holds it), the plan is made again under it, since the other
    run may have promoted the same version meanwhile, and then applied.
    """
    if plan.existing:
        return apply_promotion(plan, config, source_s3=source_s3, target_sm=target_sm,
                               target_s3=target_s3, settings=settings)  # fmt: skip
    key = lease_key(config.model_package_group_name, plan.source_version)
    owner = owner_record(f"build.py {config.stage} {os.environ.get('GITHUB_RUN_ID', 'local')}")
    with hold(
        target_s3, bucket=config.artifacts_bucket, key=key, owner=owner,
        settings=lease_settings or LeaseSettings(), on_wait=on_wait,
    ) as lease:  # fmt: skip
        fresh = plan_promotion(
            config, source_arn=plan.source_arn, source_sm=source_sm, source_s3=source_s3,
            target_sm=target_sm, target_s3=target_s3,
        )  # fmt: skip
        return apply_promotion(
            fresh, config, source_s3=source_s3, target_sm=target_sm, target_s3=target_s3,
            settings=settings, git_sha=git_sha, progress=progress, lease=lease,
            approval_status=approval_status,
        )  # fmt: skip
