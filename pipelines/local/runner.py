"""Run a rendered pipeline definition step by step on this machine."""

from __future__ import annotations

import secrets
import shutil
import string
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3

from pipelines.local.conditions import branch
from pipelines.local.errors import DefinitionError, StepError
from pipelines.local.expressions import Context, evaluate, resolve_parameters
from pipelines.local.graph import order_steps
from pipelines.local.options import RunOptions
from pipelines.local.processing import run_processing
from pipelines.local.s3io import LocalCopies
from pipelines.local.transform import run_transform

_ALPHABET = string.ascii_lowercase + string.digits
# The local model container sets os.environ, sys.path and sys.modules while it serves: runs on
# several threads (backfill --local --max-parallel N) take turns for Transform steps.
_TRANSFORM_LOCK = threading.Lock()


@dataclass(frozen=True)
class StepResult:
    """One step of a run."""

    name: str
    type: str
    status: str  # Succeeded, Failed or NotStarted
    seconds: float
    failure_reason: str | None = None


@dataclass(frozen=True)
class RunResult:
    """A whole run: ``outputs`` maps step name -> output name -> S3 URI."""

    execution_id: str
    status: str  # Succeeded or Failed
    steps: list[StepResult]
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _now() -> str:
    """UTC time as SageMaker prints it: ``2024-01-31T12:00:00.123Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _execution_context(
    definition: dict[str, Any],
    parameters: Mapping[str, str],
    session: boto3.Session,
    name: str,
    execution_id: str,
) -> Context:
    region = session.region_name or "us-east-1"
    account: dict[str, str] = {}

    def arn(suffix: str) -> Callable[[], str]:
        def build() -> str:
            if "id" not in account:
                account["id"] = session.client("sts").get_caller_identity()["Account"]
            return f"arn:aws:sagemaker:{region}:{account['id']}:pipeline/{name.lower()}{suffix}"

        return build

    ctx = Context(
        parameters=resolve_parameters(definition.get("Parameters") or [], parameters),
        execution={
            "StartDateTime": _now(),
            "CurrentDateTime": _now,
            "PipelineName": name,
            "PipelineArn": arn(""),
            "PipelineExecutionId": execution_id,
            "PipelineExecutionArn": arn(f"/execution/{execution_id}"),
            "TrainingJobName": "",
            "ProcessingJobName": "",
        },
    )
    experiment = definition.get("PipelineExperimentConfig")
    if isinstance(experiment, dict):
        ctx.experiment = {k: evaluate(v, ctx) for k, v in experiment.items()}
    return ctx


def _outputs(step_type: str, args: dict[str, Any]) -> dict[str, str]:
    if step_type == "Processing":
        outputs = (args.get("ProcessingOutputConfig") or {}).get("Outputs", [])
        return {o["OutputName"]: o["S3Output"]["S3Uri"] for o in outputs if "S3Output" in o}
    if step_type == "Transform":
        return {"S3OutputPath": args["TransformOutput"]["S3OutputPath"]}
    return {}


@dataclass
class _Run:
    session: boto3.Session
    ctx: Context
    work_dir: Path
    model_package_arn: str | None
    options: RunOptions
    log: Callable[[str], None]
    copies: LocalCopies = field(default_factory=LocalCopies)

    def step(self, step: dict[str, Any]) -> dict[str, Any]:
        """Run one step; return its properties (the Describe*-shaped dict)."""
        name, kind = step["Name"], step.get("Type")
        job_name = (
            f"pipelines-{self.ctx.execution['PipelineExecutionId']}-{name.lower()}-{_random(10)}"
        )
        self.ctx.execution["ProcessingJobName"] = job_name if kind == "Processing" else ""
        args = evaluate(step.get("Arguments") or {}, self.ctx)
        step_dir = self.work_dir / name
        step_dir.mkdir(parents=True, exist_ok=True)
        if kind == "Processing":
            extra = run_processing(
                step,
                args,
                session=self.session,
                step_dir=step_dir,
                job_name=job_name,
                upload_on_failure=self.options.upload_outputs_on_failure,
                log=self.log,
                copies=self.copies,
            )
            return {
                **args,
                **extra,
                "ProcessingJobName": job_name,
                "ProcessingJobStatus": "Completed",
            }
        if kind == "Transform":
            with _TRANSFORM_LOCK:
                extra = run_transform(
                    args,
                    session=self.session,
                    work_dir=step_dir,
                    model_package_arn=self.model_package_arn,
                    options=self.options,
                    log=self.log,
                    copies=self.copies,
                )
            return {
                **args,
                **extra,
                "TransformJobName": job_name,
                "TransformJobStatus": "Completed",
            }
        raise StepError(f"step type {kind} is not supported by the local runner")


def _run_steps(
    ordered: list[dict[str, Any]],
    run: _Run,
    results: list[StepResult],
    outputs: dict[str, dict[str, str]],
) -> None:
    """Run steps in order; a Condition step runs the steps of its chosen branch next."""
    for step in ordered:
        kind = str(step.get("Type"))
        if results and results[-1].status != "Succeeded":
            results.append(StepResult(step["Name"], kind, "NotStarted", 0.0))
            continue
        run.log(f"[{step['Name']}] Executing ({kind})")
        started = time.perf_counter()
        try:
            if kind == "Condition":
                outcome, chosen = branch(step, run.ctx)
                properties: dict[str, Any] = {"Outcome": outcome}
            else:
                properties = run.step(step)
        except StepError as err:
            seconds = time.perf_counter() - started
            results.append(StepResult(step["Name"], kind, "Failed", seconds, str(err)))
            run.log(f"[{step['Name']}] Failed in {seconds:.2f}s: {err}")
            continue
        seconds = time.perf_counter() - started
        run.ctx.steps[step["Name"]] = properties
        outputs[step["Name"]] = _outputs(kind, properties)
        results.append(StepResult(step["Name"], kind, "Succeeded", seconds))
        run.log(f"[{step['Name']}] Succeeded in {seconds:.2f}s")
        if kind == "Condition":
            run.log(f"[{step['Name']}] outcome {str(outcome).lower()}")
            if chosen:
                _run_steps(order_steps(chosen, finished=run.ctx.steps), run, results, outputs)


def _keep_logs_only(folder: Path) -> bool:
    """After a failed run: the steps' ``*.log`` files stay where the failure line says, the
    data, model and code of the run are removed; a run that failed before any step wrote a log
    leaves nothing. Whether any log is kept."""
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_symlink() or (path.is_file() and path.suffix != ".log"):
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    if any(folder.iterdir()):
        return True
    folder.rmdir()
    return False


def check_definition(definition: dict[str, Any], parameters: Mapping[str, str]) -> list[Any]:
    """What `run_definition` refuses before any step runs, without AWS: the steps (returned in
    dependency order) and the parameters' values against their declared types.

    Raises:
        DefinitionError: invalid definition or parameters.
    """
    if not isinstance(definition.get("Steps"), list):
        raise DefinitionError("the definition has no Steps list")
    ordered = order_steps(definition["Steps"])
    resolve_parameters(definition.get("Parameters") or [], parameters)
    return ordered


def run_definition(
    definition: dict[str, Any],
    *,
    parameters: Mapping[str, str],
    session: boto3.Session,
    model_package_arn: str | None = None,
    work_dir: Path | None = None,
    log: Callable[[str], None] = print,
    options: RunOptions | None = None,
    execution_id: str | None = None,
) -> RunResult:
    """Run every step of a rendered definition in dependency order.

    Args:
        definition: the pipeline definition (parsed JSON).
        parameters: start-time parameter values by name (strings, typed by the definition).
        session: boto3 session whose S3 and SageMaker the steps use.
        model_package_arn: package to use when a Transform step's ModelName does not exist.
        work_dir: where step files go; a temporary directory when None, removed after a
            successful run; after a failed one only its ``*.log`` files stay (the failure
            line names their folder) until the user deletes them.
        log: receives one line per event (step start, outputs, status and time).
        options: behaviours SageMaker leaves undocumented; defaults to ``RunOptions()``.
        execution_id: the execution's id (a new random one when None), for a service that
            started the execution itself (testbed/services.py).

    Returns:
        The run's result; ``status`` is Failed when a step failed (later steps do not start).

    Raises:
        DefinitionError: invalid definition or parameters (before any step runs).
    """
    options = options or RunOptions()
    ordered = check_definition(definition, parameters)
    name = str((definition.get("Metadata") or {}).get("PipelineName") or options.pipeline_name)
    ctx = _execution_context(definition, parameters, session, name, execution_id or _random(12))
    execution_id = str(ctx.execution["PipelineExecutionId"])
    own_dir = work_dir is None
    root = Path(tempfile.mkdtemp(prefix="local-run-")) if work_dir is None else work_dir
    root = root / execution_id
    root.mkdir(parents=True, exist_ok=True)
    run = _Run(session, ctx, root, model_package_arn, options, log)
    results: list[StepResult] = []
    outputs: dict[str, dict[str, str]] = {}
    log(f"execution {execution_id}: {len(ordered)} steps ({', '.join(s['Name'] for s in ordered)})")
    finished = False
    try:
        _run_steps(ordered, run, results, outputs)
        finished = True
    finally:
        # An exception in flight (a bug of ours) is a failed run too: its logs stay.
        succeeded = finished and all(r.status == "Succeeded" for r in results)
        status = "Succeeded" if succeeded else "Failed"
        kept = False
        if own_dir and succeeded:
            shutil.rmtree(root.parent, ignore_errors=True)
        elif own_dir:
            kept = _keep_logs_only(root.parent)
        log(f"execution {execution_id}: {status} in {sum(r.seconds for r in results):.2f}s")
        if kept:
            log(f"execution {execution_id}: its logs are kept in {root} (delete it when done)")
    return RunResult(execution_id, status, results, outputs)
