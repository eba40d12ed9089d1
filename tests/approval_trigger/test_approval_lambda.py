"""The approval trigger Lambda against a real HTTP server on 127.0.0.1 standing in for GitHub.

Secrets Manager and DynamoDB come from moto's ``mock_aws``; nothing leaves the machine.
"""

from __future__ import annotations

import json
import logging
import socket
import traceback
from typing import Any

import boto3
import pytest

from approval_trigger import github as gh
from approval_trigger import lambda_function as fn
from approval_trigger import settings as cfg
from approval_trigger.failures import ConfigurationError, DispatchError, TokenError, TriggerError
from tests.approval_trigger.support import (
    ACCOUNT,
    ARN,
    DISPATCH_PATH,
    GROUP,
    IDENTITY,
    REGION,
    REPOSITORY,
    SECRET_ID,
    TABLE,
    TOKEN,
    FakeGitHub,
    LambdaContext,
    event,
    markers,
)

# --- dispatch: path, headers, body ------------------------------------------------------------


def test_approved_dispatches_deploy_with_the_package_arn(
    run: Any, github: FakeGitHub, aws: boto3.Session
) -> None:
    # GIVEN an approval of a version of the watched group
    # WHEN the handler runs
    result = run(event("Approved"))

    # THEN deploy.yml is dispatched once on main with that ARN, with GitHub's headers
    assert result["dispatched"] is True
    assert len(github.requests) == 1
    request = github.requests[0]
    assert request["path"] == DISPATCH_PATH
    assert request["body"] == {
        "ref": "main",
        "inputs": {"model_package_arn": ARN, "skip_prod": "false"},
    }
    headers = {name.lower(): value for name, value in request["headers"].items()}
    assert headers["accept"] == "application/vnd.github+json"
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["x-github-api-version"] == "2022-11-28"
    assert headers["user-agent"] == gh.USER_AGENT
    assert headers["content-type"] == "application/json"
    # AND the state change is recorded with an expiry
    assert markers(aws) == [f"{ARN}#Approved#2025-01-02T03:04:05Z"]


def test_rejected_dispatches_with_an_empty_arn(run: Any, github: FakeGitHub) -> None:
    # GIVEN a rejection  WHEN handled
    result = run(event("Rejected"))

    # THEN the workflow redeploys the latest still-approved version (empty ARN)
    assert result["dispatched"] is True
    assert github.requests[0]["body"]["inputs"] == {"model_package_arn": "", "skip_prod": "false"}


def test_custom_workflow_ref_and_json_token_secret(
    run: Any, github: FakeGitHub, aws: boto3.Session, config: cfg.Settings
) -> None:
    # GIVEN a secret holding JSON with a token key, another workflow file and ref
    aws.client("secretsmanager").put_secret_value(
        SecretId=SECRET_ID, SecretString=json.dumps({"token": TOKEN, "note": "fine-grained"})
    )
    custom = cfg.Settings(**{**config.__dict__, "workflow": "promote.yml", "ref": "release"})

    # WHEN handled
    run(event(), settings=custom)

    # THEN the path and ref follow the settings and the token is the JSON's
    request = github.requests[0]
    assert request["path"] == f"/repos/{REPOSITORY}/actions/workflows/promote.yml/dispatches"
    assert request["body"]["ref"] == "release"
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"


