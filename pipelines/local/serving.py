"""Start what serves a Transform step's model: each container by its kind (kinds.py), several
containers as an inference pipeline, anything else refused in one line before a request."""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.local import kinds
from pipelines.local.container import (
    Container,
    InvocationError,
    Response,
    ScriptContainer,
    patched_environ,
    user_module,
)
from pipelines.local.errors import LOCAL_PACKAGES, StepError
from pipelines.local.feature_names import check_feature_names
from pipelines.local.http_container import SERVE_COMMAND_KEY, HttpContainer, docker_answers
from pipelines.local.model import ContainerSpec, ModelSpec, code_dir, download_model

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

STARTUP_SECONDS = 120.0
# Read by the runner per container while it loads, so two containers may differ in them.
PER_CONTAINER_KEYS = (
    "SAGEMAKER_PROGRAM", "SAGEMAKER_SUBMIT_DIRECTORY", "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT",
    "SAGEMAKER_CONTAINER_LOG_LEVEL", SERVE_COMMAND_KEY,
)  # fmt: skip
_PACKAGES = {kinds.XGBOOST_ALGORITHM: "xgboost", kinds.XGBOOST_SCRIPT: "xgboost",
             kinds.TOOLKIT: "sagemaker_inference"}  # fmt: skip


@dataclass(frozen=True)
class InferencePipeline:
    """Containers run in sequence, each response the next request (developer guide, "Inference
    pipelines in Amazon SageMaker AI": "the intermediate response is sent as a request to the
    second container"). Intermediate requests carry the previous response's Content-Type and
    no Accept (each container answers with its own default); the last gets the job's Accept."""

    containers: Sequence[Container]
    labels: Sequence[str]

    def execution_parameters(self) -> dict[str, Any] | None:
        """The first container's answer (SageMaker's choice among several is not documented)."""
        return self.containers[0].execution_parameters()

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Response:
        """Send the request through every container."""
        last = len(self.containers) - 1
        for index, container in enumerate(self.containers):
            try:
                response = container.invoke(body, content_type, accept if index == last else None)
            except InvocationError as err:
                named = str(err).startswith(self.labels[index])  # HttpContainer names itself
                message = str(err) if named else f"{self.labels[index]}: {err}"
                raise InvocationError(message, err.status) from err
            body, content_type = response.body, response.content_type or content_type
        return response


def _refusal(label: str, kind: kinds.Kind) -> StepError:
    return StepError(
        f"{label} is {kind.description}: the local runner serves AWS's scikit-learn, XGBoost "
        "and inference-toolkit images itself; serve this one with a Docker daemon (docker run "
        f"<image> serve) or declare {SERVE_COMMAND_KEY} in the package's Environment "
        "(docs/model-kinds.md)"
    )


def _missing_package(kind: kinds.Kind) -> str | None:
    package = _PACKAGES.get(kind.name)
    if package and importlib.util.find_spec(package) is None:
        return LOCAL_PACKAGES
    return None


def _in_process(
    stack: contextlib.ExitStack, kind: kinds.Kind, spec: ContainerSpec, env: dict[str, str],
    root: Path, s3: S3Client,
) -> Container:  # fmt: skip
    model_dir = root / "opt/ml/model"
    if kind.name == kinds.XGBOOST_ALGORITHM:
        from pipelines.local.xgboost_serving import XGBoostAlgorithm

        return XGBoostAlgorithm(model_dir, env)
    program = env.get("SAGEMAKER_PROGRAM")
    if kind.name == kinds.TOOLKIT:
        program = program or "inference.py"  # the toolkit's default module name
    submit = env.get("SAGEMAKER_SUBMIT_DIRECTORY")
    if kind.name == kinds.TOOLKIT:
        submit = submit or "/opt/ml/model/code"
    code = code_dir(s3, submit, model_dir, root)
    module = stack.enter_context(user_module(code, program))
    if kind.name == kinds.TOOLKIT:
        from pipelines.local.toolkit import ToolkitContainer

        return ToolkitContainer(module, str(program), model_dir, kind.framework)
    if kind.name == kinds.XGBOOST_SCRIPT:
        from pipelines.local.xgboost_serving import SCRIPT_DEFAULTS

        return ScriptContainer(module, model_dir, env, SCRIPT_DEFAULTS)
    return ScriptContainer(module, model_dir, env)


def _merged(environments: list[tuple[str, dict[str, str]]]) -> dict[str, str]:
    """One os.environ for in-process containers; a key two of them set differently (beyond
    the ones read per container) cannot be given to both and is refused."""
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for label, env in environments:
        for key, value in env.items():
            if key in merged and merged[key] != value and key not in PER_CONTAINER_KEYS:
                raise StepError(
                    f"{owner[key]} and {label} set {key} differently; in-process containers "
                    f"share one environment: serve one of them with {SERVE_COMMAND_KEY} or Docker"
                )
            merged.setdefault(key, value)
            owner.setdefault(key, label)
    return merged


@contextlib.contextmanager
def serve(
    model: ModelSpec,
    *,
    s3: S3Client,
    work_dir: Path,
    environment: Callable[[dict[str, str]], dict[str, str]],
    expected_features: Sequence[str] = (),
    log: Callable[[str], None] = lambda _line: None,
) -> Iterator[Container]:
    """Start every container of ``model`` (``environment`` gives each one's full environment
    from its own); yield one Container (an InferencePipeline for several); stop them after.

    The first container's loaded model, when it records feature names, must record
    ``expected_features`` in order (empty: not checked); one served over HTTP is not checked."""
    count = len(model.containers)
    with contextlib.ExitStack() as stack:
        served: list[Container] = []
        labels: list[str] = []
        shared: list[tuple[str, dict[str, str]]] = []
        for index, spec in enumerate(model.containers):
            label = spec.label(index, count)
            root = work_dir / ("container" if count == 1 else f"container-{index + 1}")
            download_model(s3, spec, root / "opt/ml/model")
            env = environment(spec.environment)
            kind = kinds.recognise(spec)
            container: Container
            in_process = kind.name in (kinds.SKLEARN, *_PACKAGES)
            missing = _missing_package(kind) if in_process else None
            if env.get(SERVE_COMMAND_KEY):
                command = env[SERVE_COMMAND_KEY]
                server = HttpContainer.from_command(label, command, root, env, STARTUP_SECONDS)
                stack.callback(server.close)
                container = server
            elif in_process and not missing:
                try:
                    with patched_environ(env):
                        container = _in_process(stack, kind, spec, env, root, s3)
                except StepError as err:
                    raise StepError(f"{label}: {err}") from err
                if index == 0:
                    loaded = getattr(container, "loaded_models", list)
                    note = check_feature_names(label, loaded(), expected_features)
                    if note:
                        log(f"  {note}")
                shared.append((label, env))
            elif docker_answers():
                server = HttpContainer.from_docker(label, spec.image, root / "opt/ml/model", env,
                                                   STARTUP_SECONDS)  # fmt: skip
                stack.callback(server.close)
                container = server
            elif in_process:
                raise StepError(f"{label} is {kind.description}; to serve it here: {missing}")
            else:
                raise _refusal(label, kind)
            served.append(container)
            labels.append(label)
        if shared:
            stack.enter_context(patched_environ(_merged(shared)))
        yield served[0] if count == 1 else InferencePipeline(served, labels)
