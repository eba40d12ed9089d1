"""The project's expected failures. Each prints as one line; the CLI maps them to exit codes.

This module depends on nothing of ours: every layer may raise these."""

from __future__ import annotations

import importlib.util
import sys

# The packages every command needs; a Python without them is not the project's environment.
REQUIRED_MODULES = ("boto3", "pydantic", "pandas", "pyarrow", "sagemaker")


class PromotionError(Exception):
    """An expected failure of an AWS or runtime step (exit code 1)."""

    exit_code = 1


class ConfigError(PromotionError):
    """Bad input or configuration, found before any AWS call (exit code 2)."""

    exit_code = 2


class AccountMismatchError(ConfigError):
    """Credentials belong to another account than the stage config names."""


class PackageNotApprovedError(ConfigError):
    """A pinned model package is not Approved or not in the configured group."""


class NoApprovedPackageError(PromotionError):
    """The model package group holds no Approved package."""


class PackageFailedError(PromotionError):
    """A target model package is in the Failed state."""


class WaitTimeoutError(PromotionError):
    """A resource did not reach its end state in time."""


class AccessError(PromotionError):
    """AWS refused a call: access denied or expired credentials."""


class CopyError(PromotionError):
    """An artifact could not be copied into the target account."""


class EndpointError(PromotionError):
    """AWS (or AWS_ENDPOINT_URL) could not be reached: DNS, refused or timed-out connections."""


class ServiceError(PromotionError):
    """AWS kept answering with throttling or server errors after every retry."""


def require_environment() -> None:
    """Exit with one line naming `make setup` when this Python lacks the project's packages (a
    command run as `python3 build.py` rather than with .venv/bin/python), not with a
    ModuleNotFoundError traceback."""
    missing = [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        sys.stderr.write(
            f"error: {sys.executable} lacks the project's packages ({', '.join(missing)}): run "
            "`make setup`, then use .venv/bin/python\n"
        )
        raise SystemExit(1)
