"""Whether a target package found by lineage is provably the copy this promotion would make.

Lineage metadata alone proves nothing: anyone who can create packages in the stage group can set
`promotion:source-model-package-arn`. A package is reused only when it references exactly the
planned copies and images, each container runs as the planned request says (its environment,
framework and inputs: a package with the right copies but `SAGEMAKER_PROGRAM` or a threshold of
its own would serve something else), it declares the planned content types and transform instance
types, each copy carries the source object's ETag, every copied prefix's listing and every copied
image is complete in the stage, and it is neither Rejected nor Failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from errors import PackageFailedError, PromotionError
from promotion import registry
from promotion.package import container_places, s3_references

if TYPE_CHECKING:
    from promotion.plan import PlannedCopy

REUSABLE_APPROVALS = ("Approved", "PendingManualApproval")
# What a container runs as, compared with the planned request. Fields SageMaker fills in on its own
# (ImageDigest, ModelDataETag) are left out: the request has none to match.
_CONTAINER_FIELDS = ("Environment", "Framework", "FrameworkVersion", "ModelInput",
                     "NearestModelName")  # fmt: skip
_SPECIFICATION_FIELDS = ("SupportedContentTypes", "SupportedResponseMIMETypes",
                         "SupportedTransformInstanceTypes")  # fmt: skip


def _runs_differently(package: Mapping[str, Any], request: Mapping[str, Any]) -> str | None:
    """Where `package` serves differently from the planned `request`, or None."""
    found = dict(container_places(package))
    for place, planned in container_places(request):
        container = found.get(place, {})
        for name in _CONTAINER_FIELDS:
            if (container.get(name) or None) != (planned.get(name) or None):
                return f"sets {name} of {place} otherwise than the source version"
    specifications = [("InferenceSpecification", package.get("InferenceSpecification") or {},
                       request.get("InferenceSpecification") or {})]  # fmt: skip
    for index, planned in enumerate(request.get("AdditionalInferenceSpecifications") or []):
        others = package.get("AdditionalInferenceSpecifications") or []
        got = others[index] if index < len(others) else {}
        specifications.append((f"AdditionalInferenceSpecifications.{index}", got, planned))
    for where, got, planned in specifications:
        for name in _SPECIFICATION_FIELDS:
            if sorted(got.get(name) or []) != sorted(planned.get(name) or []):
                return f"declares other {name} in {where} than the source version"
    return None


def problem_with(
    package: dict[str, Any],
    planned: Sequence[PlannedCopy],
    *,
    targets: set[str],
    images: Mapping[str, str],
    complete: bool,
    request: Mapping[str, Any],
) -> str | None:
    """Why `package` is not ours to reuse, or None when it is.

    Args:
        package: a target package found by lineage.
        planned: every planned object copy (single objects and the objects below prefixes).
        targets: the S3 URIs the package must name (copies of objects, copied prefixes).
        images: each container's place -> the image the package must name.
        complete: every prefix listing is recorded and every own image is in the stage.
        request: the CreateModelPackage request this promotion would send.
    """
    approval = package.get("ModelApprovalStatus")
    status = package.get("ModelPackageStatus")
    if status in ("Failed", "Deleting"):
        return f"is {status}: {registry.failure_reason(package)}"
    if approval not in REUSABLE_APPROVALS:
        return f"is {approval}"
    try:
        found = {reference.uri for reference in s3_references(package)}
    except PromotionError as error:
        return f"references data no promotion makes ({error})"
    foreign = sorted(found - targets)
    if foreign:
        return f"references {foreign[0]}, which is not one of the planned copies"
    missing = sorted(targets - found)
    if missing:
        return f"does not reference the planned copy {missing[0]}"
    for place, container in container_places(package):
        if place in images and container.get("Image") != images[place]:
            return f"names the image {container.get('Image')} at {place}, not {images[place]}"
    differs = _runs_differently(package, request)
    if differs:
        return differs
    for copy in planned:
        if not copy.already_copied:
            etag = copy.source_head["ETag"].strip('"')
            return f"its copy {copy.copy.target_uri} does not carry the source ETag {etag}"
    if not complete:
        return "its prefix listings or images are not complete in the stage"
    return None


def choose_reusable(
    found: Sequence[dict[str, Any]],
    planned: Sequence[PlannedCopy],
    *,
    targets: set[str],
    images: Mapping[str, str],
    complete: bool,
    request: Mapping[str, Any],
    source_arn: str,
    group: str,
) -> dict[str, Any] | None:
    """The package to reuse (the newest), None when nothing was found; refuse anything unproven.

    Raises:
        PromotionError: one line naming the package, what is wrong and what to do.
    """
    for package in found:
        problem = problem_with(package, planned, targets=targets, images=images,
                               complete=complete, request=request)  # fmt: skip
        if problem is None:
            continue
        arn = package["ModelPackageArn"]
        if problem.startswith("is "):
            kind = PackageFailedError if problem.startswith("is Failed") else PromotionError
            raise kind(
                f"{arn} (promoted from {source_arn}) {problem}; delete it from group {group} "
                "to promote this version again, or approve another version"
            )
        raise PromotionError(
            f"{arn} names {source_arn} as its source but {problem}: it is not a copy this "
            f"promotion made; delete it from group {group} and re-run"
        )
    return found[0] if found else None
