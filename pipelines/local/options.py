"""Options of the local runner, above all the behaviours the reference marks UNVERIFIED."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pipelines.local.errors import DefinitionError

ENV_PREFIX = "LOCAL_RUNNER_"

NewlinePolicy = Literal["always", "if_missing"]
EmptyObjectPolicy = Literal["request", "empty_output", "fail"]
RecordNewline = Literal["keep", "strip"]
EnvPrecedence = Literal["transform", "model"]
GzipOutputName = Literal["keep_suffix", "strip_suffix"]


@dataclass(frozen=True)
class RunOptions:
    """How the runner resolves behaviours SageMaker does not document.

    Attributes:
        assemble_line_newline: ``AssembleWith=Line`` appends ``\\n`` after every response
            (``always``, the documented wording and SDK local mode) or only when the body
            does not already end with one (``if_missing``).
        empty_object: an empty input object sends one empty request (``request``, SDK local
            mode), writes an empty ``.out`` (``empty_output``) or fails (``fail``).
        record_newline: each mini-batch keeps its records' trailing ``\\n`` (``keep``) or the
            final one is stripped (``strip``).
        environment_precedence: which side wins when the transform's Environment and the
            model's container Environment set the same key.
        gzip_output_name: ``x.csv.gz`` becomes ``x.csv.gz.out`` (``keep_suffix``) or
            ``x.csv.out`` (``strip_suffix``).
        inclusive_slices: DataProcessing JSONPath slices include their end index, as the
            developer guide states (``$[1:4]`` = columns 2-5).
        upload_outputs_on_failure: upload a Processing step's outputs even when its
            script exits non-zero.
        pipeline_name: value of ``Execution.PipelineName``.
        expected_features: the feature names, in order, of the rows the first container
            receives; a model there that records its feature names must record exactly
            these (empty: not checked). From the environment: comma-separated.
    """

    assemble_line_newline: NewlinePolicy = "always"
    empty_object: EmptyObjectPolicy = "request"
    record_newline: RecordNewline = "keep"
    environment_precedence: EnvPrecedence = "transform"
    gzip_output_name: GzipOutputName = "keep_suffix"
    inclusive_slices: bool = True
    upload_outputs_on_failure: bool = False
    pipeline_name: str = "local-pipeline"
    expected_features: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        choices: dict[str, tuple[str, ...]] = {
            "assemble_line_newline": ("always", "if_missing"),
            "empty_object": ("request", "empty_output", "fail"),
            "record_newline": ("keep", "strip"),
            "environment_precedence": ("transform", "model"),
            "gzip_output_name": ("keep_suffix", "strip_suffix"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise DefinitionError(
                    f"option {name}={getattr(self, name)!r} is invalid; use one of {allowed}"
                )
        if not self.pipeline_name:
            raise DefinitionError("option pipeline_name must not be empty")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RunOptions:
        """Read options from ``LOCAL_RUNNER_<NAME>`` variables (e.g. LOCAL_RUNNER_EMPTY_OBJECT)."""
        values: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + field.name.upper())
            if raw is None:
                continue
            if field.type in ("bool", bool):
                if raw.lower() not in ("true", "false"):
                    raise DefinitionError(f"{ENV_PREFIX}{field.name.upper()} must be true or false")
                values[field.name] = raw.lower() == "true"
            elif field.name == "expected_features":
                values[field.name] = tuple(name for name in raw.split(",") if name)
            else:
                values[field.name] = raw
        return cls(**values)  # type: ignore[arg-type]
