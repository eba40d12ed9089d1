"""Decide one promotion: read both accounts, write nothing. The plan says what exists in the
stage already, what must be copied (objects, prefixes, images) and the package to create, whose
request is checked against SageMaker's limits here, before anything is written."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from botocore.model import Shape

from errors import CopyError
from promotion import approval, registry
from promotion.artifacts import head, is_copied
from promotion.batch_transform import check_batch_transform
from promotion.config import StageConfig
from promotion.image_plan import PlannedImage, plan_images, promoted_digests
from promotion.images import summary_note
from promotion.limits import check_limits
from promotion.package import (
    ArtifactCopy,
    PlannedReference,
    artifact_prefix,
    build_create_request,
    creatable,
    plan_references,
)
from promotion.prefixes import (
    ListedObject,
    check_model_files,
    extra_objects,
    list_objects,
    listing_document,
    listing_key,
    recorded_listing,
    refused_extra,
)
from promotion.reuse import choose_reusable

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
class PlannedPrefix:
    """A key prefix of model data: its objects, their copies, and its recorded listing."""

    reference: PlannedReference
    objects: tuple[ListedObject, ...]
    copies: tuple[PlannedCopy, ...]
    listing_key: str
    listing_recorded: bool

    @property
    def listing(self) -> bytes:
        """The listing document recorded for this prefix."""
        return listing_document(self.reference, self.objects)


@dataclass(frozen=True)
class PromotionPlan:
    """What a promotion will do. `existing` set means the source was promoted before."""

    source: dict[str, Any]
    existing: dict[str, Any] | None
    create_group: bool
    copies: list[PlannedCopy] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    prefixes: list[PlannedPrefix] = field(default_factory=list)
    images: list[PlannedImage] = field(default_factory=list)

    @property
    def source_arn(self) -> str:
        """The source package ARN."""
        return str(self.source["ModelPackageArn"])

    @property
    def source_version(self) -> int:
        """The source package version."""
        return int(self.source["ModelPackageVersion"])

    @property
    def all_copies(self) -> list[PlannedCopy]:
        """Single objects and the objects below prefixes."""
        return [*self.copies, *(c for p in self.prefixes for c in p.copies)]

    @property
    def source_etags(self) -> dict[str, str]:
        """Each source object this promotion copies (or found copied) -> its ETag."""
        return {c.copy.source_uri: c.source_head["ETag"].strip('"') for c in self.all_copies}

    @property
    def uri_map(self) -> dict[str, str]:
        """Each source S3 URI the package names -> its copy's URI."""
        references = [p.reference for p in self.prefixes]
        return {**{c.copy.source_uri: c.copy.target_uri for c in self.copies},
                **{r.source_uri: r.target_uri for r in references}}  # fmt: skip

    @property
    def image_targets(self) -> dict[str, tuple[str, str | None]]:
        """Each container's place -> the image the target package names, and its digest."""
        return {
            i.decision.place: (i.decision.target, i.decision.digest if i.decision.pinned else None)
            for i in self.images
        }

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
        for prefix in self.prefixes:
            done = sum(c.already_copied for c in prefix.copies)
            size = sum(o.size for o in prefix.objects)
            lines.append(
                f"copy prefix {prefix.reference.source_uri} -> "
                f"{prefix.reference.target_uri} ({len(prefix.objects)} objects, {size} B;"
                f" {done} already copied; listing s3://.../{prefix.listing_key})"
            )
        lines += [_image_line(image) for image in self.images]
        lines.append(f"create a model package ({approval_status}) from {self.source_arn}")
        return lines


def _image_line(image: PlannedImage) -> str:
    decision, copy = image.decision, image.copy
    if copy is None:
        return f"keep image {decision.target} ({summary_note(decision)})"
    if image.in_stage:
        return f"skip image {decision.target} (already in the stage)"
    missing = sum(copy.missing.values())
    return (
        f"copy image {decision.source} ({decision.digest}) -> {decision.target} "
        f"({len(copy.missing)} of {len(copy.blobs)} layers missing, {missing} B)"
    )


