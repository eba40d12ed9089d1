"""Correction 11 of testbed/moto_fixes.py: ECR serves image layers and checks what is pushed, as its
API reference documents (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/).

moto 5.2.5 keeps only each layer's size, has no GetDownloadUrlForLayer, derives an image's digest
from its layers' digests, and accepts any manifest. Corrected here:
- CompleteLayerUpload keeps the layer's bytes; it refuses a layer whose sha256 is not the digest
  given (InvalidLayerException: "The layer digest calculation performed by Amazon ECR upon
  receipt of the image layer does not match the digest specified"), one the repository holds
  already (LayerAlreadyExistsException) and an upload of no parts (EmptyUploadException).
- GetDownloadUrlForLayer answers "the pre-signed Amazon S3 download URL for the requested
  layer", only for layers an image references ("You can only get URLs for image layers that are
  referenced in an image": LayerInaccessibleException otherwise; LayersNotFoundException for an
  unknown digest). The URL carries an expiry and a signature, and the embedded server answers it
  to a plain GET without AWS credentials, as S3 answers a pre-signed URL. Only a moto server
  (testbed/local_aws.py) serves it, not the in-process mock.
- PutImage takes the manifest's sha256 as the image's digest ("The specified image digest does
  not match the digest that Amazon ECR calculated for the image":
  ImageDigestDoesNotMatchException), and refuses a manifest whose layers the repository lacks
  (LayersNotFoundException), an index whose images it lacks (ReferencedImagesNotFoundException),
  and, with immutable tags, a tag another image carries (ImageTagAlreadyExistsException); a push
  that changes nothing is ImageAlreadyExistsException ("The specified image has already been
  pushed, and there were no changes to the manifest or image tag after the last push"). In a
  repository with mutable tags, a pushed tag moves to the new image and the image it named stays,
  untagged, as in AWS (the user guide's "Preventing image tags from being overwritten": mutable
  tags are overwritten; lifecycle policies' `tagStatus: untagged` selects such images). moto
  deleted that image.
- A request naming another account's registry (`registryId`: "The Amazon Web Services account ID
  associated with the registry that contains the image ... If you do not specify a registry, the
  default registry is assumed") is answered from that account's registry; moto looked the
  repository up in the caller's and answered RepositoryNotFoundException. Whether the caller may
  is IAM's question (testbed/enforcement/ecr.py evaluates the repository policy).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.parse
from typing import Any
from unittest import mock

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.ecr.models import ECRBackend, Repository, ecr_backends
from moto.ecr.responses import ECRResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_original_complete_layer = ECRBackend.complete_layer_upload
_original_put_image = ECRBackend.put_image
_original_dispatch = DomainDispatcherApplication.__call__

LAYER_PATH = "/_moto-ecr-layer/"  # the embedded server's stand-in for S3's pre-signed layer URLs
LAYER_URL_SECONDS = 3600
_LAYER_URL_KEY = secrets.token_bytes(32)  # signs this process's layer URLs


class _EcrError(ServiceException):
    """An ECR error moto does not define; `code` is the API reference's exception name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


