"""AWS plumbing for build.py: sessions, role assumption, account checks and error translation.

Every client is built from an explicit session with adaptive retries (throttling is absorbed there).
boto3 honours `AWS_ENDPOINT_URL` by itself, so the same code runs against a local moto server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, NoCredentialsError

from errors import AccessError, AccountMismatchError

if TYPE_CHECKING:
    from mypy_boto3_sts import STSClient

CLIENT_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 10},
    user_agent_extra="sagemaker-batch-gitops",
)
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
        client = self.session.client(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]
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


def is_already_role(caller_arn: str, role_arn: str) -> bool:
    """True when the caller is a session of `role_arn` already (no need to assume it again)."""
    caller, role = _ASSUMED_ROLE.match(caller_arn), _ROLE.match(role_arn)
    return bool(caller and role and caller.groups() == role.groups())


def assume_role(session: boto3.Session, role_arn: str, *, session_name: str) -> boto3.Session:
    """A new session holding temporary credentials of `role_arn`, assumed from `session`."""
    sts: STSClient = session.client("sts", config=CLIENT_CONFIG)
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name[:64])[
        "Credentials"
    ]
    return boto3.Session(
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
        caller = base.client("sts", config=CLIENT_CONFIG).get_caller_identity()
        if role_arn and not is_already_role(caller["Arn"], role_arn):
            session = assume_role(base, role_arn, session_name=session_name)
            caller = session.client("sts", config=CLIENT_CONFIG).get_caller_identity()
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
    """Turn AccessDenied, expired and missing credentials into one-line `AccessError`s.

    Every other error passes through unchanged.
    """
    try:
        yield
    except NoCredentialsError as error:
        raise AccessError(
            f"no AWS credentials found for {principal} while calling {action}; "
            "configure credentials (OIDC in CI, a profile or environment variables locally)"
        ) from error
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        operation = getattr(error, "operation_name", action)
        principal = str(error.response["Error"].get(PRINCIPAL_FIELD, principal))
        if code in ACCESS_DENIED_CODES or code == "403":
            raise AccessError(
                f"{principal} may not call {operation} ({action}): "
                f"{error.response['Error'].get('Message', code)}; "
                f"grant {denied_action(error)} to the role"
            ) from error
        if code in EXPIRED_CODES:
            raise AccessError(
                f"the credentials of {principal} are expired or invalid ({code}) while calling "
                f"{operation}; refresh them and re-run"
            ) from error
        raise
