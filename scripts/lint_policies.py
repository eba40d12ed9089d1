"""Lint every policy the repository ships against AWS's Service Authorization Reference, offline.

    python scripts/lint_policies.py [--write-docs]

Two checks on every statement of every rendered document (scripts/policy_documents.py):
- parliament 1.6.4 (pinned in requirements/dev.txt), one statement at a time: unknown actions,
  condition keys an action cannot carry (UNKNOWN_CONDITION_FOR_ACTION), resources an action does
  not take (RESOURCE_MISMATCH), operator/type mismatches. parliament raises on some newer
  condition types (ArrayOfARN: events:TargetArn); such statements are reported as not analysed
  by parliament, and the second check still covers them;
- the reference check the IAM emulator applies (testbed/enforcement/reference.py, parliament's
  data): every action is listed, every condition key is listed for each action of its statement
  (the action's own keys, its resource types' keys, or a global key), every resource-scoped action
  has a resource of one of its types.
A finding fails the lint unless ALLOWED explains it, and an allowance no finding needs fails it
too. docs/iam.md lists the allowances and, between its CONDITION_KEYS markers, the table of every
condition key the templates use with the reference entry that lists it for each action
(`--write-docs`, run by `make docs`, writes it; the lint fails when it is stale).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from policy_documents import REPO_ROOT, Document, all_documents  # noqa: E402

from testbed.enforcement import reference  # noqa: E402

DOC_FILE = REPO_ROOT / "docs" / "iam.md"
BEGIN, END = "<!-- BEGIN_CONDITION_KEYS -->", "<!-- END_CONDITION_KEYS -->"
# Keys of a web identity token (IAM User Guide, "Available keys for AWS OIDC federation"): the
# provider's host, then the claim. GitHub's are documented in "Configuring a role for GitHub OIDC
# identity provider"; the reference lists only those of Cognito, Amazon, Facebook and Google.
_OIDC_KEY = re.compile(r"^[a-z0-9.-]+\.[a-z]{2,}(/[^:]*)?:(sub|aud|amr|oaud|azp|email)$")
_GITHUB_OIDC = "documented by the IAM User Guide, \"Configuring a role for GitHub OIDC identity " \
    "provider\" (`token.actions.githubusercontent.com:sub` and `:aud`); parliament's reference " \
    "knows only the Cognito, Amazon, Facebook and Google federation sources"  # fmt: skip
_KEY_POLICY_STAR = "in a key policy, `\"Resource\": \"*\"` means this KMS key (AWS KMS Developer " \
    "Guide, \"Key policies in AWS KMS\")"  # fmt: skip
_GLUE_TAGS = "glue:TagResource, UntagResource and GetTags on the results database: the Glue " \
    "Developer Guide (\"Tagging APIs in AWS Glue\") tags databases by their ARN (and asks " \
    "glue:GetDatabase for it); the reference lists no database type for these actions"  # fmt: skip

# (issue, source, Sid) -> why the finding is right as it is. docs/iam.md repeats them.
ALLOWED: dict[tuple[str, str, str], str] = {
    ("UNKNOWN_FEDERATION_SOURCE", "github-trust", "GitHubEnvironmentOfThisRepository"):
        _GITHUB_OIDC,
    ("UNKNOWN_CONDITION_FOR_ACTION", "github-trust", "GitHubEnvironmentOfThisRepository"):
        _GITHUB_OIDC,
    ("UNKNOWN_FEDERATION_SOURCE", "registry-reader-trust", "GitHubResolveJobOfThisRepository"):
        _GITHUB_OIDC,
    ("UNKNOWN_CONDITION_FOR_ACTION", "registry-reader-trust", "GitHubResolveJobOfThisRepository"):
        _GITHUB_OIDC,
    ("RESOURCE_MISMATCH", "terraform-apply-alerts", "ManageAlertsKeyAlias"):
        "CreateAlias, UpdateAlias and DeleteAlias are authorized on the alias AND the key (AWS "
        "KMS Developer Guide, \"Controlling access to aliases\"): this statement grants the "
        "alias, the alerts key's own policy the key (DeployRoleManagesKey); parliament wants both "
        "in one statement",
    ("MISMATCHED_TYPE_BUT_USABLE", "terraform-apply", "CreateModuleRolesWithinBoundary"):
        "StringEquals on the ARN-typed iam:PermissionsBoundary, as the IAM User Guide's own "
        "permissions boundary examples write it; parliament calls it usable",
    ("RESOURCE_STAR", "dev-artifacts-key-policy", "StageRolesDecryptModelArtifactsThroughS3"):
        _KEY_POLICY_STAR,
    ("RESOURCE_STAR", "batch-config-template.tf", "DeployRoleManagesKey"): _KEY_POLICY_STAR,
    ("RESOURCE_STAR", "batch-config-template.tf", "AlarmsUseKey"): _KEY_POLICY_STAR,
    ("RESOURCE_STAR", "batch-config-template.tf", "FailureRuleUsesKey"): _KEY_POLICY_STAR,
    ("RESOURCE_STAR", "approval_trigger/storage.tf", "LogsEncryptTheFunctionLogGroup"):
        _KEY_POLICY_STAR,
    ("RESOURCE_STAR", "approval_trigger/storage.tf", "EventBridgeSendsToTheDeadLetterQueue"):
        _KEY_POLICY_STAR,
    ("RESOURCE_STAR", "modules/kms-key/main.tf", "AccountDelegatesToIam"): _KEY_POLICY_STAR,
    ("UNKNOWN_CONDITION_FOR_ACTION", "approval_trigger/storage.tf",
     "LogsEncryptTheFunctionLogGroup"):
        "the CloudWatch Logs User Guide's own key policy statement (\"Encrypt log data in "
        "CloudWatch Logs using AWS KMS\"): kms:Describe* under kms:EncryptionContext:aws:logs:arn; "
        "DescribeKey carries no encryption context, so that part allows nothing, as documented",
    ("CONDITION_KEY_NOT_LISTED", "approval_trigger/storage.tf",
     "LogsEncryptTheFunctionLogGroup"):
        "the same statement of the CloudWatch Logs guide, found by the reference check",
    ("RESOURCE_TYPE_NOT_TAKEN", "terraform-apply", "ManageResultsCatalog"): _GLUE_TAGS,
    ("RESOURCE_TYPE_NOT_TAKEN", "terraform-read", "ReadResultsCatalog"): _GLUE_TAGS,
    ("MISMATCHED_TYPE", "approval_trigger/storage.tf", "LogsEncryptTheFunctionLogGroup"):
        "ArnEquals on the encryption context's log group ARN, as the same CloudWatch Logs guide "
        "writes it",
}  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One finding on one statement."""

    document: Document
    sid: str
    issue: str
    detail: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.issue, self.document.source, self.sid)

    def line(self) -> str:
        return f"{self.document.label} {self.sid}: {self.issue} {self.detail}"


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _sid(statement: dict[str, Any], index: int) -> str:
    return str(statement.get("Sid") or f"#{index}")


