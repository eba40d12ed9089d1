"""The stage config `<stage>-config.tfvars.json`: shared with Terraform, checked before use.

ONE schema states every key: the `StageConfig` model below. Loading checks the file (UTF-8, size,
nesting, control characters, duplicate keys), then the model (types, patterns, ranges, unknown keys
with the closest known one) and the rules across keys (accounts, partition, region, batch limits).
`json_schema()` publishes the same schema for editors (docs/stage-config.schema.json).
Adding a key: a field here, the same attribute in the `config` object of variables.tf (the stage
module's input), a row in docs/interfaces.md, then `python scripts/stage_schema.py --write`.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from errors import ConfigError
from promotion import config_rules as rules
from promotion.images import execution_role_pulls, stage_repository

STAGES = ("pre-prod", "prod")
# The input layouts of pipelines/steps/partitions.py (LAYOUTS).
InputLayout = Literal["snapshot", "YYYY-MM-DD", "dt=YYYY-MM-DD", "year=YYYY/month=MM/day=DD"]
# The repository whose stage files, inputs/ and build/ the commands read and write: this checkout,
# or a model repository running the template's code from its checkout at the pin (.template/):
# its Makefile and the reusable deploy.yml set MODEL_REPOSITORY to its root (docs/fleet.md).
REPO_ROOT = Path(os.environ.get("MODEL_REPOSITORY") or Path(__file__).parent.parent).resolve()
SCHEMA_ID = "https://github.com/sagemaker-batch-gitops/stage-config.schema.json"
MAX_CONCURRENCY_PAYLOAD_MB = 100  # batch transform: MaxConcurrentTransforms x MaxPayloadInMB
_S3_URL = re.compile(r"^s3://([^/]+)/(.*)$")
_ROLE_ARN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$"
_BUCKET = r"^(?!\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"


def _text(pattern: str, expected: str, description: str) -> Any:
    """A string type checked against `pattern`, published with it, failing as "is not <x>"."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(f"{value[:80]!r} is not {expected}")
        return value

    return Annotated[
        str,
        AfterValidator(check),
        Field(description=description, json_schema_extra={"pattern": pattern}),
    ]


def _checked(check: Any, description: str, **schema: Any) -> Any:
    return Annotated[
        str, AfterValidator(check), Field(description=description, json_schema_extra=schema)
    ]


def _s3_url(value: str) -> str:
    match = _S3_URL.match(value)
    if not match:
        raise ValueError(f"must be an s3://bucket/prefix URL, got {value[:80]!r}")
    if not re.match(_BUCKET, match.group(1)):
        raise ValueError(f"{match.group(1)!r} is not a valid S3 bucket name")
    return value


def _s3_prefix(value: str) -> str:
    # S3Prefix inputs match by key prefix: s3://b/input also reads s3://b/input-archive/...
    # (Batch Transform's and Processing's S3DataSource.S3Uri, SageMaker API reference).
    _s3_url(value)
    if not value.endswith("/"):
        raise ValueError(
            f"{value[:80]!r} must end with '/' (without it S3 also matches sibling prefixes "
            f"such as {value[:60]}-archive/): write {value[:80]}/"
        )
    return value


# Columns Postprocess writes next to the predictions (postprocess.py RESERVED_COLUMNS, which runs
# in the processing image alone; a test holds the two equal), and its ids without an id column.
OWN_OUTPUT_COLUMNS = ("model_package_version", "execution_id", "run_date")
ROW_ID_COLUMNS = ("source_file", "row_number")
RESULTS_PARTITION = "dt"  # the results table's partition key (batch-config-template.tf)


# Types a prediction column may declare as `name:type` (postprocess.py PREDICTION_TYPES, which
# runs in the processing image alone; a test holds the two equal): Hive types of the Glue table.
PREDICTION_TYPES = ("double", "bigint", "string", "boolean", "array<double>", "array<bigint>",
                    "array<string>")  # fmt: skip


def _columns(value: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(value)) != len(value):
        raise ValueError("column names must be unique")
    return value


def prediction_column_name(entry: str) -> str:
    """The name of a ``name`` or ``name:type`` entry of prediction_columns."""
    return entry.partition(":")[0]


