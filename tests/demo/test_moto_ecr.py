"""Correction 8 (testbed/moto_ecr.py): the embedded ECR answers as the ECR API reference
documents."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from testbed.images import OCI_MANIFEST, digest_of, push_blob, push_image
from testbed.local_aws import DEV_ACCOUNT, account_session, local_aws

REPOSITORY = "team/serving"


@pytest.fixture
def ecr() -> Iterator[Any]:
    with local_aws() as endpoint:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
        client = account_session(DEV_ACCOUNT).client("ecr")
        client.create_repository(repositoryName=REPOSITORY)
        yield client


def code_of(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_a_layer_is_served_by_a_presigned_url_with_its_bytes(ecr: Any) -> None:
    layer = b"layer bytes " * 1000
    pushed = push_image(ecr, REPOSITORY, [layer], tag="1")
    url = ecr.get_download_url_for_layer(repositoryName=REPOSITORY,
                                         layerDigest=digest_of(layer))["downloadUrl"]  # fmt: skip
    with urllib.request.urlopen(url) as response:  # no AWS credentials: the URL is the grant
        assert response.read() == layer
    assert pushed.digest == digest_of(pushed.manifest.encode())  # the manifest's sha256
    tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    with pytest.raises(urllib.error.HTTPError, match="403"):
        urllib.request.urlopen(tampered)


def test_layer_urls_are_only_for_layers_an_image_references(ecr: Any) -> None:
    digest = push_blob(ecr, REPOSITORY, b"pushed, never referenced")
    with pytest.raises(ClientError) as unreferenced:
        ecr.get_download_url_for_layer(repositoryName=REPOSITORY, layerDigest=digest)
    assert code_of(unreferenced) == "LayerInaccessibleException"
    with pytest.raises(ClientError) as unknown:
        ecr.get_download_url_for_layer(repositoryName=REPOSITORY, layerDigest="sha256:" + "1" * 64)
    assert code_of(unknown) == "LayersNotFoundException"


def test_a_layer_whose_bytes_are_not_its_digest_is_refused(ecr: Any) -> None:
    upload = ecr.initiate_layer_upload(repositoryName=REPOSITORY)["uploadId"]
    ecr.upload_layer_part(repositoryName=REPOSITORY, uploadId=upload, partFirstByte=0,
                          partLastByte=2, layerPartBlob=b"abc")  # fmt: skip
    with pytest.raises(ClientError) as error:
        ecr.complete_layer_upload(repositoryName=REPOSITORY, uploadId=upload,
                                  layerDigests=[digest_of(b"xyz")])  # fmt: skip
    assert code_of(error) == "InvalidLayerException"


def test_put_image_checks_digest_layers_and_changes(ecr: Any) -> None:
    config = push_blob(ecr, REPOSITORY, b"{}")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"digest": config, "size": 2},
                           "layers": [{"digest": digest_of(b"absent"), "size": 6}]})  # fmt: skip
    with pytest.raises(ClientError) as missing:
        ecr.put_image(repositoryName=REPOSITORY, imageManifest=manifest)
    assert code_of(missing) == "LayersNotFoundException"
    pushed = push_image(ecr, REPOSITORY, [b"present"])
    with pytest.raises(ClientError) as wrong:
        ecr.put_image(repositoryName=REPOSITORY, imageManifest=pushed.manifest,
                      imageDigest="sha256:" + "2" * 64)  # fmt: skip
    assert code_of(wrong) == "ImageDigestDoesNotMatchException"
    with pytest.raises(ClientError) as unchanged:
        ecr.put_image(repositoryName=REPOSITORY, imageManifest=pushed.manifest)
    assert code_of(unchanged) == "ImageAlreadyExistsException"


def test_tags_move_in_a_mutable_repository_and_are_refused_in_an_immutable_one(ecr: Any) -> None:
    first = push_image(ecr, REPOSITORY, [b"v1"], tag="latest")
    second = push_image(ecr, REPOSITORY, [b"v2"], tag="latest")
    # the first image stays, untagged (moto deleted it)
    kept = ecr.batch_get_image(repositoryName=REPOSITORY, imageIds=[{"imageDigest": first.digest}])
    assert [i["imageId"]["imageDigest"] for i in kept["images"]] == [first.digest]
    now = ecr.batch_get_image(repositoryName=REPOSITORY, imageIds=[{"imageTag": "latest"}])
    assert now["images"][0]["imageId"]["imageDigest"] == second.digest
    ecr.create_repository(repositoryName="team/immutable", imageTagMutability="IMMUTABLE")
    push_image(ecr, "team/immutable", [b"v1"], tag="1.0")
    with pytest.raises(ClientError) as error:
        push_image(ecr, "team/immutable", [b"v2"], tag="1.0")
    assert code_of(error) == "ImageTagAlreadyExistsException"