# --- filtering --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("the_event", "reason"),
    [
        (event("PendingManualApproval"), "approval status"),
        (event(group="another-group"), "model package group"),
        (event(arn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/other/3"), "not a version"),
        (event(ModelPackageStatus="InProgress"), "not Completed"),
        ({**event(), "source": "aws.s3"}, "not a SageMaker"),
        ({**event(), "detail-type": "SageMaker Model State Change"}, "not a SageMaker"),
        ({**event(), "detail": None}, "no detail"),
    ],
    ids=["pending", "other-group", "arn-of-other-group", "in-progress", "source", "type", "detail"],
)
def test_other_events_start_nothing(
    run: Any, github: FakeGitHub, aws: boto3.Session, the_event: dict[str, Any], reason: str
) -> None:
    # GIVEN an event that is not an approval or rejection of the watched group
    # WHEN handled
    result = run(the_event)

    # THEN nothing is dispatched or recorded
    assert result["dispatched"] is False
    assert reason in result["reason"]
    assert github.requests == []
    assert markers(aws) == []


# --- de-duplication ---------------------------------------------------------------------------


def test_repeated_delivery_of_one_state_change_dispatches_once(
    run: Any, github: FakeGitHub
) -> None:
    # GIVEN EventBridge delivers one approval twice (same event)
    first = run(event())
    second = run(event())

    # THEN only the first dispatches
    assert first["dispatched"] is True
    assert second == {
        "dispatched": False,
        "reason": "duplicate delivery",
        "model_package_arn": ARN,
        "status": "Approved",
    }
    assert len(github.requests) == 1


def test_second_genuine_approval_after_a_reject_dispatches_again(
    run: Any, github: FakeGitHub
) -> None:
    # GIVEN approve, reject, approve again of the same version (new modification times)
    run(event("Approved", modified="2025-01-02T03:04:05Z", event_id="a"))
    run(event("Rejected", modified="2025-01-03T03:04:05Z", event_id="b"))
    run(event("Approved", modified="2025-01-04T03:04:05Z", event_id="c"))

    # THEN each change dispatches
    assert [r["body"]["inputs"]["model_package_arn"] for r in github.requests] == [ARN, "", ARN]


def test_an_expired_marker_no_longer_blocks(
    aws: boto3.Session, config: cfg.Settings, github: FakeGitHub
) -> None:
    # GIVEN a marker whose time-to-live has passed but that DynamoDB has not deleted yet
    runtime = fn.Runtime(session=aws)
    fn.handle_event(
        event(), settings=config, runtime=runtime, identity=IDENTITY, now=lambda: 1_000.0
    )

    # WHEN the same change arrives after the expiry
    later = 1_000.0 + config.dedup_ttl_seconds + 1
    result = fn.handle_event(
        event(), settings=config, runtime=runtime, identity=IDENTITY, now=lambda: later
    )

    # THEN it dispatches again
    assert result["dispatched"] is True
    assert len(github.requests) == 2


# --- retries and failures ---------------------------------------------------------------------


def test_server_errors_are_retried_with_backoff(
    run: Any, github: FakeGitHub, sleeps: list[float]
) -> None:
    # GIVEN GitHub fails twice with 5xx, then accepts
    github.replies[:] = [(502, {}, b""), (503, {}, b'{"message": "unavailable"}')]

    # WHEN handled
    result = run(event())

    # THEN the call is retried with growing waits and succeeds
    assert result["dispatched"] is True
    assert len(github.requests) == 3
    assert sleeps == [1.0, 2.0]


def test_rate_limit_honours_retry_after_within_the_bound(
    run: Any, github: FakeGitHub, sleeps: list[float]
) -> None:
    # GIVEN a 429 asking for 3 s, then a secondary rate limit (403) asking for an hour
    github.replies[:] = [
        (429, {"Retry-After": "3"}, b""),
        (403, {"Retry-After": "3600"}, b'{"message": "secondary rate limit"}'),
    ]

    # WHEN handled
    run(event())

    # THEN both are retried, waits honour Retry-After but never exceed the cap
    assert len(github.requests) == 3
    assert sleeps == [3.0, gh.BACKOFF_MAX_SECONDS]


def test_persistent_server_errors_fail_and_release_the_marker(
    run: Any, github: FakeGitHub, aws: boto3.Session, sleeps: list[float]
) -> None:
    # GIVEN GitHub keeps failing
    github.replies[:] = [(500, {}, b"")] * gh.MAX_ATTEMPTS

    # WHEN handled, THEN it raises after a bounded number of attempts
    with pytest.raises(
        DispatchError, match=f"after {gh.MAX_ATTEMPTS} attempt\\(s\\), last with HTTP 500"
    ):
        run(event())
    assert len(github.requests) == gh.MAX_ATTEMPTS
    assert len(sleeps) == gh.MAX_ATTEMPTS - 1
    assert all(wait <= gh.BACKOFF_MAX_SECONDS for wait in sleeps)
    # AND the marker is released, so Lambda's retry of the same event dispatches
    assert markers(aws) == []
    assert run(event())["dispatched"] is True


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (401, "put a valid token in secret"),
        (403, "Actions read and write"),
        (404, "does not exist, or the token cannot see it"),
        (422, "declares workflow_dispatch"),
        (307, "GitHub redirected the call"),
    ],
)
def test_client_errors_fail_at_once_with_a_clear_message(
    run: Any, github: FakeGitHub, aws: boto3.Session, sleeps: list[float], status: int, hint: str
) -> None:
    # GIVEN GitHub refuses the call (or redirects it, which is never followed)
    github.replies[:] = [
        (status, {"Location": "http://127.0.0.1:9/elsewhere"}, b'{"message": "No"}')
    ]

    # WHEN handled, THEN it fails at once, naming the status, GitHub's message and the fix
    with pytest.raises(DispatchError, match=f"HTTP {status}") as caught:
        run(event())
    assert hint in str(caught.value)
    assert "(No)" in str(caught.value) or status == 307
    assert len(github.requests) == 1
    assert sleeps == []
    assert markers(aws) == []


