"""What the rehearsal's requests prove about the shipped policies (testbed/enforcement/grants.py).

A statement of a shipped template is **proven by the rehearsal** when it alone allowed one of the
rehearsal's requests: Terraform's (an enforced apply, plan or destroy) or an SDK's (build.py,
the pipeline runs, the approval function). The report lists them by role and template, and every
request that was denied.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from testbed.enforcement.grants import GrantLog

_SID = re.compile(r'"Sid"\s*:\s*"([A-Za-z0-9]+)"')


def templates_of_sids(policies: Path) -> dict[str, list[str]]:
    """Sid -> the templates of bootstrap/policies that hold it."""
    owners: dict[str, list[str]] = {}
    for path in sorted(policies.glob("*.json.tftpl")):
        for sid in _SID.findall(path.read_text(encoding="utf-8")):
            owners.setdefault(sid, []).append(path.name.removesuffix(".json.tftpl"))
    return owners


def templates_of_role(role: str, policies: Path) -> list[str]:
    """The templates a role holds: roles.json for the GitHub and dev roles (`<prefix>-<name>`),
    with `dev-images` for the stage roles that read dev's artifacts (bootstrap/stage/images.tf:
    the rehearsal lists a dev image repository), `execution` for the SageMaker execution role."""
    roles = json.loads((policies / "roles.json").read_text(encoding="utf-8"))
    for account, specs in roles.items():
        for name, spec in specs.items():
            if role.endswith(f"-{name}"):
                images = ["dev-images"] if account != "dev" and spec["reads_dev_artifacts"] else []
                return [*spec["policies"], "dev-artifacts-key", *images]
    return ["execution"] if role.endswith("-execution") else []


def evidence(log: GrantLog, policies: Path) -> dict[str, Any]:
    """Proven statements by role ({role: {template:Sid: [clients]}}) and the denied requests."""
    owners = templates_of_sids(policies)
    proven: dict[str, dict[str, list[str]]] = {}
    roles_templates: dict[str, list[str]] = {}
    for (principal, sid), clients in sorted(log.sole_grants().items()):
        role = principal.rsplit("/", 1)[-1]
        if role not in roles_templates:  # each reads roles.json
            roles_templates[role] = templates_of_role(role, policies)
        held = [t for t in owners.get(sid, []) if t in roles_templates[role]]
        if not held:  # an administrator's, or a role the module made (its own policy)
            continue
        proven.setdefault(role, {})[f"{held[0]}:{sid}"] = sorted(clients)
    denied = sorted({json.dumps([g.principal.rsplit("/", 1)[-1], g.action, g.resource])
                     for g in log.denials()})  # fmt: skip
    distinct = {statement for statements in proven.values() for statement in statements}
    by_terraform = {
        statement
        for statements in proven.values()
        for statement, clients in statements.items()
        if "terraform" in clients
    }
    return {
        "proven statements": len(distinct),
        "proven by Terraform's requests": len(by_terraform),
        "by role": proven,
        "denied requests": [json.loads(item) for item in denied],
    }
