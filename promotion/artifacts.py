"""Copy model artifacts into the target bucket: server-side when the target principal can read the
source, streamed through memory (never the local disk) when it cannot.

Every copy is create-only (`If-None-Match: *` on PutObject, CopyObject and
CompleteMultipartUpload): a key that exists is never overwritten, and the stage roles may only
write that way (`s3:if-none-match` in bootstrap/policies/promote.json.tftpl), so nothing a live
model reads can be replaced by a promotion, reviewed or not (docs/promotion-gate.md).

S3 limits: https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
Conditional writes: https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
"""

from __future__ import annotations

import base64
import logging
import math
import os
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from errors import AccessError, CopyError
from promotion.config import parse_s3_url
from promotion.package import ArtifactCopy
from utils import ACCESS_DENIED_CODES, PRINCIPAL_FIELD, denied_action

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOG = logging.getLogger(__name__)

MIB = 1024**2
MIN_PART_SIZE = 5 * MIB  # every part but the last
MAX_PART_SIZE = 5 * 1024**3
MAX_PARTS = 10_000
MAX_SINGLE_COPY_SIZE = 5 * 1024**3  # CopyObject limit; above it only multipart copies work
SOURCE_ETAG_METADATA = "promotion-source-etag"
SOURCE_URI_METADATA = "promotion-source-uri"
# Declared on CreateMultipartUpload and sent with every part and on completion, so the upload is
# consistent: botocore >= 1.36 adds a CRC32 to each UploadPart by default but nothing to the
# other two calls, a mix that S3-compatible stores reject.
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html
CHECKSUM_ALGORITHM: Final = "CRC32"
# If-None-Match on a write: S3 answers 412 PreconditionFailed when the key exists (409
# ConditionalRequestConflict when a concurrent write to it won). PutObject and
# CompleteMultipartUpload take it since botocore 1.35.2, CopyObject since 1.40.61.
CREATE_ONLY: Final = "*"
EXISTS_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})

ProgressFactory = Callable[[str, int], Callable[[int], None]]


@dataclass(frozen=True)
class CopySettings:
    """Tuning of artifact copies; every value must be positive.

    Attributes:
        multipart_threshold: objects at least this big are copied in parts (at most 5 GiB).
        part_size: bytes per part (5 MiB to 5 GiB); raised when an object would need >10,000.
        max_concurrency: parts copied in parallel on the server-side path.
        stream_part_size: bytes per part on the streaming path, where parts pass through memory.
        stream_parts_in_flight: parts uploaded at once on the streaming path.
        progress_threshold: objects above this size report progress.
    """

    multipart_threshold: int = 64 * MIB
    part_size: int = 64 * MIB
    max_concurrency: int = 8
    stream_part_size: int = 16 * MIB
    stream_parts_in_flight: int = 3
    progress_threshold: int = 100 * 1000**2

    def __post_init__(self) -> None:
        for name in (
            "multipart_threshold",
            "part_size",
            "max_concurrency",
            "stream_part_size",
            "stream_parts_in_flight",
            "progress_threshold",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"CopySettings.{name} must be positive")
        for name in ("part_size", "stream_part_size"):
            if not MIN_PART_SIZE <= getattr(self, name) <= MAX_PART_SIZE:
                raise ValueError(f"CopySettings.{name} must be between 5 MiB and 5 GiB")
        if self.multipart_threshold > MAX_SINGLE_COPY_SIZE:
            raise ValueError("CopySettings.multipart_threshold must be at most 5 GiB")

    def part_size_for(self, size: int, *, streaming: bool = False) -> int:
        """The part size for an object of `size` bytes, within the 10,000-part limit."""
        wanted = self.stream_part_size if streaming else self.part_size
        return max(wanted, math.ceil(size / MAX_PARTS))


@dataclass(frozen=True)
class CopyResult:
    """What happened to one artifact."""

    copy: ArtifactCopy
    size: int
    action: str  # "skipped", "copied" or "streamed"


def head(s3: S3Client, uri: str) -> dict[str, Any] | None:
    """HeadObject of an s3:// URI, or None when the object does not exist (404 only).

    Raises:
        AccessError: S3 answered 403. For a missing key that is what a caller without
            `s3:ListBucket` on the bucket gets (HeadObject has no body, so the code is "403");
            it may also be a real denial, so it is never taken for "absent".
    """
    bucket, key = parse_s3_url(uri)
    try:
        return dict(s3.head_object(Bucket=bucket, Key=key))
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in ("404", "NoSuchKey"):
            return None
        if code == "403" or code in ACCESS_DENIED_CODES:
            principal = error.response["Error"].get(PRINCIPAL_FIELD, "the caller")
            raise AccessError(
                f"HeadObject on {uri} answered 403 Forbidden for {principal}: S3 answers 403 "
                "instead of 404 for a missing object when the caller lacks s3:ListBucket; grant "
                f"s3:ListBucket on arn:aws:s3:::{bucket} (and s3:GetObject on its objects) to "
                "that role and re-run"
            ) from error
        raise


def is_copied(source_head: dict[str, Any], target_head: dict[str, Any] | None) -> bool:
    """A copy is current when it has the source's size and records the source's ETag."""
    if target_head is None:
        return False
    recorded = target_head.get("Metadata", {}).get(SOURCE_ETAG_METADATA)
    same_size = target_head["ContentLength"] == source_head["ContentLength"]
    return same_size and recorded == source_head["ETag"].strip('"')


