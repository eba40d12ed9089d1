"""Copy a container image from the dev account's ECR into a stage account's, by digest, with ECR's
own API through boto3 (no Docker daemon, no registry credentials on disk).

Reads (source credentials): BatchGetImage by digest (every manifest media type accepted, so ECR
answers the manifest as pushed; its sha256 is checked against the digest), GetDownloadUrlForLayer
(a pre-signed S3 URL, fetched over HTTPS). Writes (target credentials), create-only by nature:
content is addressed by digest. BatchCheckLayerAvailability first: layers the stage repository
holds are never moved. Each missing layer: InitiateLayerUpload, UploadLayerPart in order (parts
of 5-10 MiB, at most 4,200: ECR's quotas), its sha256 checked while it streams, CompleteLayerUpload
(ECR checks the digest again). Then PutImage of each child manifest of an index, then of the
image itself with its digest (ECR refuses a manifest whose sha256 differs, or whose layers it
lacks), then BatchGetImage in the stage to verify. An interrupted copy leaves only layers, which
the re-run skips; an image exists in the stage only once all of it does.

API reference: https://docs.aws.amazon.com/AmazonECR/latest/APIReference/ (the actions above);
quotas: https://docs.aws.amazon.com/AmazonECR/latest/userguide/service-quotas.html
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from errors import ConfigError, CopyError
from promotion.images import ImageName, tag_for
from promotion.streaming import whole_parts  # one reader of parts for S3 and ECR

LOG = logging.getLogger(__name__)

MIB = 1024**2
MIN_PART = 5 * MIB
MAX_PART = 10 * MIB
MAX_PARTS = 4_200
CHECK_BATCH = 100  # BatchCheckLayerAvailability takes at most 100 digests
DOWNLOAD_TIMEOUT_SECONDS = 60
MANIFEST = ("application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json")  # fmt: skip
INDEX = ("application/vnd.oci.image.index.v1+json",
         "application/vnd.docker.distribution.manifest.list.v2+json")  # fmt: skip
DEV = "the dev account's ECR"  # where images are read from, unless the stage holds them
FOREIGN_LAYER = "foreign"  # media types of layers a registry does not host (Windows base layers)

Fetch = Callable[[str], Any]  # GET a URL; returns a readable response (context manager)


@dataclass(frozen=True)
class Manifest:
    """One manifest of an image (an image manifest, or an index of them), verified."""

    digest: str
    media_type: str
    body: str
    blobs: tuple[tuple[str, int], ...] = ()  # (digest, size) of its config and layers
    children: tuple[str, ...] = ()  # an index's manifests


@dataclass
class ImagePlan:
    """One image to copy: its manifests (children first, the image last) and what the stage
    lacks. Every manifest is put with a tag (`tag_for(version, its digest)`): an untagged image in
    a stage repository can then only be the leftover of an interrupted copy, which is all its
    lifecycle rule expires (bootstrap/policies/model-images-lifecycle.json)."""

    source: ImageName
    digest: str
    target_repository: str
    version: int  # the source package's version, in every tag
    manifests: list[Manifest]
    present: bool = False  # the stage holds the image (by digest)
    tagged: bool = False  # ... and it carries the tag
    missing: dict[str, int] = field(default_factory=dict)  # blobs the stage lacks

    @property
    def tag(self) -> str:
        """The image's tag in the stage: `v<version>-<12 hex of its digest>`."""
        return tag_for(self.version, self.digest)

    @property
    def blobs(self) -> dict[str, int]:
        """Every blob of the image, each once."""
        return {d: s for m in self.manifests for d, s in m.blobs}