_RESOURCE_OF_POLICY = {
    # A trust statement names no Resource: its role is the resource.
    "trust": "arn:aws:iam::111111111111:role/the-trusted-role",
    # Nor does an ECR repository policy's (ECR User Guide, "Repository policy examples"): the
    # repository it is set on is.
    "resource": "arn:aws:ecr:us-east-1:111111111111:repository/the-repository",
}


def _for_parliament(document: Document, statement: dict[str, Any]) -> dict[str, Any]:
    """A statement without Resource is about the resource its policy is attached to (a role's
    trust, a repository's policy): parliament wants one named."""
    if document.kind in _RESOURCE_OF_POLICY and "Resource" not in statement:
        return {**statement, "Resource": _RESOURCE_OF_POLICY[document.kind]}
    return statement


def parliament_findings(document: Document) -> tuple[list[Finding], list[str]]:
    """parliament's findings on each statement, and the statements it could not analyse."""
    import parliament  # loads its reference copy at import: only when linting

    findings, unanalysed = [], []
    for index, statement in enumerate(document.statements):
        sid = _sid(statement, index)
        text = json.dumps({"Version": "2012-10-17",
                           "Statement": [_for_parliament(document, statement)]})  # fmt: skip
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                policy = parliament.analyze_policy_string(text, ignore_private_auditors=True)
        except Exception as error:  # parliament raises on condition types it does not know
            unanalysed.append(f"{document.label} {sid}: {error}")
            continue
        findings += [Finding(document, sid, f.issue, str(f.detail)) for f in policy.findings]
    return findings, unanalysed


