"""moto with IAM enforcement on, corrected where moto departs from AWS's documented semantics.

moto evaluates identity policies once its `INITIAL_NO_AUTH_ACTION_COUNT` setting is reached
(moto/core/authorization.py). These gaps would make correct policies fail (or fail differently from
AWS), and are patched here, each as narrowly as possible:

1. Services without resource information (SageMaker and every JSON-protocol service): moto asks
   about resource "*", which a statement scoped to ARNs never matches. Here a statement's
   `Resource` is not compared when moto does not know the resource; S3, STS and IAM calls keep
   their real ARNs and are compared as moto does.
2. Role trust: moto looks the role up in the CALLER's account (so it never checks a cross-account
   trust) and compares the caller's session ARN with the `Principal` literally. AWS also
   matches a session of role R against `arn:aws:iam::<account>:role/R` and any principal of an
   account against `arn:aws:iam::<account>:root` (IAM User Guide, "AWS JSON policy elements:
   Principal").
3. JSON-protocol denials: moto answers them with HTTP 403 and an XML body, which botocore reports
   as error code "403"; SageMaker answers `AccessDeniedException` with the message (naming the
   action). A botocore handler on every new session makes moto's answer look like SageMaker's.
4. Condition keys: moto knows only `sts:ExternalId`, in trust policies. Here trust policies also
   see `aws:PrincipalArn` / `aws:PrincipalAccount`, so the registry reader's trust (account
   principal + `aws:PrincipalArn`) is really evaluated; and identity policies see the request's
   values of the keys AWS takes from it: `sagemaker:ModelApprovalStatus` (the plan role really
   cannot create an Approved package), and for S3 `s3:if-none-match` / `s3:if-match` (the
   headers), `s3:ObjectCreationOperation` (true for PutObject, CopyObject and
   CompleteMultipartUpload, false for CreateMultipartUpload, UploadPart and UploadPartCopy: S3
   User Guide, "Enforce conditional writes") and `s3:prefix` (ListObjects' prefix): s3.py.
   WHICH keys a request carries is not ours to say: every context, of identity and trust
   policies alike, keeps only the keys the Service Authorization Reference lists for the action
   and the resource's type, and the global keys (reference.py, parliament's copy of the
   reference). A key a correction finds in a request that the reference does not list for that
   action is absent, as in AWS: a condition on it never holds.

5. Copies: moto authorizes a CopyObject / UploadPartCopy on its destination only; AWS also requires
   s3:GetObject on the source (CopyObject API reference). The source is checked here too (s3.py).

6. Signatures of requests without a body (GET, HEAD, DELETE: Lambda's GetFunction, Scheduler's
   GetSchedule): moto recomputes the signature with the parameters it parsed from the path and
   query as the payload, where the client signed an empty one, and answers
   SignatureDoesNotMatch to a correctly signed request. Here a bodiless request is checked with
   the empty payload it was signed with; every signature is still checked.

7. Condition operators: moto knows only `StringEquals`, passes a condition it cannot evaluate
   (unknown operator, key absent from the request) and answers an Allow whose condition fails
   with an explicit Deny. Here every condition is evaluated as AWS documents (conditions.py:
   missing keys, IfExists, Null, ForAllValues/ForAnyValue, Arn*/String*/Bool), and
   a statement whose condition fails does not apply; an operator it cannot evaluate is an error.

8. Conditional writes: moto ignores If-None-Match on CopyObject and overwrites. S3 answers 412
   PreconditionFailed when the destination key exists, and 501 NotImplemented to a CopyObject
   with If-None-Match or If-Match where a policy enforces conditional writes on the key (S3 User
   Guide, "Enforce conditional writes on Amazon S3 buckets"): s3.py, which says how that is read
   for identity policies.

9. Resources, tags and implied actions of the module's calls: moto authorizes SageMaker, KMS,
   SNS, EventBridge, Scheduler and CloudWatch calls on resource "*" and gives identity policies
   neither resource nor request tags nor `iam:PermissionsBoundary`. For the calls on the
   resources of batch-config-template.tf, testbed/enforcement/requests.py builds the resource ARNs
   AWS authorizes (both the alias and the key for KMS alias calls), the condition keys the
   policies use, and the authorizations AWS adds: `kms:TagResource` on every key of the account
   and Region for a CreateKey with tags (AWS KMS guide), `sagemaker:AddTags` with
   `sagemaker:TaggingAction` for a CreateModel/CreatePipeline with tags (their dependent action
   in the Service Authorization Reference). Requests of the query protocol (IAM, SNS and
   CloudWatch, as the Terraform provider sends them: `AlarmNames.member.1=...`) are read in their
   nested shape; moto's flat form hid their names and tags. CloudWatch's actions are named
   `cloudwatch:` as in IAM (moto names them by the endpoint, `monitoring:`), and PutMetricData
   carries `cloudwatch:namespace`. Other calls keep moto's handling (and correction 1).

10. Web identity: AssumeRoleWithWebIdentity is an unsigned call ("Calling
    AssumeRoleWithWebIdentity does not require the use of AWS security credentials", STS API
    reference); the token and the role's trust policy authenticate it (testbed/moto_fixes.py
    correction 4). moto reads the missing Authorization header of every call and fails with 500.

11. Session durations: moto grants any DurationSeconds. AWS refuses an AssumeRole or
    AssumeRoleWithWebIdentity asking more than the role's MaxSessionDuration with a
    ValidationError (STS API reference, DurationSeconds): so does the emulator, and a job that
    asks for the session its timeout needs fails here as in AWS when the role does not allow it.

12. ECR: moto authorizes ECR calls on resource "*" and evaluates no repository policy. Each
    repository call is authorized on the repository's ARN (the request's `repositoryName` and
    `registryId`) with its tags, and a call on another account's repository needs the
    repository's policy to allow it too, as AWS evaluates cross-account requests
    (testbed/enforcement/ecr.py).

13. KMS key policies: moto evaluates none. A call on a key of the caller's account is decided by
    the key's policy first, as AWS KMS does: a statement naming the caller allows it (unless an
    identity policy denies it), one naming the account lets the identity policies decide,
    anything else is denied (testbed/enforcement/kms.py).

moto does not evaluate other resource-based policies (bucket policies), KMS use by S3 or
ECR, nor other condition keys: statements only those could prove are justified by documentation
in docs/iam.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import botocore.handlers
from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.iam import access_control
from moto.iam.access_control import IAMPolicyStatement, IAMRequestBase, PermissionResult
from moto.s3.responses import S3Response
from moto.sts.exceptions import STSValidationError
from moto.sts.models import STSBackend

from testbed.enforcement import ecr, grants, kms, s3
from testbed.enforcement.conditions import conditions_hold
from testbed.enforcement.reference import listed_context
from testbed.enforcement.requests import Check, checks_for, request_of

_SESSION = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/[^/]+$")
_USER = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):user/.+$")
_original_matches = IAMPolicyStatement._check_element_matches
_original_authorize = ActionAuthenticatorMixin._authenticate_and_authorize_action
UNSIGNED_ACTIONS = frozenset({"AssumeRoleWithWebIdentity"})


def principal_arn(caller_arn: str) -> str:
    """The `aws:PrincipalArn` of a caller: the role ARN for a role session, else the caller."""
    session = _SESSION.match(caller_arn)
    if session:
        partition, account, role = session.groups()
        return f"arn:{partition}:iam::{account}:role/{role}"
    return caller_arn


def _account_of(caller_arn: str) -> str:
    match = _SESSION.match(caller_arn) or _USER.match(caller_arn)
    return match.group(2) if match else ""


def _principal_forms(caller_arn: str) -> set[str]:
    """Every Principal value that names this caller in AWS's evaluation."""
    account = _account_of(caller_arn)
    partition = caller_arn.split(":")[1]
    return {caller_arn, principal_arn(caller_arn), account, f"arn:{partition}:iam::{account}:root"}


