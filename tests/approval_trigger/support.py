"""Shared pieces of the approval trigger tests: constants, events and a GitHub stand-in."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from approval_trigger.events import FunctionIdentity

REGION = "us-east-1"
GROUP = "breast-cancer-classifier"
REPOSITORY = "acme/batch-gitops"
TABLE = "approval-trigger-dedup"
SECRET_ID = "approval-trigger/github-token"
TOKEN = "github_pat_11TESTTOKEN0123456789abcdefSECRET"
ACCOUNT = "111111111111"
ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/7"
IDENTITY = FunctionIdentity("aws", REGION, ACCOUNT)
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:approval-dispatch"
DISPATCH_PATH = f"/repos/{REPOSITORY}/actions/workflows/deploy.yml/dispatches"


@dataclass
class FakeGitHub:
    """Records every request and answers from a script of (status, headers, body) replies.

    ``delay`` seconds pass before each answer (a slow GitHub); ``hang`` keeps every request
    unanswered until the server stops; ``answer``, when given, holds each answer until it is
    set (a GitHub that answers exactly when the test says). All end early when the server stops.
    """

    port: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    replies: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    delay: float = 0.0
    hang: bool = False
    answer: threading.Event | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    received: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _handler_for(github: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            github.requests.append(
                {
                    "path": self.path,
                    "headers": dict(self.headers.items()),
                    "body": json.loads(self.rfile.read(length) or b"null"),
                }
            )
            github.received.set()
            if github.hang or github.delay:
                github.stopping.wait(None if github.hang else github.delay)
            while github.answer is not None and not github.answer.wait(0.05):
                if github.stopping.is_set():
                    break
            if github.stopping.is_set():
                return
            status, headers, body = github.replies.pop(0) if github.replies else (204, {}, b"")
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@contextmanager
def fake_github() -> Iterator[FakeGitHub]:
    """A GitHub stand-in on 127.0.0.1 (a free port), stopped on exit."""
    fake = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(fake))
    server.daemon_threads = True
    fake.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and no proxy, so nothing can reach a real account."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def create_resources(session: boto3.Session) -> None:
    """The token secret and the de-duplication table, as Terraform creates them."""
    session.client("secretsmanager").create_secret(Name=SECRET_ID, SecretString=TOKEN)
    session.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def event(
    status: str = "Approved",
    *,
    group: str = GROUP,
    arn: str = ARN,
    modified: Any = "2025-01-02T03:04:05Z",
    event_id: str = "0f1e2d3c-0000-4000-8000-000000000001",
    **detail: Any,
) -> dict[str, Any]:
    """A "SageMaker Model Package State Change" event as EventBridge delivers it."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": "2025-01-02T03:04:06Z",
        "region": REGION,
        "resources": [arn],
        "detail": {
            "ModelPackageGroupName": group,
            "ModelPackageArn": arn,
            "ModelApprovalStatus": status,
            "ModelPackageStatus": "Completed",
            "LastModifiedTime": modified,
            **detail,
        },
    }


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object the handler reads."""

    invoked_function_arn: str = FUNCTION_ARN
    remaining_ms: int = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def items(session: boto3.Session) -> dict[str, dict[str, Any]]:
    """The de-duplication table's items by key."""
    found = session.client("dynamodb").scan(TableName=TABLE)["Items"]
    return {item["pk"]["S"]: dict(item) for item in found}


def markers(session: boto3.Session) -> list[str]:
    """The keys of the de-duplication table."""
    return sorted(items(session))
