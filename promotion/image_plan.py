"""The images part of a promotion's plan: each container's decision (promotion/images.py), and for
an own image its digest resolved, its manifests read and what the stage repository lacks
(promotion/image_copy.py). Reads only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from errors import ConfigError, CopyError
from promotion.config import StageConfig, stage_repository_uri
from promotion.image_copy import ImagePlan, missing_blobs, read_image, resolve_tag, stage_holds
from promotion.images import (
    ImageDecision,
    ImageName,
    copied_uri,
    decide,
    execution_role_pulls,
    parse_image,
    stage_repository,
    summary_note,
)
from promotion.package import container_places


@dataclass(frozen=True)
class PlannedImage:
    """A container's image: the decision, and for an own image what its copy needs."""

    decision: ImageDecision
    copy: ImagePlan | None = None

    @property
    def in_stage(self) -> bool:
        """Whether nothing is left to do for this image in the stage."""
        return self.copy is None or (self.copy.present and self.copy.tagged)


def plan_images(
    view: Mapping[str, Any],
    config: StageConfig,
    *,
    version: int,
    source_ecr: Any,
    target_ecr: Any,
    pinned: Mapping[str, str],
    promoted: Mapping[str, str] | None = None,
) -> tuple[list[PlannedImage], list[str]]:
    """Each container's image decision; own images resolved to a digest, read, and compared with
    what the stage repository holds. Returns the planned images and notices.

    `promoted` maps a container's place to the digest the stage's package of this version
    names (`promoted_digests`): a tag is resolved once, when the version first reaches the
    stage; a re-run or a rollback keeps that digest wherever the tag has moved since.
    """
    planned: list[PlannedImage] = []
    notices: list[str] = []
    read: dict[str, ImagePlan] = {}
    for place, container in container_places(view):
        decision = decide(place, container, image_uri_map=config.image_uri_map,
                          source_account_id=config.source_account_id, region=config.region,
                          pinned=pinned)  # fmt: skip
        if decision.kind != "copy":
            _check_pullable(decision, config)
            if not decision.pinned:
                notices.append(f"{place}: {decision.target}: {summary_note(decision)}")
            planned.append(PlannedImage(decision))
            continue
        if source_ecr is None or target_ecr is None:
            raise TypeError("plan_promotion needs ECR clients for a package with own images")
        name = parse_image(decision.source)
        assert name is not None  # a copy decision names an ECR image
        kept = None if decision.digest else (promoted or {}).get(place)
        digest = decision.digest or kept or resolve_tag(source_ecr, name)
        if (
            name.tag
            and not name.digest
            and (kept or decision.digest)
            and (kept or decision.source not in pinned)
        ):
            now = _tag_now(source_ecr, name)
            if now and now != digest:
                holder = "the stage's package of this version" if kept else "the package"
                notices.append(f"{place}: the tag {name.tag} now names {now}; {holder} "
                               f"records {digest}, which is promoted")  # fmt: skip
        decision = replace(decision, digest=digest, target=copied_uri(
            replace(decision, digest=digest), account_id=config.account_id,
            group=config.model_package_group_name))  # fmt: skip
        if digest not in read:
            read[digest] = _image_plan(source_ecr, target_ecr, name, decision.target, digest,
                                       config=config, version=version)  # fmt: skip
        planned.append(PlannedImage(decision, read[digest]))
    return planned, notices


def _image_plan(
    source_ecr: Any, target_ecr: Any, name: ImageName, copy_uri: str, digest: str, *,
    config: StageConfig, version: int,
) -> ImagePlan:  # fmt: skip
    """What copying `digest` needs. An image the stage holds already (a version promoted again,
    a rollback) is read from the stage's copy, byte for byte the same by its digest: dev's
    lifecycle rule may have expired it there since."""
    plan = ImagePlan(name, digest, stage_repository(config.model_package_group_name), version, [])
    stage_holds(target_ecr, plan)
    if plan.present:
        copy = parse_image(copy_uri)
        assert copy is not None  # copied_uri names an ECR image
        plan.manifests = read_image(target_ecr, copy, digest, holder="the stage's ECR")
    else:
        plan.manifests = read_image(source_ecr, name, digest)
        plan.missing = missing_blobs(target_ecr, plan.target_repository, plan.blobs)
    return plan


def _check_pullable(decision: ImageDecision, config: StageConfig) -> None:
    """Refuse an image the stage's execution role may not pull (it would fail the first run)."""
    if execution_role_pulls(decision.target, account_id=config.account_id, region=config.region,
                            group=config.model_package_group_name):  # fmt: skip
        return
    raise ConfigError(
        f"{decision.place} names {decision.target}, which the stage's execution role may not "
        f"pull: it pulls only from {stage_repository_uri(config)} and AWS's framework registries "
        f"of {config.region} (docs/iam.md); push the image to the dev account's ECR (build.py "
        "copies it), or map it (image_uri_map) to an image there"
    )


def _tag_now(ecr: Any, name: ImageName) -> str | None:
    try:
        return resolve_tag(ecr, name)
    except CopyError:
        return None  # the tag is gone: the recorded digest is promoted all the same


def promoted_digests(found: Sequence[Mapping[str, Any]], config: StageConfig) -> dict[str, str]:
    """Place -> digest of each own image the newest stage package of this version names (its
    copy in the stage's repository, written by the promotion that made the package)."""
    if not found:
        return {}
    repository = stage_repository(config.model_package_group_name)
    digests = {}
    for place, container in container_places(found[0]):
        name = parse_image(str(container.get("Image", "")))
        if (
            name
            and name.digest
            and name.account == config.account_id
            and (name.repository == repository)
        ):
            digests[place] = name.digest
    return digests
