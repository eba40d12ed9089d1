"""Where moto answers unlike AWS, the narrow corrections the embedded AWS always runs with.

Each one was met running the real Terraform or the commands against moto 5.2.5
(docs/rehearsal.md lists them with AWS's documented answer). IAM enforcement's own
corrections: testbed/enforcement/.

1. A policy statement whose conditions do not match does not apply. moto answers DENIED for it
   (moto/iam/access_control.py, IAMPolicyStatement.is_action_permitted), so the TLS-only bucket
   policy `Deny s3:* if aws:SecureTransport is false`, whose `Bool` operator moto does not know,
   denied every object request. AWS: "the Condition element ... the statement applies only when
   the condition is true" (IAM User Guide, policy evaluation logic). `Bool` is evaluated here.
2. Bucket policies see `aws:SecureTransport` as true: every AWS SDK and the CLI use TLS, and the
   embedded AWS is reached over plain HTTP on loopback only.
3. DescribeModel answers no `VpcConfig` for a model created without one; moto answers `{}`, so a
   second `terraform plan` wanted to replace every model (DescribeModel API reference: VpcConfig
   is returned only when set).
4. AssumeRoleWithWebIdentity evaluates the role's trust policy against the token's claims: the
   `Federated` principal must be this account's OIDC provider for the token's issuer, the token's
   `aud` one of its client ids, and the `StringEquals` / `StringLike` conditions on `<issuer>:sub`
   and `<issuer>:aud` must match. moto grants any token any role. The token's signature is not
   checked (AWS checks it against the provider's keys): the tests mint their own unsigned tokens.
5. EventBridge TestEventPattern answers whether the event matches the pattern (moto answers an
   empty body): the rehearsal checks an approval event against the deployed rule with it. The
   match is moto's own, the one its rules use for PutEvents.
6. UpdateModelPackage changes only what the request names: moto replaces the package's
   CustomerMetadataProperties and ApprovalDescription with the request's (None when absent), so
   approving a version erased its metadata (`feature_columns`), and the rehearsal's promotion of an
   approved version failed. AWS adds or updates the given properties and removes those named in
   CustomerMetadataPropertiesToRemove (UpdateModelPackage API reference: the two parameters).
7. A Lambda function's DeadLetterConfig and LoggingConfig are kept and answered: moto drops both,
   so a second `terraform plan` of the approval trigger wanted to add them again. AWS answers
   them in the function's configuration (FunctionConfiguration in the Lambda API reference;
   LoggingConfig defaults to the Text format and the group /aws/lambda/<function name>).
8. ListPipelineExecutionSteps answers the execution's steps (moto: NotImplementedError, a 500).
   As the API reference documents it: PipelineExecutionSteps newest first unless SortOrder is
   Ascending, MaxResults (1-100) per page with a NextToken, ResourceNotFound for an unknown
   execution. The steps are those the embedded SageMaker really ran (testbed/services.py records
   them); an execution moto only marked Succeeded ran none, and lists none.
9. StopPipelineExecution (moto: NotImplementedError): an execution still Executing becomes
   Stopped (AWS passes through Stopping while its running step ends; here no step runs on its
   own), the answer is its PipelineExecutionArn, ResourceNotFound for an unknown one. AWS does
   not document the answer for an execution already finished: it is left as it is.
10. An action moto does not implement answers InvalidAction, HTTP 400, naming it (moto raised
   NotImplementedError, which its server turns into a 500 HTML page that clients retried as an
   outage). InvalidAction is AWS's documented answer for an action a service does not know
   (Common Errors in each API reference).
11. ECR serves image layers and checks what is pushed, as its API reference documents: moto
    keeps only each layer's size, has no GetDownloadUrlForLayer, and accepts any manifest under a
    digest of its own making. The correction is its own module, testbed/moto_ecr.py.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import warnings
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

from moto.awslambda.models import LambdaFunction
from moto.core.exceptions import AccessDeniedError, ServiceException
from moto.core.responses import ActionResult, BaseResponse
from moto.core.utils import utcnow
from moto.events.models import EventPattern, EventPatternParser
from moto.events.responses import EventsHandler
from moto.iam import policy_conditions
from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, PermissionResult
from moto.s3.models import FakeBucket
from moto.sagemaker.exceptions import ResourceNotFound
from moto.sagemaker.models import FakePipelineExecution, Model, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse
from moto.sts.responses import TokenResponse

from testbed.moto_ecr import ecr_patches

_original_statement_check = IAMPolicyStatement.is_action_permitted
_original_model_response = Model.response_object
_original_web_identity = TokenResponse.assume_role_with_web_identity
_original_update_package = SageMakerModelBackend.update_model_package
_original_function_init = LambdaFunction.__init__
_original_function_configuration = LambdaFunction.get_configuration
_original_function_update = LambdaFunction.update_configuration
_original_call_action = BaseResponse.call_action
FUNCTION_SETTINGS = ("DeadLetterConfig", "LoggingConfig")
TLS_CONTEXT = {"aws:SecureTransport": "true"}
WEB_IDENTITY_ACTION = "sts:AssumeRoleWithWebIdentity"
STEPS_PAGE_LIMIT = 100  # ListPipelineExecutionSteps: MaxResults 1-100
RUNNING_STATUSES = ("Executing", "Stopping")


def _bool_operation(expected: Any, actual: str) -> bool:
    values = [expected] if isinstance(expected, str | bool) else list(expected)
    return actual.lower() in {str(value).lower() for value in values}


def _concerns(statement: IAMPolicyStatement, action: str) -> bool:
    if "NotAction" in statement._statement:
        return not statement._check_element_matches("NotAction", action)
    return bool(statement._check_element_matches("Action", action))


def _statement_check(
    self: IAMPolicyStatement,
    action: str,
    resource: str = "*",
    principal: str | None = None,
    incoming_condition_values: dict[str, str] | None = None,
) -> PermissionResult:
    """Correction 1: a statement whose conditions fail is not applicable (NEUTRAL)."""
    if (
        self._statement.get("Condition")
        and _concerns(self, action)
        and not self._check_conditions(incoming_condition_values)
    ):
        return PermissionResult.NEUTRAL
    return _original_statement_check(self, action, resource, principal, incoming_condition_values)


def _bucket_permission(self: FakeBucket, action: str, resource: str) -> PermissionResult:
    """Correction 2: a bucket policy is evaluated for a request made over TLS."""
    if self.policy is None:
        return PermissionResult.NEUTRAL
    return IAMPolicy(self.policy.decode()).is_action_permitted(action, resource, None, TLS_CONTEXT)


def _model_response(self: Model) -> dict[str, Any]:
    """Correction 3: no VpcConfig unless the model has one."""
    response = dict(_original_model_response.fget(self))  # type: ignore[attr-defined]
    if not response.get("VpcConfig"):
        response.pop("VpcConfig", None)
    return response


def token_claims(token: str) -> dict[str, Any]:
    """The payload of a JSON web token (no signature check: see correction 4)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _values(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(item) for item in value]


