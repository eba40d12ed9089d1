"""The trigger's exception types: each one fails the invocation, so Lambda retries the event."""

from __future__ import annotations


class TriggerError(Exception):
    """The state change could not be turned into a dispatch; the invocation fails."""


class ConfigurationError(TriggerError):
    """An environment setting of the function, or its own identity, is missing or invalid."""


class TokenError(TriggerError):
    """The GitHub token could not be read from Secrets Manager."""


class ClaimBusy(TriggerError):
    """Another invocation holds a live lease on the state change; a retry settles it."""


class DispatchError(TriggerError):
    """GitHub refused the workflow dispatch or did not accept it within the deadline."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
