"""Model data given as an S3 key prefix (`S3DataType: S3Prefix`): every object below it is part of
the model. Only an additional inference specification or an `AdditionalS3DataSource` can name one:
the model the stage's batch transform runs may not (promotion/batch_transform.py). Its objects
are listed, checked against SageMaker's naming rules, copied one by one (promotion/artifacts.py's
`copy_artifact`, the same guarantees as a single object), the listing is recorded next to the
copies, and the copied prefix is verified to hold exactly the listing.

SageMaker's rules for the files of an uncompressed model (S3ModelDataSource, CompressionType, in
the SageMaker API reference): each key below the prefix becomes a path below /opt/ml/model; no
part may be empty, ".", "..", longer than 255 bytes or hold a null byte; a key that is both a file
and a folder (`weights` and `weights/part1`) fails the deployment; folder markers (keys ending in
"/", made by the S3 console) violate the rules.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from errors import ConfigError, CopyError
from promotion.artifacts import CREATE_ONLY, EXISTS_CODES
from promotion.config import parse_s3_url
from promotion.package import PlannedReference

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LISTINGS = "listings"  # below the version's copies: <prefix>listings/<place>.json
MAX_NAME_BYTES = 255


@dataclass(frozen=True)
class ListedObject:
    """One object below a prefix: its key relative to the prefix, size and ETag."""

    relative_key: str
    size: int
    etag: str  # as S3 answers it, quoted

    def head(self) -> dict[str, Any]:
        """The fields of a HeadObject answer the copy needs (the listing has them)."""
        return {"ContentLength": self.size, "ETag": self.etag}


def list_objects(s3: S3Client, uri: str) -> list[ListedObject]:
    """Every object below the prefix `uri`, sorted by key (ListObjectsV2, all pages)."""
    bucket, prefix = parse_s3_url(uri)
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) :]
            found.append(ListedObject(relative, int(item["Size"]), str(item["ETag"])))
    return sorted(found, key=lambda listed: listed.relative_key)


def check_model_files(uri: str, objects: Sequence[ListedObject]) -> None:
    """Refuse a prefix SageMaker could not deploy (module docstring), before anything is written.

    Raises:
        CopyError: the prefix holds no object (nothing to deploy; the data is missing).
        ConfigError: a key breaks SageMaker's naming rules.
    """
    if not objects:
        raise CopyError(
            f"the model data prefix {uri} holds no object; restore the data or approve another "
            "version"
        )
    keys = {listed.relative_key for listed in objects}
    for key in sorted(keys):
        parts = key.split("/")
        bad = next((p for p in parts if p in ("", ".", "..") or "\0" in p
                    or len(p.encode()) > MAX_NAME_BYTES), None)  # fmt: skip
        if bad is not None:
            raise ConfigError(
                f"{uri}{key}: SageMaker cannot deploy a model file whose path has the part "
                f"{bad[:40]!r} (empty, '.', '..', a null byte or over 255 bytes; a key ending in "
                "'/' is an S3 console folder): rename or delete it in the source and re-run"
            )
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in keys:
                raise ConfigError(
                    f"{uri}{folder} is both a file and the folder of {uri}{key}; SageMaker fails "
                    "such a model at deployment: rename one of them in the source and re-run"
                )


def listing_key(artifacts_prefix: str, reference: PlannedReference) -> str:
    """Where a prefix's listing is recorded: beside the copies, never below the copied prefix
    (SageMaker would load it as a model file)."""
    return f"{artifacts_prefix}{LISTINGS}/{reference.place}.json"


def listing_document(reference: PlannedReference, objects: Sequence[ListedObject]) -> bytes:
    """The recorded listing: the source prefix, its copy, and each object (key, size, ETag)."""
    document = {
        "source_uri": reference.source_uri,
        "target_uri": reference.target_uri,
        "objects": [
            {"key": o.relative_key, "size": o.size, "source_etag": o.etag.strip('"')}
            for o in objects
        ],
    }
    return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()


def recorded_listing(s3: S3Client, bucket: str, key: str) -> bytes | None:
    """The listing recorded by an earlier run, or None."""
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise


def record_listing(
    s3: S3Client, *, bucket: str, key: str, body: bytes, kms_key_arn: str | None
) -> bool:
    """Write the listing create-only; True when written, False when the same one is there.

    Raises:
        CopyError: another listing is recorded there (the source prefix changed since).
    """
    extra: dict[str, Any] = {}
    if kms_key_arn:
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_arn}
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch=CREATE_ONLY,
                      ContentType="application/json", **extra)  # fmt: skip
        return True
    except ClientError as error:
        if error.response["Error"]["Code"] not in EXISTS_CODES:
            raise
    if recorded_listing(s3, bucket, key) == body:
        return False
    raise CopyError(
        f"s3://{bucket}/{key} records another listing of this prefix: the source prefix changed "
        "after it was promoted; promote a new version (its copies get their own prefix)"
    )


def extra_objects(target: Sequence[ListedObject], source: Sequence[ListedObject]) -> list[str]:
    """Keys below the copied prefix that the source prefix does not hold (SageMaker would load
    them as part of the model)."""
    wanted = {listed.relative_key for listed in source}
    return [listed.relative_key for listed in target if listed.relative_key not in wanted]


def verify_copy(s3: S3Client, reference: PlannedReference, source: Sequence[ListedObject]) -> None:
    """The copied prefix holds exactly the source's objects, each of the same size.

    Raises:
        CopyError: naming the first difference.
    """
    copied = {o.relative_key: o.size for o in list_objects(s3, reference.target_uri)}
    for listed in source:
        if copied.get(listed.relative_key) != listed.size:
            raise CopyError(
                f"{reference.target_uri}{listed.relative_key} is missing or of another size "
                f"than {reference.source_uri}{listed.relative_key} after the copy; re-run"
            )
    extra = sorted(set(copied) - {listed.relative_key for listed in source})
    if extra:
        raise CopyError(refused_extra(reference, extra))


def refused_extra(reference: PlannedReference, extra: Sequence[str]) -> str:
    """The line for objects below a copied prefix that the source does not hold."""
    return (
        f"{reference.target_uri}{extra[0]} is below the copy of {reference.source_uri} but not "
        f"in the source ({len(extra)} such object(s)): SageMaker would load it as part of the "
        "model. Another writer put it there, or the source lost objects after a copy: have an "
        "administrator remove it, or promote a new version, and re-run"
    )
