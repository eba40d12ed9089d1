"""The approval trigger never loses an approval: deadlines, leases, kills and crafted events.

GitHub is a real HTTP server on 127.0.0.1 that can be slow or never answer; the killed
invocation is a real process killed with SIGKILL while it holds the lease, against a moto server.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from approval_trigger import dedup
from approval_trigger import lambda_function as fn
from approval_trigger import settings as cfg
from approval_trigger.events import FunctionIdentity
from approval_trigger.failures import ClaimBusy, ConfigurationError, DispatchError, TriggerError
from testbed.local_aws import local_aws
from tests.approval_trigger.support import (
    ACCOUNT,
    ARN,
    GROUP,
    IDENTITY,
    REGION,
    FakeGitHub,
    LambdaContext,
    create_resources,
    event,
    fake_credentials,
    fake_github,
    items,
    markers,
)
from utils import new_session

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = REPO_ROOT / "approval_trigger"
KEY = f"{ARN}#Approved#2025-01-02T03:04:05Z"


# --- the GitHub call has a total deadline -----------------------------------------------------


def test_a_slow_github_is_given_up_within_the_deadline_and_the_lease_released(
    run: Any, github: FakeGitHub, aws: boto3.Session, config: cfg.Settings
) -> None:
    # GIVEN a GitHub that takes 3 s to answer and a 0.4 s deadline for the call
    github.delay = 3.0
    short = replace(config, github_deadline_seconds=0.4)

    # WHEN handled
    start = time.monotonic()
    with pytest.raises(DispatchError, match="not accepted within its deadline"):
        run(event(), settings=short)
    elapsed = time.monotonic() - start
    print(f"slow GitHub (3 s): gave up after {elapsed:.2f} s with a 0.4 s deadline")

    # THEN the invocation gave up before GitHub answered, and released its lease
    assert elapsed < github.delay
    assert markers(aws) == []
    # AND Lambda's retry, once GitHub is fast again, dispatches and marks the change done
    github.delay = 0.0
    assert run(event())["dispatched"] is True
    assert items(aws)[KEY]["done"] == {"BOOL": True}


def test_the_time_left_in_the_invocation_caps_the_deadline(
    run: Any, github: FakeGitHub, aws: boto3.Session
) -> None:
    # GIVEN a GitHub that never answers and an invocation with 3.4 s left (3 s are kept back)
    github.hang = True

    # WHEN handled
    start = time.monotonic()
    with pytest.raises(DispatchError, match="deadline"):
        run(event(), remaining=lambda: fn.END_MARGIN_SECONDS + 0.4)

    # THEN the call stopped with the invocation's time, not the 20 s default
    assert time.monotonic() - start < cfg.DEFAULT_GITHUB_DEADLINE_SECONDS / 2
    assert markers(aws) == []


def test_no_claim_is_taken_without_time_to_dispatch(
    run: Any, github: FakeGitHub, aws: boto3.Session
) -> None:
    # GIVEN an invocation about to time out  WHEN handled
    with pytest.raises(TriggerError, match="too little time"):
        run(event(), remaining=lambda: 1.0)

    # THEN nothing is claimed or sent: the retry starts afresh
    assert markers(aws) == []
    assert github.requests == []


def test_the_budget_fits_the_lease_and_the_invocation(config: cfg.Settings) -> None:
    assert fn.github_budget(config, float("inf")) == cfg.DEFAULT_GITHUB_DEADLINE_SECONDS
    assert fn.github_budget(config, 10.0) == 10.0 - fn.END_MARGIN_SECONDS
    short_lease = replace(config, lease_seconds=12)
    assert fn.github_budget(short_lease, 30.0) == 12 - cfg.LEASE_MARGIN_SECONDS


# --- the lease: done only after 204, a live lease blocks, an expired one does not ----------


def test_the_change_is_marked_done_only_after_github_accepted(
    aws: boto3.Session, github: FakeGitHub, config: cfg.Settings
) -> None:
    # GIVEN a GitHub that answers only when the test has looked at the table
    github.answer = threading.Event()
    runtime = fn.Runtime(session=aws)
    results: list[dict[str, Any]] = []

    def handle() -> None:
        results.append(
            fn.handle_event(event(), settings=config, runtime=runtime, identity=IDENTITY)
        )

    # WHEN the dispatch is in flight
    worker = threading.Thread(target=handle)
    worker.start()
    assert github.received.wait(10)
    during = items(aws)[KEY]
    github.answer.set()
    worker.join(10)

    # THEN meanwhile the change is leased, not done; after the 204 it is done
    assert during["done"] == {"BOOL": False}
    assert float(during["lease_until"]["N"]) > time.time()
    assert results == [
        {"dispatched": True, "reason": "Approved", "model_package_arn": ARN, "status": "Approved"}
    ]
    assert items(aws)[KEY]["done"] == {"BOOL": True}


def test_a_failed_done_marker_does_not_fail_an_accepted_dispatch(
    run: Any, github: FakeGitHub, aws: boto3.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN DynamoDB fails when the done marker is written after GitHub's 204
    def unavailable(*args: Any, **kwargs: Any) -> bool:
        raise ClientError({"Error": {"Code": "InternalServerError"}}, "PutItem")

    monkeypatch.setattr(dedup, "mark_done", unavailable)

    # WHEN handled
    result = run(event())

    # THEN the invocation succeeds (a retry would dispatch again); the lease will expire
    assert result["dispatched"] is True
    assert len(github.requests) == 1
    assert items(aws)[KEY]["done"] == {"BOOL": False}


@pytest.mark.parametrize("answer", [200, 202], ids=["200", "202"])
def test_an_answer_other_than_204_is_not_an_accepted_dispatch(
    run: Any, github: FakeGitHub, aws: boto3.Session, answer: int
) -> None:
    # GIVEN a 2xx answer that is not GitHub's 204
    github.replies[:] = [(answer, {}, b"{}")]

    # WHEN handled, THEN it fails and the change is not marked done
    with pytest.raises(DispatchError, match=f"HTTP {answer}"):
        run(event())
    assert markers(aws) == []


def test_a_live_lease_blocks_a_concurrent_duplicate_an_expired_one_does_not(
    run: Any, github: FakeGitHub, aws: boto3.Session, config: cfg.Settings
) -> None:
    # GIVEN another invocation claimed the change at t=1000 and is still dispatching
    client = aws.client("dynamodb")
    taken = dedup.claim(
        client,
        config.dedup_table,
        KEY,
        owner="other",
        now=1_000.0,
        lease_seconds=config.lease_seconds,
        ttl_seconds=config.dedup_ttl_seconds,
    )
    assert taken is dedup.Claim.TAKEN

    # WHEN a duplicate delivery arrives while the lease is live
    # THEN it does not dispatch, and fails so that Lambda retries it
    with pytest.raises(ClaimBusy, match="another invocation"):
        run(event(), now=lambda: 1_000.0 + config.lease_seconds - 1)
    assert github.requests == []

    # WHEN a delivery arrives after the lease expired (the holder died)
    result = run(event(), now=lambda: 1_000.0 + config.lease_seconds + 1)

    # THEN it dispatches once; later deliveries are duplicates
    assert result["dispatched"] is True
    assert run(event(), now=lambda: 2_000.0)["reason"] == "duplicate delivery"
    assert len(github.requests) == 1


def test_a_failed_invocation_releases_only_its_own_claim(aws: boto3.Session) -> None:
    # GIVEN a claim held by "other"
    client = aws.client("dynamodb")
    table = "approval-trigger-dedup"
    dedup.claim(
        client, table, KEY, owner="other", now=time.time(), lease_seconds=40, ttl_seconds=60
    )

    # WHEN "me" releases or marks it
    dedup.release(client, table, KEY, owner="me")
    marked = dedup.mark_done(client, table, KEY, owner="me", now=time.time(), ttl_seconds=60)

    # THEN the claim is untouched
    assert marked is False
    assert items(aws)[KEY]["owner"] == {"S": "other"}
    assert items(aws)[KEY]["done"] == {"BOOL": False}


def test_a_refused_claim_without_the_old_item_is_busy_not_done() -> None:
    # GIVEN DynamoDB refuses the claim without returning the item it compared
    class Refusing:
        def put_item(self, **kwargs: Any) -> None:
            assert kwargs["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
            raise ClientError({"Error": {"Code": "ConditionalCheckFailedException"}}, "PutItem")

    # WHEN claiming
    claimed = dedup.claim(
        Refusing(),  # type: ignore[arg-type]
        "t", KEY, owner="me", now=1.0, lease_seconds=40, ttl_seconds=60,
    )  # fmt: skip

    # THEN the change is not taken for done (which would drop it): Lambda retries
    assert claimed is dedup.Claim.BUSY


# --- a killed invocation ----------------------------------------------------------------------

_CHILD = """
import json, sys
import boto3
from approval_trigger import lambda_function as fn
from approval_trigger.events import FunctionIdentity
from approval_trigger.settings import Settings

