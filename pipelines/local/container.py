"""Script-mode serving containers in-process (scikit-learn, XGBoost with SAGEMAKER_PROGRAM):
the user module, its hooks over the container's defaults, and invocations."""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from pipelines.local import codecs
from pipelines.local.errors import StepError

DEFAULT_ACCEPT_ENV = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"
_counter = itertools.count()


def first_line(text: str, limit: int = 300) -> str:
    """The first non-empty line of ``text`` (xgboost's C++ errors append a stack trace)."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:limit]


class InvocationError(Exception):
    """A request the container answered with an HTTP error (500 unless said otherwise). Its
    message is the first line of the error: it becomes part of a one-line failure reason."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(first_line(message, 1000))
        self.status = status


@dataclass(frozen=True)
class Response:
    """Body and media type of one successful invocation."""

    body: bytes
    content_type: str


class Container(Protocol):
    """What the Transform step asks of a serving container (SageMaker's HTTP contract)."""

    def execution_parameters(self) -> dict[str, Any] | None:
        """GET /execution-parameters: a JSON object, or None where the container answers 404."""

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Response:
        """POST /invocations; raise InvocationError where the container answers an error."""


def whole_number(environment: Mapping[str, str], key: str, default: int, unit: str) -> int:
    """A setting AWS's serving containers read with ``int()`` (sagemaker-containers'
    ServingEnv, sagemaker-inference's Environment, the XGBoost container's serve.py): anything
    else is refused in one line, as the container would fail to start."""
    value = environment.get(key)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise StepError(
            f"{key}={value!r} is not a whole number of {unit} (the container reads it with "
            f"int(), e.g. {key}={default}): fix it in the package's or the transform's Environment"
        ) from None


@dataclass(frozen=True)
class Defaults:
    """A framework container's own hooks, used where the user module defines none, and whether
    its worker serves the module's ``execution_parameters_fn`` at /execution-parameters."""

    input_fn: Callable[..., Any]
    predict_fn: Callable[..., Any]
    output_fn: Callable[..., Any]
    serves_execution_parameters: bool = True


SKLEARN_DEFAULTS = Defaults(
    codecs.default_input_fn, codecs.default_predict_fn, codecs.default_output_fn
)


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in os.environ for the block (the container's environment), then restore."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def load_user_module(code_dir: Path, program: str | None) -> ModuleType:
    """Import SAGEMAKER_PROGRAM from ``code_dir`` (kept on sys.path for its own imports)."""
    if not program:
        raise StepError("the model's Environment has no SAGEMAKER_PROGRAM: no user module to load")
    name = program[:-3] if program.endswith(".py") else program
    path = code_dir / f"{name}.py"
    if not path.is_file():
        raise StepError(f"SAGEMAKER_PROGRAM {program} not found in the model's code ({path.name})")
    if str(code_dir) not in sys.path:
        sys.path.insert(0, str(code_dir))
    spec = importlib.util.spec_from_file_location(f"_local_user_{name}_{next(_counter)}", path)
    if spec is None or spec.loader is None:
        raise StepError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        raise StepError(f"importing {program} failed: {type(err).__name__}: {err}") from err
    return module


def _forget_modules(code_dir: Path, before: set[str]) -> None:
    """Drop the modules imported since ``before`` whose file or package path is in ``code_dir``."""
    prefixes = tuple({str(code_dir) + os.sep, str(code_dir.resolve()) + os.sep})
    for name in set(sys.modules) - before:
        module = sys.modules.get(name)
        locations = [getattr(module, "__file__", None) or ""]
        locations += [str(entry) for entry in getattr(module, "__path__", None) or []]
        if any(location.startswith(prefixes) for location in locations):
            sys.modules.pop(name, None)


@contextlib.contextmanager
def user_module(code_dir: Path, program: str | None) -> Iterator[ModuleType]:
    """``load_user_module`` for the block; afterwards no trace of ``code_dir`` stays behind.

    ``code_dir`` leaves sys.path (when this call added it) and the modules imported from it
    (the user's sibling modules) leave sys.modules, so the next run imports its own versions.
    """
    added = str(code_dir) not in sys.path
    before = set(sys.modules)
    try:
        yield load_user_module(code_dir, program)
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(str(code_dir))
        sys.path_importer_cache.pop(str(code_dir), None)
        _forget_modules(code_dir, before)


def _default_model_fn(model_dir: str) -> Any:
    raise NotImplementedError("model_fn is not implemented in the user module")


def response_bytes(result: Any) -> tuple[bytes, str]:
    if isinstance(result, tuple):
        body, media = result[0], str(result[1])
    else:
        body, media = result, "text/html; charset=utf-8"
    if hasattr(body, "get_data"):  # a Flask/worker Response
        return body.get_data(), str(getattr(body, "mimetype", media))
    if isinstance(body, str):
        return body.encode("utf-8"), media
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body), media
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode("utf-8"), "application/json"
    raise TypeError(f"a view cannot return {type(body).__name__}")


