"""Artifact copies through this process's memory (never the local disk): read with the source
account's client, uploaded create-only with the target's. promotion/artifacts.py falls back to it
when the target principal cannot read the source server-side.

S3 limits: https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

from promotion.config import parse_s3_url
from promotion.package import ArtifactCopy

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from promotion.artifacts import CopySettings

# If-None-Match on a write: S3 answers 412 PreconditionFailed when the key exists (409
# ConditionalRequestConflict when a concurrent write to it won). PutObject and
# CompleteMultipartUpload take it since botocore 1.35.2.
CREATE_ONLY: Final = "*"
# Declared on CreateMultipartUpload and sent with every part and on completion, so the upload is
# consistent: botocore >= 1.36 adds a CRC32 to each UploadPart by default but nothing to the
# other two calls, a mix that S3-compatible stores reject.
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html
CHECKSUM_ALGORITHM: Final = "CRC32"


def stream_artifact(
    copy: ArtifactCopy,
    *,
    source_s3: S3Client,
    target_s3: S3Client,
    size: int,
    etag: str,
    extra: dict[str, Any],
    settings: CopySettings,
    callback: Callable[[int], None] | None = None,
) -> None:
    """Read with the source client and upload with the target's, a bounded number of parts at a
    time in memory. A failed multipart upload is aborted."""
    bucket, key = parse_s3_url(copy.source_uri)
    body = source_s3.get_object(Bucket=bucket, Key=key, IfMatch=etag)["Body"]
    part_size = settings.part_size_for(size, streaming=True)
    if size < max(part_size, settings.multipart_threshold):
        data = body.read()
        target_s3.put_object(
            Bucket=copy.target_bucket, Key=copy.target_key, Body=data, IfNoneMatch=CREATE_ONLY,
            **extra,
        )  # fmt: skip
        if callback:
            callback(len(data))
        return
    upload_id = target_s3.create_multipart_upload(
        Bucket=copy.target_bucket, Key=copy.target_key, ChecksumAlgorithm=CHECKSUM_ALGORITHM,
        **extra,
    )["UploadId"]  # fmt: skip
    try:
        parts = _upload_parts(
            target_s3, copy, upload_id, whole_parts(body, part_size), settings, callback
        )
        target_s3.complete_multipart_upload(
            Bucket=copy.target_bucket,
            Key=copy.target_key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
            IfNoneMatch=CREATE_ONLY,
        )
    except BaseException:
        target_s3.abort_multipart_upload(
            Bucket=copy.target_bucket, Key=copy.target_key, UploadId=upload_id
        )
        raise


def _upload_parts(
    target_s3: S3Client,
    copy: ArtifactCopy,
    upload_id: str,
    chunks: Iterator[bytes],
    settings: CopySettings,
    callback: Callable[[int], None] | None,
) -> list[dict[str, Any]]:
    def upload(number: int, data: bytes) -> dict[str, Any]:
        checksum = crc32_checksum(data)  # ours, so the completion can name it for every part
        response = target_s3.upload_part(
            Bucket=copy.target_bucket, Key=copy.target_key, UploadId=upload_id,
            PartNumber=number, Body=data, ChecksumCRC32=checksum,
        )  # fmt: skip
        if callback:
            callback(len(data))
        return {"PartNumber": number, "ETag": response["ETag"], "ChecksumCRC32": checksum}

    parts: list[dict[str, Any]] = []
    pending: list[Future[dict[str, Any]]] = []
    with ThreadPoolExecutor(max_workers=settings.stream_parts_in_flight) as pool:
        for number, data in enumerate(chunks, start=1):
            # Wait for the oldest part before reading another: memory stays bounded.
            while len(pending) >= settings.stream_parts_in_flight:
                parts.append(pending.pop(0).result())
            pending.append(pool.submit(upload, number, data))
        parts.extend(future.result() for future in pending)
    return parts


def crc32_checksum(data: bytes) -> str:
    """The base64 of the big-endian CRC32 of `data`, as S3's `x-amz-checksum-crc32` header."""
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode("ascii")


def whole_parts(body: Any, part_size: int) -> Iterator[bytes]:
    """Whole parts of `part_size` bytes (S3 rejects short parts but the last), then the rest."""
    buffer = bytearray()
    while data := body.read(part_size - len(buffer)):
        buffer += data
        if len(buffer) == part_size:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)