def _condition_keys(statement: dict[str, Any]) -> list[str]:
    return [key for block in statement.get("Condition", {}).values() for key in block]


def _allowed_key(
    key: str, actions: list[reference.Action], resources: list[str], wildcard: bool
) -> list[str]:
    """The actions of the statement that cannot carry `key` on any of its resources."""
    refused = [
        entry.name for entry in actions
        if not any(entry.allows(key, resource) for resource in resources)
    ]  # fmt: skip
    return [] if wildcard and len(refused) < len(actions) else refused


def reference_findings(document: Document) -> list[Finding]:
    """The emulator's reference check of each statement (see the module docstring)."""
    findings = []
    for index, statement in enumerate(document.statements):
        sid = _sid(statement, index)
        resources = [str(r) for r in _listed(statement.get("Resource", "*"))]
        federated = "Federated" in (statement.get("Principal") or {})
        for pattern in _listed(statement.get("Action", [])):
            actions = reference.actions_matching(str(pattern))
            if not actions:
                findings.append(Finding(document, sid, "UNKNOWN_ACTION", str(pattern)))
                continue
            wildcard = "*" in str(pattern) or "?" in str(pattern)
            for key in _condition_keys(statement):
                if federated and _OIDC_KEY.match(key):
                    continue  # a web identity token's claim: not in the reference (_OIDC_KEY)
                for name in _allowed_key(key, actions, resources, wildcard):
                    findings.append(Finding(document, sid, "CONDITION_KEY_NOT_LISTED",
                                            f"{key} for {name}"))  # fmt: skip
            if wildcard or document.kind != "identity":
                continue
            for entry in actions:
                if (
                    entry.resource_types
                    and "*" not in resources
                    and not any(_takes(t, r) for t in entry.resource_types for r in resources)
                ):
                    findings.append(Finding(document, sid, "RESOURCE_TYPE_NOT_TAKEN",
                                            f"{entry.name} on {resources}"))  # fmt: skip
    return findings


def _takes(resource_type: reference.ResourceType, resource: str) -> bool:
    """Whether a policy's resource pattern can name a resource of the type: parliament's own
    glob-against-glob matching (`log-group:x*` names the type `log-group:x:log-stream:y`)."""
    import parliament

    arn_format = re.sub(r"\$\{.*?\}", "*", resource_type.arn)
    return bool(parliament.is_arn_match(resource_type.name, arn_format, resource))


@dataclass
class Report:
    """Everything the lint found."""

    findings: list[Finding]
    unanalysed: list[str]
    documents: int
    statements: int

    def unexpected(self) -> list[Finding]:
        return [f for f in self.findings if f.key not in ALLOWED]

    def stale_allowances(self) -> list[tuple[str, str, str]]:
        found = {f.key for f in self.findings}
        return [key for key in ALLOWED if key not in found]


def lint(documents: list[Document] | None = None) -> Report:
    """Both checks over every document."""
    documents = all_documents() if documents is None else documents
    findings: list[Finding] = []
    unanalysed: list[str] = []
    for document in documents:
        found, skipped = parliament_findings(document)
        findings += found + reference_findings(document)
        unanalysed += skipped
    count = sum(len(d.statements) for d in documents)
    return Report(findings, unanalysed, len(documents), count)