def _sha256(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _batch_get_image(
    ecr: Any, name: ImageName, image_id: dict[str, str], *, holder: str
) -> dict[str, Any]:
    """BatchGetImage in `holder`'s repository; a repository that is not there is one line."""
    try:
        answer: dict[str, Any] = ecr.batch_get_image(
            registryId=name.account, repositoryName=name.repository,
            imageIds=[image_id], acceptedMediaTypes=[*MANIFEST, *INDEX],
        )  # fmt: skip
    except ClientError as error:
        if error.response["Error"]["Code"] != "RepositoryNotFoundException":
            raise
        raise CopyError(
            f"{name.registry}/{name.repository} is not a repository of {holder} "
            "(deleted or renamed?): restore it with the image, or approve another version"
        ) from error
    return answer


def read_manifest(ecr: Any, name: ImageName, digest: str, *, holder: str = DEV) -> Manifest:
    """The manifest of `digest` in `holder`'s repository, its sha256 checked.

    Raises:
        CopyError: the image is not there (deleted, expired by a lifecycle rule).
        ConfigError: a manifest build.py cannot copy (schema 1, foreign layers, nested index).
    """
    answer = _batch_get_image(ecr, name, {"imageDigest": digest}, holder=holder)
    images = answer.get("images") or []
    if not images:
        raise CopyError(
            f"{name.by_digest(digest)} is not in {holder} (deleted, or expired by a "
            "lifecycle rule); push it again or approve another version"
        )
    body = images[0]["imageManifest"]
    if _sha256(body) != digest:
        raise CopyError(f"ECR answered a manifest for {name.by_digest(digest)} whose sha256 is "
                        f"{_sha256(body)}; re-run")  # fmt: skip
    document = json.loads(body)
    media_type = images[0].get("imageManifestMediaType") or document.get("mediaType", "")
    if media_type in INDEX:
        children = tuple(str(item["digest"]) for item in document.get("manifests", []))
        return Manifest(digest, media_type, body, children=children)
    if media_type not in MANIFEST:
        raise ConfigError(
            f"{name.by_digest(digest)} has a {media_type or 'schema 1'} manifest, which build.py "
            "does not copy: push it with a current Docker or buildx (OCI or Docker schema 2)"
        )
    descriptors = [document["config"], *document.get("layers", [])]
    if any(FOREIGN_LAYER in str(d.get("mediaType", "")) or d.get("urls") for d in descriptors):
        raise ConfigError(
            f"{name.by_digest(digest)} has foreign layers (hosted outside the registry); "
            "build.py copies only images whose every layer is in ECR"
        )
    blobs = tuple((str(d["digest"]), int(d["size"])) for d in descriptors)
    for blob, size in blobs:  # refused here, before the promotion writes anything
        if size > MAX_PART * MAX_PARTS:
            raise ConfigError(
                f"layer {blob} of {name.by_digest(digest)} is {size} B; ECR's layer uploads "
                f"take at most {MAX_PARTS} parts of {MAX_PART} B: build.py cannot copy it"
            )
    return Manifest(digest, media_type, body, blobs=blobs)


def read_image(ecr: Any, name: ImageName, digest: str, *, holder: str = DEV) -> list[Manifest]:
    """The image's manifests: an index's children first (each checked), then the image."""
    top = read_manifest(ecr, name, digest, holder=holder)
    manifests = []
    for child in top.children:
        manifest = read_manifest(ecr, name, child, holder=holder)
        if manifest.children:
            raise ConfigError(f"{name.by_digest(digest)} is an index of indexes, which build.py "
                              "does not copy; push a flat image index")  # fmt: skip
        manifests.append(manifest)
    return [*manifests, top]


def resolve_tag(ecr: Any, name: ImageName) -> str:
    """The digest a tag names now in the source repository."""
    answer = _batch_get_image(ecr, name, {"imageTag": str(name.tag)}, holder=DEV)
    images = answer.get("images") or []
    if not images:
        raise CopyError(f"{name.registry}/{name.repository}:{name.tag} is not in the dev "
                        "account's ECR; push it or approve another version")  # fmt: skip
    return str(images[0]["imageId"]["imageDigest"])


def stage_holds(ecr: Any, plan: ImagePlan) -> None:
    """Fill in whether the stage repository holds the image, and with its tag (read-only)."""
    try:
        details = ecr.describe_images(
            repositoryName=plan.target_repository, imageIds=[{"imageDigest": plan.digest}]
        )["imageDetails"]
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "RepositoryNotFoundException":
            raise CopyError(
                f"the stage's ECR repository {plan.target_repository} does not exist: apply the "
                "stage bootstrap (bootstrap/stage), which creates it, and re-run"
            ) from error
        if code != "ImageNotFoundException":
            raise
        details = []
    plan.present = bool(details)
    plan.tagged = plan.present and plan.tag in (details[0].get("imageTags") or [])


def missing_blobs(ecr: Any, repository: str, blobs: dict[str, int]) -> dict[str, int]:
    """The blobs the repository does not hold (BatchCheckLayerAvailability, 100 at a time)."""
    items = list(blobs.items())
    missing: dict[str, int] = {}
    for start in range(0, len(items), CHECK_BATCH):
        batch = dict(items[start : start + CHECK_BATCH])
        answer = ecr.batch_check_layer_availability(repositoryName=repository,
                                                    layerDigests=list(batch))  # fmt: skip
        available = {item["layerDigest"] for item in answer.get("layers", [])
                     if item.get("layerAvailability") == "AVAILABLE"}  # fmt: skip
        missing.update({d: size for d, size in batch.items() if d not in available})
    return missing


@dataclass
class Moved:
    """Bytes through this process for one image: read from the dev account, sent to the stage."""

    downloaded: int = 0
    uploaded: int = 0
    layers_copied: int = 0
    layers_skipped: int = 0


def copy_image(source_ecr: Any, target_ecr: Any, plan: ImagePlan, *, fetch: Fetch) -> Moved:
    """Copy what the stage lacks, put the manifests, verify; nothing when the image is there."""
    if plan.present and plan.tagged:
        return Moved(layers_skipped=len(plan.blobs))
    # Asked again: an image copied earlier in this promotion (another container's) or another
    # run may have put some of them since the plan was made.
    missing = (
        missing_blobs(target_ecr, plan.target_repository, plan.missing) if plan.missing else {}
    )
    moved = Moved(layers_skipped=len(plan.blobs) - len(missing))
    for digest, size in missing.items():
        copy_blob(source_ecr, target_ecr, plan, digest, size, fetch=fetch, moved=moved)
        moved.layers_copied += 1
    for manifest in plan.manifests:  # an index's images first, each tagged, then the image
        put_manifest(target_ecr, plan, manifest, tag=tag_for(plan.version, manifest.digest))
    verify_image(target_ecr, plan)
    return moved


def copy_blob(
    source_ecr: Any, target_ecr: Any, plan: ImagePlan, digest: str, size: int, *,
    fetch: Fetch, moved: Moved,
) -> None:  # fmt: skip
    """Stream one layer (or config blob) from the source's pre-signed URL into a layer upload."""
    url = source_ecr.get_download_url_for_layer(
        registryId=plan.source.account, repositoryName=plan.source.repository, layerDigest=digest
    )["downloadUrl"]
    upload = target_ecr.initiate_layer_upload(repositoryName=plan.target_repository)
    part_size = min(max(int(upload.get("partSize") or MAX_PART), MIN_PART), MAX_PART)
    if size > part_size * MAX_PARTS:
        raise ConfigError(
            f"layer {digest} of {plan.source.by_digest(plan.digest)} is {size} B; "
            f"ECR's layer uploads take at most {MAX_PARTS} parts of {part_size} B"
        )
    checksum, first = hashlib.sha256(), 0
    with fetch(url) as response:
        for part in _layer_parts(response, part_size, digest):
            checksum.update(part)
            moved.downloaded += len(part)
            target_ecr.upload_layer_part(
                repositoryName=plan.target_repository, uploadId=upload["uploadId"],
                partFirstByte=first, partLastByte=first + len(part) - 1, layerPartBlob=part,
            )  # fmt: skip
            moved.uploaded += len(part)
            first += len(part)
    if first != size or "sha256:" + checksum.hexdigest() != digest:
        raise CopyError(f"the layer {digest} read from the dev account's ECR is {first} B with "
                        f"sha256:{checksum.hexdigest()}; re-run")  # fmt: skip
    try:
        target_ecr.complete_layer_upload(
            repositoryName=plan.target_repository,
            uploadId=upload["uploadId"],
            layerDigests=[digest],
        )
    except ClientError as error:  # another run completed the same layer meanwhile
        if error.response["Error"]["Code"] != "LayerAlreadyExistsException":
            raise


def _layer_parts(response: Any, part_size: int, digest: str) -> Iterator[bytes]:
    """The parts of a layer's download; a connection that breaks mid-body (timeout, reset, short
    body) is a CopyError: the layers completed before it are skipped on the re-run."""
    try:
        yield from whole_parts(response, part_size)
    except (OSError, http.client.HTTPException) as error:
        raise CopyError(f"the download of layer {digest} from the dev account's ECR broke off "
                        f"({type(error).__name__}: {error}); re-run: the layers copied are "
                        "skipped") from error  # fmt: skip


def put_manifest(ecr: Any, plan: ImagePlan, manifest: Manifest, *, tag: str) -> None:
    """PutImage by digest with its tag; one put meanwhile by another run (or an earlier one) is
    fine."""
    arguments: dict[str, Any] = {
        "repositoryName": plan.target_repository, "imageManifest": manifest.body,
        "imageManifestMediaType": manifest.media_type, "imageDigest": manifest.digest,
        "imageTag": tag,
    }  # fmt: skip
    try:
        ecr.put_image(**arguments)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "ImageAlreadyExistsException":
            return
        if code == "ImageTagAlreadyExistsException":
            raise CopyError(
                f"the tag {tag} of {plan.target_repository} names another image than "
                f"{manifest.digest}; promoted tags are never moved: have an administrator check "
                "that repository, and re-run"
            ) from error
        raise


def verify_image(ecr: Any, plan: ImagePlan) -> None:
    """The stage repository answers each manifest of the image (an index's images too) for its
    digest, byte for byte."""
    wanted = [manifest.digest for manifest in plan.manifests]
    images = ecr.batch_get_image(
        repositoryName=plan.target_repository,
        imageIds=[{"imageDigest": digest} for digest in wanted],
        acceptedMediaTypes=[*MANIFEST, *INDEX],
    ).get("images") or []  # fmt: skip
    answered = {_sha256(image["imageManifest"]) for image in images}
    for digest in wanted:
        if digest not in answered:
            raise CopyError(f"{plan.target_repository}@{digest} is not in the stage's ECR as "
                            "copied; re-run")  # fmt: skip


def https_fetch(endpoint: str | None = None) -> Fetch:
    """GET a pre-signed URL: HTTPS only, or plain HTTP to the configured AWS_ENDPOINT_URL's host
    (the embedded AWS); never file: or another scheme named in an answer."""
    allowed_http = urllib.parse.urlsplit(endpoint or os.environ.get("AWS_ENDPOINT_URL", "")).netloc

    def fetch(url: str) -> Any:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and allowed_http
                                            and parts.netloc == allowed_http):  # fmt: skip
            raise CopyError(f"ECR answered a layer URL build.py will not fetch ({parts.scheme}://"
                            f"{parts.netloc}); re-run")  # fmt: skip
        try:
            return urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS)
        except (urllib.error.URLError, TimeoutError) as error:
            raise CopyError(f"downloading a layer from {parts.netloc} failed ({error}); "
                            "check the network and re-run") from error  # fmt: skip

    return fetch


def plans_by_digest(plans: Sequence[ImagePlan]) -> list[ImagePlan]:
    """Each image once (several containers may name the same digest)."""
    seen: dict[str, ImagePlan] = {}
    for plan in plans:
        seen.setdefault(plan.digest, plan)
    return list(seen.values())
