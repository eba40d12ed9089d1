"""The container images of a package: what each becomes in the target package (pure decisions).

Every image the target package names is named by digest (`<registry>/<repository>@sha256:...`)
where that can be known without trusting a tag:
- an image in the source (dev) account's ECR is copied into the stage account's own repository
  (`stage_repository`), exactly that digest (promotion/image_copy.py), and the target package
  names the copy;
- an image of AWS's own registries (the SageMaker framework images) stays where it is; it is
  pinned by the `ImageDigest` the package records, else it keeps its tag (not resolved: see
  docs/model-kinds.md for why);
- `image_uri_map` maps an exact source URI to the image the stage uses instead (the team's
  choice, used as given);
- anything else stays as it is, and the summary says whether it is pinned.

A tag is resolved once, in the stage that runs first: `build.py --images-from` gives the next
stage the digests the previous one promoted, so prod runs the digest pre-prod ran; a version
promoted to a stage again keeps the digest its package there names (promotion/image_plan.py).
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from errors import ConfigError

_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.(?P<domain>amazonaws\.com(?:\.cn)?)"
    r"/(?P<repository>[a-z0-9]+(?:[._/-][a-z0-9]+)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,299}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
STAGE_NAMESPACE = "model-images"  # the stage repository: model-images/<group, lower case>
Kind = Literal["copy", "aws", "mapped", "other"]


@dataclass(frozen=True)
class ImageName:
    """The parts of an ECR image URI."""

    account: str
    region: str
    domain: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def registry(self) -> str:
        """`<account>.dkr.ecr.<region>.<domain>`."""
        return f"{self.account}.dkr.ecr.{self.region}.{self.domain}"

    def by_digest(self, digest: str) -> str:
        """The URI naming `digest` in this repository."""
        return f"{self.registry}/{self.repository}@{digest}"


def parse_image(uri: str) -> ImageName | None:
    """The parts of an ECR image URI, or None for any other registry."""
    match = _ECR_IMAGE.match(uri)
    if not match:
        return None
    parts = match.groupdict()
    return ImageName(parts["account"], parts["region"], parts["domain"], parts["repository"],
                     parts["tag"], parts["digest"])  # fmt: skip


def stage_repository(group: str) -> str:
    """The stage account's ECR repository for a model's images: `model-images/<group>`, the group
    in lower case with hyphen runs collapsed (ECR repository names allow neither)."""
    return f"{STAGE_NAMESPACE}/{re.sub(r'-+', '-', group.lower())}"


@lru_cache(maxsize=1)
def aws_registries_by_region() -> dict[str, frozenset[str]]:
    """The accounts of AWS's own image registries in each region, from the SageMaker SDK's bundled
    image URI configuration (read as data: the SDK itself is not imported). The stage bootstrap
    grants the execution role pulls from these (bootstrap/policies/aws-image-registries.json,
    written from this by scripts/aws_image_registries.py)."""
    spec = importlib.util.find_spec("sagemaker")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the sagemaker package is not installed: run `make setup`")
    folder = Path(next(iter(spec.submodule_search_locations))) / "core" / "image_uri_config"
    found: dict[str, set[str]] = {}
    for path in folder.glob("*.json"):
        _collect_registries(json.loads(path.read_text(encoding="utf-8")), found)
    return {region: frozenset(accounts) for region, accounts in sorted(found.items())}


def aws_registries() -> frozenset[str]:
    """The accounts of AWS's own image registries, in any region."""
    return frozenset().union(*aws_registries_by_region().values())


