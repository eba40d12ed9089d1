"""Pure decisions about one package: which S3 objects it references, where their copies go, and
the CreateModelPackage request of the target package. No AWS calls here."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from errors import PromotionError
from promotion.config import parse_s3_url

# Members of the describe response that must not be carried to another account.
_DROPPED = (
    "ModelPackageName",  # versioned packages take no name
    "ModelPackageGroupName",  # set to the target group
    "ValidationSpecification",  # names training jobs of the dev account
    "SourceUri",  # points at dev-account resources
    "SecurityConfig",  # a dev-account KMS key; replaced by the stage's key
    "ClientToken",
    "Tags",
)
_CONTAINER_DROPPED = ("ModelDataETag",)  # the copy has its own ETag
_SOURCE_ETAGS = ("ETag", "ManifestEtag")  # in ModelDataSource.S3DataSource: the source's ETags
_S3_KEYS = frozenset({"S3Uri", "ModelDataUrl", "SamplePayloadUrl"})
_SUBMIT_DIRECTORY = "SAGEMAKER_SUBMIT_DIRECTORY"
_ECR_IMAGE = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/")
MAX_METADATA_ENTRIES = 50  # CustomerMetadataProperties limit
_NAME_LIMIT = 63


@dataclass(frozen=True)
class ArtifactCopy:
    """One S3 object the package references and the key of its copy in the target bucket."""

    source_uri: str
    target_bucket: str
    target_key: str

    @property
    def target_uri(self) -> str:
        """The s3:// URI of the copy."""
        return f"s3://{self.target_bucket}/{self.target_key}"


def artifact_prefix(group: str, version: int) -> str:
    """The deterministic key prefix of a source version's copies."""
    return f"model-packages/{group}/v{version}/"


def plan_copies(request: Mapping[str, Any], *, bucket: str, prefix: str) -> list[ArtifactCopy]:
    """Every s3:// object the request references, each once, with a key derived from its place."""
    copies: dict[str, ArtifactCopy] = {}
    for path, uri in s3_references(request, ()):
        if uri in copies:
            continue
        _, key = parse_s3_url(uri)
        if not key or key.endswith("/"):
            raise PromotionError(
                f"{'.'.join(path)} references the prefix {uri}; only single S3 objects can be "
                "promoted (package model data as one model.tar.gz)"
            )
        place = "/".join(path)
        copies[uri] = ArtifactCopy(uri, bucket, f"{prefix}{place}/{key.rsplit('/', 1)[-1]}")
    return list(copies.values())