def _conditions_hold(
    conditions: Mapping[str, Mapping[str, Any]], claims: Mapping[str, str]
) -> bool:
    operators = {
        "StringEquals": lambda actual, pattern: actual == pattern,
        "StringLike": fnmatch.fnmatchcase,
    }
    for operator, keys in conditions.items():
        compare = operators.get(operator)
        if compare is None:
            return False  # an operator this check does not know never grants
        for key, expected in keys.items():
            actual = claims.get(key)
            if actual is None or not any(compare(actual, value) for value in _values(expected)):
                return False
    return True


def web_identity_trusted(
    trust: Mapping[str, Any], claims: Mapping[str, Any], providers: Mapping[str, list[str]]
) -> bool:
    """Whether a trust policy lets a token with `claims` assume the role.

    Args:
        trust: the role's trust policy.
        claims: the token's claims (`iss`, `sub`, `aud`).
        providers: the account's OIDC providers, ARN to client ids.
    """
    issuer = str(claims.get("iss", "")).removeprefix("https://")
    audience = str(claims.get("aud", ""))
    keys = {f"{issuer}:sub": str(claims.get("sub", "")), f"{issuer}:aud": audience}
    statements = trust.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        federated = _values(statement.get("Principal", {}).get("Federated", []))
        provider = next((arn for arn in federated if arn.endswith(f":oidc-provider/{issuer}")), "")
        if (
            statement.get("Effect") == "Allow"
            and WEB_IDENTITY_ACTION in _values(statement.get("Action", []))
            and audience in providers.get(provider, [])
            and _conditions_hold(statement.get("Condition", {}), keys)
        ):
            return True
    return False


