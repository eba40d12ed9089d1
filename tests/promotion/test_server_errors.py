"""A server error is reported as what it is, naming the call: a 500 page with no AWS error code is
not retried as throttling; AWS's own server errors and unavailability are retried, then named."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.retries.standard import ExponentialBackoff

from errors import ServiceError
from utils import aws_errors, make_client, new_session, readable

PAGE = b"<!doctype html>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>"


class Answers:
    """What the fake endpoint answers (status, content type, body), and how often it was asked."""

    status = 500
    content_type = "text/html; charset=utf-8"
    body = PAGE
    requests = 0


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Answers]]:
    """An HTTP endpoint on loopback answering every request with `Answers`."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            Answers.requests += 1
            self.send_response(Answers.status)
            self.send_header("Content-Type", Answers.content_type)
            self.send_header("Content-Length", str(len(Answers.body)))
            self.end_headers()
            self.wfile.write(Answers.body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    Answers.requests = 0
    yield Answers
    server.shutdown()


def call(principal: str = "the stage account") -> str:
    """ListPipelineExecutionSteps through the project's client; the one-line error."""
    sagemaker = make_client(new_session(region_name="us-east-1"), "sagemaker")
    arn = "arn:aws:sagemaker:us-east-1:222222222222:pipeline/p/execution/e"
    with pytest.raises(ServiceError) as failed, aws_errors(principal, "run_pipeline"):
        sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn)
    return str(failed.value)


def test_a_500_page_without_an_aws_error_is_named_at_once(endpoint: type[Answers]) -> None:
    # GIVEN an endpoint answering a 500 HTML page (the embedded AWS failing, a proxy)
    # WHEN a call meets it
    message = call()
    # THEN it was asked once, and the line names the call, the status and the page's title,
    # and blames the endpoint, not throttling
    assert endpoint.requests == 1
    assert message.startswith("ListPipelineExecutionSteps for the stage account failed: HTTP 500")
    assert (
        "(500 Internal Server Error)" in message and "AWS_ENDPOINT_URL=http://127.0.0.1" in message
    )
    assert "not throttling" in message and "\n" not in message


def test_an_aws_server_error_is_retried_then_named(
    endpoint: type[Answers], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an endpoint answering AWS's own server error (JSON protocol: __type names the code),
    # and botocore's backoff without its waits
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda *_: 0)
    endpoint.content_type = "application/x-amz-json-1.1"
    endpoint.body = json.dumps({"__type": "InternalFailure", "message": "try again"}).encode()

    # WHEN a call meets it every time
    message = call()

    # THEN every retry was made, and the line says it was a server error of AWS
    assert endpoint.requests == 11
    assert "kept failing (InternalFailure, HTTP 500: try again) after 11 attempts" in message
    assert "a server error of AWS, not throttling" in message


@pytest.mark.parametrize(
    ("status", "code", "says"),
    [
        (503, "ServiceUnavailable", "AWS is unavailable: re-run later"),
        (502, "", "AWS is unavailable: re-run later"),
        (400, "ThrottlingException", "AWS is throttling: re-run later"),
        (429, "TooManyRequestsException", "AWS is throttling: re-run later"),
    ],
)
def test_throttling_and_unavailability_are_told_apart(status: int, code: str, says: str) -> None:
    # GIVEN AWS's answer after the last retry
    answer: Any = {"Error": {"Code": code or str(status), "Message": "m"},
                   "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": 10}}  # fmt: skip
    error = ClientError(answer, "ListPipelineExecutionSteps")
    # WHEN it is translated  THEN the line names the call and says which it was
    with pytest.raises(ServiceError, match=says) as failed, aws_errors("p", "run_pipeline"):
        raise error
    assert str(failed.value).startswith("ListPipelineExecutionSteps for p kept failing")


def test_a_page_is_read_by_its_title_and_long_text_is_cut() -> None:
    assert readable(PAGE.decode()) == "500 Internal Server Error"
    assert readable("<p>x</p>" + "y" * 300).endswith("...")
    assert len(readable("y" * 300)) == 160