def _role_arn_with_path(caller_arn: str) -> str:
    """The ARN of a role session's role as IAM holds it, path included (a session ARN drops the
    path: `assumed-role/<name>/...`); the caller's own ARN for anything else."""
    session = _SESSION.match(caller_arn)
    if not session:
        return caller_arn
    partition, account, name = session.groups()
    try:
        return str(_role_backend(f"arn:{partition}:iam::{account}:role/{name}").get_role(name).arn)
    except (access_control.NotFoundException, KeyError):
        return principal_arn(caller_arn)


def _check_principal(self: IAMPolicyStatement, principal: str) -> bool:
    expected = self._statement.get("Principal")
    if not expected:
        return True
    aws = expected.get("AWS") if isinstance(expected, dict) else expected
    if aws is None:
        return False
    values = [aws] if isinstance(aws, str) else list(aws)
    forms = _principal_forms(principal)
    return any(value == "*" or value in forms for value in values)


def _check_element_matches(self: IAMPolicyStatement, element: str, value: str) -> bool:
    if element == "Resource" and value == "*":
        return True  # moto does not know this call's resource: only the action is compared
    return bool(_original_matches(self, element, value))


def _role_backend(role_arn: str) -> Any:
    """The IAM backend of the role's own account (moto looks in the caller's)."""
    from moto.iam.models import iam_backends

    partition, account = role_arn.split(":")[1], role_arn.split(":")[4]
    return iam_backends[account][partition]


