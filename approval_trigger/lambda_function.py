"""Dispatch deploy.yml when a model package of the watched group is approved or rejected.

EventBridge invokes ``lambda_handler`` with a "SageMaker Model Package State Change" event. The
handler re-checks the event (defence in depth: the rule already filters), claims the state change
in DynamoDB so a repeated delivery cannot start a second deploy, and calls GitHub's
``workflow_dispatch`` REST endpoint. Approved dispatches that package's ARN; Rejected dispatches an
empty ARN so the workflow redeploys the latest package that is still approved.

Settings come from the environment: ``GITHUB_REPOSITORY`` (owner/name), ``GITHUB_TOKEN_SECRET_ID``,
``MODEL_PACKAGE_GROUP_NAME``, ``DEDUP_TABLE``, and optionally ``DEPLOY_WORKFLOW`` (deploy.yml),
``DEPLOY_REF`` (main), ``GITHUB_API_URL`` (https://api.github.com), ``DEDUP_TTL_SECONDS`` (7 days)
and ``LOG_LEVEL`` (INFO). A failed dispatch raises, so Lambda's asynchronous retries and then the
dead-letter queue take over. The token is never logged. Standard library and boto3 only.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_secretsmanager.client import SecretsManagerClient

logger = logging.getLogger(__name__)

EVENT_SOURCE = "aws.sagemaker"
EVENT_DETAIL_TYPE = "SageMaker Model Package State Change"
DISPATCH_STATUSES = ("Approved", "Rejected")
MAX_ATTEMPTS = 4
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 8.0
REQUEST_TIMEOUT_SECONDS = 10.0
DEFAULT_DEDUP_TTL_SECONDS = 7 * 24 * 3600
DEDUP_KEY_ATTRIBUTE = "pk"
DEDUP_TTL_ATTRIBUTE = "expires_at"
ENVIRONMENT_VARIABLES = (
    "GITHUB_REPOSITORY",
    "GITHUB_TOKEN_SECRET_ID",
    "MODEL_PACKAGE_GROUP_NAME",
    "DEDUP_TABLE",
    "DEPLOY_WORKFLOW",
    "DEPLOY_REF",
    "GITHUB_API_URL",
    "DEDUP_TTL_SECONDS",
)
USER_AGENT = "sagemaker-batch-gitops-approval-trigger"
GITHUB_API_VERSION = "2022-11-28"
_MODEL_PACKAGE_ARN = re.compile(
    r"arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/(?P<group>[^/]+)/\d+"
)
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_WORKFLOW = re.compile(r"[A-Za-z0-9_.-]+")
_TOKEN = re.compile(r"[\x21-\x7e]+")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5)

Sleep = Callable[[float], None]


class TriggerError(Exception):
    """The state change could not be turned into a dispatch; the invocation fails."""


class ConfigurationError(TriggerError):
    """An environment setting of the function is missing or invalid."""


class TokenError(TriggerError):
    """The GitHub token could not be read from Secrets Manager."""


class DispatchError(TriggerError):
    """GitHub refused the workflow dispatch or stayed unavailable."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Settings:
    """The function's configuration, validated once per invocation."""

    repository: str
    token_secret_id: str
    group_name: str
    dedup_table: str
    workflow: str = "deploy.yml"
    ref: str = "main"
    api_url: str = "https://api.github.com"
    dedup_ttl_seconds: int = DEFAULT_DEDUP_TTL_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read and validate the settings from environment variables."""

        def required(name: str) -> str:
            value = environ.get(name, "").strip()
            if not value:
                raise ConfigurationError(f"environment variable {name} is not set")
            return value

        settings = cls(
            repository=required("GITHUB_REPOSITORY"),
            token_secret_id=required("GITHUB_TOKEN_SECRET_ID"),
            group_name=required("MODEL_PACKAGE_GROUP_NAME"),
            dedup_table=required("DEDUP_TABLE"),
            workflow=environ.get("DEPLOY_WORKFLOW", "").strip() or cls.workflow,
            ref=environ.get("DEPLOY_REF", "").strip() or cls.ref,
            api_url=(environ.get("GITHUB_API_URL", "").strip() or cls.api_url).rstrip("/"),
            dedup_ttl_seconds=_positive_int(environ, "DEDUP_TTL_SECONDS", cls.dedup_ttl_seconds),
        )
        if not _REPOSITORY.fullmatch(settings.repository):
            raise ConfigurationError(
                f"GITHUB_REPOSITORY={settings.repository!r} is not of the form owner/name"
            )
        if not _WORKFLOW.fullmatch(settings.workflow):
            raise ConfigurationError(
                f"DEPLOY_WORKFLOW={settings.workflow!r} is not a workflow file name or id"
            )
        url = urllib.parse.urlsplit(settings.api_url)
        if url.scheme != "https" and not (url.scheme == "http" and url.hostname in _LOOPBACK_HOSTS):
            raise ConfigurationError(f"GITHUB_API_URL={settings.api_url!r} must use https")
        return settings

    @property
    def dispatch_url(self) -> str:
        """The REST endpoint that creates a workflow_dispatch event for the deploy workflow."""
        workflow = urllib.parse.quote(self.workflow, safe="")
        return f"{self.api_url}/repos/{self.repository}/actions/workflows/{workflow}/dispatches"


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise ConfigurationError(f"{name}={raw!r} must be a positive whole number of seconds")
    return int(raw)


@dataclass(frozen=True)
class Dispatch:
    """A state change that starts a deploy."""

    model_package_arn: str
    status: str
    dedup_key: str

    @property
    def workflow_input_arn(self) -> str:
        """The ``model_package_arn`` input: the package when approved, empty when rejected."""
        return self.model_package_arn if self.status == "Approved" else ""


@dataclass(frozen=True)
class Ignored:
    """An event that starts nothing, with the reason."""

    reason: str


def decide(event: Mapping[str, Any], *, group_name: str) -> Dispatch | Ignored:
    """Decide (pure) whether an event starts a deploy.

    The de-duplication key is ``ARN#status#change``, where ``change`` is the package's
    ``LastModifiedTime`` from the event (the event id when absent): every delivery of one state
    change carries the same detail, so repeats collide, while a second genuine approval of the
    same package (after a reject) has a new modification time and dispatches again.
    """
    if event.get("source") != EVENT_SOURCE or event.get("detail-type") != EVENT_DETAIL_TYPE:
        return Ignored("not a SageMaker model package state change")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        return Ignored("the event has no detail")
    group = detail.get("ModelPackageGroupName")
    if group != group_name:
        return Ignored(f"model package group {group!r} is not {group_name!r}")
    status = detail.get("ModelApprovalStatus")
    if status not in DISPATCH_STATUSES:
        return Ignored(f"approval status {status!r} starts no deploy")
    package_status = detail.get("ModelPackageStatus")
    if package_status not in (None, "Completed"):
        return Ignored(f"model package status is {package_status!r}, not Completed")
    arn = detail.get("ModelPackageArn")
    match = _MODEL_PACKAGE_ARN.fullmatch(arn) if isinstance(arn, str) else None
    if match is None or match["group"].lower() != group_name.lower():
        return Ignored(f"model package ARN {arn!r} is not a version of {group_name!r}")
    arn = match.string
    change = detail.get("LastModifiedTime") or event.get("id") or ""
    return Dispatch(model_package_arn=arn, status=status, dedup_key=f"{arn}#{status}#{change}")


def read_token(client: SecretsManagerClient, secret_id: str) -> str:
    """Return the token held by the secret: the string itself or JSON with a ``token`` key."""
    try:
        secret = client.get_secret_value(SecretId=secret_id).get("SecretString", "")
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "unknown")
        raise TokenError(f"cannot read the GitHub token secret {secret_id} ({code})") from error
    token: object = secret.strip()
    if isinstance(token, str) and token.startswith("{"):
        try:
            token = json.loads(token).get("token")
        except (ValueError, AttributeError):
            token = None  # the decoding error quotes the secret: it is not chained
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise TokenError(
            f"secret {secret_id} holds no token: store the token itself or JSON with a 'token' key"
        )
    return token


def claim(client: DynamoDBClient, table: str, key: str, *, ttl_seconds: int, now: float) -> bool:
    """Record the state change; False when it was already recorded (a repeated delivery)."""
    try:
        client.put_item(
            TableName=table,
            Item={
                DEDUP_KEY_ATTRIBUTE: {"S": key},
                DEDUP_TTL_ATTRIBUTE: {"N": str(int(now) + ttl_seconds)},
            },
            # A marker past its expiry that TTL has not deleted yet no longer blocks a dispatch.
            ConditionExpression="attribute_not_exists(#pk) OR #ttl < :now",
            ExpressionAttributeNames={"#pk": DEDUP_KEY_ATTRIBUTE, "#ttl": DEDUP_TTL_ATTRIBUTE},
            ExpressionAttributeValues={":now": {"N": str(int(now))}},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def release(client: DynamoDBClient, table: str, key: str) -> None:
    """Forget a claimed state change so that a retry can dispatch it."""
    client.delete_item(TableName=table, Key={DEDUP_KEY_ATTRIBUTE: {"S": key}})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: it would carry the token to another URL."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _explain(status: int, settings: Settings, message: str) -> str:
    where = f"workflow {settings.workflow} of {settings.repository}"
    hints = {
        401: f"the token was rejected: put a valid token in secret {settings.token_secret_id}",
        403: "the token may not dispatch workflows: it needs Actions read and write",
        404: "the repository or workflow does not exist, or the token cannot see it",
        422: f"check that ref {settings.ref!r} exists and the workflow declares workflow_dispatch"
        " with inputs model_package_arn and skip_prod",
    }
    if 300 <= status < 400:
        hint = "GitHub redirected the call: update GITHUB_REPOSITORY if the repository moved"
    else:
        hint = hints.get(status, "GitHub refused the call")
    return f"dispatching {where} failed with HTTP {status} ({message}): {hint}"


def _retry_delay(attempt: int, headers: Message | None) -> float:
    delay = BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)
    retry_after = headers.get("Retry-After", "") if headers is not None else ""
    if retry_after.isdigit():
        delay = max(delay, float(retry_after))
    return min(delay, BACKOFF_MAX_SECONDS)


def _is_retryable(status: int, headers: Message) -> bool:
    if status == 429 or status >= 500:
        return True
    # GitHub's rate limits answer 403 with Retry-After or no remaining requests.
    return status == 403 and (
        "Retry-After" in headers or headers.get("X-RateLimit-Remaining") == "0"
    )


def _github_message(error: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(error.read() or b"{}")
    except (ValueError, OSError):
        return error.reason if isinstance(error.reason, str) else "no message"
    message = body.get("message") if isinstance(body, dict) else None
    return str(message)[:200] if message else str(error.reason)


def dispatch_workflow(
    settings: Settings,
    token: str,
    *,
    model_package_arn: str,
    opener: urllib.request.OpenerDirector | None = None,
    sleep: Sleep = time.sleep,
) -> int:
    """POST the workflow_dispatch call, retrying 5xx, 429 and network errors with backoff.

    Returns:
        The HTTP status of the accepted call.

    Raises:
        DispatchError: GitHub refused the call (4xx) or failed ``MAX_ATTEMPTS`` times.
    """
    opener = opener or urllib.request.build_opener(_NoRedirect())
    # Boolean workflow_dispatch inputs travel as strings through the REST API.
    inputs = {"model_package_arn": model_package_arn, "skip_prod": "false"}
    data = json.dumps({"ref": settings.ref, "inputs": inputs}).encode()
    headers = {
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {token}",
        "X-GitHub-Api-Version": GITHUB_API_VERSION,
        "User-Agent": USER_AGENT,
        "Content-Type": "application/json",
    }
    last = ""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        request = urllib.request.Request(
            settings.dispatch_url, data=data, headers=headers, method="POST"
        )
        response_headers: Message | None = None
        try:
            with opener.open(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            message = _github_message(error)
            if not _is_retryable(error.code, error.headers):
                raise DispatchError(
                    _explain(error.code, settings, message), status=error.code
                ) from error
            last, response_headers = f"HTTP {error.code} ({message})", error.headers
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            last = f"network error ({type(error).__name__})"
        if attempt < MAX_ATTEMPTS:
            delay = _retry_delay(attempt, response_headers)
            logger.warning(
                "dispatch attempt %d failed: %s; retrying in %.1fs", attempt, last, delay
            )
            sleep(delay)
    raise DispatchError(
        f"dispatching workflow {settings.workflow} of {settings.repository} failed"
        f" {MAX_ATTEMPTS} times, last with {last}"
    )


class Runtime:
    """AWS clients and the token, created on first use and kept for the container's life."""

    def __init__(self, session: boto3.Session | None = None) -> None:
        self._session = session
        self._secrets: SecretsManagerClient | None = None
        self._dynamodb: DynamoDBClient | None = None
        self._tokens: dict[str, str] = {}

    def _boto_session(self) -> boto3.Session:
        if self._session is None:
            self._session = boto3.Session()
        return self._session

    @property
    def dynamodb(self) -> DynamoDBClient:
        """The DynamoDB client of the de-duplication table."""
        if self._dynamodb is None:
            self._dynamodb = self._boto_session().client("dynamodb", config=_BOTO_CONFIG)
        return self._dynamodb

    def token(self, secret_id: str) -> str:
        """The GitHub token, read from Secrets Manager once per container."""
        if secret_id not in self._tokens:
            if self._secrets is None:
                self._secrets = self._boto_session().client("secretsmanager", config=_BOTO_CONFIG)
            self._tokens[secret_id] = read_token(self._secrets, secret_id)
        return self._tokens[secret_id]

    def forget_token(self, secret_id: str) -> None:
        """Drop a cached token GitHub rejected, so the next invocation reads the secret again."""
        self._tokens.pop(secret_id, None)


