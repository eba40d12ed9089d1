"""S3's part of testbed/enforcement/__init__.py: the condition keys S3 takes from a request
(correction 4), the source of a copy (correction 5) and conditional writes (correction 8).

Conditional writes, as the S3 User Guide says ("How to prevent object overwrites with
conditional writes" and "Enforce conditional writes on Amazon S3 buckets"):
- PutObject, CopyObject and CompleteMultipartUpload with `If-None-Match: *` answer 412
  PreconditionFailed when the key exists (moto does so for PutObject and
  CompleteMultipartUpload, not for CopyObject: corrected here);
- where a policy enforces conditional writes on a key (a statement on s3:PutObject conditioned
  on `s3:if-none-match` or `s3:if-match`), no copy can be made to it: CopyObject without the
  header is denied (the policy's condition does that) and CopyObject WITH the header is answered
  501 NotImplemented. The guide shows it for bucket policies; here, where bucket policies are not
  evaluated, the caller's identity policies count: the stricter reading, since AWS does not
  document that an identity policy's condition is treated otherwise.
CreateMultipartUpload, UploadPart and UploadPartCopy take no conditional header; only the
completion is conditional (`s3:ObjectCreationOperation` is false for the parts).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.responses import ActionResult
from moto.iam import access_control
from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, IAMRequestBase
from moto.s3.exceptions import PreconditionFailed, S3ClientError
from moto.s3.responses import S3Response

_original_s3_check = ActionAuthenticatorMixin._authenticate_and_authorize_s3_action
_original_copy_object = S3Response.copy_object
CONDITIONAL_WRITE_KEYS = frozenset({"s3:if-none-match", "s3:if-match"})
NOT_IMPLEMENTED_STATUS = 501


class CopyNotImplemented(S3ClientError):
    """S3's answer to a conditional CopyObject under a policy that enforces conditional writes."""

    code = "NotImplemented"

    def __init__(self) -> None:
        super().__init__(
            "NotImplemented",
            "A header you provided implies functionality that is not implemented",
        )


def condition_values(request: IAMRequestBase) -> dict[str, str]:
    """The condition keys S3 takes from the request: `s3:ObjectCreationOperation` (true for
    PutObject, CopyObject and CompleteMultipartUpload, false for the parts), `s3:if-none-match`
    and `s3:if-match` (the headers), `s3:prefix` (ListObjects' prefix)."""
    query = parse_qs(urlparse(request._path).query, keep_blank_values=True)
    values: dict[str, str] = {}
    if request._action == "s3:PutObject":
        # CreateMultipartUpload (POST ?uploads) and UploadPart[Copy] (PUT ?partNumber) create no
        # object; PutObject, CopyObject (PUT) and CompleteMultipartUpload (POST ?uploadId) do.
        parts = "uploads" in query or (request._method == "PUT" and "partNumber" in query)
        values["s3:ObjectCreationOperation"] = "false" if parts else "true"
        for header, key in (("If-None-Match", "s3:if-none-match"), ("If-Match", "s3:if-match")):
            if request._headers.get(header) is not None:
                values[key] = str(request._headers[header])
    if request._action == "s3:ListBucket" and "prefix" in query:
        values["s3:prefix"] = query["prefix"][0]
    return values


def _enforcing() -> bool:
    return ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT


def _caller_request(response: Any, action: str) -> access_control.S3IAMRequest:
    return access_control.S3IAMRequest(
        account_id=response.current_account, method=response.method, path=response.raw_path,
        data=response.data, body=response.raw_body, headers=response.headers, action=action,
    )  # fmt: skip


def authorize_with_copy_source(
    self: Any, bucket_name: str | None = None, key_name: str | None = None
) -> None:
    """moto's S3 authorization, and for a copy the source's s3:GetObject too (correction 5)."""
    _original_s3_check(self, bucket_name=bucket_name, key_name=key_name)
    source = self.headers.get("x-amz-copy-source") if key_name else None
    if not source or not _enforcing():
        return
    path = unquote(source.split("?", 1)[0]).lstrip("/")
    _caller_request(self, "GetObject").check_action_permitted(f"arn:aws:s3:::{path}")


def _statements(policy: Any) -> list[dict[str, Any]]:
    listed = IAMPolicy(policy)._policy_json.get("Statement", [])
    return listed if isinstance(listed, list) else [listed]


def enforces_conditional_writes(policies: list[Any], object_arn: str) -> bool:
    """Whether a statement on s3:PutObject of `object_arn` is conditioned on the
    conditional-write keys (the guide's "policy that enforces conditional writes")."""
    for policy in policies:
        for statement in _statements(policy):
            keys = {k.lower() for block in statement.get("Condition", {}).values() for k in block}
            if not keys & CONDITIONAL_WRITE_KEYS:
                continue
            checked = IAMPolicyStatement(statement)
            if checked._check_element_matches(
                "NotAction" if "NotAction" in statement else "Action", "s3:PutObject"
            ) != ("NotAction" in statement) and checked._check_element_matches(
                "Resource", object_arn
            ):
                return True
    return False


def conditional_copy(self: Any) -> Any:
    """moto's CopyObject with S3's conditional-write answers (correction 8): 501 under a policy
    that enforces conditional writes, else 412 when `If-None-Match: *` meets an existing key."""
    conditional = any(self.headers.get(name) is not None for name in ("If-None-Match", "If-Match"))
    if conditional and _enforcing():
        key = self.parse_key_name()
        policies = _caller_request(self, "PutObject")._access_key.collect_policies()
        if enforces_conditional_writes(policies, f"arn:aws:s3:::{self.bucket_name}/{key}"):
            _, headers, body = self.serialized(ActionResult(CopyNotImplemented()))
            return NOT_IMPLEMENTED_STATUS, headers, body
    if self.headers.get("If-None-Match") == "*" and (
        self.backend.get_object(self.bucket_name, self.parse_key_name()) is not None
    ):
        raise PreconditionFailed("If-None-Match")
    return _original_copy_object(self)
