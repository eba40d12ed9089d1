"""A Transform step: a batch transform job, its model served as its kind is (serving.py)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from pipelines.local import batching
from pipelines.local.container import whole_number
from pipelines.local.dataprocessing import DataProcessing
from pipelines.local.dispatch import Dispatcher, Invoker, ObjectState, Request
from pipelines.local.errors import StepError
from pipelines.local.model import ModelSpec, resolve_model
from pipelines.local.options import RunOptions
from pipelines.local.s3io import (
    LocalCopies,
    MultipartWriter,
    S3Object,
    S3Uri,
    list_manifest,
    list_prefix,
    s3_client,
    stream_object,
)
from pipelines.local.serving import serve
from pipelines.local.transform_config import STRATEGIES, TransformConfig

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DEFAULT_INVOCATION_TIMEOUT = 600
DEFAULT_MAX_RETRIES = 3
SERVER_TIMEOUT_KEY = "SAGEMAKER_MODEL_SERVER_TIMEOUT"
DEFAULT_SERVER_TIMEOUT = 60

__all__ = ["TransformConfig", "TransformRun", "run_transform"]


def _container_environment(
    cfg: TransformConfig, args: dict[str, Any], model_env: dict[str, str], options: RunOptions
) -> dict[str, str]:
    first, second = (model_env, cfg.environment)
    if options.environment_precedence == "model":
        first, second = second, first
    env = {**first, **second, "SAGEMAKER_BATCH": "true"}
    if "MaxPayloadInMB" in args:
        env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = str(args["MaxPayloadInMB"])
    if "BatchStrategy" in args:
        env["SAGEMAKER_BATCH_STRATEGY"] = STRATEGIES[cfg.strategy]
    if args.get("MaxConcurrentTransforms"):
        env["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] = str(args["MaxConcurrentTransforms"])
    return env


@dataclass(frozen=True)
class TransformRun:
    """Everything one transform job needs; builds each object's stream of requests."""

    s3: S3Client
    cfg: TransformConfig
    processing: DataProcessing
    options: RunOptions
    copies: LocalCopies | None = None

    def output_uri(self, obj: S3Object) -> S3Uri:
        """``<S3OutputPath>/<name relative to the input prefix>.out``."""
        name = obj.relative
        if (
            self.cfg.compression == "Gzip"
            and self.options.gzip_output_name == "strip_suffix"
            and name.endswith(".gz")
        ):
            name = name[: -len(".gz")]
        return self.cfg.output_uri.child(name + ".out")

    def _records(self, chunks: Iterator[bytes]) -> Iterator[Request]:
        cfg = self.cfg
        if cfg.split_type == "None":
            records = batching.whole(chunks, cfg.payload_limit)
        elif cfg.split_type == "Line":
            records = batching.lines(chunks)
        else:
            raise StepError(f"SplitType {cfg.split_type} is not supported locally")
        prepared = (self.processing.prepare(record) for record in records)
        limit = cfg.payload_limit
        if cfg.strategy == "SingleRecord" or cfg.split_type == "None":
            for payload, text in prepared:
                if limit is not None and len(payload) > limit:
                    raise StepError("a record is larger than MaxPayloadInMB")
                yield payload, [text]
            return
        for batch in batching.pack(prepared, limit):
            yield b"".join(p for p, _ in batch), [str(text) for _, text in batch]

    def requests(self, obj: S3Object) -> Iterator[Request]:
        """The requests of one object, each payload final (newline policy applied)."""
        local = self.copies.find(obj) if self.copies is not None else None
        chunks: Iterator[bytes] = stream_object(self.s3, obj.bucket, obj.key, local)
        if self.cfg.compression == "Gzip":
            chunks = batching.gunzip(chunks)
        if self.processing.active:
            requests = self._records(chunks)
        else:
            payloads = batching.payloads(
                chunks, self.cfg.split_type, self.cfg.strategy, self.cfg.payload_limit
            )
            requests = ((payload, None) for payload in payloads)
        empty = True
        for payload, inputs in requests:
            empty = False
            if self.options.record_newline == "strip" and payload.endswith(b"\n"):
                payload = payload[:-1]
            yield payload, inputs
        if empty:
            if self.options.empty_object == "fail":
                raise StepError("the object is empty")
            if self.options.empty_object == "request":
                yield b"", [""] if self.processing.active else None

    def write(self, state: ObjectState, body: bytes, inputs: list[str] | None) -> None:
        """Append one response to the object's output, as AssembleWith says.

        Records rebuilt by a join or an output filter always end with a newline, whatever
        AssembleWith says: without it they would run together.
        """
        line = self.cfg.assemble_with == "Line"
        if inputs is not None and self.processing.per_record_output:
            for record in self.processing.finish(inputs, body):
                state.writer.write(record + b"\n")
            return
        state.writer.write(body)
        if line and (self.options.assemble_line_newline == "always" or not body.endswith(b"\n")):
            state.writer.write(b"\n")