def _collect_registries(value: Any, found: dict[str, set[str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "registries" and isinstance(item, dict):
                for region, account in item.items():
                    found.setdefault(str(region), set()).add(str(account))
            else:
                _collect_registries(item, found)
    elif isinstance(value, list):
        for item in value:
            _collect_registries(item, found)


def execution_role_pulls(uri: str, *, account_id: str, region: str, group: str) -> bool:
    """Whether the stage's execution role may pull this image: the stage's own model repository
    (`stage_repository`), or an AWS registry of the stage's region (bootstrap/policies/
    execution.json.tftpl grants exactly these)."""
    name = parse_image(uri)
    if name is None or name.region != region:
        return False
    if name.account == account_id:
        return name.repository == stage_repository(group)
    return name.account in aws_registries_by_region().get(region, frozenset())


@dataclass(frozen=True)
class ImageDecision:
    """What the promotion does with one container's image.

    `digest` is known for every `copy` decision once resolved; `target` is the URI the target
    package names (for `copy`: set by `copied_uri`)."""

    place: str
    source: str
    kind: Kind
    digest: str | None
    target: str

    @property
    def pinned(self) -> bool:
        """Whether the target package names this image by digest."""
        name = parse_image(self.target)
        return bool(name and name.digest)


def decide(
    place: str,
    container: Mapping[str, Any],
    *,
    image_uri_map: Mapping[str, str],
    source_account_id: str,
    region: str,
    pinned: Mapping[str, str],
) -> ImageDecision:
    """The decision for one container (a `copy` may still need its tag resolved: digest None).

    Args:
        place: where the container is in the package (for messages).
        container: the source container (its `Image`, and the `ImageDigest` it records).
        image_uri_map: the stage's map of exact source URIs.
        source_account_id: the dev account; its images are copied.
        region: the stage's region (the dev registry's too).
        pinned: source URI -> digest the previous stage promoted (`--images-from`).

    Raises:
        ConfigError: the package names two different digests for one image, or an own image in
            another region.
    """
    uri = str(container.get("Image", ""))
    recorded = container.get("ImageDigest")
    if uri in image_uri_map:
        mapped = image_uri_map[uri]
        name = parse_image(mapped)
        return ImageDecision(place, uri, "mapped", name.digest if name else None, mapped)
    name = parse_image(uri)
    if name is None:
        return ImageDecision(place, uri, "other", None, uri)
    known = {d for d in (name.digest, recorded, pinned.get(uri)) if d}
    bad = sorted(d for d in known if not DIGEST.match(str(d)))
    if bad or len(known) > 1:
        raise ConfigError(
            f"{place} names the image {uri} with {len(known)} different digests ("
            f"{', '.join(sorted(map(str, known)))}: the image's own, its ImageDigest, or the "
            "previous stage's); promote a package whose image and ImageDigest agree"
        )
    digest = str(next(iter(known))) if known else None
    if name.account == source_account_id:
        if name.region != region:
            raise ConfigError(
                f"{place} names {uri}, an image in {name.region}; build.py copies images of the "
                f"dev registry's region ({region}) only: push it to {region} and register again"
            )
        return ImageDecision(place, uri, "copy", digest, uri)
    if name.account in aws_registries():
        target = name.by_digest(digest) if digest else uri
        return ImageDecision(place, uri, "aws", digest, target)
    return ImageDecision(place, uri, "other", name.digest, uri)


def copied_uri(decision: ImageDecision, *, account_id: str, group: str) -> str:
    """The URI of a copied image in the stage account's own repository."""
    source = parse_image(decision.source)
    assert source is not None and decision.digest  # a resolved copy decision
    registry = f"{account_id}.dkr.ecr.{source.region}.{source.domain}"
    return f"{registry}/{stage_repository(group)}@{decision.digest}"


def summary_note(decision: ImageDecision) -> str:
    """How the summary describes an image's handling."""
    if decision.kind == "copy":
        return "copied from the dev account's ECR into the stage's own repository"
    if decision.kind == "aws":
        return (
            "AWS image, pinned by the digest the package records"
            if decision.pinned
            else "AWS image named by tag, not pinned: the package records no ImageDigest"
        )
    if decision.kind == "mapped":
        return "mapped by image_uri_map" + ("" if decision.pinned else ", by tag: not pinned")
    return "kept as the package names it" + ("" if decision.pinned else ", by tag: not pinned")


def tag_for(source_version: int, digest: str) -> str:
    """The immutable tag a copied image gets: the source version and the digest's start, so a
    lifecycle rule can keep every promoted image (`v*`) and a person can read where it came
    from."""
    return f"v{source_version}-{digest.removeprefix('sha256:')[:12]}"


def images_document(
    source_arn: str, stage: str, decisions: list[ImageDecision], artifacts: Mapping[str, str]
) -> dict[str, Any]:
    """`build/<stage>/images.json`: each container's image as this stage's package names it, and
    the ETag of each source artifact it copied. The next stage's build.py reads it
    (`--images-from`) to promote the same digests and the same bytes."""
    return {
        "source_model_package_arn": source_arn,
        "stage": stage,
        "images": [
            {"place": d.place, "source": d.source, "kind": d.kind, "digest": d.digest,
             "image": d.target, "pinned": d.pinned}
            for d in decisions
        ],
        "artifacts": [{"source": uri, "etag": etag} for uri, etag in sorted(artifacts.items())],
    }  # fmt: skip


@dataclass(frozen=True)
class Pinned:
    """What an earlier stage promoted, from its images.json."""

    images: dict[str, str]  # own image source URI -> digest
    artifacts: dict[str, str] | None  # source artifact URI -> ETag; None: the file records none
    stage: str


def read_pinned(path: Path, source_arn: str) -> Pinned:
    """The digests an earlier stage promoted for own images, the ETags of the artifacts it
    copied, and that stage's name.

    Raises:
        ConfigError: the file is missing, malformed, or for another source package.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        recorded = document["source_model_package_arn"]
        stage = str(document["stage"])
        entries = document["images"]
        pinned = {str(e["source"]): str(e["digest"]) for e in entries if e["kind"] == "copy"}
        artifacts = (None if "artifacts" not in document else
                     {str(a["source"]): str(a["etag"]) for a in document["artifacts"]})  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"--images-from {path}: not an images.json build.py wrote ({error}); "
            "pass the previous stage's build/<stage>/images.json"
        ) from error
    if recorded != source_arn:
        raise ConfigError(f"--images-from {path} is for {recorded}, not {source_arn}; pass the "
                          "images.json of this package's previous stage")  # fmt: skip
    bad = sorted(digest for digest in pinned.values() if not DIGEST.match(digest))
    if bad:
        raise ConfigError(f"--images-from {path} names {bad[0]}, which is not a sha256 digest")
    return Pinned(pinned, artifacts, stage)