args = json.loads(sys.argv[1])
fn.handle_event(
    args["event"],
    settings=Settings(**args["settings"]),
    runtime=fn.Runtime(boto3.Session(region_name=args["region"])),
    identity=FunctionIdentity(*args["identity"]),
    owner="killed",
)
"""


def test_an_invocation_killed_holding_the_lease_loses_no_approval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a moto server, a GitHub that never answers, and an invocation in its own process
    fake_credentials(monkeypatch)
    with local_aws(), fake_github() as github:
        session = new_session(region_name=REGION)
        create_resources(session)
        config = cfg.Settings(
            repository="acme/batch-gitops",
            token_secret_id="approval-trigger/github-token",
            group_name=GROUP,
            dedup_table="approval-trigger-dedup",
            api_url=github.url,
        )
        github.hang = True
        args = {
            "event": event(),
            "settings": config.__dict__,
            "region": REGION,
            "identity": [IDENTITY.partition, IDENTITY.region, IDENTITY.account],
        }
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, json.dumps(args)],
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            # WHEN it is killed (as Lambda ends a timed-out invocation) mid-dispatch
            assert github.received.wait(30), child.stderr.read() if child.stderr else ""
            child.kill()
        finally:
            child.wait(10)
        left = items(session)[KEY]
        assert (left["owner"], left["done"]) == ({"S": "killed"}, {"BOOL": False})
        github.hang = False
        runtime = fn.Runtime(session=session)
        lease_until = float(left["lease_until"]["N"])

        def deliver(at: float) -> dict[str, Any]:
            return fn.handle_event(
                event(), settings=config, runtime=runtime, identity=IDENTITY, now=lambda: at
            )

        # THEN a duplicate while the dead invocation's lease is live does not dispatch
        with pytest.raises(ClaimBusy):
            deliver(lease_until - 1)
        # AND Lambda's retry, which comes 60 s after the failure, dispatches exactly once
        retry_at = lease_until - config.lease_seconds + cfg.FIRST_RETRY_WAIT_SECONDS
        assert deliver(retry_at)["dispatched"] is True
        assert deliver(retry_at + 120)["reason"] == "duplicate delivery"
        assert len(github.requests) == 2  # the killed one, never answered, and the retry
        assert items(session)[KEY]["done"] == {"BOOL": True}


# --- crafted events: only this function's own packages dispatch -------------------------------

_OTHER = "222222222222"
_CRAFTED: list[tuple[str, dict[str, Any], bool]] = [
    ("approved", event(event_id="e1", modified="m1"), True),
    ("rejected", event("Rejected", event_id="e2", modified="m2"), True),
    ("epoch-millis-time", event(event_id="e3", modified=1735787045000), True),
    ("no-time-uses-event-id", event(event_id="e4", modified=None), True),
    ("other-account", event(arn=ARN.replace(ACCOUNT, _OTHER)), False),
    ("other-region", event(arn=ARN.replace(REGION, "eu-west-1")), False),
    ("other-partition", event(arn=ARN.replace("arn:aws:", "arn:aws-cn:")), False),
    ("forged-claims", {**event(arn=ARN.replace(ACCOUNT, _OTHER)), "account": _OTHER}, False),
    ("arn-newline", event(arn=ARN + "\n"), False),
    ("arn-of-other-group", event(arn=ARN.replace(f"/{GROUP}/", "/other-group/")), False),
    ("arn-not-a-string", event(arn=[ARN]), False),  # type: ignore[arg-type]
    ("time-3000-chars", event(modified="2" * 3000), False),
    ("time-not-a-string", event(modified={"t": 1}), False),
    ("id-3000-chars", event(modified=None, event_id="x" * 3000), False),
    ("status-not-a-string", event(status=1), False),  # type: ignore[arg-type]
    ("pending", event("PendingManualApproval"), False),
    ("in-progress", event(ModelPackageStatus="InProgress"), False),
    ("other-source", {**event(), "source": "acme.sagemaker"}, False),
]


def test_crafted_events(
    run: Any, github: FakeGitHub, aws: boto3.Session, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN 18 crafted events, 4 of them genuine state changes of this account's group
    assert len(_CRAFTED) == 18
    caplog.set_level(logging.INFO, logger="approval_trigger")
    outcomes: dict[str, bool] = {}
    for name, crafted, dispatches in _CRAFTED:
        caplog.clear()
        before = len(github.requests)

        # WHEN each is handled
        result = run(crafted)

        # THEN genuine ones dispatch once; the others are refused in one short log line,
        # without a traceback, a claim or a GitHub call
        outcomes[name] = result["dispatched"]
        assert result["dispatched"] is dispatches, name
        assert len(github.requests) == before + dispatches, name
        if not dispatches:
            [record] = caplog.records
            assert record.levelno == logging.WARNING and record.exc_info is None, name
            line = record.getMessage()
            assert "\n" not in line and len(line) < 400, name
    assert sum(outcomes.values()) == 4
    assert len(markers(aws)) == 4
    print(
        f"crafted events: {sum(outcomes.values())} dispatched, "
        f"{len(outcomes) - sum(outcomes.values())} refused of {len(outcomes)}"
    )


def test_the_identity_is_the_invoked_function_not_the_event(
    aws: boto3.Session,
    github: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
    config: cfg.Settings,
) -> None:
    # GIVEN the function runs in another account than the event claims and the ARN names
    for name, value in {
        "GITHUB_REPOSITORY": config.repository,
        "DEDUP_TABLE": config.dedup_table,
        "GITHUB_TOKEN_SECRET_ID": config.token_secret_id,
        "MODEL_PACKAGE_GROUP_NAME": GROUP,
        "GITHUB_API_URL": github.url,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(fn, "_RUNTIME", None)
    foreign = LambdaContext(invoked_function_arn=f"arn:aws:lambda:{REGION}:{_OTHER}:function:f")

    # WHEN invoked
    result = fn.lambda_handler(event(), foreign)

    # THEN the package of the other account is refused
    assert result["dispatched"] is False
    assert "not in this function's partition, region and account" in result["reason"]
    assert github.requests == []
    with pytest.raises(ConfigurationError, match="not a Lambda ARN"):
        fn.lambda_handler(event(), LambdaContext(invoked_function_arn="nonsense"))


@pytest.mark.parametrize(
    ("arn", "identity"),
    [
        ("arn:aws:lambda:eu-west-1:123456789012:function:f", ("aws", "eu-west-1", "123456789012")),
        (
            "arn:aws-cn:lambda:cn-north-1:123456789012:function:f:live",
            ("aws-cn", "cn-north-1", "123456789012"),
        ),
    ],
)
def test_function_identity_from_its_arn(arn: str, identity: tuple[str, str, str]) -> None:
    assert FunctionIdentity.from_function_arn(arn) == FunctionIdentity(*identity)


# --- packaging: the zip Terraform builds imports with the standard library and boto3 ---------


def test_the_package_zip_is_reproducible(
    tmp_path: Path, load_script: Callable[[str], ModuleType]
) -> None:
    # GIVEN two builds of the package at different times
    lambda_zip = load_script("lambda_zip")
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    names = lambda_zip.build_zip(first)
    os.utime(PACKAGE / "lambda_function.py")  # a touched file changes no byte of the zip
    lambda_zip.build_zip(second)

    # THEN they are byte for byte the same, holding every module under approval_trigger/
    assert first.read_bytes() == second.read_bytes()
    assert names == [f"approval_trigger/{path.name}" for path in sorted(PACKAGE.glob("*.py"))]
    with zipfile.ZipFile(first) as archive:
        assert {entry.date_time for entry in archive.infolist()} == {lambda_zip.FIXED_TIME}


def test_the_package_zip_imports_with_the_runtime_only(
    tmp_path: Path, load_script: Callable[[str], ModuleType]
) -> None:
    # GIVEN the zip scripts/lambda_zip.py builds: approval_trigger/*.py under approval_trigger/
    modules = sorted(PACKAGE.glob("*.py"))
    archive = tmp_path / "lambda_function.zip"
    load_script("lambda_zip").build_zip(archive)

    # THEN every import is the standard library, boto3/botocore, a sibling or typing-only
    allowed = set(sys.stdlib_module_names) | {
        "boto3",
        "botocore",
        "mypy_boto3_dynamodb",
        "mypy_boto3_secretsmanager",
    }
    for module in modules:
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            assert {name.split(".")[0] for name in names} <= allowed, module.name
    # AND the handler imports from the zip alone, in an isolated interpreter
    probe = (
        f"import sys; sys.path.insert(0, {str(archive)!r}); import importlib; "
        "m = importlib.import_module('approval_trigger.lambda_function'); "
        "print(m.__file__, callable(m.lambda_handler))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", probe],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == f"{archive}/approval_trigger/lambda_function.py True"
