"""The request of a Transform step: parsing, the service's limits and /execution-parameters.

MaxConcurrentTransforms, BatchStrategy and MaxPayloadInMB come from the request, else from the
container's ``GET /execution-parameters``, else from the defaults (reference §2).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipelines.local import batching
from pipelines.local.errors import StepError
from pipelines.local.s3io import S3Uri

DEFAULT_MAX_PAYLOAD_MB = 6
# MaxPayloadInMB <= 100 and MaxConcurrentTransforms x MaxPayloadInMB <= 100 (CreateTransformJob):
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html
MAX_PAYLOAD_MB = 100
# BatchStrategy in the request -> its spelling in /execution-parameters and the environment.
STRATEGIES = {"MultiRecord": "MULTI_RECORD", "SingleRecord": "SINGLE_RECORD"}
SPLIT_TYPES = ("None", "Line", "RecordIO", "TFRecord")
ASSEMBLE_TYPES = ("None", "Line")


def _count(value: Any, name: str) -> int | None:
    """A non-negative integer setting, or None when unset."""
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError) as err:
        raise StepError(f"{name} must be an integer, got {value!r}") from err
    if number < 0:
        raise StepError(f"{name} must not be negative, got {number}")
    return number


def _payload_limit(payload_mb: int, source: str) -> int | None:
    if payload_mb > MAX_PAYLOAD_MB:
        raise StepError(f"{source}MaxPayloadInMB must be 0-{MAX_PAYLOAD_MB}, got {payload_mb}")
    return payload_mb * batching.MIB if payload_mb else None


def _check_request(args: dict[str, Any], split_type: str, assemble_with: str) -> None:
    """Reject what CreateTransformJob rejects; the step fails with the reason."""
    concurrency = _count(args.get("MaxConcurrentTransforms"), "MaxConcurrentTransforms")
    payload_mb = _count(args.get("MaxPayloadInMB"), "MaxPayloadInMB")
    if concurrency and payload_mb is not None and concurrency * payload_mb > MAX_PAYLOAD_MB:
        raise StepError(
            f"MaxConcurrentTransforms x MaxPayloadInMB must be at most {MAX_PAYLOAD_MB}, got "
            f"{concurrency} x {payload_mb} = {concurrency * payload_mb}"
        )
    strategy = args.get("BatchStrategy")
    if strategy is not None and strategy not in STRATEGIES:
        raise StepError(f"BatchStrategy must be one of {sorted(STRATEGIES)}, got {strategy!r}")
    if split_type not in SPLIT_TYPES:
        raise StepError(f"SplitType must be one of {list(SPLIT_TYPES)}, got {split_type!r}")
    if strategy is not None and split_type == "None":
        raise StepError(f"BatchStrategy {strategy} needs a SplitType other than None")
    if assemble_with not in ASSEMBLE_TYPES:
        raise StepError(
            f"AssembleWith must be one of {list(ASSEMBLE_TYPES)}, got {assemble_with!r}"
        )


@dataclass(frozen=True)
class TransformConfig:
    """The parts of a CreateTransformJob request the local run uses, with service defaults."""

    model_name: str
    input_uri: S3Uri
    data_type: str
    content_type: str | None
    compression: str
    split_type: str
    strategy: str
    payload_limit: int | None  # bytes; None when MaxPayloadInMB is 0 (streaming)
    workers: int
    output_uri: S3Uri
    accept: str | None
    assemble_with: str
    environment: dict[str, str]
    client_config: dict[str, Any]
    data_processing: dict[str, Any] | None

    @classmethod
    def parse(cls, args: dict[str, Any]) -> TransformConfig:
        """Read and check the evaluated Arguments of a Transform step."""
        try:
            source = args["TransformInput"]["DataSource"]["S3DataSource"]
            transform_input, transform_output = args["TransformInput"], args["TransformOutput"]
            model_name = str(args["ModelName"])
            output_path = transform_output["S3OutputPath"]
        except (KeyError, TypeError) as err:
            raise StepError(f"Transform arguments lack {err}") from err
        split_type = transform_input.get("SplitType", "None")
        assemble_with = transform_output.get("AssembleWith", "None")
        _check_request(args, split_type, assemble_with)
        payload_mb = _count(args.get("MaxPayloadInMB"), "MaxPayloadInMB")
        return cls(
            model_name=model_name,
            input_uri=S3Uri.parse(source["S3Uri"]),
            data_type=source.get("S3DataType", "S3Prefix"),
            content_type=transform_input.get("ContentType"),
            compression=transform_input.get("CompressionType", "None"),
            split_type=split_type,
            strategy=args.get("BatchStrategy", "MultiRecord"),
            payload_limit=_payload_limit(
                DEFAULT_MAX_PAYLOAD_MB if payload_mb is None else payload_mb, ""
            ),
            workers=_count(args.get("MaxConcurrentTransforms"), "MaxConcurrentTransforms") or 1,
            output_uri=S3Uri.parse(output_path),
            accept=transform_output.get("Accept"),
            assemble_with=assemble_with,
            environment={k: str(v) for k, v in (args.get("Environment") or {}).items()},
            client_config=dict(args.get("ModelClientConfig") or {}),
            data_processing=args.get("DataProcessing"),
        )

    def with_execution_parameters(
        self, args: dict[str, Any], params: Mapping[str, Any]
    ) -> TransformConfig:
        """Fill what the request left unset from the container's /execution-parameters JSON.

        A MaxConcurrentTransforms of 0 counts as unset, as in the API.
        """
        where = "/execution-parameters "
        changes: dict[str, Any] = {}
        strategy = params.get("BatchStrategy")
        if "BatchStrategy" not in args and strategy is not None:
            names = {value: key for key, value in STRATEGIES.items()}
            if strategy not in names:
                raise StepError(
                    f"{where}BatchStrategy must be one of {sorted(names)}, got {strategy!r}"
                )
            changes["strategy"] = names[strategy]
        payload_mb = _count(params.get("MaxPayloadInMB"), where + "MaxPayloadInMB")
        if "MaxPayloadInMB" not in args and payload_mb is not None:
            changes["payload_limit"] = _payload_limit(payload_mb, where)
        workers = _count(params.get("MaxConcurrentTransforms"), where + "MaxConcurrentTransforms")
        if not args.get("MaxConcurrentTransforms") and workers:
            changes["workers"] = workers
        return dataclasses.replace(self, **changes)