def handle_event(
    event: Mapping[str, Any],
    *,
    settings: Settings,
    runtime: Runtime,
    sleep: Sleep | None = None,
    now: Callable[[], float] = time.time,
    opener: urllib.request.OpenerDirector | None = None,
) -> dict[str, Any]:
    """Filter, de-duplicate and dispatch one event; raise when the dispatch fails."""
    event_id = event.get("id", "?")
    decision = decide(event, group_name=settings.group_name)
    if isinstance(decision, Ignored):
        logger.info("event %s ignored: %s", event_id, decision.reason)
        return {"dispatched": False, "reason": decision.reason}
    result = {"model_package_arn": decision.model_package_arn, "status": decision.status}
    table, key = settings.dedup_table, decision.dedup_key
    if not claim(runtime.dynamodb, table, key, ttl_seconds=settings.dedup_ttl_seconds, now=now()):
        logger.info("event %s repeats state change %s: not dispatched again", event_id, key)
        return {"dispatched": False, "reason": "duplicate delivery", **result}
    try:
        token = runtime.token(settings.token_secret_id)
        dispatch_workflow(
            settings,
            token,
            model_package_arn=decision.workflow_input_arn,
            opener=opener,
            sleep=sleep or time.sleep,
        )
    except Exception as error:
        if isinstance(error, DispatchError) and error.status == 401:
            runtime.forget_token(settings.token_secret_id)
        try:
            release(runtime.dynamodb, table, key)
        except ClientError:
            logger.exception("could not release %s; a retry will treat it as a duplicate", key)
        else:
            logger.warning("event %s not dispatched (%s); a retry may dispatch it", event_id, error)
        raise
    logger.info(
        "dispatched %s on %s for %s %s (event %s)",
        settings.workflow,
        settings.ref,
        decision.status,
        decision.model_package_arn,
        event_id,
    )
    return {"dispatched": True, "reason": decision.status, **result}


def configure_logging(level: str) -> None:
    """Set this module's log level; AWS SDK loggers stay at INFO or above.

    botocore logs response bodies at DEBUG, the Secrets Manager one included: a DEBUG level
    must never extend to it.
    """
    logger.setLevel(level.upper())
    for name in ("boto3", "botocore", "urllib3"):
        sdk_logger = logging.getLogger(name)
        sdk_logger.setLevel(max(sdk_logger.getEffectiveLevel(), logging.INFO))


_RUNTIME: Runtime | None = None


def lambda_handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Lambda entry point for the EventBridge rule."""
    global _RUNTIME
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    if _RUNTIME is None:
        _RUNTIME = Runtime()
    return handle_event(event, settings=Settings.from_env(os.environ), runtime=_RUNTIME)
