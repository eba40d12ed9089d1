"""The SageMaker inference toolkit's handler contract, in-process, with the real package.

The PyTorch and MXNet serving images run the user module through
``sagemaker_inference.transformer.Transformer`` inside Multi Model Server: ``model_fn``,
``input_fn``, ``predict_fn``, ``output_fn``, ``transform_fn``, ``pre_model_fn`` and
``model_warmup_fn``, each with or without a trailing ``context``. The runner drives that same
Transformer (PyPI ``sagemaker-inference``) with a small stand-in for MMS's request context.
Hooks the user module does not define come from the framework's default handler when its
toolkit is installed; otherwise the container is refused, never served with other defaults.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from pipelines.local.container import InvocationError, Response, first_line, response_bytes
from pipelines.local.errors import LOCAL_PACKAGES, StepError

SERVING_HOOKS = ("model_fn", "input_fn", "predict_fn", "output_fn")
# The framework toolkits' default handlers (module, class), used where installed.
FRAMEWORK_HANDLERS = {
    "pytorch": ("sagemaker_pytorch_serving_container.default_pytorch_inference_handler",
                "DefaultPytorchInferenceHandler"),
    "mxnet": ("sagemaker_mxnet_serving_container.default_inference_handler",
              "DefaultMXNetInferenceHandler"),
}  # fmt: skip


class _RequestProcessor:
    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers

    def get_request_properties(self) -> dict[str, str]:
        return self._headers


class Context:
    """What MMS hands a handler: system properties, the request's headers, the response's
    status and content type (the toolkit sets them)."""

    def __init__(self, model_dir: str, headers: dict[str, str] | None = None) -> None:
        self.model_name = "model"
        self.system_properties = {
            "model_dir": model_dir, "gpu_id": None, "batch_size": 1, "server_name": "MMS",
        }  # fmt: skip
        self.request_processor = [_RequestProcessor(headers or {})]
        self.status = 200
        self.phrase = ""
        self.content_type: str | None = None

    def set_response_status(self, code: int = 200, phrase: str = "") -> None:
        self.status, self.phrase = int(code), phrase

    def set_response_content_type(self, index: int, value: str) -> None:
        self.content_type = value

    def get_request_header(self, index: int, key: str) -> str | None:
        return self.request_processor[0].get_request_properties().get(key)


def _default_handler(framework: str, module: ModuleType) -> Any:
    """The framework toolkit's default handler, or the toolkit's own when every hook the
    defaults would supply is the user's (then no framework default is ever called)."""
    from sagemaker_inference.default_inference_handler import DefaultInferenceHandler

    defined = {name for name in (*SERVING_HOOKS, "transform_fn") if hasattr(module, name)}
    needs = set() if "transform_fn" in defined else set(SERVING_HOOKS[1:]) - defined
    if "model_fn" not in defined:
        needs.add("model_fn")
    if not needs:
        return DefaultInferenceHandler()
    module_name, class_name = FRAMEWORK_HANDLERS.get(framework, ("", ""))
    try:
        handler = getattr(importlib.import_module(module_name), class_name) if module_name else None
    except ImportError:
        handler = None
    if handler is None:
        raise StepError(
            f"the user module leaves {', '.join(sorted(needs))} to the {framework} toolkit's "
            f"default handler, which is not installed here; define {', '.join(sorted(needs))} "
            "in the module (or transform_fn), or install the framework's serving toolkit"
        )
    return handler()


@contextmanager
def _as_module_name(name: str, module: ModuleType) -> Iterator[None]:
    """The toolkit imports SAGEMAKER_PROGRAM by name: answer with our copy of the module."""
    saved = sys.modules.get(name)
    sys.modules[name] = module
    try:
        yield
    finally:
        if saved is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = saved


class ToolkitContainer:
    """One model behind the inference toolkit's Transformer."""

    def __init__(self, module: ModuleType, program: str, model_dir: Path, framework: str) -> None:
        try:
            from sagemaker_inference.transformer import Transformer
        except ImportError as err:
            raise StepError(
                f"serving an inference-toolkit model locally needs sagemaker-inference: "
                f"{LOCAL_PACKAGES}"
            ) from err
        self._model_dir = str(model_dir)
        self._transformer = Transformer(default_inference_handler=_default_handler(
            framework, module))  # fmt: skip
        name = program[:-3] if program.endswith(".py") else program
        try:
            with _as_module_name(name, module):
                self._transformer.validate_and_initialize(self._model_dir, Context(self._model_dir))
        except Exception as err:
            raise StepError(f"loading the model failed: {type(err).__name__}: {err}") from err

    def loaded_models(self) -> list[Any]:
        """What the handler's ``model_fn`` returned."""
        return [getattr(self._transformer, "_model", None)]

    def execution_parameters(self) -> None:
        """MMS answers GET /execution-parameters with 404: the job's own settings apply."""
        return None

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Response:
        """POST /invocations through ``Transformer.transform``."""
        headers = {"Content-Type": content_type or "application/json"}
        if accept:
            headers["Accept"] = accept
        context = Context(self._model_dir, headers)
        result = self._transformer.transform([{"body": body}], context)
        if context.status >= 400:
            message = first_line(str(result[0])) if result else context.phrase
            raise InvocationError(message or context.phrase, context.status)
        try:
            payload, _media = response_bytes((result[0], context.content_type or ""))
        except TypeError as err:
            raise InvocationError(str(err)) from err
        return Response(payload, context.content_type or "")
