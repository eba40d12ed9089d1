"""AWS plumbing for build.py: sessions, role assumption, account checks and error translation.

Every client is built from an explicit session with adaptive retries (throttling is absorbed there).
boto3 honours `AWS_ENDPOINT_URL` by itself, so the same code runs against a local moto server.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from errors import (
    AccessError,
    AccountMismatchError,
    ConfigError,
    EndpointError,
    PromotionError,
    ServiceError,
)

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

# Throttling and 5xx answers get adaptive retries (up to 10 attempts), except a 500 or 501 that
# carries no AWS error code: AWS names its own server errors (InternalFailure, ...), so such an
# answer comes from something else on the way (a proxy, the embedded AWS failing) and is reported
# at once. A connection that cannot be made gets CONNECT_ATTEMPTS (3 s each at most), so an
# unreachable or mistyped endpoint is reported within 10 s instead of a minute of silent retries.
CONNECT_TIMEOUT_SECONDS = 3
CONNECT_ATTEMPTS = 2
READ_TIMEOUT_ATTEMPTS = 3
CLIENT_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 10},
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    user_agent_extra="sagemaker-batch-gitops",
)
_UNREACHABLE = (EndpointConnectionError, ConnectTimeoutError)
THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
     "TooManyRequestsException", "RequestLimitExceeded", "SlowDown", "RequestThrottled",
     "ProvisionedThroughputExceededException", "LimitExceededException"}
)  # fmt: skip
UNAVAILABLE_STATUSES = frozenset({502, 503, 504})
BARE_SERVER_ERRORS = frozenset({500, 501})  # not retried without an AWS error code
ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}
)
EXPIRED_CODES = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidClientTokenId"}
)
PRINCIPAL_FIELD = "Principal"  # added to error responses by Identity.client()
# AWS names the refused action in its message ("... is not authorized to perform: sagemaker:X");
# S3 often answers only "Access Denied": then the action is derived from the operation.
_DENIED_ACTION = re.compile(r"perform: ([a-z0-9-]+:[A-Za-z0-9*]+)")
S3_OPERATION_ACTIONS = {
    "HeadObject": "s3:GetObject (and s3:ListBucket, without which a missing key answers 403)",
    "GetObject": "s3:GetObject",
    "ListObjectsV2": "s3:ListBucket",
    "PutObject": "s3:PutObject",
    "CopyObject": "s3:PutObject (and s3:GetObject on the source)",
    "UploadPartCopy": "s3:PutObject (and s3:GetObject on the source)",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
}
_ASSUMED_ROLE = re.compile(r"^arn:aws[a-z-]*:sts::(\d{12}):assumed-role/([^/]+)/")
_ROLE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/(?:.*/)?([^/]+)$")


@dataclass(frozen=True)
class Identity:
    """A session whose account was checked with STS."""

    label: str
    session: boto3.Session
    account_id: str
    caller_arn: str
    role_arn: str | None

    def client(self, service: str) -> Any:
        """A client of this identity's session with the project's retry settings.

        Its errors carry this identity's description, so messages can name the principal.
        """
        client = make_client(self.session, service)
        principal = self.describe()

        def name_principal(parsed: dict[str, Any], **_: Any) -> None:
            if isinstance(parsed.get("Error"), dict):
                parsed["Error"][PRINCIPAL_FIELD] = principal

        client.meta.events.register("after-call", name_principal)
        return client

    def describe(self) -> str:
        """How error messages name this principal."""
        role = f" via {self.role_arn}" if self.role_arn else ""
        return f"{self.label} account {self.account_id} ({self.caller_arn}{role})"


class OneLineParser(argparse.ArgumentParser):
    """argparse whose refusal of the command line is one line (what is wrong, and `--help`),
    exit 2, instead of the whole usage block above it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


@functools.cache
def _model_loader(data_path: str | None) -> botocore.loaders.Loader:
    """One botocore loader per AWS_DATA_PATH: it keeps every model file it has parsed."""
    return botocore.loaders.create_loader(data_path)


def new_session(**settings: Any) -> boto3.Session:
    """A boto3 session (`boto3.Session`'s arguments) reading service models through one
    loader per process: every session would otherwise parse the same model files again (about
    0.2 s for SageMaker's), and a promotion opens one per identity and assumed role."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _model_loader(core.get_config_variable("data_path")))
    return boto3.Session(botocore_session=core, **settings)


def make_client(session: boto3.Session, service: str) -> Any:
    """A client with the project's timeouts and retries (see CLIENT_CONFIG)."""
    client = session.client(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]
    client.meta.events.register_first("needs-retry", _give_up_on_unreachable)
    client.meta.events.register_first("needs-retry", _give_up_on_bare_server_error)
    return client


