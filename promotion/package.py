"""Pure decisions about one package: which S3 objects it references, where their copies go, and
the CreateModelPackage request of the target package. No AWS calls here."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape

from errors import ConfigError
from promotion.config import StageConfig, parse_s3_url

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


@dataclass(frozen=True)
class S3Reference:
    """One S3 URI a package names, where it names it, and whether it is a key prefix
    (`S3DataType: S3Prefix`: every object below it is part of the model)."""

    place: tuple[str, ...]
    uri: str
    is_prefix: bool = False


@dataclass(frozen=True)
class PlannedReference:
    """An S3 URI of the source package and the URI its copy gets in the target bucket."""

    source_uri: str
    target_uri: str
    is_prefix: bool
    place: str  # the place in the package, "/"-joined: also the copy's folder

    def object_copy(self) -> ArtifactCopy:
        """The copy of a single object."""
        bucket, key = parse_s3_url(self.target_uri)
        return ArtifactCopy(self.source_uri, bucket, key)

    def prefix_copy(self, relative_key: str) -> ArtifactCopy:
        """The copy of one object below a prefix, at the same place below the target prefix."""
        bucket, key = parse_s3_url(self.target_uri)
        return ArtifactCopy(f"{self.source_uri}{relative_key}", bucket, f"{key}{relative_key}")


def artifact_prefix(group: str, version: int) -> str:
    """The deterministic key prefix of a source version's copies."""
    return f"model-packages/{group}/v{version}/"


def plan_references(
    request: Mapping[str, Any], *, bucket: str, prefix: str
) -> list[PlannedReference]:
    """Every S3 URI the request references, each once, with its copy's URI derived from its place:
    `<prefix><place>/<file name>` for an object, `<prefix><place>/` for a key prefix."""
    planned: dict[str, PlannedReference] = {}
    for reference in s3_references(request):
        if reference.uri in planned:
            continue
        place = "/".join(reference.place)
        _, key = parse_s3_url(reference.uri)
        if reference.is_prefix:
            target = f"s3://{bucket}/{prefix}{place}/"
        else:
            target = f"s3://{bucket}/{prefix}{place}/{key.rsplit('/', 1)[-1]}"
        planned[reference.uri] = PlannedReference(reference.uri, target, reference.is_prefix, place)
    return list(planned.values())


