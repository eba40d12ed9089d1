"""The stage config `<stage>-config.tfvars.json`: shared with Terraform, checked before use."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from errors import ConfigError

STAGES = ("pre-prod", "prod")
REPO_ROOT = Path(__file__).resolve().parent.parent

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:policy/[\w+=,.@/-]{1,512}$")
_KMS_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key/[\w-]+|alias/[\w/-]+)$")
# Model package group and model names: SageMaker's EntityName pattern.
_ENTITY_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_BUCKET = re.compile(r"^(?!\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_S3_URL = re.compile(r"^s3://([^/]+)/(.*)$")
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9-]+\.[a-z0-9]+$")
_SCHEDULE = re.compile(r"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\)|at\(.+\))$")
_TIMEZONE = re.compile(r"^(UTC|[A-Za-z_]+(/[A-Za-z0-9_+-]+)+)$")
_COLUMN = re.compile(r"^[^,\n]{1,128}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class VpcConfig:
    """Subnets and security groups the SageMaker model runs in."""

    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]


@dataclass(frozen=True)
class StageConfig:
    """One stage's settings; field names are the JSON keys (and Terraform variable names)."""

    path: Path
    stage: str
    account_id: str
    region: str
    source_account_id: str
    model_package_group_name: str
    artifacts_bucket: str
    sagemaker_execution_role_arn: str
    input_data_url: str
    output_data_url: str
    kms_key_arn: str | None = None
    permissions_boundary_arn: str | None = None
    source_role_arn: str | None = None
    target_role_arn: str | None = None
    image_uri_map: Mapping[str, str] = field(default_factory=dict)
    id_column: str | None = None
    feature_columns: tuple[str, ...] | None = None
    processing_instance_type: str = "ml.m5.xlarge"
    processing_instance_count: int = 1
    transform_instance_type: str = "ml.m5.xlarge"
    transform_instance_count: int = 1
    max_payload_mb: int = 6
    max_concurrent_transforms: int = 4
    invocations_timeout_seconds: int = 600
    invocations_max_retries: int = 3
    schedule_expression: str = "cron(0 3 * * ? *)"
    schedule_timezone: str = "UTC"
    schedule_enabled: bool = True
    alarm_email: str | None = None
    vpc_config: VpcConfig | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


def default_config_path(stage: str) -> Path:
    """The stage file at the repository root: `<stage>-config.tfvars.json`."""
    return REPO_ROOT / f"{stage}-config.tfvars.json"


