"""Dispatch deploy.yml when a model package of the watched group is approved or rejected.

EventBridge invokes ``lambda_handler`` (asynchronously) with a "SageMaker Model Package State
Change" event. The handler checks the event against the function's own identity and settings
(``events``), reads the GitHub token, takes a short lease on the state change in DynamoDB
(``dedup``), calls GitHub's ``workflow_dispatch`` endpoint within a deadline (``github``) and
marks the state change done only once GitHub answered 204. Approved dispatches that package's
ARN; Rejected dispatches an empty ARN so the workflow redeploys the latest package still approved.

A refused event is logged in one line and the invocation succeeds (a retry would refuse it
again). A failed dispatch releases the lease and raises, so Lambda's asynchronous retries and
then the dead-letter queue take over; an invocation that dies holding the lease loses it before
Lambda's first retry arrives. The token is never logged. Standard library and boto3 only; the
package ships as ``approval_trigger/*.py`` in the zip (handler
``approval_trigger.lambda_function.lambda_handler``).
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from . import dedup
from .events import FunctionIdentity, Ignored, decide
from .failures import ClaimBusy, ConfigurationError, DispatchError, TokenError, TriggerError
from .github import Sleep, dispatch_workflow
from .settings import LEASE_MARGIN_SECONDS, Settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_secretsmanager.client import SecretsManagerClient

logger = logging.getLogger(__name__)

# Left for the done marker and the function's own return after the GitHub call.
END_MARGIN_SECONDS = 3.0
# Short AWS timeouts: a hung call must not eat the invocation's time budget.
_BOTO_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=5
)
_TOKEN_CHARS = frozenset(chr(code) for code in range(0x21, 0x7F))

Remaining = Callable[[], float]


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
    if not isinstance(token, str) or not token or not set(token) <= _TOKEN_CHARS:
        raise TokenError(
            f"secret {secret_id} holds no token: store the token itself or JSON with a 'token' key"
        )
    return token


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


def github_budget(settings: Settings, remaining: float) -> float:
    """Seconds the GitHub call may take: inside the lease and inside the invocation."""
    return min(
        settings.github_deadline_seconds,
        settings.lease_seconds - LEASE_MARGIN_SECONDS,
        remaining - END_MARGIN_SECONDS,
    )


def handle_event(
    event: Mapping[str, Any],
    *,
    settings: Settings,
    runtime: Runtime,
    identity: FunctionIdentity,
    owner: str | None = None,
    remaining: Remaining = lambda: float("inf"),
    sleep: Sleep | None = None,
    now: Callable[[], float] = time.time,
    opener: urllib.request.OpenerDirector | None = None,
) -> dict[str, Any]:
    """Refuse, de-duplicate or dispatch one event; raise when the dispatch must be retried."""
    decision = decide(event, identity=identity, group_name=settings.group_name)
    if isinstance(decision, Ignored):
        logger.warning("event refused: %s", decision.reason)
        return {"dispatched": False, "reason": decision.reason}
    result = {"model_package_arn": decision.model_package_arn, "status": decision.status}
    table, key, owner = settings.dedup_table, decision.dedup_key, owner or str(uuid.uuid4())
    token = runtime.token(settings.token_secret_id)
    budget = github_budget(settings, remaining())
    if budget <= 0:
        raise TriggerError(f"too little time left to dispatch {key}; Lambda retries the event")
    claimed = dedup.claim(
        runtime.dynamodb,
        table,
        key,
        owner=owner,
        now=now(),
        lease_seconds=settings.lease_seconds,
        ttl_seconds=settings.dedup_ttl_seconds,
    )
    if claimed is dedup.Claim.DONE:
        logger.info("state change %s was dispatched already: not dispatched again", key)
        return {"dispatched": False, "reason": "duplicate delivery", **result}
    if claimed is dedup.Claim.BUSY:
        raise ClaimBusy(f"another invocation is dispatching {key}; Lambda retries this event")
    try:
        dispatch_workflow(
            settings,
            token,
            model_package_arn=decision.workflow_input_arn,
            deadline=time.monotonic() + budget,
            opener=opener,
            sleep=sleep or time.sleep,
        )
    except Exception as error:
        if isinstance(error, DispatchError) and error.status == 401:
            runtime.forget_token(settings.token_secret_id)
        try:
            dedup.release(runtime.dynamodb, table, key, owner=owner)
        except ClientError:
            logger.warning("could not release %s; its lease expires by itself", key)
        logger.warning("%s not dispatched (%s); Lambda retries the event", key, error)
        raise
    marked = True
    try:
        marked = dedup.mark_done(
            runtime.dynamodb,
            table,
            key,
            owner=owner,
            now=now(),
            ttl_seconds=settings.dedup_ttl_seconds,
        )
    except ClientError as error:
        # Raising would make Lambda retry and dispatch again: GitHub has accepted this one.
        logger.error("dispatched %s but could not mark it done (%s)", key, error)
    if not marked:
        logger.warning("the lease on %s passed to another invocation during the dispatch", key)
    logger.info("dispatched %s on %s for %s", settings.workflow, settings.ref, key)
    return {"dispatched": True, "reason": decision.status, **result}


def configure_logging(level: str) -> None:
    """Set this package's log level; AWS SDK loggers stay at INFO or above.

    botocore logs response bodies at DEBUG, the Secrets Manager one included: a DEBUG level
    must never extend to it.
    """
    logging.getLogger(__package__ or __name__).setLevel(level.upper())
    for name in ("boto3", "botocore", "urllib3"):
        sdk_logger = logging.getLogger(name)
        sdk_logger.setLevel(max(sdk_logger.getEffectiveLevel(), logging.INFO))


_RUNTIME: Runtime | None = None


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point for the EventBridge rule."""
    global _RUNTIME
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    if _RUNTIME is None:
        _RUNTIME = Runtime()
    identity = FunctionIdentity.from_function_arn(getattr(context, "invoked_function_arn", None))
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining_ms):
        raise ConfigurationError("the invocation context has no remaining time")
    return handle_event(
        event,
        settings=Settings.from_env(os.environ),
        runtime=_RUNTIME,
        identity=identity,
        remaining=lambda: remaining_ms() / 1000,
    )