def plan_promotion(
    config: StageConfig,
    *,
    source_arn: str,
    source_sm: SageMakerClient,
    source_s3: S3Client,
    target_sm: SageMakerClient,
    target_s3: S3Client,
    source_ecr: Any = None,
    target_ecr: Any = None,
    pinned_images: Mapping[str, str] | None = None,
    pinned_artifacts: Mapping[str, str] | None = None,
) -> PromotionPlan:
    """Read both accounts and decide; writes nothing.

    `pinned_images` maps a source image URI to the digest an earlier stage promoted, and
    `pinned_artifacts` each source artifact to the ETag it copied (`build.py --images-from`):
    a source object that changed since is refused. The ECR clients are needed only for a
    package with own images.

    Raises:
        ConfigError: a package form or image build.py cannot promote, model data batch
            transform cannot use, or a limit SageMaker documents exceeded (every violation,
            one line each).
        PromotionError: a package found by lineage is not provably ours (promotion/reuse.py).
    """
    source = registry.describe_approved(source_sm, source_arn)
    group = config.model_package_group_name
    shape = create_package_shape(target_sm)
    version = int(source["ModelPackageVersion"])
    prefix = artifact_prefix(group, version)
    # The target bucket must exist before anything is planned into it: S3 answers a HEAD of a
    # key in a missing bucket with a bare 404, which would plan every copy as "to copy" (a dry
    # run would show a plan that cannot run). NoSuchBucket here is one line naming the stage key
    # (promotion/stage_buckets.py); s3:ListBucket is the promote role's (ListArtifactsBucket).
    target_s3.list_objects_v2(Bucket=config.artifacts_bucket, Prefix=prefix, MaxKeys=1)
    view = creatable(source, shape)
    check_batch_transform(view, source=source_arn)
    references = plan_references(view, bucket=config.artifacts_bucket, prefix=prefix)
    # Packages first, copies second: a package is created only after all its copies exist, so
    # one found here has complete copies below. In the other order a concurrent run could create
    # its package between the two reads, and this run would see it without its copies.
    found = registry.find_all_promoted(target_sm, group=group, source_arn=source_arn)
    copies = [_plan_object(r, source_s3, target_s3, source_arn)
              for r in references if not r.is_prefix]  # fmt: skip
    prefixes = [_plan_prefix(r, source_s3, target_s3, prefix) for r in references if r.is_prefix]
    images, notices = plan_images(view, config, version=version, source_ecr=source_ecr,
                                  target_ecr=target_ecr, pinned=pinned_images or {},
                                  promoted=promoted_digests(found, config))  # fmt: skip
    plan = PromotionPlan(source, None, False, copies, notices, prefixes, images)
    if pinned_artifacts is not None:
        _check_unchanged(plan.source_etags, pinned_artifacts)
    request, _ = create_request(plan, config, shape, git_sha="0" * 40)
    existing = choose_reusable(
        found, plan.all_copies, targets={r.target_uri for r in references},
        images={i.decision.place: i.decision.target for i in images},
        complete=all(p.listing_recorded for p in prefixes) and all(i.in_stage for i in images),
        request=request, source_arn=source_arn, group=group,
    )  # fmt: skip
    if existing:
        return replace(plan, existing=existing)
    check_limits(request, shape, operation="CreateModelPackage", source=source_arn)
    return replace(plan, create_group=not registry.group_exists(target_sm, group))


def _check_unchanged(current: Mapping[str, str], pinned: Mapping[str, str]) -> None:
    """Refuse when a source artifact is not the object the earlier stage copied."""
    for uri in sorted(current.keys() | pinned.keys()):
        was, now = pinned.get(uri), current.get(uri)
        if was != now:
            raise CopyError(
                f"{uri} is not what the earlier stage promoted (ETag {was or 'none'} there, "
                f"{now or 'gone'} now): the source changed after that stage ran it; promote a "
                "new version through it"
            )


def _plan_object(
    reference: PlannedReference, source_s3: S3Client, target_s3: S3Client, source_arn: str
) -> PlannedCopy:
    copy = reference.object_copy()
    source_head = head(source_s3, copy.source_uri)
    if source_head is None:
        raise CopyError(
            f"{source_arn} references {copy.source_uri}, which does not exist; "
            "restore the object or approve another version"
        )
    return PlannedCopy(copy, source_head, is_copied(source_head, head(target_s3, copy.target_uri)))


def _plan_prefix(
    reference: PlannedReference, source_s3: S3Client, target_s3: S3Client, prefix: str
) -> PlannedPrefix:
    objects = list_objects(source_s3, reference.source_uri)
    check_model_files(reference.source_uri, objects)
    copied = list_objects(target_s3, reference.target_uri)
    extra = extra_objects(copied, objects)
    if extra:
        raise CopyError(refused_extra(reference, extra))
    present = {listed.relative_key for listed in copied}
    copies = []
    for listed in objects:
        copy = reference.prefix_copy(listed.relative_key)
        target_head = head(target_s3, copy.target_uri) if listed.relative_key in present else None
        copies.append(PlannedCopy(copy, listed.head(), is_copied(listed.head(), target_head)))
    key = listing_key(prefix, reference)
    bucket = reference.object_copy().target_bucket
    recorded = recorded_listing(target_s3, bucket, key)
    planned = PlannedPrefix(reference, tuple(objects), tuple(copies), key, recorded is not None)
    if recorded is not None and recorded != planned.listing:
        raise CopyError(
            f"s3://{bucket}/{key} records another listing of {reference.source_uri}: the source "
            "prefix changed after it was promoted; promote a new version"
        )
    return planned


def create_package_shape(sm: SageMakerClient) -> Shape:
    """The CreateModelPackage input shape: what a new package may carry."""
    shape = sm.meta.service_model.operation_model("CreateModelPackage").input_shape
    assert shape is not None  # the operation has an input
    return shape


def create_request(
    plan: PromotionPlan,
    config: StageConfig,
    shape: Shape,
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
    request = build_create_request(
        plan.source,
        create_shape=shape,
        uri_map=plan.uri_map,
        lineage=lineage,
        images=plan.image_targets,
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
