"""Containers the runner does not emulate, served through SageMaker's HTTP contract:
``GET /ping``, ``GET /execution-parameters``, ``POST /invocations`` (developer guide, "Use Your
Own Inference Code with Batch Transform", your-algorithms-batch-code.html).

Two ways to start one: the image itself with Docker (``docker run <image> serve``, the model at
/opt/ml/model), where a Docker daemon answers; or the command the package declares for local runs
in its Environment under ``LOCAL_SERVE_COMMAND`` (``/opt/ml/...`` paths mapped to the container's
local root; it must listen on ``SAGEMAKER_BIND_TO_PORT``, which the runner sets).
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipelines.local.container import InvocationError, Response, first_line
from pipelines.local.errors import StepError

SERVE_COMMAND_KEY = "LOCAL_SERVE_COMMAND"
CONTAINER_PORT = 8080
# What a server that exits, resets or sends half an answer raises (IncompleteRead and
# BadStatusLine are HTTPExceptions, not OSErrors).
TRANSPORT_ERRORS = (OSError, http.client.HTTPException)
_PYTHONS = ("python", "python3")


def free_port() -> int:
    """A TCP port nobody listens on now (the server binds it right after)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@functools.lru_cache(maxsize=1)
def docker_answers() -> bool:
    """Whether a Docker daemon answers here (``docker info`` within 10 s)."""
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                              capture_output=True, timeout=10, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and bool(done.stdout.strip())


def map_container_paths(value: str, root: Path) -> str:
    """``/opt/ml/...`` inside ``value`` -> the container's local root."""
    return value.replace("/opt/ml/", f"{root}/opt/ml/")


class HttpContainer:
    """A started server; ``close`` stops it. Its output goes to ``<root>/serve.log``."""

    def __init__(self, label: str, port: int, process: subprocess.Popen[bytes], log: Path,
                 stop: list[str] | None = None) -> None:  # fmt: skip
        self.label, self.port, self._process, self.log = label, port, process, log
        self._stop = stop

    @classmethod
    def from_command(cls, label: str, command: str, root: Path, environment: Mapping[str, str],
                     startup_seconds: float) -> HttpContainer:  # fmt: skip
        """Run the declared serve command with the container's environment."""
        try:
            argv = [map_container_paths(part, root) for part in shlex.split(command)]
        except ValueError as err:
            message = f"{label}: {SERVE_COMMAND_KEY} {command!r} is not a command: {err}"
            raise StepError(message) from err
        if not argv:
            raise StepError(f"{label}: {SERVE_COMMAND_KEY} is empty")
        if argv[0] in _PYTHONS:
            argv[0] = sys.executable
        port = free_port()
        env = {**os.environ, **{k: map_container_paths(v, root) for k, v in environment.items()}}
        env["SAGEMAKER_BIND_TO_PORT"] = str(port)
        log = root / "serve.log"
        with log.open("ab") as out:
            try:
                process = subprocess.Popen(argv, cwd=root, env=env, stdout=out,
                                           stderr=subprocess.STDOUT)  # fmt: skip
            except OSError as err:
                message = f"{label}: cannot start {SERVE_COMMAND_KEY} {argv[0]}: {err}"
                raise StepError(message) from err
        server = cls(label, port, process, log)
        server.wait_ready(startup_seconds)
        return server

    @classmethod
    def from_docker(cls, label: str, image: str, model_dir: Path, environment: Mapping[str, str],
                    startup_seconds: float) -> HttpContainer:  # fmt: skip
        """``docker run <image> serve`` with the model mounted at /opt/ml/model."""
        port = free_port()
        name = f"local-runner-{os.getpid()}-{port}"
        argv = ["docker", "run", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:{CONTAINER_PORT}",
                "-v", f"{model_dir}:/opt/ml/model:ro"]  # fmt: skip
        for key, value in environment.items():
            argv += ["-e", f"{key}={value}"]
        log = model_dir.parent / "serve.log"
        with log.open("ab") as out:
            process = subprocess.Popen([*argv, image, "serve"], stdout=out,
                                       stderr=subprocess.STDOUT)  # fmt: skip
        server = cls(label, port, process, log, stop=["docker", "rm", "-f", name])
        server.wait_ready(startup_seconds)
        return server

    def _request(self, method: str, path: str, body: bytes | None = None,
                 headers: Mapping[str, str] | None = None,
                 timeout: float = 60) -> tuple[int, bytes, str]:  # fmt: skip
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            response = connection.getresponse()
            return response.status, response.read(), response.getheader("Content-Type") or ""
        finally:
            connection.close()

    def wait_ready(self, seconds: float) -> None:
        """Poll GET /ping until it answers 200; refuse when the server exits or is too slow."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise StepError(
                    f"{self.label}: the server exited with {self._process.returncode} before "
                    f"answering /ping (log: {self.log})"
                )
            try:
                if self._request("GET", "/ping", timeout=2)[0] == 200:
                    return
            except TRANSPORT_ERRORS:
                pass
            time.sleep(0.05)
        self.close()
        raise StepError(f"{self.label}: no 200 from /ping within {seconds:g} s (log: {self.log})")

    def broken(self, what: str, err: Exception) -> str:
        """One line: the container, the request that failed and why, the server's exit code
        when it is gone, and where its log is."""
        detail = first_line(str(err))
        if isinstance(err, ConnectionError):  # refused or reset: the server is often exiting
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(1)
        code = self._process.poll()
        gone = f"; the server exited with {code}" if code is not None else ""
        why = f"{type(err).__name__}: {detail}{gone}"
        return f"{self.label}: {what} failed: {why} (log: {self.log})"

    def execution_parameters(self) -> dict[str, Any] | None:
        """GET /execution-parameters: None on 404, the JSON object on 200."""
        try:
            status, body, _ = self._request("GET", "/execution-parameters")
        except TRANSPORT_ERRORS as err:
            raise StepError(self.broken("GET /execution-parameters", err)) from err
        if status == 404:
            return None
        try:
            params = json.loads(body) if status == 200 else None
        except ValueError:
            params = None
        if not isinstance(params, dict):
            raise StepError(
                f"{self.label}: GET /execution-parameters answered {status} without a JSON object "
                f"(log: {self.log})"
            )
        return params

    def invoke(self, body: bytes, content_type: str | None, accept: str | None) -> Response:
        """POST /invocations; a status other than 200 is an InvocationError."""
        headers = {"Content-Type": content_type} if content_type else {}
        if accept:
            headers["Accept"] = accept
        try:
            status, answer, media = self._request("POST", "/invocations", body, headers, 600)
        except TRANSPORT_ERRORS as err:
            raise InvocationError(self.broken("POST /invocations", err)) from err
        if status != 200:
            detail = first_line(answer.decode("utf-8", "replace"))
            raise InvocationError(detail or f"HTTP {status}", status)
        return Response(answer, media)

    def close(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        if self._stop is not None:
            subprocess.run(self._stop, capture_output=True, check=False, timeout=60)
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
