"""The workflow_dispatch call to GitHub, bounded by one total deadline.

Every attempt's socket timeout is what is left of the deadline (at most ``REQUEST_TIMEOUT``), a
backoff wait is taken only when an attempt still fits after it, and only HTTP 204 (GitHub's
answer to an accepted dispatch) counts as accepted.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import Message
from typing import Any

from .failures import DispatchError
from .settings import Settings

logger = logging.getLogger(__name__)

ACCEPTED = 204
MAX_ATTEMPTS = 4
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 8.0
REQUEST_TIMEOUT_SECONDS = 10.0
# No attempt starts with less than this left of the deadline.
MIN_ATTEMPT_SECONDS = 0.2
USER_AGENT = "sagemaker-batch-gitops-approval-trigger"
GITHUB_API_VERSION = "2022-11-28"

Sleep = Callable[[float], None]
Clock = Callable[[], float]


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
    elif 200 <= status < 300:
        hint = f"only HTTP {ACCEPTED} means the dispatch was accepted"
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


def _request(settings: Settings, token: str, model_package_arn: str) -> urllib.request.Request:
    # Boolean workflow_dispatch inputs travel as strings through the REST API.
    inputs = {"model_package_arn": model_package_arn, "skip_prod": "false"}
    headers = {
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {token}",
        "X-GitHub-Api-Version": GITHUB_API_VERSION,
        "User-Agent": USER_AGENT,
        "Content-Type": "application/json",
    }
    data = json.dumps({"ref": settings.ref, "inputs": inputs}).encode()
    return urllib.request.Request(settings.dispatch_url, data=data, headers=headers, method="POST")


def dispatch_workflow(
    settings: Settings,
    token: str,
    *,
    model_package_arn: str,
    deadline: float,
    opener: urllib.request.OpenerDirector | None = None,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> int:
    """POST the workflow_dispatch call until GitHub accepts it, ``deadline`` passes or
    ``MAX_ATTEMPTS`` attempts failed.

    5xx, 429, rate-limit 403 and network errors are retried with backoff while time is left.

    Args:
        settings: the function's settings.
        token: the GitHub token (never logged).
        model_package_arn: the workflow's ``model_package_arn`` input.
        deadline: ``clock()`` value after which no attempt runs and no wait ends.
        opener: the urllib opener (one that never follows redirects by default).
        sleep: the wait between attempts.
        clock: a monotonic clock.

    Returns:
        The HTTP status of the accepted call (204).

    Raises:
        DispatchError: GitHub refused the call, or did not accept it before the deadline.
    """
    opener = opener or urllib.request.build_opener(_NoRedirect())
    last, attempt = "no attempt fitted in the deadline", 0
    while attempt < MAX_ATTEMPTS and (left := deadline - clock()) >= MIN_ATTEMPT_SECONDS:
        attempt += 1
        response_headers: Message | None = None
        try:
            timeout = min(REQUEST_TIMEOUT_SECONDS, left)
            request = _request(settings, token, model_package_arn)
            with opener.open(request, timeout=timeout) as response:
                status = int(response.status)
            if status == ACCEPTED:
                return status
            raise DispatchError(_explain(status, settings, "unexpected answer"), status=status)
        except urllib.error.HTTPError as error:
            message = _github_message(error)
            if not _is_retryable(error.code, error.headers):
                raise DispatchError(
                    _explain(error.code, settings, message), status=error.code
                ) from error
            last, response_headers = f"HTTP {error.code} ({message})", error.headers
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            last = f"network error ({type(error).__name__})"
        delay = _retry_delay(attempt, response_headers)
        if attempt == MAX_ATTEMPTS or deadline - clock() - delay < MIN_ATTEMPT_SECONDS:
            break
        logger.warning("dispatch attempt %d failed: %s; retrying in %.1fs", attempt, last, delay)
        sleep(delay)
    raise DispatchError(
        f"dispatching workflow {settings.workflow} of {settings.repository} was not accepted"
        f" within its deadline after {attempt} attempt(s), last with {last}"
    )