def test_a_rejected_token_is_read_again_on_the_next_invocation(
    run: Any, github: FakeGitHub, aws: boto3.Session
) -> None:
    # GIVEN a cached token that GitHub rejects, then a rotated token in the secret
    run(event(event_id="1", modified="t1"))
    github.replies[:] = [(401, {}, b'{"message": "Bad credentials"}')]
    with pytest.raises(DispatchError):
        run(event(event_id="2", modified="t2"))
    aws.client("secretsmanager").put_secret_value(SecretId=SECRET_ID, SecretString="ghp_rotated")

    # WHEN the event is retried
    run(event(event_id="2", modified="t2"))

    # THEN the new token is used
    assert github.requests[-1]["headers"]["Authorization"] == "Bearer ghp_rotated"


def test_the_token_is_cached_per_container(
    run: Any, github: FakeGitHub, aws: boto3.Session
) -> None:
    # GIVEN one dispatch, then the secret changes
    run(event(event_id="1", modified="t1"))
    aws.client("secretsmanager").put_secret_value(SecretId=SECRET_ID, SecretString="ghp_changed")

    # WHEN another event arrives in the same container
    run(event(event_id="2", modified="t2"))

    # THEN the cached token is used (Secrets Manager was read once)
    assert [r["headers"]["Authorization"] for r in github.requests] == [f"Bearer {TOKEN}"] * 2


def test_network_errors_are_retried_then_fail(
    aws: boto3.Session, config: cfg.Settings, sleeps: list[float]
) -> None:
    # GIVEN nothing listens on the API port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    unreachable = cfg.Settings(**{**config.__dict__, "api_url": closed})

    # WHEN handled, THEN every attempt fails and the invocation raises
    runtime = fn.Runtime(session=aws)
    with pytest.raises(DispatchError, match="network error"):
        fn.handle_event(
            event(), settings=unreachable, runtime=runtime, identity=IDENTITY, sleep=sleeps.append
        )
    assert len(sleeps) == gh.MAX_ATTEMPTS - 1
    assert markers(aws) == []


# --- the token never reaches the logs ---------------------------------------------------------


