"""Push container images into the embedded ECR as `docker push` does, through ECR's layer API
(there is no Docker daemon here): each missing layer uploaded, then the manifest by digest.

The images are made of bytes, not built: an image manifest (OCI) names a config blob and layer
blobs; an index names one manifest per platform. What matters to a promotion is that digests,
sizes and bytes are real.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
PART = 5 * 1024**2


def digest_of(data: bytes) -> str:
    """`sha256:<hex>` of some bytes."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class PushedImage:
    """What was pushed: its digest, its manifest, its blobs' digests and sizes."""

    digest: str
    manifest: str
    blobs: dict[str, int]


def push_blob(ecr: Any, repository: str, data: bytes) -> str:
    """Upload one blob unless the repository holds it; return its digest."""
    digest = digest_of(data)
    held = ecr.batch_check_layer_availability(repositoryName=repository, layerDigests=[digest])
    if held.get("layers"):
        return digest
    upload = ecr.initiate_layer_upload(repositoryName=repository)["uploadId"]
    for first in range(0, len(data), PART):
        part = data[first : first + PART]
        ecr.upload_layer_part(repositoryName=repository, uploadId=upload, partFirstByte=first,
                              partLastByte=first + len(part) - 1, layerPartBlob=part)  # fmt: skip
    ecr.complete_layer_upload(repositoryName=repository, uploadId=upload, layerDigests=[digest])
    return digest


def push_image(
    ecr: Any,
    repository: str,
    layers: Sequence[bytes],
    *,
    tag: str | None = None,
    config: dict[str, Any] | None = None,
) -> PushedImage:
    """Push an image of these layers (and a config naming them); return what was pushed."""
    config_blob = json.dumps(
        config or {"architecture": "amd64", "os": "linux",
                   "rootfs": {"type": "layers", "diff_ids": [digest_of(b) for b in layers]}},
        sort_keys=True,
    ).encode()  # fmt: skip
    blobs = {push_blob(ecr, repository, config_blob): len(config_blob)}
    descriptors = []
    for layer in layers:
        digest = push_blob(ecr, repository, layer)
        blobs[digest] = len(layer)
        descriptors.append({"mediaType": OCI_LAYER, "digest": digest, "size": len(layer)})
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config_blob),
                   "size": len(config_blob)},
        "layers": descriptors,
    })  # fmt: skip
    return PushedImage(_put(ecr, repository, manifest, OCI_MANIFEST, tag), manifest, blobs)


def push_index(
    ecr: Any, repository: str, platforms: dict[str, Sequence[bytes]], *, tag: str | None = None
) -> tuple[PushedImage, list[PushedImage]]:
    """Push one image per platform (`os/architecture` -> layers), then an index of them."""
    children = []
    descriptors = []
    for platform, layers in platforms.items():
        system, architecture = platform.split("/")
        config = {
            "architecture": architecture,
            "os": system,
            "rootfs": {"type": "layers", "diff_ids": [digest_of(b) for b in layers]},
        }
        child = push_image(ecr, repository, layers, config=config)
        children.append(child)
        descriptors.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": child.digest,
                "size": len(child.manifest.encode()),
                "platform": {"os": system, "architecture": architecture},
            }
        )
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors})
    return PushedImage(_put(ecr, repository, index, OCI_INDEX, tag), index, {}), children


def _put(ecr: Any, repository: str, manifest: str, media_type: str, tag: str | None) -> str:
    arguments: dict[str, Any] = {"repositoryName": repository, "imageManifest": manifest,
                                 "imageManifestMediaType": media_type}  # fmt: skip
    if tag:
        arguments["imageTag"] = tag
    return str(ecr.put_image(**arguments)["image"]["imageId"]["imageDigest"])


def image_uri(account: str, region: str, repository: str, reference: str) -> str:
    """`<account>.dkr.ecr.<region>.amazonaws.com/<repository>` with `:tag` or `@digest`."""
    joiner = "@" if reference.startswith("sha256:") else ":"
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}{joiner}{reference}"