def s3_references(value: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    """Every (place, s3:// URI) a package or request references; prefixes and manifests raise."""
    found: list[tuple[tuple[str, ...], str]] = []
    if isinstance(value, dict):
        if value.get("ManifestS3Uri"):
            raise PromotionError(
                f"{'.'.join(path)} uses a manifest file; only single S3 objects can be "
                "promoted (package model data as one model.tar.gz)"
            )
        if value.get("S3DataType") == "S3Prefix":
            raise PromotionError(
                f"{'.'.join(path)} uses S3DataType S3Prefix; only single S3 objects can be "
                "promoted (package model data as one model.tar.gz)"
            )
        for key, item in value.items():
            is_uri = isinstance(item, str) and item.startswith("s3://")
            if is_uri and (
                key in _S3_KEYS or (key == _SUBMIT_DIRECTORY and path[-1:] == ("Environment",))
            ):
                found.append(((*path, key), item))
            else:
                found.extend(s3_references(item, (*path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(s3_references(item, (*path, str(index))))
    return found


def keep_creatable(value: Any, shape: Shape) -> Any:
    """Keep only the members the CreateModelPackage input shape accepts (recursively)."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        return {
            key: keep_creatable(item, shape.members[key])
            for key, item in value.items()
            if key in shape.members
        }
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [keep_creatable(item, shape.member) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {key: keep_creatable(item, shape.value) for key, item in value.items()}
    return value


def creatable(source: Mapping[str, Any], create_shape: Shape) -> dict[str, Any]:
    """What of a described package can be created in another account, URIs still the source's."""
    request: dict[str, Any] = keep_creatable(dict(source), create_shape)
    for key in _DROPPED:
        request.pop(key, None)
    for container in _containers(request):
        for key in _CONTAINER_DROPPED:
            container.pop(key, None)
        s3_source = (container.get("ModelDataSource") or {}).get("S3DataSource") or {}
        for key in _SOURCE_ETAGS:
            s3_source.pop(key, None)
    metadata = request.get("MetadataProperties") or {}
    project = metadata.pop("ProjectId", None)  # a SageMaker project of the dev account
    if project:
        request["CustomerMetadataProperties"] = {
            **(request.get("CustomerMetadataProperties") or {}),
            "promotion:source-project-id": project,
        }
    return request


def _containers(request: Mapping[str, Any]) -> list[dict[str, Any]]:
    specs: list[Any] = [request.get("InferenceSpecification")]
    specs += request.get("AdditionalInferenceSpecifications") or []
    return [container for spec in specs if spec for container in spec.get("Containers", [])]


def rewrite_uris(value: Any, uri_map: Mapping[str, str]) -> Any:
    """Replace every string equal to a mapped URI; never substrings."""
    if isinstance(value, dict):
        return {key: rewrite_uris(item, uri_map) for key, item in value.items()}
    if isinstance(value, list):
        return [rewrite_uris(item, uri_map) for item in value]
    if isinstance(value, str):
        return uri_map.get(value, value)
    return value


def map_images(
    request: dict[str, Any], *, image_uri_map: Mapping[str, str], source_account_id: str
) -> list[str]:
    """Apply `image_uri_map` to every container image in place; return notices for the rest.

    Images of AWS-owned registries stay. An image in the source account's ECR stays unchanged
    (the target then needs pull access) unless the map names it.
    """
    notices: list[str] = []
    for container in _containers(request):
        image = container.get("Image", "")
        if image in image_uri_map:
            container["Image"] = image_uri_map[image]
            container.pop("ImageDigest", None)  # the digest named the source image
            continue
        match = _ECR_IMAGE.match(image)
        if match and match.group(1) == source_account_id:
            notices.append(
                f"image {image} is in the source account's ECR: the stage account needs "
                "pull access to it (repository policy), or map it in image_uri_map"
            )
    return notices


def build_create_request(
    source: Mapping[str, Any],
    *,
    create_shape: Shape,
    uri_map: Mapping[str, str],
    lineage: Mapping[str, str],
    image_uri_map: Mapping[str, str],
    source_account_id: str,
    approval_status: str = "Approved",
    model_life_cycle: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The CreateModelPackage request of the target package, and notices for the user.

    `approval_status` is Approved, or PendingManualApproval for a stage behind a review gate;
    `model_life_cycle` replaces whatever life cycle the source carries (its dev stage)."""
    request = rewrite_uris(creatable(source, create_shape), uri_map)
    notices = map_images(request, image_uri_map=image_uri_map, source_account_id=source_account_id)
    metadata = {**(request.get("CustomerMetadataProperties") or {}), **lineage}
    if len(metadata) > MAX_METADATA_ENTRIES:
        raise PromotionError(
            f"{source['ModelPackageArn']} has {len(metadata) - len(lineage)} metadata entries; "
            f"with the lineage that exceeds {MAX_METADATA_ENTRIES}: remove some in the source"
        )
    request["CustomerMetadataProperties"] = metadata
    request["ModelApprovalStatus"] = approval_status
    request.pop("ModelLifeCycle", None)
    if model_life_cycle:
        request["ModelLifeCycle"] = dict(model_life_cycle)
    return request, notices


def model_name_for(group: str, stage: str, version: int) -> str:
    """A valid SageMaker model name from group, stage and source version, at most 63 chars."""
    suffix = f"-{stage}-v{version}"
    name = f"{group}{suffix}"
    if len(name) <= _NAME_LIMIT:
        return name
    digest = hashlib.sha256(group.encode()).hexdigest()[:8]
    head = group[: _NAME_LIMIT - len(suffix) - len(digest) - 1].rstrip("-")
    return f"{head}-{digest}{suffix}"