def _is_assuming_role_operation(self: IAMRequestBase, resource_arn: str) -> bool:
    if ":role/" not in resource_arn.lower() or ":iam::" not in resource_arn:
        return False
    try:
        _role_backend(resource_arn).get_role_by_arn(resource_arn)
    except access_control.NotFoundException:
        return False
    return self._action in access_control.REQUIRE_RESOURCE_ACCESS_POLICIES_CHECK


def _check_role_trust_relationship(self: IAMRequestBase, role_arn: str) -> bool:
    caller = self._access_key.arn
    incoming = access_control.format_incoming_conditional_values(self._data)
    incoming["aws:PrincipalArn"] = principal_arn(caller)
    incoming["aws:PrincipalAccount"] = _account_of(caller)
    incoming = listed_context(self._action, role_arn, incoming)
    role = _role_backend(role_arn).get_role_by_arn(role_arn)
    trust = access_control.IAMPolicy(role.assume_role_policy_document)
    result = trust.is_action_permitted(self._action, role_arn, caller, incoming)
    return result == access_control.PermissionResult.PERMITTED


_REQUEST_KEYS = {"sagemaker:ModelApprovalStatus": "ModelApprovalStatus"}


def _request_condition_values(request: IAMRequestBase) -> dict[str, str]:
    """Condition keys AWS takes from the request (those the policies use)."""
    if request._action.startswith("s3:"):
        return s3.condition_values(request)
    if not request._action.startswith("sagemaker:"):
        return {}
    try:
        body = json.loads(request._body or b"{}")
    except ValueError:
        return {}
    return {key: str(body[name]) for key, name in _REQUEST_KEYS.items() if name in body}


def _statement_is_action_permitted(
    self: IAMPolicyStatement,
    action: str,
    resource: str = "*",
    principal: str | None = None,
    incoming_condition_values: dict[str, str] | None = None,
) -> PermissionResult:
    """moto's statement evaluation, with AWS's condition semantics (correction 7)."""
    statement = self._statement
    element = "NotAction" if "NotAction" in statement else "Action"
    if self._check_element_matches(element, action) == (element == "NotAction"):
        return PermissionResult.NEUTRAL
    if self.is_unknown_principal(statement.get("Principal")):
        return PermissionResult.NEUTRAL
    if principal and not self._check_principal(principal):
        return PermissionResult.DENIED  # moto's trust semantics, kept
    if not conditions_hold(statement.get("Condition"), incoming_condition_values or {}):
        return PermissionResult.NEUTRAL
    if not statement.get("Resource"):  # a trust policy
        return PermissionResult.PERMITTED
    if not self._check_element_matches("Resource", resource):
        return PermissionResult.NEUTRAL
    return PermissionResult.PERMITTED if statement["Effect"] == "Allow" else PermissionResult.DENIED


_original_aws_request = IAMRequestBase._create_aws_request


def _signed_request(self: IAMRequestBase) -> Any:
    """The request as the client signed it (correction 6)."""
    request = _original_aws_request(self)
    if self._method in ("GET", "HEAD", "DELETE") and not self._body:
        request.data = b""
    return request


def _permitted(request: IAMRequestBase, check: Check, incoming: dict[str, Any]) -> bool:
    permitted = denied = False
    # Only the keys the Service Authorization Reference lists for this action and resource, and
    # the global keys: a key our corrections found in the request that AWS does not put in the
    # context for this action is absent, as in AWS (reference.py).
    context: Any = listed_context(check.action, check.resource, {**incoming, **check.context})
    policies = request._access_key.collect_policies()
    for policy in policies:
        result = access_control.IAMPolicy(policy).is_action_permitted(
            check.action, check.resource, None, context
        )
        if result == access_control.PermissionResult.DENIED:
            permitted, denied = False, True
            break
        permitted = permitted or result == access_control.PermissionResult.PERMITTED
    caller = request._access_key.arn
    account = _account_of(caller)
    key_policy = kms.key_policy_decision(  # correction 13: the key policy decides first
        check, request.account_id, {caller, principal_arn(caller), _role_arn_with_path(caller)},
        {account, f"arn:{caller.split(':')[1]}:iam::{account}:root"},
        {**incoming, "aws:PrincipalArn": principal_arn(caller), "aws:PrincipalAccount": account},
    )  # fmt: skip
    if key_policy == "deny":
        permitted = False
    elif key_policy == "allow":
        permitted = not denied
    grants.record(
        principal_arn(request._access_key.arn), check.action, check.resource,
        str(request._headers.get("User-Agent", "")), policies, context, denied=not permitted,
    )  # fmt: skip
    return permitted


