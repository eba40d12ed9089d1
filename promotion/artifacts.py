"""Copy model artifacts into the target bucket: server-side when the target principal can read the
source, streamed through memory (promotion/streaming.py) when it cannot.

Every copy is create-only: a key that exists is never overwritten, and the stage roles may only
write that way (`s3:if-none-match` in bootstrap/policies/promote.json.tftpl), so nothing a live
model reads can be replaced by a promotion, reviewed or not (docs/promotion-gate.md).

Server-side copies are multipart uploads for EVERY size: CreateMultipartUpload, one
UploadPartCopy per byte range (each requiring the source's ETag), then CompleteMultipartUpload
with `If-None-Match: *`. Not CopyObject: where a policy enforces conditional writes, S3 answers a
CopyObject without If-None-Match 403 and one with it 501 NotImplemented (S3 User Guide, "Enforce
conditional writes on Amazon S3 buckets"); the completion of a multipart upload is the
documented create-only path for copies. A zero-byte object has no byte range to copy: it is
written by a create-only PutObject of no bytes.

S3 limits: https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
Conditional writes: https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from errors import AccessError, CopyError
from promotion.config import parse_s3_url
from promotion.package import ArtifactCopy
from promotion.streaming import CREATE_ONLY, stream_artifact
from utils import ACCESS_DENIED_CODES, PRINCIPAL_FIELD, denied_action

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CopySourceTypeDef

LOG = logging.getLogger(__name__)

MIB = 1024**2
MIN_PART_SIZE = 5 * MIB  # every part but the last
MAX_PART_SIZE = 5 * 1024**3
MAX_PARTS = 10_000
MAX_SINGLE_PUT_SIZE = 5 * 1024**3  # PutObject limit; above it only multipart uploads work
SOURCE_ETAG_METADATA = "promotion-source-etag"
# S3 user metadata is ASCII only (botocore refuses anything else); S3 keys are UTF-8. The source
# URI is recorded percent-encoded (urllib.parse.quote; unquote reads it back).
SOURCE_URI_METADATA = "promotion-source-uri"
# S3's answers to a create-only write whose key exists: 412 PreconditionFailed, or 409
# ConditionalRequestConflict when a concurrent write to it won.
EXISTS_CODES = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})
# The reads of the source, each conditional on the ETag planned (CopySourceIfMatch, IfMatch): a
# 412 there means the source changed, not that the target exists.
SOURCE_READS = frozenset({"UploadPartCopy", "CopyObject", "GetObject"})
__all__ = ["CREATE_ONLY", "EXISTS_CODES"]  # step_code.py writes create-only too

ProgressFactory = Callable[[str, int], Callable[[int], None]]


@dataclass(frozen=True)
class CopySettings:
    """Tuning of artifact copies; every value must be positive.

    Attributes:
        multipart_threshold: on the streaming path, objects at least this big are uploaded in
            parts (at most 5 GiB); server-side copies are always made in parts.
        part_size: bytes per copied part (5 MiB to 5 GiB); raised when an object would need
            more than 10,000.
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
        if self.multipart_threshold > MAX_SINGLE_PUT_SIZE:
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
    try:
        if size == 0:
            target_s3.put_object(
                Bucket=copy.target_bucket, Key=copy.target_key, Body=b"",
                IfNoneMatch=CREATE_ONLY, **extra,
            )  # fmt: skip
        else:
            copy_in_parts(copy, target_s3=target_s3, size=size, etag=etag, extra=extra,
                          settings=settings, callback=callback)  # fmt: skip
        return CopyResult(copy, size, "copied")
    except ClientError as error:
        if error.response["Error"]["Code"] not in ACCESS_DENIED_CODES:
            raise _copy_error(copy, error) from error
        LOG.info(
            "target cannot copy %s server-side (%s refused); streaming it instead",
            copy.source_uri, denied_action(error),
        )  # fmt: skip
    try:
        stream_artifact(
            copy, source_s3=source_s3, target_s3=target_s3, size=size, etag=etag,
            extra=extra, settings=settings, callback=callback,
        )  # fmt: skip
    except ClientError as error:
        raise _copy_error(copy, error) from error
    return CopyResult(copy, size, "streamed")


def part_ranges(size: int, part_size: int) -> list[str]:
    """The `bytes=first-last` ranges of an object of `size` bytes (> 0), in parts."""
    return [
        f"bytes={start}-{min(start + part_size, size) - 1}" for start in range(0, size, part_size)
    ]


def copy_in_parts(
    copy: ArtifactCopy,
    *,
    target_s3: S3Client,
    size: int,
    etag: str,
    extra: dict[str, Any],
    settings: CopySettings,
    callback: Callable[[int], None] | None = None,
) -> None:
    """A server-side copy made create-only: a multipart upload whose parts are copied from the
    source by S3 (each only while the source still has `etag`) and whose completion carries
    `If-None-Match: *`. A failed upload is aborted (its parts are billed until then)."""
    source_bucket, source_key = parse_s3_url(copy.source_uri)
    source: CopySourceTypeDef = {"Bucket": source_bucket, "Key": source_key}
    bucket, key = copy.target_bucket, copy.target_key
    upload_id = target_s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"]

    def copy_part(number: int, byte_range: str) -> dict[str, Any]:
        result = target_s3.upload_part_copy(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
            CopySource=source, CopySourceRange=byte_range, CopySourceIfMatch=etag,
        )["CopyPartResult"]  # fmt: skip
        if callback:
            first, last = byte_range.removeprefix("bytes=").split("-")
            callback(int(last) - int(first) + 1)
        return {"PartNumber": number, "ETag": result["ETag"]}

    try:
        ranges = part_ranges(size, settings.part_size_for(size))
        with ThreadPoolExecutor(max_workers=min(settings.max_concurrency, len(ranges))) as pool:
            parts = list(pool.map(copy_part, range(1, len(ranges) + 1), ranges))
        target_s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, IfNoneMatch=CREATE_ONLY,
            MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
        )  # fmt: skip
    except BaseException:
        target_s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise


def _target_args(copy: ArtifactCopy, etag: str, kms_key_arn: str | None) -> dict[str, Any]:
    args: dict[str, Any] = {
        "Metadata": {
            SOURCE_ETAG_METADATA: etag.strip('"'),
            SOURCE_URI_METADATA: quote(copy.source_uri, safe=":/"),
        }
    }
    if kms_key_arn:
        args["ServerSideEncryption"] = "aws:kms"
        args["SSEKMSKeyId"] = kms_key_arn
    return args


def _copy_error(copy: ArtifactCopy, error: ClientError) -> CopyError:
    code = error.response["Error"]["Code"]
    operation = error.operation_name
    if code in EXISTS_CODES and operation in SOURCE_READS:  # the condition on the source's ETag
        return CopyError(
            f"{copy.source_uri} changed after this promotion was planned: {operation} answered "
            f"{code} to the condition on its planned ETag, so its copy was not written; re-run"
        )
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