def _prediction_columns(value: tuple[str, ...]) -> tuple[str, ...]:
    names = [prediction_column_name(entry) for entry in value]
    if len(set(names)) != len(names):
        raise ValueError("column names must be unique")
    for entry in value:
        name, typed, kind = entry.partition(":")
        if not name or (typed and kind not in PREDICTION_TYPES):
            raise ValueError(
                f"{entry!r} is not name or name:type with a type of {', '.join(PREDICTION_TYPES)}"
            )
    return value


if TYPE_CHECKING:  # to type checkers every checked string is a str
    AccountId = str
    RoleArn = str
    Column = str
    InstanceType = str
    S3Url = str
    S3Prefix = str
    Region = str
    Schedule = str
    TimeZone = str
    GroupName = str
    BucketName = str
    KmsArn = str
    PolicyArn = str
    Email = str
    SubnetId = str
    SecurityGroupId = str
else:
    AccountId = _text(r"^\d{12}$", "a 12-digit AWS account id", "a 12-digit AWS account id")
    RoleArn = _text(_ROLE_ARN, "an IAM role ARN (arn:aws:iam::<account>:role/<name>)", "role")
    Column = _text(r"^[^,]{1,128}$", "a column name of 1-128 characters without commas", "column")
    InstanceType = _text(r"^ml\.[a-z0-9-]+\.[a-z0-9]+$", "an ml.* instance type", "ml.* type")
    S3Url = _checked(_s3_url, "s3://bucket/prefix", pattern=r"^s3://[a-z0-9.-]{3,63}/")
    S3Prefix = _checked(
        _s3_prefix, "s3://bucket/prefix/ (ends with /)", pattern=r"^s3://[a-z0-9.-]{3,63}/(.*/)?$"
    )
    Region = _checked(rules.check_region, "AWS region")
    Schedule = _checked(rules.check_schedule, "schedule expression")
    TimeZone = _checked(rules.check_timezone, "IANA time zone")
    GroupName = _text(
        r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$", "a model package group name", "group name"
    )
    BucketName = _text(_BUCKET, "a valid S3 bucket name", "S3 bucket name")
    KmsArn = _text(
        r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key/[\w-]+|alias/[\w/-]+)$",
        "a KMS key or alias ARN",
        "KMS key ARN",
    )
    PolicyArn = _text(
        r"^arn:aws[a-z-]*:iam::\d{12}:policy/[\w+=,.@/-]{1,512}$",
        "an IAM policy ARN (arn:aws:iam::<account>:policy/<name>)",
        "IAM policy ARN",
    )
    Email = _text(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "an email address", "email")
    SubnetId = _text(r"^subnet-[0-9a-zA-Z]+$", "a subnet id", "subnet id")
    SecurityGroupId = _text(r"^sg-[0-9a-zA-Z]+$", "a security group id", "security group id")