@pytest.mark.parametrize(
    "replies",
    [[], [(500, {}, b"")] * gh.MAX_ATTEMPTS, [(401, {}, b'{"message": "Bad credentials"}')]],
    ids=["success", "server-errors", "unauthorized"],
)
def test_the_token_never_appears_in_logs_or_errors(
    run: Any,
    github: FakeGitHub,
    caplog: pytest.LogCaptureFixture,
    sdk_log_levels: None,
    replies: list[tuple[int, dict[str, str], bytes]],
) -> None:
    # GIVEN the most verbose logging, the SDK's included
    caplog.set_level(logging.DEBUG)
    fn.configure_logging("DEBUG")
    github.replies[:] = replies

    # WHEN handled (successfully or not)
    failure = ""
    try:
        run(event())
    except TriggerError as error:
        failure = "".join(traceback.format_exception(error))

    # THEN the token is in no log record and no error text
    assert caplog.records, "expected the handler to log"
    assert TOKEN not in caplog.text
    assert TOKEN not in failure


@pytest.mark.parametrize(
    "secret",
    [f'{{"token": "{TOKEN}"', json.dumps({"value": TOKEN}), f"{TOKEN} trailing words", ""],
    ids=["bad-json", "no-token-key", "not-a-token", "empty"],
)
def test_unusable_secrets_fail_without_revealing_them(
    run: Any,
    github: FakeGitHub,
    aws: boto3.Session,
    caplog: pytest.LogCaptureFixture,
    sdk_log_levels: None,
    secret: str,
) -> None:
    # GIVEN a secret that holds no usable token
    caplog.set_level(logging.DEBUG)
    fn.configure_logging("DEBUG")
    client = aws.client("secretsmanager")
    if secret:
        client.put_secret_value(SecretId=SECRET_ID, SecretString=secret)
    else:
        client.delete_secret(SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True)

    # WHEN handled, THEN it fails before calling GitHub, revealing nothing, and releases the marker
    with pytest.raises(TokenError, match=SECRET_ID) as caught:
        run(event())
    text = "".join(traceback.format_exception(caught.value))
    assert TOKEN not in text
    assert TOKEN not in caplog.text
    assert github.requests == []
    assert markers(aws) == []


# --- settings and the entry point -------------------------------------------------------------


def required_env(github: FakeGitHub) -> dict[str, str]:
    return {
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_TOKEN_SECRET_ID": SECRET_ID,
        "MODEL_PACKAGE_GROUP_NAME": GROUP,
        "DEDUP_TABLE": TABLE,
        "GITHUB_API_URL": github.url + "/",
    }


def test_settings_defaults(github: FakeGitHub) -> None:
    loaded = cfg.Settings.from_env(required_env(github))

    assert (loaded.workflow, loaded.ref) == ("deploy.yml", "main")
    assert loaded.api_url == github.url
    assert loaded.dedup_ttl_seconds == cfg.DEFAULT_DEDUP_TTL_SECONDS
    assert cfg.Settings.from_env({**required_env(github), "GITHUB_API_URL": ""}).api_url == (
        "https://api.github.com"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"GITHUB_REPOSITORY": ""}, "GITHUB_REPOSITORY is not set"),
        ({"DEDUP_TABLE": " "}, "DEDUP_TABLE is not set"),
        ({"GITHUB_REPOSITORY": "no-slash"}, "owner/name"),
        ({"DEPLOY_WORKFLOW": "../x"}, "workflow file name"),
        ({"GITHUB_API_URL": "http://github.example.com"}, "must use https"),
        ({"DEDUP_TTL_SECONDS": "-5"}, "positive whole number"),
    ],
)
def test_invalid_settings_are_refused(
    github: FakeGitHub, change: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        cfg.Settings.from_env({**required_env(github), **change})


def test_lambda_handler_reads_the_environment(
    aws: boto3.Session,
    github: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    sdk_log_levels: None,
) -> None:
    # GIVEN the function's environment and a fresh container
    for name, value in {**required_env(github), "LOG_LEVEL": "debug"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(fn, "_RUNTIME", None)
    caplog.set_level(logging.DEBUG)

    # WHEN EventBridge invokes the handler twice with the same event
    first = fn.lambda_handler(event(), LambdaContext())
    second = fn.lambda_handler(event(), LambdaContext())

    # THEN one dispatch, and the token is not logged even at DEBUG
    assert (first["dispatched"], second["dispatched"]) == (True, False)
    assert len(github.requests) == 1
    assert TOKEN not in caplog.text
