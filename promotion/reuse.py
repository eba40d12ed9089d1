"""Whether a target package found by lineage is provably the copy this promotion would make.

Lineage metadata alone proves nothing: anyone who can create packages in the stage group can set
`promotion:source-model-package-arn`. A package is reused only when it references exactly the
planned copies, each copy carries the source object's ETag, and it is neither Rejected nor Failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from errors import PackageFailedError, PromotionError
from promotion import registry
from promotion.package import s3_references

if TYPE_CHECKING:
    from promotion.promote import PlannedCopy

REUSABLE_APPROVALS = ("Approved", "PendingManualApproval")


def problem_with(package: dict[str, Any], planned: Sequence[PlannedCopy]) -> str | None:
    """Why `package` is not ours to reuse, or None when it is."""
    approval = package.get("ModelApprovalStatus")
    status = package.get("ModelPackageStatus")
    if status in ("Failed", "Deleting"):
        return f"is {status}: {registry.failure_reason(package)}"
    if approval not in REUSABLE_APPROVALS:
        return f"is {approval}"
    try:
        found = {uri for _, uri in s3_references(package)}
    except PromotionError as error:
        return f"references data no promotion makes ({error})"
    wanted = {p.copy.target_uri for p in planned}
    foreign = sorted(found - wanted)
    if foreign:
        return f"references {foreign[0]}, which is not one of the planned copies"
    missing = sorted(wanted - found)
    if missing:
        return f"does not reference the planned copy {missing[0]}"
    for copy in planned:
        if not copy.already_copied:
            etag = copy.source_head["ETag"].strip('"')
            return f"its copy {copy.copy.target_uri} does not carry the source ETag {etag}"
    return None


def choose_reusable(
    found: Sequence[dict[str, Any]], planned: Sequence[PlannedCopy], *, source_arn: str, group: str
) -> dict[str, Any] | None:
    """The package to reuse (the newest), None when nothing was found; refuse anything unproven.

    Raises:
        PromotionError: one line naming the package, what is wrong and what to do.
    """
    for package in found:
        problem = problem_with(package, planned)
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
