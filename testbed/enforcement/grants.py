"""Which statement authorized which request: the evidence that a shipped statement is needed.

While `recording_grants()` runs, every request the enforced embedded AWS authorizes is logged with
the caller (its `aws:PrincipalArn`), the action and resource, the client (Terraform or an AWS SDK,
from the User-Agent) and the Sids of the Allow statements that matched. A statement that was the
ONLY one to allow some request is necessary: without it that request is denied, and the command
that made it (a `terraform apply`, a build.py run) fails. That is how the going-live rehearsal
proves statements by the real Terraform's calls, not by a list of the calls we expect.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, PermissionResult


@dataclass(frozen=True)
class Grant:
    """One authorization of one request."""

    principal: str
    action: str
    resource: str
    client: str
    allowed_by: tuple[str, ...]
    denied: bool = False


@dataclass
class GrantLog:
    """The authorizations made while recording (filled from the server's threads)."""

    grants: list[Grant] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, grant: Grant) -> None:
        with self.lock:
            self.grants.append(grant)

    def sole_grants(self) -> dict[tuple[str, str], set[str]]:
        """(principal, Sid) of every statement that alone allowed a request -> the clients
        whose requests needed it."""
        needed: dict[tuple[str, str], set[str]] = {}
        for grant in self.grants:
            if not grant.denied and len(grant.allowed_by) == 1:
                needed.setdefault((grant.principal, grant.allowed_by[0]), set()).add(grant.client)
        return needed

    def denials(self) -> list[Grant]:
        """Requests refused while recording."""
        return [grant for grant in self.grants if grant.denied]


_ACTIVE: list[GrantLog] = []


@contextmanager
def recording_grants() -> Iterator[GrantLog]:
    """Log every authorization made in the block (see the module docstring)."""
    log = GrantLog()
    _ACTIVE.append(log)
    try:
        yield log
    finally:
        _ACTIVE.remove(log)


def client_of(user_agent: str) -> str:
    """Terraform (its provider and its S3 backend say so in the User-Agent) or an SDK."""
    return "terraform" if "Terraform" in user_agent else "sdk"


def allowing_statements(
    policies: Iterable[Any], action: str, resource: str, context: Mapping[str, Any]
) -> tuple[str, ...]:
    """The Sids of the Allow statements that match (an unnamed one by its position)."""
    sids = []
    for policy in policies:
        statements = IAMPolicy(policy)._policy_json.get("Statement", [])  # moto parses each kind
        listed = statements if isinstance(statements, list) else [statements]
        for index, statement in enumerate(listed):
            if statement.get("Effect") != "Allow":
                continue
            result = IAMPolicyStatement(statement).is_action_permitted(
                action, resource, None, dict(context)
            )
            if result == PermissionResult.PERMITTED:
                sids.append(str(statement.get("Sid") or f"#{index}"))
    return tuple(sorted(set(sids)))


def record(
    principal: str, action: str, resource: str, user_agent: str,
    policies: Iterable[Any], context: Mapping[str, Any], *, denied: bool,
) -> None:  # fmt: skip
    """Log one authorization to the active recording, if any."""
    if not _ACTIVE:
        return
    documents = list(policies)
    allowed = () if denied else allowing_statements(documents, action, resource, context)
    grant = Grant(principal, action, resource, client_of(user_agent), allowed, denied)
    for log in _ACTIVE:
        log.add(grant)