def aws_error_code(parsed: dict[str, Any]) -> str:
    """The error code AWS gave in a parsed answer; "" when there is none (botocore puts the
    HTTP status there when the body named no code)."""
    code = str(parsed.get("Error", {}).get("Code") or "")
    status = str(parsed.get("ResponseMetadata", {}).get("HTTPStatusCode") or "")
    return "" if code == status else code


def _give_up_on_bare_server_error(
    response: tuple[Any, dict[str, Any]] | None = None,
    attempts: int = 0,
    operation: Any = None,
    **_: Any,
) -> None:
    """Stop botocore's retries of a 500/501 without an AWS error code (see CLIENT_CONFIG)."""
    if response is None or operation is None:
        return
    http, parsed = response
    if http.status_code in BARE_SERVER_ERRORS and not aws_error_code(parsed):
        parsed.setdefault("ResponseMetadata", {})["RetryAttempts"] = attempts - 1
        raise ClientError(parsed, operation.name)  # type: ignore[arg-type]


def _give_up_on_unreachable(
    attempts: int = 0, caught_exception: Exception | None = None, **_: Any
) -> None:
    """Stop botocore's retries of a connection that cannot be made (raising ends them)."""
    if isinstance(caught_exception, _UNREACHABLE) and attempts >= CONNECT_ATTEMPTS:
        raise caught_exception
    if isinstance(caught_exception, ReadTimeoutError) and attempts >= READ_TIMEOUT_ATTEMPTS:
        raise caught_exception


def check_endpoint_environment(environ: dict[str, str]) -> None:
    """Refuse a malformed AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_<SERVICE>) before any client."""
    for name, value in environ.items():
        if not name.startswith("AWS_ENDPOINT_URL"):
            continue
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"{name}={value[:80]!r} is not an http(s)://host[:port] URL; fix or unset it"
            )
        try:
            parts.port  # noqa: B018 (raises on a malformed port)
        except ValueError as error:
            raise ConfigError(f"{name}={value[:80]!r}: {error}; fix or unset it") from None


def is_already_role(caller_arn: str, role_arn: str) -> bool:
    """True when the caller is a session of `role_arn` already (no need to assume it again)."""
    caller, role = _ASSUMED_ROLE.match(caller_arn), _ROLE.match(role_arn)
    return bool(caller and role and caller.groups() == role.groups())


def assume_role(session: boto3.Session, role_arn: str, *, session_name: str) -> boto3.Session:
    """A new session holding temporary credentials of `role_arn`, assumed from `session`."""
    sts: STSClient = make_client(session, "sts")
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name[:64])[
        "Credentials"
    ]
    return new_session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=session.region_name,
    )


def open_identity(
    base: boto3.Session,
    *,
    label: str,
    role_arn: str | None,
    expected_account: str,
    session_name: str,
    config_key: str,
) -> Identity:
    """Assume `role_arn` from `base` when given, then check the account with STS.

    Raises:
        AccountMismatchError: the credentials belong to another account than `expected_account`.
        AccessError: the role cannot be assumed or the credentials are missing or expired.
    """
    session = base
    with aws_errors(f"{label} credentials", "sts:GetCallerIdentity / sts:AssumeRole"):
        caller = make_client(base, "sts").get_caller_identity()
        if role_arn and not is_already_role(caller["Arn"], role_arn):
            session = assume_role(base, role_arn, session_name=session_name)
            caller = make_client(session, "sts").get_caller_identity()
    identity = Identity(label, session, caller["Account"], caller["Arn"], role_arn)
    if identity.account_id != expected_account:
        raise AccountMismatchError(
            f"{label} credentials belong to account {identity.account_id} ({caller['Arn']}) but "
            f"'{config_key}' is {expected_account}; use credentials or a role of that account"
        )
    return identity


def denied_action(error: ClientError) -> str:
    """The IAM action AWS refused: the one its message names, else the S3 operation's action."""
    match = _DENIED_ACTION.search(str(error.response.get("Error", {}).get("Message", "")))
    if match:
        return match.group(1)
    operation = getattr(error, "operation_name", "")
    return S3_OPERATION_ACTIONS.get(operation, f"the IAM action of {operation}")


