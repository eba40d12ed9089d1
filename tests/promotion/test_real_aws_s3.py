"""S3 answers that moto does not give, made with botocore event hooks: a 403 HeadObject for a
missing key, and the exact checksum headers of the streamed multipart upload."""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

import build
from errors import AccessError
from promotion.artifacts import MIB, CopySettings, head
from promotion.package import ArtifactCopy
from promotion.streaming import crc32_checksum, stream_artifact
from testbed.local_aws import DEV_ACCOUNT, PRE_PROD_ACCOUNT, refuse, role_arn
from testbed.promotion_cases import DEV_BUCKET, TARGET_BUCKET, register
from tests.promotion.conftest import Call, mutating
from utils import Identity


def answer_like_s3_without_list_bucket(client: Any) -> None:
    """Turn this client's 404 HeadObject answers into S3's 403 for callers lacking ListBucket.

    HeadObject errors have no body, so botocore reports the bare status: code "403".
    """

    def forbid(http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        if http_response.status_code == 404:
            http_response.status_code = 403
            parsed["Error"].update(Code="403", Message="Forbidden")
            parsed["ResponseMetadata"]["HTTPStatusCode"] = 403

    client.meta.events.register("after-call.s3.HeadObject", forbid)


def test_head_of_a_missing_key_without_list_bucket_is_one_line_naming_the_fix(
    dev: boto3.Session,
    pre_prod: boto3.Session,
    config_file: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_calls: list[Call],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a target role without s3:ListBucket on a fresh artifacts bucket (copies not there)
    register(dev)
    original = Identity.client

    def client(self: Identity, service: str) -> Any:
        made = original(self, service)
        if service == "s3" and self.label.startswith("target"):
            answer_like_s3_without_list_bucket(made)
        return made

    monkeypatch.setattr(Identity, "client", client)
    api_calls.clear()

    # WHEN build.py promotes into it
    code = build.main(
        [
            "--stage", "pre-prod", "--config", str(config_file()),
            "--output-dir", str(tmp_path / "out"),
            "--source-role-arn", role_arn(DEV_ACCOUNT),
            "--target-role-arn", role_arn(PRE_PROD_ACCOUNT),
        ]
    )  # fmt: skip

    # THEN it stops before writing, with one line naming the action, the bucket and the role
    assert code == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Traceback" not in error
    assert "s3:ListBucket on arn:aws:s3:::pre-prod-artifacts" in error
    assert role_arn(PRE_PROD_ACCOUNT) in error and "403 Forbidden" in error
    assert mutating([c for c in api_calls if c[0] != "sts"]) == []
    assert not (tmp_path / "out").exists()


def test_a_403_on_an_existing_object_is_not_taken_for_absent(
    dev: boto3.Session,
) -> None:
    # GIVEN an object that exists, and a caller S3 refuses (a real denial)
    s3 = dev.client("s3")
    s3.put_object(Bucket=DEV_BUCKET, Key="model.tar.gz", Body=b"x")
    refuse(s3, "HeadObject", code="403")

    # WHEN / THEN head() raises instead of answering "absent" (which would copy it again)
    with pytest.raises(AccessError, match="s3:ListBucket on arn:aws:s3:::dev-ml-artifacts"):
        head(s3, f"s3://{DEV_BUCKET}/model.tar.gz")


def test_a_missing_key_with_list_bucket_is_absent(dev: boto3.Session) -> None:
    assert head(dev.client("s3"), f"s3://{DEV_BUCKET}/nothing-here") is None


Sent = tuple[str, dict[str, str], bytes]


def record_requests(client: Any) -> list[Sent]:
    """(operation, headers, body) of every request this client sends over the wire."""
    sent: list[Sent] = []

    def keep(request: Any, event_name: str, **_: Any) -> None:
        body = request.body if isinstance(request.body, bytes) else b""
        headers = {
            k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()
        }
        sent.append((event_name.rsplit(".", 1)[-1], headers, body))

    client.meta.events.register("before-send.s3", keep)
    return sent


def test_streamed_multipart_upload_declares_and_completes_one_checksum_algorithm(
    dev: boto3.Session, pre_prod: boto3.Session
) -> None:
    # GIVEN an 11 MiB object that the target must stream in 5 MiB parts
    data = os.urandom(11 * MIB)
    dev.client("s3").put_object(Bucket=DEV_BUCKET, Key="big/model.tar.gz", Body=data)
    etag = dev.client("s3").head_object(Bucket=DEV_BUCKET, Key="big/model.tar.gz")["ETag"]
    target_s3 = pre_prod.client("s3")
    sent = record_requests(target_s3)
    copy = ArtifactCopy(f"s3://{DEV_BUCKET}/big/model.tar.gz", TARGET_BUCKET, "v1/model.tar.gz")
    settings = CopySettings(
        multipart_threshold=5 * MIB, stream_part_size=5 * MIB, stream_parts_in_flight=1
    )

    # WHEN it is streamed
    stream_artifact(
        copy, source_s3=dev.client("s3"), target_s3=target_s3, size=len(data), etag=etag,
        extra={}, settings=settings,
    )  # fmt: skip

    # THEN the upload is created with CRC32 ...
    operations = [operation for operation, _, _ in sent]
    assert operations == ["CreateMultipartUpload", *["UploadPart"] * 3, "CompleteMultipartUpload"]
    create, *parts, complete = sent
    assert create[1]["x-amz-checksum-algorithm"] == "CRC32"
    # ... every part carries its own CRC32 as a header (no trailer, no second algorithm) ...
    chunks = [data[i : i + 5 * MIB] for i in range(0, len(data), 5 * MIB)]
    for (_, headers, _), chunk in zip(parts, chunks, strict=True):
        assert headers["x-amz-checksum-crc32"] == crc32_checksum(chunk)
        assert "x-amz-trailer" not in headers
        assert not [
            h for h in headers if h.startswith("x-amz-checksum-") and h != "x-amz-checksum-crc32"
        ]
    # ... and the completion names each part's checksum
    body = complete[2].decode()
    for chunk in chunks:
        assert f"<ChecksumCRC32>{crc32_checksum(chunk)}</ChecksumCRC32>" in body
    copied = pre_prod.client("s3").get_object(Bucket=TARGET_BUCKET, Key="v1/model.tar.gz")
    assert copied["Body"].read() == data


def test_crc32_checksum_is_s3s_encoding() -> None:
    # S3 sends base64 of the 4 big-endian bytes of the CRC32 (x-amz-checksum-crc32)
    assert crc32_checksum(b"") == "AAAAAA=="
    assert crc32_checksum(b"abc") == "NSRBwg=="
    assert zlib.crc32(b"abc") == 0x352441C2