class ScriptContainer:
    """One loaded model with sagemaker-containers' hook rules (the scikit-learn container, and
    the XGBoost container in script mode with its own ``defaults``).

    ``transform_fn`` replaces ``input_fn``/``predict_fn``/``output_fn``; defining both kinds is
    an error. Any exception in a hook (default or user) becomes an HTTP 500 for that request.
    """

    def __init__(
        self,
        module: ModuleType,
        model_dir: Path,
        environment: Mapping[str, str],
        defaults: Defaults = SKLEARN_DEFAULTS,
    ) -> None:
        hooks = {n: getattr(module, n, None) for n in ("input_fn", "predict_fn", "output_fn")}
        self._transform_fn: Callable[..., Any] | None = getattr(module, "transform_fn", None)
        if self._transform_fn is not None and any(hooks.values()):
            raise StepError(
                "user module defines transform_fn together with input_fn/predict_fn/output_fn"
            )
        self._input_fn: Callable[..., Any] = hooks["input_fn"] or defaults.input_fn
        self._predict_fn: Callable[..., Any] = hooks["predict_fn"] or defaults.predict_fn
        self._output_fn: Callable[..., Any] = hooks["output_fn"] or defaults.output_fn
        self._default_accept = environment.get(DEFAULT_ACCEPT_ENV, codecs.JSON)
        self._execution_parameters_fn: Callable[[], Any] | None = (
            getattr(module, "execution_parameters_fn", None)
            if defaults.serves_execution_parameters
            else None
        )
        model_fn = getattr(module, "model_fn", _default_model_fn)
        try:
            self.model = model_fn(str(model_dir))
        except Exception as err:
            raise StepError(f"model_fn failed: {type(err).__name__}: {err}") from err

    def loaded_models(self) -> list[Any]:
        """What ``model_fn`` returned."""
        return [self.model]

    def execution_parameters(self) -> dict[str, Any] | None:
        """GET /execution-parameters: the JSON object ``execution_parameters_fn`` returns.

        None when the module does not define it or the container does not serve it (404).
        """
        if self._execution_parameters_fn is None:
            return None
        try:
            body, _media = response_bytes(self._execution_parameters_fn())
            params = json.loads(body)
        except Exception as err:  # any error in the user's view is a 500
            raise StepError(
                f"GET /execution-parameters failed: {type(err).__name__}: {err}"
            ) from err
        if not isinstance(params, dict):
            raise StepError(
                f"execution_parameters_fn must return a JSON object, got {type(params).__name__}"
            )
        return params

    def resolve_headers(self, content_type: str | None, accept: str | None) -> tuple[str, str]:
        """Content-Type defaults to JSON; a missing or ``*/*`` Accept to the default accept."""
        resolved_accept = self._default_accept if accept in (None, "", "*/*") else accept
        return content_type or codecs.JSON, str(resolved_accept)

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Response:
        """POST /invocations; raise InvocationError where the container answers 500."""
        ctype, accept_type = self.resolve_headers(content_type, accept)
        try:
            content: str | bytes = body.decode("utf-8") if ctype in codecs.UTF8_TYPES else body
            if self._transform_fn is not None:
                result = self._transform_fn(self.model, content, ctype, accept_type)
            else:
                data = self._input_fn(content, ctype)
                prediction = self._predict_fn(data, self.model)
                result = self._output_fn(prediction, accept_type)
            payload, media = response_bytes(result)
        except Exception as err:
            raise InvocationError(f"{type(err).__name__}: {err}") from err
        return Response(payload, media)
