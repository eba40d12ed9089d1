"""The step scripts in S3: content-hashed keys, computed offline, uploaded once."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from promotion.artifacts import CREATE_ONLY, EXISTS_CODES
from promotion.config import StageConfig

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

SCRIPTS_DIR = Path(__file__).resolve().parents[1] / "steps"
STEP_SCRIPTS = ("preprocess.py", "postprocess.py", "quality.py", "partitions.py")
CODE_PREFIX = "pipeline-code"
HASH_CHARS = 16


def script_key(script: str) -> str:
    """``pipeline-code/<first 16 hex digits of the file's SHA-256>/<script>``."""
    digest = hashlib.sha256((SCRIPTS_DIR / script).read_bytes()).hexdigest()[:HASH_CHARS]
    return f"{CODE_PREFIX}/{digest}/{script}"


def script_uris(config: StageConfig) -> dict[str, str]:
    """The S3 URI of each step script, by script file name; no network call.

    Args:
        config: the stage; its ``artifacts_bucket`` holds the scripts.

    Returns:
        ``{"preprocess.py": "s3://<bucket>/pipeline-code/<hash>/preprocess.py", ...}``.
    """
    return {name: f"s3://{config.artifacts_bucket}/{script_key(name)}" for name in STEP_SCRIPTS}


def upload_step_scripts(s3_client: S3Client, *, config: StageConfig) -> list[str]:
    """Upload the step scripts that are not in the artifacts bucket yet.

    Existence is checked with ListObjectsV2 on the exact key; a key that exists is never
    rewritten (its name is its content's hash): the upload is create-only (`If-None-Match: *`),
    which is also the only way the stage roles may write there (docs/promotion-gate.md).
    Encryption: SSE-KMS with ``kms_key_arn`` when set, else SSE-S3 (AES256).

    Args:
        s3_client: a client of the stage account.
        config: the stage.

    Returns:
        The keys uploaded by this call (empty on a re-run).
    """
    uploaded = []
    for name in STEP_SCRIPTS:
        key = script_key(name)
        if _exists(s3_client, config.artifacts_bucket, key):
            continue
        encryption: dict[str, str] = (
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": config.kms_key_arn}
            if config.kms_key_arn
            else {"ServerSideEncryption": "AES256"}
        )
        try:
            s3_client.put_object(
                Bucket=config.artifacts_bucket,
                Key=key,
                Body=(SCRIPTS_DIR / name).read_bytes(),
                ContentType="text/x-python",
                IfNoneMatch=CREATE_ONLY,
                **encryption,  # type: ignore[arg-type]
            )
        except ClientError as error:
            # A concurrent run uploaded the same content-hashed key first: nothing to do.
            if error.response["Error"]["Code"] not in EXISTS_CODES or not _exists(
                s3_client, config.artifacts_bucket, key
            ):
                raise
            continue
        logger.info("uploaded s3://%s/%s", config.artifacts_bucket, key)
        uploaded.append(key)
    return uploaded


def _exists(s3_client: S3Client, bucket: str, key: str) -> bool:
    listing = s3_client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    return any(item.get("Key") == key for item in listing.get("Contents", []))