def _check_output_names(run: TransformRun, objects: list[S3Object]) -> None:
    """Refuse two objects whose outputs would overwrite each other (``x.gz`` next to ``x``)."""
    seen: dict[S3Uri, str] = {}
    for obj in objects:
        uri = run.output_uri(obj)
        if uri in seen:
            raise StepError(f"{seen[uri]} and {obj.key} would both be written to {uri}")
        seen[uri] = obj.key


def _server_timeout(
    spec: ModelSpec, environment: Callable[[dict[str, str]], dict[str, str]]
) -> Iterator[int]:
    """Each container's SAGEMAKER_MODEL_SERVER_TIMEOUT; one it cannot read names it."""
    count = len(spec.containers)
    for index, container in enumerate(spec.containers):
        env = environment(container.environment)
        try:
            yield whole_number(env, SERVER_TIMEOUT_KEY, DEFAULT_SERVER_TIMEOUT, "seconds")
        except StepError as err:
            raise StepError(f"{container.label(index, count)}: {err}") from err


def run_transform(
    args: dict[str, Any],
    *,
    session: boto3.Session,
    work_dir: Path,
    model_package_arn: str | None,
    options: RunOptions,
    log: Callable[[str], None],
    copies: LocalCopies | None = None,
) -> dict[str, Any]:
    """Run one transform job; return extra properties. Raise StepError when it fails."""
    cfg = TransformConfig.parse(args)
    s3 = s3_client(session)
    spec = resolve_model(session.client("sagemaker"), cfg.model_name, model_package_arn)
    processing = DataProcessing.from_request(
        cfg.data_processing,
        content_type=cfg.content_type,
        accept=cfg.accept,
        split_type=cfg.split_type,
        assemble_with=cfg.assemble_with,
        inclusive=options.inclusive_slices,
    )
    if cfg.data_type == "ManifestFile":
        objects = list_manifest(s3, cfg.input_uri)
    elif cfg.data_type == "S3Prefix":
        objects = list_prefix(s3, cfg.input_uri)
    else:
        raise StepError(f"S3DataType {cfg.data_type} is not supported by batch transform")
    if not objects:
        raise StepError(f"no input objects under {cfg.input_uri}")
    retries = int(cfg.client_config.get("InvocationsMaxRetries", DEFAULT_MAX_RETRIES))

    def environment(model_env: dict[str, str]) -> dict[str, str]:
        return _container_environment(cfg, args, model_env, options)

    server_timeout = max(_server_timeout(spec, environment))
    with serve(
        spec, s3=s3, work_dir=work_dir, environment=environment,
        expected_features=options.expected_features, log=log,
    ) as container:  # fmt: skip
        params = container.execution_parameters()
        if params is not None:
            cfg = cfg.with_execution_parameters(args, params)
        run = TransformRun(s3, cfg, processing, options, copies)
        _check_output_names(run, objects)
        timeout = min(
            float(cfg.client_config.get("InvocationsTimeoutInSeconds", DEFAULT_INVOCATION_TIMEOUT)),
            server_timeout,
        )
        invoker = Invoker(container, cfg.content_type, cfg.accept, retries, timeout)
        jobs = ((f"{o.bucket}/{o.key}", run.output_uri(o), run.requests(o)) for o in objects)
        kept = work_dir / "outputs"
        kept.mkdir(parents=True, exist_ok=True)
        names = itertools.count()

        def writer(uri: S3Uri) -> MultipartWriter:
            if copies is None:
                return MultipartWriter(s3, uri)
            return MultipartWriter(s3, uri, keep=(kept / f"{next(names)}.out", copies))

        result = Dispatcher(s3, invoker, cfg.workers, run.write, writer=writer).run(jobs)
    log(
        f"  model {spec.source}; {len(result.succeeded)}/{len(objects)} objects, "
        f"{result.records} records in {result.requests} requests -> {cfg.output_uri}"
    )
    if result.failed:
        raise StepError(
            f"{len(result.failed)} of {len(objects)} objects failed; first: {result.failed[0]}"
        )
    return {"ModelPackageArn": spec.source, "RecordsTransformed": result.records}
