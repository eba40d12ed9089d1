"""Names, container paths, limits and argument lists of the pipeline (no SageMaker SDK here).

These names are read by the local runner and by tests: the step names, the output names
(``shards``, ``ids``, ``predictions``) and the container paths below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipelines.steps.preprocess import PAYLOAD_FILL  # a shard's share of MaxPayloadInMB

PREPROCESS, TRANSFORM, POSTPROCESS = "Preprocess", "Transform", "Postprocess"
# The SageMaker jobs of a scheduled run, in order; HasInput (a Condition step, no job) gates a
# date without input. Postprocess also publishes the date's authoritative result.
JOB_STEPS = (PREPROCESS, TRANSFORM, POSTPROCESS)
HAS_INPUT = "HasInput"
PARAMETERS = (
    "ModelName",
    "InputDataUrl",
    "OutputDataUrl",
    "ProcessingInstanceType",
    "ProcessingInstanceCount",
    "TransformInstanceType",
    "TransformInstanceCount",
    "RunDate",
    "ScheduledTime",
)
SHARDS_OUTPUT, IDS_OUTPUT, PREDICTIONS_OUTPUT = "shards", "ids", "predictions"
# Preprocess arguments that fix which date a run scores; run_dates.py reads them back from the
# definition being run, so backfills and catch-ups use the same layout and lag as the schedule.
INPUT_LAYOUT_FLAG, LAG_DAYS_FLAG = "--input-layout", "--lag-days"
FEATURES_FLAG = "--feature-columns"
# The schedule's time zone: a tick's date is its date on that clock (it comes in UTC).
TIMEZONE_FLAG = "--schedule-timezone"

CODE_DIR = "/opt/ml/processing/input/code"
# partitions.py (dates, partitions, publishing), loaded by path by Preprocess and Postprocess.
PARTITIONS_SCRIPT = "partitions.py"
PARTITIONS_DIR = "/opt/ml/processing/input/partitions"
# Preprocess writes the run's date and status into its ids output; Postprocess downloads the ids
# and reads the date from this file; the skip gate reads the status as the property file.
RUN_FILE, RUN_PROPERTY_FILE = "run.json", "Run"
DATA_DIR = "/opt/ml/processing/input/data"
SHARDS_DIR = "/opt/ml/processing/output/shards"
IDS_DIR = "/opt/ml/processing/output/ids"
POST_IDS_DIR = "/opt/ml/processing/input/ids"
POST_PREDICTIONS_DIR = "/opt/ml/processing/input/predictions"
# Postprocess writes its result here, then uploads it itself (no ProcessingOutput).
POST_OUTPUT_DIR = "/opt/ml/processing/output/predictions"
# The data-quality check inside Preprocess (pipelines/steps/quality.py).
QUALITY_OUTPUT = "quality"
QUALITY_CODE_DIR = "/opt/ml/processing/input/quality-code"
BASELINE_DIR = "/opt/ml/processing/input/baseline"
QUALITY_DIR = "/opt/ml/processing/output/quality"
# Written by SageMaker (instances of the job) and read by SageMaker (FailureReason) respectively.
RESOURCE_CONFIG = "/opt/ml/config/resourceconfig.json"
FAILURE_FILE = "/opt/ml/output/message"

# Intermediate data of a run: s3://<artifacts_bucket>/pipeline-runs/<pipeline>/<execution id>/...
RUNS_PREFIX = "pipeline-runs"
# The scikit-learn framework image; its processing image is the "training" scope of image_uris.
SKLEARN_VERSION = "1.4-2"
# Batch transform: MaxConcurrentTransforms x MaxPayloadInMB must not exceed this.
MAX_CONCURRENCY_PAYLOAD_MB = 100
# AppSpecification.ContainerArguments: at most 100 strings of at most 256 characters.
MAX_ARGUMENT_CHARS = 256
MAX_ARGUMENTS = 100

STEP_RETRY = {"interval_seconds": 10, "backoff_rate": 2.0, "max_attempts": 5}
JOB_RETRY = {"interval_seconds": 60, "backoff_rate": 2.0, "max_attempts": 5}


def max_shard_bytes(max_payload_mb: int) -> int:
    """The byte limit of one shard for a MaxPayloadInMB setting."""
    return int(max_payload_mb * 1_000_000 * PAYLOAD_FILL)


def column_chunks(columns: Sequence[str], *, limit: int = MAX_ARGUMENT_CHARS) -> list[str]:
    """Comma-joined runs of column names, each at most ``limit`` characters long."""
    chunks: list[str] = []
    for column in columns:
        if chunks and len(chunks[-1]) + 1 + len(column) <= limit:
            chunks[-1] += f",{column}"
        else:
            chunks.append(column)
    return chunks


def preprocess_arguments(
    *,
    feature_columns: Sequence[str],
    id_column: str | None,
    max_shard_bytes: int,
    id_policy: str = "fail",
) -> list[str]:
    """ContainerArguments of Preprocess: ``--feature-columns`` repeats when the list is long."""
    arguments = [
        *("--input-dir", DATA_DIR, "--shards-dir", SHARDS_DIR, "--ids-dir", IDS_DIR),
        *("--resource-config", RESOURCE_CONFIG, "--failure-file", FAILURE_FILE),
        *("--max-shard-bytes", str(max_shard_bytes)),
    ]
    for chunk in column_chunks(feature_columns):
        arguments += [FEATURES_FLAG, chunk]
    if id_column:
        arguments += ["--id-column", id_column, "--id-policy", id_policy]
    return arguments


def definition_feature_columns(definition: Mapping[str, Any]) -> tuple[str, ...]:
    """The feature columns, in order, that a rendered definition's Preprocess step writes
    (its ``--feature-columns`` chunks joined back); () when it has no such step."""
    for step in definition.get("Steps") or []:
        if step.get("Name") != PREPROCESS:
            continue
        arguments = (step.get("Arguments") or {}).get("AppSpecification", {})
        values = [str(v) for v in arguments.get("ContainerArguments") or []]
        chunks = [values[i + 1] for i, v in enumerate(values[:-1]) if v == FEATURES_FLAG]
        return tuple(name for chunk in chunks for name in chunk.split(",") if name)
    return ()


def prediction_arguments(prediction_columns: Sequence[str] | None) -> list[str]:
    """``--prediction-columns`` of Postprocess (repeated when long), when the stage names the
    model's output columns."""
    arguments: list[str] = []
    for chunk in column_chunks(prediction_columns or ()):
        arguments += ["--prediction-columns", chunk]
    return arguments


def postprocess_directory_arguments() -> list[str]:
    """The path arguments of Postprocess: its inputs, its staging folder, the run's date."""
    return [
        *("--ids-dir", POST_IDS_DIR, "--predictions-dir", POST_PREDICTIONS_DIR),
        *("--output-dir", POST_OUTPUT_DIR, "--failure-file", FAILURE_FILE),
        *("--run-file", f"{POST_IDS_DIR}/{RUN_FILE}"),
        *("--partitions-lib", f"{PARTITIONS_DIR}/{PARTITIONS_SCRIPT}"),
    ]