def _check_action_permitted(self: IAMRequestBase, resource: str) -> None:
    """moto's own evaluation (moto/iam/access_control.py), with the request's condition keys,
    and for the module's resources each authorization AWS makes (correction 9)."""
    if self._action == "sts:GetCallerIdentity":
        return
    incoming = _request_condition_values(self)
    service, _, operation = self._action.partition(":")
    request = request_of(
        service, operation, self.account_id, self._region, self._method, self._path,
        self._data, self._body,
    )  # fmt: skip
    # IAM names CloudWatch's actions `cloudwatch:`; moto, by its endpoint, `monitoring:`.
    action = self._action.replace("monitoring:", "cloudwatch:", 1)
    checks = checks_for(request) or [Check(action, resource)]
    permitted = all(_permitted(self, check, incoming) for check in checks)
    caller = self._access_key.arn
    principal = {"aws:PrincipalArn": principal_arn(caller), "aws:PrincipalAccount": self.account_id}
    forms = _principal_forms(caller) | {self.account_id, f"arn:aws:iam::{self.account_id}:root"}
    permitted = permitted and all(  # correction 12: another account's repository must allow it
        ecr.repository_policy_allows(check, self.account_id, forms, {**incoming, **principal})
        for check in checks
    )
    if permitted and self._is_assuming_role_operation(resource):
        permitted = self._check_role_trust_relationship(resource)
    if not permitted:
        self._raise_access_denied()


def _authorize_signed_calls(self: Any, iam_request_cls: type, resource: str = "*") -> None:
    """moto's authentication, except for the calls AWS takes unsigned (correction 10)."""
    if "Authorization" not in self.headers and self._get_action() in UNSIGNED_ACTIONS:
        return
    _original_authorize(self, iam_request_cls, resource)


_original_assume_role = STSBackend.assume_role


def _assume_within_max_session(self: STSBackend, **kwargs: Any) -> Any:
    """moto's AssumeRole (and AssumeRoleWithWebIdentity), refusing a DurationSeconds above the
    role's MaxSessionDuration as STS does (correction 11)."""
    role_arn, duration = str(kwargs.get("role_arn", "")), int(kwargs.get("duration") or 3600)
    try:
        role = _role_backend(role_arn).get_role_by_arn(role_arn)
    except (access_control.NotFoundException, KeyError, IndexError):
        role = None
    maximum = int(role.max_session_duration or 3600) if role is not None else None
    if maximum is not None and duration > maximum:
        raise STSValidationError(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    return _original_assume_role(self, **kwargs)


_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)


def _json_service_denial(parsed: dict[str, Any], model: Any, **_: Any) -> None:
    error = parsed.get("Error")
    if not isinstance(error, dict) or error.get("Code") != "403":
        return
    if model.service_model.protocol != "json":
        return
    match = _XML_MESSAGE.search(str(error.get("Message", "")))
    if match:
        error["Code"], error["Message"] = "AccessDeniedException", match.group(1)


@contextmanager
def aws_semantics() -> Iterator[None]:
    """Apply the corrections above for the duration of the block."""
    handlers = [*botocore.handlers.BUILTIN_HANDLERS, ("after-call", _json_service_denial)]
    patches: list[tuple[object, str, object]] = [
        (IAMPolicyStatement, "_check_principal", _check_principal),
        (IAMPolicyStatement, "_check_element_matches", _check_element_matches),
        (IAMRequestBase, "_check_role_trust_relationship", _check_role_trust_relationship),
        (IAMRequestBase, "_is_assuming_role_operation", _is_assuming_role_operation),
        (IAMRequestBase, "check_action_permitted", _check_action_permitted),
        (IAMRequestBase, "_create_aws_request", _signed_request),
        (ActionAuthenticatorMixin, "_authenticate_and_authorize_s3_action",
         s3.authorize_with_copy_source),
        (botocore.handlers, "BUILTIN_HANDLERS", handlers),
        (IAMPolicyStatement, "is_action_permitted", _statement_is_action_permitted),
        (S3Response, "copy_object", s3.conditional_copy),
        (ActionAuthenticatorMixin, "_authenticate_and_authorize_action", _authorize_signed_calls),
        (STSBackend, "assume_role", _assume_within_max_session),
    ]  # fmt: skip
    with ExitStack() as stack:
        for target, name, replacement in patches:
            stack.enter_context(mock.patch.object(target, name, replacement))
        yield


@contextmanager
def enforced() -> Iterator[None]:
    """Every request in the block is authenticated and authorized (moto's own switch)."""
    saved_count = ActionAuthenticatorMixin.request_count
    with mock.patch.object(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0):
        ActionAuthenticatorMixin.request_count = 0
        try:
            yield
        finally:
            ActionAuthenticatorMixin.request_count = saved_count