def _checked_web_identity(self: TokenResponse) -> Any:
    """Correction 4: the trust policy decides, as in AWS."""
    from moto.iam.models import iam_backends

    role_arn = self._get_param("RoleArn")
    partition, account = role_arn.split(":")[1], role_arn.split(":")[4]
    backend = iam_backends[account][partition]
    role = backend.get_role_by_arn(role_arn)
    providers = {
        provider.arn: list(provider.client_id_list)
        for provider in backend.open_id_providers.values()
    }
    claims = token_claims(self._get_param("WebIdentityToken"))
    if not web_identity_trusted(json.loads(role.assume_role_policy_document), claims, providers):
        raise AccessDeniedError(f"web identity {claims.get('sub', '?')}", WEB_IDENTITY_ACTION)
    return _original_web_identity(self)


def _test_event_pattern(self: EventsHandler) -> str:
    """Correction 5: TestEventPattern, with the matcher moto's rules use."""
    raw = self._get_param("EventPattern")
    pattern = EventPattern(raw, EventPatternParser(raw).parse())
    return json.dumps({"Result": pattern.matches_event(json.loads(self._get_param("Event")))})


def _update_model_package(
    self: SageMakerModelBackend,
    model_package_arn: str,
    model_approval_status: str | None,
    approval_description: str | None,
    customer_metadata_properties: dict[str, str] | None,
    *args: Any,
    **kwargs: Any,
) -> str:
    """Correction 6: given metadata is merged into the package's, an absent description kept."""
    name = self.model_package_name_mapping.get(model_package_arn, model_package_arn)
    package = self.model_packages.get(name)
    kept = dict(getattr(package, "customer_metadata_properties", None) or {})
    description = getattr(package, "approval_description", None)
    arn = _original_update_package(
        self, model_package_arn, model_approval_status, approval_description,
        {**kept, **(customer_metadata_properties or {})}, *args, **kwargs,
    )  # fmt: skip
    if package is not None and approval_description is None:
        package.approval_description = description
    return str(arn)


def _function_init(self: LambdaFunction, *args: Any, **kwargs: Any) -> None:
    """Correction 7: the function keeps its dead-letter and logging settings."""
    _original_function_init(self, *args, **kwargs)
    spec = kwargs.get("spec", args[1] if len(args) > 1 else {})
    setattr(self, "kept_settings", {k: spec[k] for k in FUNCTION_SETTINGS if k in spec})  # noqa: B010


def _function_configuration(self: LambdaFunction, *args: Any, **kwargs: Any) -> dict[str, Any]:
    configuration: dict[str, Any] = _original_function_configuration(self, *args, **kwargs)
    kept = getattr(self, "kept_settings", {})
    default_logging = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{self.function_name}"}
    configuration["LoggingConfig"] = {**default_logging, **kept.get("LoggingConfig", {})}
    if kept.get("DeadLetterConfig", {}).get("TargetArn"):
        configuration["DeadLetterConfig"] = kept["DeadLetterConfig"]
    return configuration