def load_stage_config(path: Path, *, stage: str | None = None) -> StageConfig:
    """Read and validate a stage file.

    Args:
        path: the `<stage>-config.tfvars.json` file.
        stage: when given, the file's `stage` key must equal it.

    Raises:
        ConfigError: one line naming the file, the key and the fix.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the stage config ({error.strerror})") from error
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{path}:{error.lineno}:{error.colno}: malformed JSON ({error.msg}); fix the syntax"
        ) from error
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the stage config must be a JSON object of keys")
    config = _parse(path, raw)
    if stage is not None and config.stage != stage:
        raise ConfigError(
            f"{path}: key 'stage' is {config.stage!r} but --stage is {stage!r}; "
            "use the file of that stage"
        )
    return config


def is_role_arn(value: str) -> bool:
    """Whether `value` is an IAM role ARN (the rule the stage config's role keys follow)."""
    return bool(_ROLE_ARN.match(value))


def parse_s3_url(url: str) -> tuple[str, str]:
    """Split `s3://bucket/key` into bucket and key (the key may be empty)."""
    match = _S3_URL.match(url)
    if not match:
        raise ValueError(f"not an s3:// URL: {url!r}")
    return match.group(1), match.group(2)


Check = Callable[[Any], str | None]


def _pattern(regex: re.Pattern[str], expected: str) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be a string ({expected})"
        return None if regex.match(value) else f"{value!r} is not {expected}"

    return check


def _integer(low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"must be a whole number from {low} to {high}, got {value!r}"
        return None

    return check


def _s3_url(value: Any) -> str | None:
    if not isinstance(value, str) or not _S3_URL.match(value):
        return f"must be an s3://bucket/prefix URL, got {value!r}"
    bucket, _ = parse_s3_url(value)
    return None if _BUCKET.match(bucket) else f"{bucket!r} is not a valid S3 bucket name"


def _string_map(value: Any) -> str | None:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return "must be an object of string values"
    return None


def _columns(value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return "must be a non-empty list of column names, or null"
    if not all(isinstance(c, str) and _COLUMN.match(c) for c in value):
        return "column names must be strings of 1-128 characters without commas"
    if len(set(value)) != len(value):
        return "column names must be unique"
    return None


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {value!r}"


def _vpc(value: Any) -> str | None:
    if not isinstance(value, dict) or set(value) != {"subnet_ids", "security_group_ids"}:
        return 'must be null or {"subnet_ids": [...], "security_group_ids": [...]}'
    for key in ("subnet_ids", "security_group_ids"):
        ids = value[key]
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            return f"{key} must be a non-empty list of strings"
    return None


_ACCOUNT = _pattern(_ACCOUNT_ID, "a 12-digit AWS account id")
_ROLE = _pattern(_ROLE_ARN, "an IAM role ARN (arn:aws:iam::<account>:role/<name>)")

# key -> (required, check). Keys not listed here are Terraform's business and are ignored.
_SCHEMA: dict[str, tuple[bool, Check]] = {
    "stage": (True, _pattern(re.compile("^(" + "|".join(STAGES) + ")$"), f"one of {STAGES}")),
    "account_id": (True, _ACCOUNT),
    "region": (True, _pattern(_REGION, "an AWS region such as eu-west-1")),
    "source_account_id": (True, _ACCOUNT),
    "model_package_group_name": (True, _pattern(_ENTITY_NAME, "a model package group name")),
    "artifacts_bucket": (True, _pattern(_BUCKET, "a valid S3 bucket name")),
    "sagemaker_execution_role_arn": (True, _ROLE),
    "input_data_url": (True, _s3_url),
    "output_data_url": (True, _s3_url),
    "kms_key_arn": (False, _pattern(_KMS_ARN, "a KMS key or alias ARN")),
    "permissions_boundary_arn": (False, _pattern(_POLICY_ARN, "an IAM policy ARN")),
    "source_role_arn": (False, _ROLE),
    "target_role_arn": (False, _ROLE),
    "image_uri_map": (False, _string_map),
    "id_column": (False, _pattern(_COLUMN, "a column name without commas")),
    "feature_columns": (False, _columns),
    "processing_instance_type": (False, _pattern(_INSTANCE_TYPE, "an ml.* instance type")),
    "processing_instance_count": (False, _integer(1, 100)),
    "transform_instance_type": (False, _pattern(_INSTANCE_TYPE, "an ml.* instance type")),
    "transform_instance_count": (False, _integer(1, 100)),
    "max_payload_mb": (False, _integer(1, 100)),
    "max_concurrent_transforms": (False, _integer(1, 64)),
    "invocations_timeout_seconds": (False, _integer(1, 3600)),
    "invocations_max_retries": (False, _integer(0, 3)),
    "schedule_expression": (False, _pattern(_SCHEDULE, "rate(...), cron(...) or at(...)")),
    "schedule_timezone": (False, _pattern(_TIMEZONE, "an IANA time zone such as Europe/Paris")),
    "schedule_enabled": (False, _boolean),
    "alarm_email": (False, _pattern(_EMAIL, "an email address")),
    "vpc_config": (False, _vpc),
    "tags": (False, _string_map),
}


def _parse(path: Path, raw: dict[str, Any]) -> StageConfig:
    values: dict[str, Any] = {}
    for key, (required, check) in _SCHEMA.items():
        if key not in raw:
            if required:
                raise ConfigError(f"{path}: key '{key}' is missing; add it to the stage config")
            continue
        value = raw[key]
        if value is None:
            if required:
                raise ConfigError(f"{path}: key '{key}' must not be null")
            continue
        problem = check(value)
        if problem:
            raise ConfigError(f"{path}: key '{key}' {problem}")
        values[key] = value
    if "feature_columns" in values:
        values["feature_columns"] = tuple(values["feature_columns"])
    if "vpc_config" in values:
        vpc = values["vpc_config"]
        values["vpc_config"] = VpcConfig(tuple(vpc["subnet_ids"]), tuple(vpc["security_group_ids"]))
    config = StageConfig(path=path, **values)
    if config.account_id == config.source_account_id:
        raise ConfigError(
            f"{path}: key 'account_id' equals 'source_account_id'; a stage must be another "
            "account than the dev registry"
        )
    return config