class VpcConfig(BaseModel):
    """Subnets and security groups the SageMaker model runs in."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    subnet_ids: tuple[SubnetId, ...] = Field(min_length=1, max_length=16)
    security_group_ids: tuple[SecurityGroupId, ...] = Field(min_length=1, max_length=5)


class StageConfig(BaseModel):
    """One stage's settings; field names are the JSON keys (and Terraform variable names)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        title="Stage config (<stage>-config.tfvars.json)",
    )
    _path: Path = PrivateAttr(default=Path("<memory>"))

    stage: Literal["pre-prod", "prod"] = Field(description="the stage this file configures")
    account_id: AccountId = Field(description="the stage's 12-digit AWS account id")
    region: Region = Field(description="AWS region of the stage and the dev registry")
    source_account_id: AccountId = Field(description="the dev account holding the model registry")
    model_package_group_name: GroupName = Field(
        description="the dev model package group; the target group gets the same name"
    )
    artifacts_bucket: BucketName = Field(
        description="bucket in the stage account for model artifacts and step scripts"
    )
    sagemaker_execution_role_arn: RoleArn = Field(
        description="role the pipeline and its jobs run as, in the stage account"
    )
    input_data_url: S3Prefix = Field(
        description="s3:// prefix the scheduled run scores, ending with /"
    )
    output_data_url: S3Prefix = Field(
        description="s3:// prefix predictions are written under, ending with /"
    )
    kms_key_arn: KmsArn | None = Field(
        default=None,
        description="SSE-KMS key (stage account and region) for copies and outputs; null = the "
        "bucket default",
    )
    permissions_boundary_arn: PolicyArn | None = Field(
        default=None,
        description="permissions boundary every IAM role of the root module carries "
        "(bootstrap/stage output); null = none",
    )
    source_role_arn: RoleArn | None = Field(
        default=None, description="role assumed for reading the dev registry"
    )
    target_role_arn: RoleArn | None = Field(
        default=None, description="role assumed for writing the stage account"
    )
    image_uri_map: dict[str, str] = Field(
        default_factory=dict,
        description="exact source image URI -> image URI in the stage (in its model repository "
        "or AWS's registries of its region: the execution role pulls only these)",
    )
    id_column: Column | None = Field(
        default=None, description="id column kept next to predictions; null = row number"
    )
    id_policy: Literal["fail", "count"] = Field(
        default="fail",
        description="duplicate or empty ids: fail Preprocess, or count them in _SUCCESS",
    )
    feature_columns: Annotated[tuple[Column, ...], AfterValidator(_columns)] | None = Field(
        default=None,
        min_length=1,
        description="model features in order; null = the package's feature_columns metadata",
    )
    prediction_columns: (
        Annotated[tuple[Column, ...], AfterValidator(_prediction_columns)] | None
    ) = Field(
        default=None,
        min_length=1,
        description="the model's output columns in order, each name or name:type (type double "
        "when not given; bigint, string, boolean, array<double|bigint|string>); null = one "
        "column, prediction (double)",
    )
    processing_instance_type: InstanceType = Field(
        default="ml.m5.xlarge", description="Preprocess and Postprocess instance type"
    )
    processing_instance_count: int = Field(
        default=1, ge=1, le=100, description="Preprocess and Postprocess instance count"
    )
    transform_instance_type: InstanceType = Field(
        default="ml.m5.xlarge", description="batch transform instance type"
    )
    transform_instance_count: int = Field(
        default=1, ge=1, le=100, description="batch transform instance count"
    )
    max_payload_mb: int = Field(
        default=6, ge=1, le=100, description="batch transform MaxPayloadInMB"
    )
    max_concurrent_transforms: int = Field(
        default=4, ge=1, le=64,
        description="batch transform MaxConcurrentTransforms; times max_payload_mb at most 100",
    )  # fmt: skip
    invocations_timeout_seconds: int = Field(
        default=600, ge=1, le=3600, description="ModelClientConfig.InvocationsTimeoutInSeconds"
    )
    invocations_max_retries: int = Field(
        default=3, ge=0, le=3, description="ModelClientConfig.InvocationsMaxRetries"
    )
    schedule_expression: Schedule = Field(
        default="cron(0 3 * * ? *)",
        description="rate(N unit), cron(six fields) or at(yyyy-mm-ddThh:mm:ss)",
    )
    schedule_timezone: TimeZone = Field(
        default="UTC", description="IANA time zone of the schedule (zoneinfo)"
    )
    schedule_enabled: bool = Field(default=True, description="on/off switch of the schedule")
    alarm_email: Email | None = Field(
        default=None, description="email subscribed to failure alerts"
    )
    vpc_config: VpcConfig | None = Field(
        default=None,
        description='{"subnet_ids": [...], "security_group_ids": [...]} for the model',
    )
    tags: Annotated[dict[str, str], AfterValidator(rules.check_tags)] = Field(
        default_factory=dict, description="extra tags on every resource (AWS tag limits)"
    )
    data_quality: Literal["off", "warn", "fail"] = Field(
        default="warn",
        description="batch check in Preprocess against the package's ModelDataQuality baseline: "
        "off, warn (run goes on, metric + alarm) or fail (run stops before Transform)",
    )
    drift_threshold: float = Field(
        default=0.1, gt=0, le=1,
        description="L-infinity CDF distance allowed per feature when constraints.json sets no "
        "comparison_threshold",
    )  # fmt: skip
    evaluation_input_url: S3Prefix | None = Field(
        default=None,
        description="s3:// prefix both versions score in the champion/challenger comparison; "
        "null = the repository's inputs/evaluation-rows.csv",
    )
    comparison_large_difference: float = Field(
        default=0.1, gt=0, description="a prediction difference above this is large"
    )
    comparison_max_large_share: float = Field(
        default=0.05, gt=0, le=1,
        description="share of rows with a large difference the comparison allows",
    )  # fmt: skip
    comparison_blocks_prod: bool = Field(
        default=False, description="a failing comparison stops the prod plan (else: summary only)"
    )
    # Scheduled runs (docs/schedules.md): what a run scores, and what a missing date does.
    input_layout: InputLayout = Field(
        default="snapshot",
        description="what a run scores under input_data_url: the whole prefix (snapshot) or "
        "one partition per date",
    )
    input_lag_days: int = Field(
        default=1, ge=0, le=30,
        description="days between a scheduled run and the date it scores (daily layouts)",
    )  # fmt: skip
    missing_input: Literal["fail", "skip"] = Field(
        default="fail",
        description="a missing or empty partition fails the run, or ends it as a recorded skip",
    )
    processing_volume_gb: int = Field(
        default=30, ge=1, le=16384, description="volume of each Processing instance in GB"
    )

    @property
    def path(self) -> Path:
        """The file this config was read from."""
        return self._path

    @property
    def partition(self) -> str:
        """The AWS partition of the stage's region."""
        return rules.partition_of(self.region)

    @model_validator(mode="after")
    def _across_keys(self) -> StageConfig:
        if self.account_id == self.source_account_id:
            raise ValueError(
                "key 'account_id' equals 'source_account_id'; a stage must be another account "
                "than the dev registry"
            )
        homes: list[tuple[str, str | None, str, str, str | None]] = [
            ("sagemaker_execution_role_arn", self.sagemaker_execution_role_arn, self.account_id,
             "account_id", None),
            ("target_role_arn", self.target_role_arn, self.account_id, "account_id", None),
            ("source_role_arn", self.source_role_arn, self.source_account_id,
             "source_account_id", None),
            ("kms_key_arn", self.kms_key_arn, self.account_id, "account_id", self.region),
            ("permissions_boundary_arn", self.permissions_boundary_arn, self.account_id,
             "account_id", None),
        ]  # fmt: skip
        for key, arn, account, account_key, region in homes:
            if arn:
                rules.check_arn_home(
                    key, arn, account_id=account, account_key=account_key, region=region,
                    home=self.region,
                )  # fmt: skip
        for source, image in self.image_uri_map.items():
            if not execution_role_pulls(image, account_id=self.account_id, region=self.region,
                                        group=self.model_package_group_name):  # fmt: skip
                raise ValueError(
                    f"key 'image_uri_map' maps {source} to {image}, which the stage's execution "
                    f"role may not pull: it pulls only from {stage_repository_uri(self)} and "
                    f"AWS's framework registries of {self.region} (docs/iam.md); map it to an "
                    "image there"
                )
        taken = {*OWN_OUTPUT_COLUMNS, *([self.id_column] if self.id_column else ROW_ID_COLUMNS)}
        clash = sorted(taken & {prediction_column_name(c) for c in self.prediction_columns or ()})
        if clash:
            raise ValueError(
                f"key 'prediction_columns' names {', '.join(clash)}, a column the results "
                "already hold (the id columns, model_package_version, execution_id, run_date)"
            )
        twice = _results_columns_equal_once_lower_cased(self.id_column, self.prediction_columns)
        if twice:
            raise ValueError(
                f"keys 'id_column' and 'prediction_columns' name {'; '.join(twice)}, one column "
                "once lower-cased: the results' Glue table holds names in lower case, beside "
                f"{', '.join(OWN_OUTPUT_COLUMNS)} and {RESULTS_PARTITION}; rename one"
            )
        if self.missing_input == "skip" and self.input_layout == "snapshot":
            raise ValueError(
                "key 'missing_input' is 'skip' but 'input_layout' is 'snapshot'; a skip needs a "
                "daily layout (an empty snapshot prefix fails the run)"
            )
        product = self.max_payload_mb * self.max_concurrent_transforms
        if product > MAX_CONCURRENCY_PAYLOAD_MB:
            raise ValueError(
                f"max_concurrent_transforms x max_payload_mb is {product}; batch transform "
                f"allows at most {MAX_CONCURRENCY_PAYLOAD_MB}: lower one of them"
            )
        return self


