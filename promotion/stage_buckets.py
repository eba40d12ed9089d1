"""A bucket that does not exist, blamed on the stage-file key that names it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError

from errors import PromotionError
from promotion.config import StageConfig
from utils import PRINCIPAL_FIELD, missing_bucket


def keys_naming_bucket(config: StageConfig, bucket: str) -> list[str]:
    """The stage-file keys whose value is `bucket` or an s3:// URL in it."""
    return [
        name
        for name, value in config.model_dump().items()
        if isinstance(value, str) and (value == bucket or f"{value}/".startswith(f"s3://{bucket}/"))
    ]


@contextmanager
def blaming_stage_keys(config: StageConfig) -> Iterator[None]:
    """Turn S3's NoSuchBucket for a bucket the stage file names into one line naming the key.

    Exit 1, not 2: the name may be right and the bucket not made yet (bootstrap/stage makes the
    stage's), which only AWS can tell."""
    try:
        yield
    except ClientError as error:
        bucket = missing_bucket(error)
        keys = keys_naming_bucket(config, bucket) if bucket else []
        if not keys:
            raise
        principal = error.response.get("Error", {}).get(PRINCIPAL_FIELD, "the configured role")
        named_by = " and ".join(f"'{key}'" for key in keys)
        raise PromotionError(
            f"{error.operation_name} for {principal} failed: the S3 bucket {bucket} does not "
            f"exist (NoSuchBucket); {named_by} of {config.path} names it: correct the key, or "
            "create the bucket (bootstrap/stage creates the stage's), then re-run"
        ) from error
