"""The function's settings, read from its environment and checked once per invocation.

Required: ``GITHUB_REPOSITORY`` (owner/name), ``GITHUB_TOKEN_SECRET_ID``,
``MODEL_PACKAGE_GROUP_NAME``, ``DEDUP_TABLE``. Optional: ``DEPLOY_WORKFLOW`` (deploy.yml),
``DEPLOY_REF`` (main), ``GITHUB_API_URL`` (https://api.github.com), ``DEDUP_TTL_SECONDS``
(7 days), ``DEDUP_LEASE_SECONDS`` (40) and ``LOG_LEVEL`` (INFO).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

from .failures import ConfigurationError

DEFAULT_DEDUP_TTL_SECONDS = 7 * 24 * 3600
# Lambda waits one minute before the first retry of a failed asynchronous invocation: a lease
# shorter than that has expired when the retry of an invocation that died holding it arrives.
FIRST_RETRY_WAIT_SECONDS = 60
DEFAULT_LEASE_SECONDS = 40
MIN_LEASE_SECONDS = 10
MAX_LEASE_SECONDS = FIRST_RETRY_WAIT_SECONDS - 5
# The GitHub call ends this long before the lease does (the done marker is written after it).
LEASE_MARGIN_SECONDS = 5.0
DEFAULT_GITHUB_DEADLINE_SECONDS = 20.0
ENVIRONMENT_VARIABLES = (
    "GITHUB_REPOSITORY",
    "GITHUB_TOKEN_SECRET_ID",
    "MODEL_PACKAGE_GROUP_NAME",
    "DEDUP_TABLE",
    "DEPLOY_WORKFLOW",
    "DEPLOY_REF",
    "GITHUB_API_URL",
    "DEDUP_TTL_SECONDS",
    "DEDUP_LEASE_SECONDS",
)
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_WORKFLOW = re.compile(r"[A-Za-z0-9_.-]+")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class Settings:
    """The function's configuration."""

    repository: str
    token_secret_id: str
    group_name: str
    dedup_table: str
    workflow: str = "deploy.yml"
    ref: str = "main"
    api_url: str = "https://api.github.com"
    dedup_ttl_seconds: int = DEFAULT_DEDUP_TTL_SECONDS
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    github_deadline_seconds: float = DEFAULT_GITHUB_DEADLINE_SECONDS

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
            lease_seconds=_positive_int(environ, "DEDUP_LEASE_SECONDS", DEFAULT_LEASE_SECONDS),
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
        if not MIN_LEASE_SECONDS <= settings.lease_seconds <= MAX_LEASE_SECONDS:
            raise ConfigurationError(
                f"DEDUP_LEASE_SECONDS={settings.lease_seconds} must be from {MIN_LEASE_SECONDS} to"
                f" {MAX_LEASE_SECONDS}: shorter than Lambda's {FIRST_RETRY_WAIT_SECONDS} s wait"
                " before a retry, longer than the function timeout"
            )
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