def _results_columns_equal_once_lower_cased(
    id_column: str | None, prediction_columns: tuple[str, ...] | None
) -> list[str]:
    """The results table's column names that are equal once lower-cased, as "a and b"."""
    names = [
        *([id_column] if id_column else ROW_ID_COLUMNS),
        *(prediction_column_name(c) for c in prediction_columns or ("prediction",)),
        *OWN_OUTPUT_COLUMNS,
        RESULTS_PARTITION,
    ]
    by_lower: dict[str, list[str]] = {}
    for name in names:
        by_lower.setdefault(name.lower(), []).append(name)
    return [" and ".join(same) for same in by_lower.values() if len(same) > 1]


def stage_repository_uri(config: StageConfig) -> str:
    """The stage's own model image repository (bootstrap/stage creates it)."""
    domain = "amazonaws.com.cn" if config.partition == "aws-cn" else "amazonaws.com"
    registry = f"{config.account_id}.dkr.ecr.{config.region}.{domain}"
    return f"{registry}/{stage_repository(config.model_package_group_name)}"


# Where `default_config_path` looks: the repository root, the model team's own stage files. The
# demo and the tests point it at demo/stages/ (the demo world's stage files), so that they hold
# whatever values a team puts in its files (docs/fleet.md).
STAGE_FILES_DIR = REPO_ROOT