def s3_references(value: Any, path: tuple[str, ...] = ()) -> list[S3Reference]:
    """Every S3 URI a package or request references, with its place.

    Raises:
        ConfigError: a form SageMaker accepts that cannot be promoted as it is (a manifest file),
            or one SageMaker documents no meaning for (a compressed prefix, a prefix not ending
            in "/", an object URI ending in "/").
    """
    found: list[S3Reference] = []
    if isinstance(value, dict):
        where = ".".join(path)
        if value.get("ManifestS3Uri"):
            raise ConfigError(
                f"{where} uses a manifest file (ManifestS3Uri), which build.py cannot promote: "
                "register the model data as an S3 object or an S3 prefix"
            )
        is_prefix = _check_data_source(value, where)
        for key, item in value.items():
            is_uri = isinstance(item, str) and item.startswith("s3://")
            if is_uri and (
                key in _S3_KEYS or (key == _SUBMIT_DIRECTORY and path[-1:] == ("Environment",))
            ):
                prefix = is_prefix and key == "S3Uri"
                _, object_key = parse_s3_url(item)
                if not prefix and (not object_key or object_key.endswith("/")):
                    raise ConfigError(
                        f"{where}.{key} is {item}, which is not an object: name one object, or "
                        "register a key prefix with S3DataType S3Prefix"
                    )
                found.append(S3Reference((*path, key), item, prefix))
            else:
                found.extend(s3_references(item, (*path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(s3_references(item, (*path, str(index))))
    return found


def _check_data_source(value: Mapping[str, Any], where: str) -> bool:
    """Whether an S3 data source names a prefix; refuse the forms SageMaker documents no
    meaning for (S3ModelDataSource in the SageMaker API reference: Gzip is a single object,
    a prefix ends with a forward slash)."""
    if value.get("S3DataType") != "S3Prefix":
        return False
    uri = str(value.get("S3Uri", ""))
    if value.get("CompressionType") == "Gzip":
        raise ConfigError(
            f"{where} names the prefix {uri} with CompressionType Gzip; SageMaker reads Gzip "
            "model data from one S3Object only: use CompressionType None, or one archive"
        )
    if not uri.endswith("/"):
        raise ConfigError(
            f"{where} names the prefix {uri}, which does not end with '/' (SageMaker requires it "
            "of an S3Prefix): register the package with the prefix ending in '/'"
        )
    return True


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
    for container in containers(request):
        for key in _CONTAINER_DROPPED:
            container.pop(key, None)
        for source in _data_sources(container):
            for key in _SOURCE_ETAGS:
                source.pop(key, None)
    metadata = request.get("MetadataProperties") or {}
    project = metadata.pop("ProjectId", None)  # a SageMaker project of the dev account
    if project:
        request["CustomerMetadataProperties"] = {
            **(request.get("CustomerMetadataProperties") or {}),
            "promotion:source-project-id": project,
        }
    return request


def _data_sources(container: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The container's S3 data sources: its model data, the additional ones."""
    additional = container.get("AdditionalModelDataSources") or []
    sources = [(container.get("ModelDataSource") or {}).get("S3DataSource")]
    sources += [item.get("S3DataSource") for item in additional]
    sources.append(container.get("AdditionalS3DataSource"))
    return [source for source in sources if source]


def container_places(request: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every container of a package or request with its place, in the package's order:
    `InferenceSpecification.Containers.<i>`, then each additional specification's."""
    main = request.get("InferenceSpecification")
    specs: list[tuple[str, Any]] = [("InferenceSpecification", main)]
    for index, spec in enumerate(request.get("AdditionalInferenceSpecifications") or []):
        specs.append((f"AdditionalInferenceSpecifications.{index}", spec))
    return [(f"{where}.Containers.{index}", container)
            for where, spec in specs if spec
            for index, container in enumerate(spec.get("Containers", []))]  # fmt: skip


def containers(request: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every container of a package or request."""
    return [container for _, container in container_places(request)]


def rewrite_uris(value: Any, uri_map: Mapping[str, str]) -> Any:
    """Replace every string equal to a mapped URI; never substrings."""
    if isinstance(value, dict):
        return {key: rewrite_uris(item, uri_map) for key, item in value.items()}
    if isinstance(value, list):
        return [rewrite_uris(item, uri_map) for item in value]
    if isinstance(value, str):
        return uri_map.get(value, value)
    return value


def set_images(request: dict[str, Any], images: Mapping[str, tuple[str, str | None]]) -> None:
    """Name each container's image as decided (promotion/images.py): place -> (URI, digest or
    None). `ImageDigest` is the digest the URI names, or absent when it names a tag."""
    for place, container in container_places(request):
        if place not in images:
            continue
        uri, digest = images[place]
        container["Image"] = uri
        if digest:
            container["ImageDigest"] = digest
        else:
            container.pop("ImageDigest", None)


def build_create_request(
    source: Mapping[str, Any],
    *,
    create_shape: Shape,
    uri_map: Mapping[str, str],
    lineage: Mapping[str, str],
    images: Mapping[str, tuple[str, str | None]],
    approval_status: str = "Approved",
    model_life_cycle: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The CreateModelPackage request of the target package.

    `uri_map` maps source S3 URIs to their copies, `images` each container's place to its image
    in the stage; `approval_status` is Approved, or PendingManualApproval for a stage behind a
    review gate; `model_life_cycle` replaces whatever life cycle the source carries (its dev
    stage)."""
    request = rewrite_uris(creatable(source, create_shape), uri_map)
    set_images(request, images)
    metadata = {**(request.get("CustomerMetadataProperties") or {}), **lineage}
    if len(metadata) > MAX_METADATA_ENTRIES:
        raise ConfigError(
            f"{source['ModelPackageArn']} has {len(metadata) - len(lineage)} metadata entries; "
            f"with the lineage that exceeds {MAX_METADATA_ENTRIES}: remove some in the source"
        )
    request["CustomerMetadataProperties"] = metadata
    request["ModelApprovalStatus"] = approval_status
    request.pop("ModelLifeCycle", None)
    if model_life_cycle:
        request["ModelLifeCycle"] = dict(model_life_cycle)
    return request


def model_identity(config: StageConfig, package_arn: str) -> str:
    """8 hex digits of what a SageMaker model cannot change in place: the package it serves, the
    role it runs as, its subnets and security groups. A model's name carries them, so a stage
    file that changes the role or the network for the same version names a new model: Terraform
    replaces the model create-before-destroy, and AWS refuses to create a model under a name
    that exists ("Cannot create already existing model")."""
    vpc = config.vpc_config
    subnets, groups = (vpc.subnet_ids, vpc.security_group_ids) if vpc else ([], [])
    parts = [package_arn, config.sagemaker_execution_role_arn,
             ",".join(sorted(subnets)), ",".join(sorted(groups))]  # fmt: skip
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:8]


def model_name_for(group: str, stage: str, version: int, identity: str) -> str:
    """A valid SageMaker model name from group, stage, source version and `model_identity`, at
    most 63 chars."""
    suffix = f"-{stage}-v{version}-{identity}"
    name = f"{group}{suffix}"
    if len(name) <= _NAME_LIMIT:
        return name
    digest = hashlib.sha256(group.encode()).hexdigest()[:8]
    head = group[: _NAME_LIMIT - len(suffix) - len(digest) - 1].rstrip("-")
    return f"{head}-{digest}{suffix}"