def _function_update(self: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
    kept = getattr(self, "kept_settings", {})
    kept.update({key: config_updates[key] for key in FUNCTION_SETTINGS if key in config_updates})
    setattr(self, "kept_settings", kept)  # noqa: B010
    return dict(_original_function_update(self, config_updates))


def _execution(response: SageMakerResponse) -> FakePipelineExecution:
    arn = str(response._get_param("PipelineExecutionArn"))
    backend = response.sagemaker_backend
    pipeline = backend.pipelines.get(arn.split("/execution/")[0].rsplit("/", 1)[-1])
    execution = pipeline.pipeline_executions.get(arn) if pipeline else None
    if execution is None:
        raise ResourceNotFound(f"Pipeline execution {arn} does not exist.")
    return execution


def _list_pipeline_execution_steps(self: SageMakerResponse) -> ActionResult:
    """Correction 8: the steps the execution ran, one page at a time."""
    steps = list(getattr(_execution(self), "steps", []))  # oldest first
    if self._get_param("SortOrder", "Descending") != "Ascending":
        steps.reverse()
    start = int(self._get_param("NextToken") or 0)
    size = min(int(self._get_param("MaxResults") or STEPS_PAGE_LIMIT), STEPS_PAGE_LIMIT)
    answer: dict[str, Any] = {"PipelineExecutionSteps": steps[start : start + size]}
    if start + size < len(steps):
        answer["NextToken"] = str(start + size)
    return ActionResult(answer)


def _stop_pipeline_execution(self: SageMakerResponse) -> ActionResult:
    """Correction 9: a running execution is stopped."""
    execution = _execution(self)
    if execution.pipeline_execution_status in RUNNING_STATUSES:
        execution.pipeline_execution_status = "Stopped"
        execution.last_modified_time = utcnow()
    return ActionResult({"PipelineExecutionArn": execution.arn})


class InvalidAction(ServiceException):
    """AWS's answer to an action the service does not know."""

    code = "InvalidAction"


def _call_action(self: BaseResponse) -> Any:
    """Correction 10: an action moto lacks is named in a 400, not a 500 page."""
    try:
        return _original_call_action(self)
    except NotImplementedError:
        action = self._get_action()
        error = InvalidAction(
            f"the embedded AWS (moto) does not implement {self.service_name}:{action}"
        )
        with warnings.catch_warnings():  # moto warns: no such error in the service's model
            warnings.simplefilter("ignore", UserWarning)
            _, headers, body = self.serialized(ActionResult(error))
        return 400, headers, body


@contextmanager
def aws_answers() -> Iterator[None]:
    """Apply the corrections above for the duration of the block (in this process)."""
    with ExitStack() as stack:
        stack.enter_context(
            mock.patch.dict(policy_conditions.CONDITION_OPERATIONS, {"Bool": _bool_operation})
        )
        stack.enter_context(
            mock.patch.object(IAMPolicyStatement, "is_action_permitted", _statement_check)
        )
        stack.enter_context(mock.patch.object(FakeBucket, "get_permission", _bucket_permission))
        stack.enter_context(mock.patch.object(Model, "response_object", property(_model_response)))
        stack.enter_context(
            mock.patch.object(TokenResponse, "assume_role_with_web_identity", _checked_web_identity)
        )
        stack.enter_context(
            mock.patch.object(EventsHandler, "test_event_pattern", _test_event_pattern)
        )
        stack.enter_context(
            mock.patch.object(SageMakerModelBackend, "update_model_package", _update_model_package)
        )
        for name, handler in (("list_pipeline_execution_steps", _list_pipeline_execution_steps),
                              ("stop_pipeline_execution", _stop_pipeline_execution)):  # fmt: skip
            stack.enter_context(mock.patch.object(SageMakerResponse, name, handler, create=True))
        stack.enter_context(mock.patch.object(BaseResponse, "call_action", _call_action))
        for name, function in (("__init__", _function_init),
                               ("get_configuration", _function_configuration),
                               ("update_configuration", _function_update)):  # fmt: skip
            stack.enter_context(mock.patch.object(LambdaFunction, name, function))
        for patch in ecr_patches():
            stack.enter_context(patch)
        yield