@contextmanager
def aws_errors(principal: str, action: str) -> Iterator[None]:
    """Turn expected AWS failures into one-line errors; every other exception passes unchanged.

    Access denied and expired, missing or partial credentials become `AccessError`; an endpoint
    that cannot be reached `EndpointError`; throttling or 5xx answers after every retry
    `ServiceError`; a missing region or profile `ConfigError`; any other AWS answer (a 4xx: a
    missing bucket or resource, a refused value) `PromotionError` naming the call, AWS's code
    and message, and what to check.
    """
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError) as error:
        raise AccessError(
            f"{principal} are missing or unusable while calling {action} ({error}); "
            "configure credentials (OIDC in CI, a profile or environment variables locally)"
        ) from error
    except (NoRegionError, ProfileNotFound) as error:
        raise ConfigError(f"{error}; set AWS_DEFAULT_REGION or a valid AWS_PROFILE") from error
    except (*_UNREACHABLE, ConnectionClosedError, ReadTimeoutError) as error:
        raise EndpointError(
            f"cannot reach AWS for {principal} while calling {action}: {error}; check the "
            "network, the region and AWS_ENDPOINT_URL, then re-run"
        ) from error
    except ClientError as error:
        raise _client_error(error, principal, action) from error


def _client_error(error: ClientError, principal: str, action: str) -> PromotionError:
    info = error.response.get("Error", {})
    code = str(info.get("Code", ""))
    operation = getattr(error, "operation_name", action)
    principal = str(info.get(PRINCIPAL_FIELD, principal))
    message = info.get("Message", code)
    if code in ACCESS_DENIED_CODES or code == "403":
        return AccessError(
            f"{principal} may not call {operation} ({action}): {message}; "
            f"grant {denied_action(error)} to the role"
        )
    if code in EXPIRED_CODES:
        return AccessError(
            f"the credentials of {principal} are expired or invalid ({code}) while calling "
            f"{operation}; refresh them and re-run"
        )
    metadata = error.response.get("ResponseMetadata", {})
    status = int(metadata.get("HTTPStatusCode") or 0)
    attempts = int(metadata.get("RetryAttempts") or 0) + 1
    failing = f"{operation} for {principal} kept failing"
    if code in THROTTLING_CODES or status == 429:
        return ServiceError(
            f"{failing} ({code or status}: {message}) after {attempts} attempts; AWS is "
            "throttling: re-run later"
        )
    if status < 500:
        return _refused(error, code or str(status), message, call=f"{operation} for {principal}")
    if status in UNAVAILABLE_STATUSES or code == "ServiceUnavailable":
        return ServiceError(
            f"{failing} ({code or status}: {readable(message)}) after {attempts} attempts; AWS "
            "is unavailable: re-run later"
        )
    if not aws_error_code(dict(error.response)):
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        source = f"the endpoint AWS_ENDPOINT_URL={endpoint}" if endpoint else "a proxy or endpoint"
        return ServiceError(
            f"{operation} for {principal} failed: HTTP {status} with no AWS error "
            f"({readable(message)}), a fault of {source}, not throttling; see its log"
        )
    return ServiceError(
        f"{failing} ({code}, HTTP {status}: {readable(message)}) after {attempts} attempts; a "
        "server error of AWS, not throttling: re-run later"
    )


def missing_bucket(error: ClientError) -> str | None:
    """The bucket a NoSuchBucket answer names (S3 puts it in the error body), else None."""
    info = error.response.get("Error", {})
    if info.get("Code") != "NoSuchBucket":
        return None
    return str(info.get("BucketName") or "named in the call")


def _refused(error: ClientError, code: str, message: object, *, call: str) -> PromotionError:
    """Any other 4xx answer: the call, AWS's code and message, and where to look."""
    bucket = missing_bucket(error)
    if bucket:
        return PromotionError(
            f"{call} failed: the S3 bucket {bucket} does not exist (NoSuchBucket); check its "
            "name, or create it, then re-run"
        )
    if code.startswith("NoSuch") or "NotFound" in code:
        check = "that what it names exists in that account and region"
    elif "Validation" in code or code.startswith("Invalid"):
        check = "the names and values it was given"
    else:
        check = "what it names and the principal's permissions"
    return PromotionError(
        f"{call} was refused ({code}: {readable(message)}); check {check} (the stage file, "
        "the command line, the model package), then re-run"
    )


_TITLE = re.compile(r"<title>(.*?)</title>", re.I | re.S)
_TAG = re.compile(r"<[^>]+>")


def readable(message: object, limit: int = 160) -> str:
    """An error message on one short line: an HTML page's title, else its text."""
    text = str(message)
    title = _TITLE.search(text)
    text = title.group(1) if title else _TAG.sub(" ", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
