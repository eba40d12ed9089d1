"""The embedded AWS answers one request at a time (testbed/local_aws.py), yet a handler that waits
on requests of its own (StartPipelineExecution running the pipeline, whose steps call the same
server) gets them answered: the rehearsal's smoke run timed out without it."""

from __future__ import annotations

import threading
from typing import Any

from testbed.local_aws import answering_others, serve_one_request_at_a_time


class _Server:
    """What serve_one_request_at_a_time wraps: a WSGI application in `app`."""

    def __init__(self, app: Any) -> None:
        self.app = app


def _serve(server: _Server, path: str, answered: list[str]) -> threading.Thread:
    def request() -> None:
        answered.extend(b.decode() for b in server.app({"PATH_INFO": path}, lambda *_: None))

    thread = threading.Thread(target=request, daemon=True)
    thread.start()
    return thread


def test_a_handler_waiting_on_its_own_request_lets_the_server_answer_it() -> None:
    # GIVEN a serialized server whose /outer handler makes an /inner request and waits for it
    answered: list[str] = []

    def app(environ: dict[str, Any], _start: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/outer":
            with answering_others():
                _serve(server, "/inner", answered).join(5)
        return [environ["PATH_INFO"].encode()]

    server = _Server(app)
    serve_one_request_at_a_time(server)
    # WHEN /outer is requested
    _serve(server, "/outer", answered).join(10)
    # THEN the inner request was answered while the outer one waited, then the outer one
    assert answered == ["/inner", "/outer"]


def test_other_requests_still_wait_for_the_one_being_answered() -> None:
    # GIVEN a serialized server whose handler is busy until released
    release, entered = threading.Event(), threading.Event()
    answered: list[str] = []

    def app(environ: dict[str, Any], _start: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/slow":
            entered.set()
            release.wait(5)
        return [environ["PATH_INFO"].encode()]

    server = _Server(app)
    serve_one_request_at_a_time(server)
    slow = _serve(server, "/slow", answered)
    assert entered.wait(5)
    # WHEN another request arrives meanwhile
    fast = _serve(server, "/fast", answered)
    fast.join(0.3)
    # THEN it is answered only after the first one
    assert answered == []
    release.set()
    slow.join(5)
    fast.join(5)
    assert answered == ["/slow", "/fast"]