# --- docs/iam.md: the condition keys and the reference entries that list them --------------------


def _entry(action: reference.Action, key: str, resources: list[str]) -> str:
    """Where the reference lists `key` for `action`: its own row, the type of the statement's
    resources, or the global keys."""
    if reference.key_listed(key, action.own_keys):
        return f"`{action.name}` (the action's own keys)"
    types = [
        t.name for t in action.resource_types
        if reference.key_listed(key, t.keys) and any(_takes(t, r) for r in resources)
    ]  # fmt: skip
    if types:
        return f"`{action.name}` on resource type `{'`, `'.join(types)}`"
    if reference.key_listed(key, reference.GLOBAL_KEYS):
        return "global condition key (IAM User Guide)"
    return "NOT LISTED"


def condition_key_rows(documents: list[Document] | None = None) -> list[tuple[str, str, str, str]]:
    """(template, Sid, key, entries) for every condition key the templates use."""
    rows = set()
    for document in documents if documents is not None else all_documents():
        if document.source.endswith(".tf"):
            continue
        for index, statement in enumerate(document.statements):
            federated = "Federated" in (statement.get("Principal") or {})
            for key in _condition_keys(statement):
                if federated and _OIDC_KEY.match(key):
                    rows.add(
                        (
                            document.source,
                            _sid(statement, index),
                            key,
                            "a web identity token's claim (IAM User Guide, GitHub OIDC)",
                        )
                    )
                    continue
                resources = [str(r) for r in _listed(statement.get("Resource", "*"))]
                entries = sorted({
                    _entry(entry, key, resources)
                    for pattern in _listed(statement.get("Action", []))
                    for entry in reference.actions_matching(str(pattern))
                })  # fmt: skip
                rows.add((document.source, _sid(statement, index), key, "; ".join(entries)))
    return sorted(rows)


def condition_key_table(documents: list[Document] | None = None) -> str:
    """The Markdown table docs/iam.md carries between its CONDITION_KEYS markers."""
    lines = ["| template | statement | condition key | listed for the action by the reference |",
             "|---|---|---|---|"]  # fmt: skip
    lines += [f"| `{t}` | `{s}` | `{k}` | {e} |" for t, s, k, e in condition_key_rows(documents)]
    return "\n".join(lines)


def docs_with_table(text: str, table: str) -> str:
    """docs/iam.md's text with the table between the markers replaced."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


def _lines(report: Report) -> Iterator[str]:
    yield (f"policy lint: {report.documents} documents, {report.statements} statements, "
           f"{len(report.findings)} findings ({len(report.unexpected())} unexplained), "
           f"{len(report.unanalysed)} statements parliament could not analyse")  # fmt: skip
    for finding in report.unexpected():
        yield f"    UNEXPLAINED {finding.line()}"
    for key in report.stale_allowances():
        yield f"    ALLOWED BUT NOT FOUND (remove it from ALLOWED): {key}"
    for skipped in report.unanalysed:
        yield f"    not analysed by parliament (reference check only): {skipped}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-docs", action="store_true", help="rewrite docs/iam.md's table")
    args = parser.parse_args(argv)
    documents = all_documents()
    text = DOC_FILE.read_text(encoding="utf-8")
    wanted = docs_with_table(text, condition_key_table(documents))
    if args.write_docs:
        DOC_FILE.write_text(wanted, encoding="utf-8")
        return 0
    report = lint(documents)
    for line in _lines(report):
        print(line)
    stale = wanted != text
    if stale:
        print("    docs/iam.md's condition key table is stale: run `make docs`")
    return 1 if report.unexpected() or report.stale_allowances() or stale else 0


if __name__ == "__main__":
    sys.exit(main())