def _layer_store(repository: Repository) -> dict[str, bytes]:
    store: dict[str, bytes] | None = getattr(repository, "layer_bytes", None)
    if store is None:
        store = {}
        setattr(repository, "layer_bytes", store)  # noqa: B010
    return store


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _complete_layer_upload(
    self: ECRBackend, repository_name: str, upload_id: str, layer_digests: list[str],
    registry_id: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Correction 11: the layer is checked against its digest, and its bytes are kept."""
    repository = self._get_repository(repository_name, registry_id)
    upload = repository.uploads.get(upload_id)
    if upload is not None:
        data = bytes(upload.layer_parts)
        digest = _sha256(data)
        if not data:
            raise _EcrError("EmptyUploadException", f"The upload {upload_id} contains no parts")
        if digest not in layer_digests:
            raise _EcrError("InvalidLayerException", "The layer digest calculation performed by "
                            "Amazon ECR upon receipt of the image layer does not match the "
                            "digest specified")  # fmt: skip
        if digest in repository.layers:
            raise _EcrError(
                "LayerAlreadyExistsException",
                f"The image layer {digest} already exists in the repository",
            )
        _layer_store(repository)[digest] = data
    return dict(_original_complete_layer(self, repository_name, upload_id, layer_digests,
                                         registry_id=registry_id))  # fmt: skip


def _blobs(document: dict[str, Any]) -> list[str]:
    """The config and layer digests an image manifest names (none for an index)."""
    descriptors = [document.get("config") or {}, *document.get("layers", [])]
    return [str(d["digest"]) for d in descriptors if d.get("digest")]


def _referenced_layers(repository: Repository) -> set[str]:
    found: set[str] = set()
    for image in repository.images:
        document = json.loads(image.image_manifest)
        found.update(_blobs(document))
    return found


def _put_image(
    self: ECRBackend, repository_name: str, image_manifest: str, image_tag: str,
    image_manifest_mediatype: str | None = None, digest: str | None = None,
) -> Any:  # fmt: skip
    """Correction 11: the digest is the manifest's sha256; what it references must be there."""
    repository = self._get_repository(repository_name)
    computed = _sha256(image_manifest.encode("utf-8"))
    if digest and digest != computed:
        raise _EcrError(
            "ImageDigestDoesNotMatchException",
            f"The specified image digest {digest}"
            f" does not match the digest {computed} ECR calculated for the image",
        )
    document = json.loads(image_manifest)
    blobs = _blobs(document)
    missing = [b for b in blobs if b not in repository.layers]
    if missing:
        raise _EcrError(
            "LayersNotFoundException",
            f"The specified layers {missing[0]} could not "
            "be found, or the specified layer is not valid for this repository",
        )
    held = {image.get_image_digest() for image in repository.images}
    absent = [m["digest"] for m in document.get("manifests", []) if m["digest"] not in held]
    if absent:
        raise _EcrError(
            "ReferencedImagesNotFoundException",
            f"The manifest list is referencing an image that does not exist: {absent[0]}",
        )
    same = [image for image in repository.images if image.get_image_digest() == computed]
    if same and (not image_tag or image_tag in same[0].image_tags):
        raise _EcrError("ImageAlreadyExistsException", f"Image with digest '{computed}' and tag "
                        f"'{image_tag}' already exists in the repository")  # fmt: skip
    tagged = [image for image in repository.images
              if image_tag and image_tag in image.image_tags and image not in same]  # fmt: skip
    if tagged and repository.is_tag_immutable():
        raise _EcrError("ImageTagAlreadyExistsException", f"The image tag '{image_tag}' already "
                        "exists in the repository and cannot be overwritten because the "
                        "repository is immutable")  # fmt: skip
    for image in tagged:  # a mutable tag moves; the image it named stays, untagged
        image.remove_tag(image_tag)
        if not image.image_tags:
            image.image_tag = None  # type: ignore[assignment]  # moto answers None: untagged
    return _original_put_image(self, repository_name, image_manifest, image_tag,
                               image_manifest_mediatype, computed)  # fmt: skip


def _registry_backend(self: ECRResponse) -> ECRBackend:
    """Correction 11: the registry the request names (registryId), else the caller's."""
    registry = self._get_param("registryId") or self.current_account
    return ecr_backends[registry][self.region]


def _layer_signature(layer: str, expires: str) -> str:
    return hmac.new(_LAYER_URL_KEY, f"{layer}\n{expires}".encode(), hashlib.sha256).hexdigest()


def _get_download_url_for_layer(self: ECRResponse) -> ActionResult:
    """Correction 11: a pre-signed URL of the layer, for layers an image references."""
    registry = self._get_param("registryId") or self.current_account
    name, digest = self._get_param("repositoryName"), self._get_param("layerDigest")
    repository = ecr_backends[registry][self.region]._get_repository(name, registry)
    if digest not in _layer_store(repository):
        raise _EcrError(
            "LayersNotFoundException", f"The specified layer {digest} could not be found"
        )
    if digest not in _referenced_layers(repository):
        raise _EcrError(
            "LayerInaccessibleException",
            f"The specified layer {digest} is not "
            "available because it is not associated with an image",
        )
    layer = f"{registry}/{self.region}/{digest}/{name}"  # the name last: it may hold "/"
    expires = str(int(time.time()) + LAYER_URL_SECONDS)
    query = urllib.parse.urlencode(
        {"X-Amz-Expires": expires, "X-Amz-Signature": _layer_signature(layer, expires)}
    )
    path = LAYER_PATH + urllib.parse.quote(layer)
    host = self.headers.get("Host", "localhost")
    return ActionResult({"downloadUrl": f"http://{host}{path}?{query}", "layerDigest": digest})


def _dispatch(self: DomainDispatcherApplication, environ: dict[str, Any], start: Any) -> Any:
    """Correction 11: the embedded server answers its pre-signed layer URLs (no credentials)."""
    path = environ.get("PATH_INFO", "")
    if not path.startswith(LAYER_PATH):
        return _original_dispatch(self, environ, start)
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    expires = (query.get("X-Amz-Expires") or ["0"])[0]
    signature = (query.get("X-Amz-Signature") or [""])[0]
    layer = path[len(LAYER_PATH) :]  # WSGI's PATH_INFO is decoded already
    registry, region, digest, name = (layer.split("/", 3) + ["", "", ""])[:4]
    valid = hmac.compare_digest(signature, _layer_signature(layer, expires))
    if not valid or not expires.isdigit() or int(expires) < time.time():
        start("403 Forbidden", [("Content-Type", "text/plain")])
        return [b"Request has expired or its signature does not match"]
    repository = ecr_backends[registry][region].repositories.get(name)
    data = _layer_store(repository).get(digest) if repository else None
    if data is None:
        start("404 Not Found", [("Content-Type", "text/plain")])
        return [b"NoSuchKey"]
    start("200 OK", [("Content-Type", "application/octet-stream"),
                     ("Content-Length", str(len(data)))])  # fmt: skip
    return [data]


def ecr_patches() -> list[Any]:
    """The patches of this correction, for testbed/moto_fixes.py's aws_answers."""
    return [
        mock.patch.object(ECRBackend, "complete_layer_upload", _complete_layer_upload),
        mock.patch.object(ECRBackend, "put_image", _put_image),
        mock.patch.object(ECRResponse, "get_download_url_for_layer",
                          _get_download_url_for_layer),
        mock.patch.object(DomainDispatcherApplication, "__call__", _dispatch),
        mock.patch.object(ECRResponse, "ecr_backend", property(_registry_backend)),
    ]  # fmt: skip