def default_config_path(stage: str) -> Path:
    """The stage's file, `<stage>-config.tfvars.json` (at the repository root)."""
    return STAGE_FILES_DIR / f"{stage}-config.tfvars.json"


def load_stage_config(path: Path, *, stage: str | None = None) -> StageConfig:
    """Read and validate a stage file; nothing is called in AWS.

    Args:
        path: the `<stage>-config.tfvars.json` file.
        stage: when given, the file's `stage` key must equal it.

    Raises:
        ConfigError: one line naming the file, the key and the fix.
    """
    text = rules.read_text(path)
    raw = rules.parse_json_object(path, text)
    try:
        config = StageConfig.model_validate_json(text, strict=True)
    except ValidationError as error:
        raise ConfigError(f"{path}: {describe_error(error, raw)}") from None
    config._path = path
    if stage is not None and config.stage != stage:
        raise ConfigError(
            f"{path}: key 'stage' is {config.stage!r} but --stage is {stage!r}; "
            "use the file of that stage"
        )
    return config


def describe_error(error: ValidationError, raw: dict[str, Any]) -> str:
    """The first validation problem as "key '<name>' <problem>; <fix>"."""
    problems = error.errors(include_url=False)
    # A misspelt key also makes the right one "missing": name the misspelling first.
    first = next((p for p in problems if p["type"] == "extra_forbidden"), problems[0])
    loc = [str(part) for part in first["loc"]]
    name = ".".join(loc)
    kind = first["type"]
    if kind == "missing":
        return f"key '{name}' is missing; add it to the stage config"
    if kind == "extra_forbidden":
        known = VpcConfig.model_fields if loc[:1] == ["vpc_config"] else StageConfig.model_fields
        near = difflib.get_close_matches(loc[-1], list(known), n=1, cutoff=0.6)
        hint = f"did you mean '{near[0]}'?" if near else "see docs/stage-config.md for the keys"
        return f"unknown key '{name}'; {hint}"
    if kind == "value_error":
        problem = str(first.get("ctx", {}).get("error", first["msg"]))
        return problem if not loc else f"key '{name}' {problem}"
    bounds, msg = _int_bounds(loc), first["msg"]
    if kind in ("int_type", "greater_than_equal", "less_than_equal") and bounds:
        message = f"must be a whole number from {bounds[0]} to {bounds[1]}"
    else:
        message = re.sub(r"^(Input|String|List|Tuple|Dictionary|Value) should", "must", msg)
    shown = repr(first.get("input"))
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"key '{name}' {message}, got {shown}"


def _int_bounds(loc: list[str]) -> tuple[int, int] | None:
    field = StageConfig.model_fields.get(loc[0]) if len(loc) == 1 else None
    if field is None or field.annotation is not int:
        return None
    low = next((m.ge for m in field.metadata if hasattr(m, "ge")), None)
    high = next((m.le for m in field.metadata if hasattr(m, "le")), None)
    return (low, high) if low is not None and high is not None else None


def json_schema() -> dict[str, Any]:
    """The published JSON schema of a stage file (what editors validate against)."""
    schema = StageConfig.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def is_role_arn(value: str) -> bool:
    """Whether `value` is an IAM role ARN (the rule the stage config's role keys follow)."""
    return bool(re.fullmatch(_ROLE_ARN, value))


def parse_s3_url(url: str) -> tuple[str, str]:
    """Split `s3://bucket/key` into bucket and key (the key may be empty)."""
    match = _S3_URL.match(url)
    if not match:
        raise ValueError(f"not an s3:// URL: {url!r}")
    return match.group(1), match.group(2)
