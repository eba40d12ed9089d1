"""Send every object's payloads to the container with N workers; write one .out per object.

Order is kept with a FIFO window of futures; an object's output is written as a multipart
upload that is completed only when all its requests succeeded and aborted otherwise. Completing
an output (its last upload) runs in the background while the next objects are scored.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from pipelines.local.container import Container, InvocationError
from pipelines.local.errors import StepError
from pipelines.local.s3io import MultipartWriter, S3Uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# One request: payload bytes plus the record texts DataProcessing needs (None on the fast path).
Request = tuple[bytes, "list[str] | None"]


@dataclass(frozen=True)
class Invoker:
    """Calls the container with the job's headers, retries and timeout."""

    container: Container
    content_type: str | None
    accept: str | None
    max_retries: int
    timeout_seconds: float

    def __call__(self, payload: bytes) -> bytes:
        """Return the response body; raise InvocationError after the last retry."""
        error: InvocationError | None = None
        for _attempt in range(self.max_retries + 1):
            started = time.monotonic()
            try:
                response = self.container.invoke(payload, self.content_type, self.accept)
            except InvocationError as err:
                error = err
                continue
            if time.monotonic() - started > self.timeout_seconds:
                error = InvocationError(f"request timed out after {self.timeout_seconds:g} s")
                continue
            return response.body
        assert error is not None
        raise error


@dataclass
class ObjectState:
    """Progress of one input object."""

    label: str
    writer: MultipartWriter
    error: str | None = None
    records: int = 0
    requests: int = 0

    def fail(self, message: str) -> None:
        """Remember the first failure; later requests of this object are skipped."""
        if self.error is None:
            self.error = message


@dataclass
class DispatchResult:
    """What happened to every object."""

    succeeded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    records: int = 0
    requests: int = 0


@dataclass
class Dispatcher:
    """Runs requests in a pool of ``workers`` threads and writes results in input order."""

    s3: S3Client
    invoker: Invoker
    workers: int
    write_response: Callable[[ObjectState, bytes, list[str] | None], None]
    result: DispatchResult = field(default_factory=DispatchResult)
    writer: Callable[[S3Uri], MultipartWriter] | None = None
    _closing: list[tuple[ObjectState, Future[None]]] = field(default_factory=list)

    def run(self, jobs: Iterator[tuple[str, S3Uri, Iterator[Request]]]) -> DispatchResult:
        """Process ``(label, output URI, requests)`` per object, in order."""
        window: deque[tuple[ObjectState, Future[bytes] | None, list[str] | None]] = deque()
        make = self.writer or (lambda uri: MultipartWriter(self.s3, uri))
        closer = ThreadPoolExecutor(max_workers=2, thread_name_prefix="close")
        with closer, ThreadPoolExecutor(self.workers, thread_name_prefix="invoke") as pool:
            self._closer = closer
            try:
                for label, out_uri, requests in jobs:
                    state = ObjectState(label, make(out_uri))
                    try:
                        for payload, inputs in requests:
                            if state.error is not None:
                                break
                            state.requests += 1
                            state.records += payload.count(b"\n") + (
                                0 if payload.endswith(b"\n") else 1
                            )
                            window.append((state, pool.submit(self.invoker, payload), inputs))
                            while len(window) > 2 * self.workers:
                                self._drain_one(window)
                    except StepError as err:
                        state.fail(f"{label}: {err}")
                    window.append((state, None, None))
                while window:
                    self._drain_one(window)
                self._collect()
            except BaseException:
                for state, future, _ in window:
                    if future is not None:
                        future.cancel()
                    state.writer.abort()
                raise
        return self.result

    def _drain_one(
        self, window: deque[tuple[ObjectState, Future[bytes] | None, list[str] | None]]
    ) -> None:
        state, future, inputs = window.popleft()
        if future is None:
            self._finish(state)
            return
        try:
            body = future.result()
        except InvocationError as err:
            state.fail(f"{state.label}: ClientError: {err.status} ({err})")
            return
        if state.error is None:
            try:
                self.write_response(state, body, inputs)
            except StepError as err:
                state.fail(f"{state.label}: {err}")

    def _finish(self, state: ObjectState) -> None:
        if state.error is None:
            self._closing.append((state, self._closer.submit(state.writer.close)))
            while len(self._closing) > 2 * self.workers:  # bounded: outputs wait in memory
                self._collect_first()
        else:
            state.writer.abort()
            self.result.failed.append(state.error)

    def _collect(self) -> None:
        """Wait for every output being completed."""
        while self._closing:
            self._collect_first()

    def _collect_first(self) -> None:
        """Wait for the oldest output; one that cannot be written fails its object."""
        state, closing = self._closing.pop(0)
        try:
            closing.result()
        except (BotoCoreError, ClientError) as err:
            state.writer.abort()
            self.result.failed.append(f"{state.label}: cannot write its output: {err}")
            return
        self.result.succeeded.append(state.label)
        self.result.records += state.records
        self.result.requests += state.requests