def copy_artifact(
    copy: ArtifactCopy,
    *,
    source_s3: S3Client,
    target_s3: S3Client,
    source_head: dict[str, Any],
    kms_key_arn: str | None,
    settings: CopySettings,
    progress: ProgressFactory | None = None,
) -> CopyResult:
    """Copy one object server-side with the target credentials; stream on AccessDenied."""
    size = source_head["ContentLength"]
    etag = source_head["ETag"]
    extra = _target_args(copy, etag, kms_key_arn)
    callback = (
        progress(copy.source_uri, size) if progress and size > settings.progress_threshold else None
    )
    bucket, key = parse_s3_url(copy.source_uri)
    create_only_copies(target_s3)
    config = TransferConfig(
        multipart_threshold=settings.multipart_threshold,
        multipart_chunksize=settings.part_size_for(size),
        max_concurrency=settings.max_concurrency,
    )
    try:
        target_s3.copy(
            {"Bucket": bucket, "Key": key},
            copy.target_bucket,
            copy.target_key,
            ExtraArgs={**extra, "MetadataDirective": "REPLACE", "CopySourceIfMatch": etag},
            SourceClient=source_s3,
            Config=config,
            Callback=callback,
        )
        return CopyResult(copy, size, "copied")
    except ClientError as error:
        if error.response["Error"]["Code"] not in ACCESS_DENIED_CODES:
            raise _copy_error(copy, error) from error
        LOG.info("target cannot read %s server-side; streaming it instead", copy.source_uri)
    try:
        stream_artifact(
            copy, source_s3=source_s3, target_s3=target_s3, size=size, etag=etag,
            extra=extra, settings=settings, callback=callback,
        )  # fmt: skip
    except ClientError as error:
        raise _copy_error(copy, error) from error
    return CopyResult(copy, size, "streamed")


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
            target_s3, copy, upload_id, _chunks(body, part_size), settings, callback
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


def _create_only(params: dict[str, Any], **_: Any) -> None:
    params.setdefault("IfNoneMatch", CREATE_ONLY)


def create_only_copies(s3: S3Client) -> None:
    """Make this client's CopyObject and CompleteMultipartUpload calls create-only.

    s3transfer's managed copy (CopyObject below the threshold, UploadPartCopy parts and a
    CompleteMultipartUpload above it) accepts no IfNoneMatch in ExtraArgs, so the header is added
    as botocore builds each request. Registering twice is harmless (one handler per operation).
    """
    for operation in ("CopyObject", "CompleteMultipartUpload"):
        s3.meta.events.register(
            f"before-parameter-build.s3.{operation}",
            _create_only,
            unique_id=f"promotion-create-only-{operation}",
        )


def crc32_checksum(data: bytes) -> str:
    """The base64 of the big-endian CRC32 of `data`, as S3's `x-amz-checksum-crc32` header."""
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode("ascii")


def _chunks(body: Any, part_size: int) -> Iterator[bytes]:
    """Whole parts of `part_size` bytes (S3 rejects short parts but the last), then the rest."""
    buffer = bytearray()
    while data := body.read(part_size - len(buffer)):
        buffer += data
        if len(buffer) == part_size:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


def _target_args(copy: ArtifactCopy, etag: str, kms_key_arn: str | None) -> dict[str, Any]:
    args: dict[str, Any] = {
        "Metadata": {
            SOURCE_ETAG_METADATA: etag.strip('"'),
            SOURCE_URI_METADATA: copy.source_uri,
        }
    }
    if kms_key_arn:
        args["ServerSideEncryption"] = "aws:kms"
        args["SSEKMSKeyId"] = kms_key_arn
    return args


def _copy_error(copy: ArtifactCopy, error: ClientError) -> CopyError:
    code = error.response["Error"]["Code"]
    if code in EXISTS_CODES:
        return CopyError(
            f"{copy.target_uri} exists but is not a current copy of {copy.source_uri} (another "
            "size or source ETag): promoted objects are never overwritten, since a live model may "
            "read them. The source changed after it was copied, or another writer put the key: "
            "promote a new version (its copies get their own prefix), or have an administrator "
            "remove the object once nothing uses it, and re-run"
        )
    denied = f"; {denied_action(error)} is needed" if code in ACCESS_DENIED_CODES else ""
    return CopyError(
        f"copying {copy.source_uri} to {copy.target_uri} failed ({code}: "
        f"{error.response['Error'].get('Message', '')}{denied}); check both buckets' policies "
        "and re-run"
    )


def abort_incomplete_uploads(s3: S3Client, *, bucket: str, keys: list[str]) -> int:
    """Abort every incomplete multipart upload to one of `keys` (our copies' destinations).

    Run under the promotion lease, before copying: an upload there can only be left by an
    interrupted run of the same promotion, and S3 bills its parts until it is aborted.
    Returns how many were aborted.
    """
    if not keys:
        return 0
    wanted = set(keys)
    prefix = os.path.commonprefix(keys)
    aborted = 0
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
        for upload in page.get("Uploads", []):
            if upload["Key"] in wanted:
                s3.abort_multipart_upload(
                    Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
                aborted += 1
    return aborted
