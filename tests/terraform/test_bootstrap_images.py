"""bootstrap/dev with the model's own image repositories listed (bootstrap/settings.tfvars.json
`dev_image_repositories`), planned by the real Terraform against the embedded AWS: it sets each
listed repository's policy for exactly the two stage roles that promote, and a name that is not
a repository of the dev account fails the plan (bootstrap/dev/images.tf). With the shipped
settings (no repository listed) it sets none: tests/terraform/test_terraform_cli.py plans that."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.local_aws import account_session, credentials_environment, local_aws
from testbed.terraform import Terraform, working_copy, write_local_aws_override
from tests.terraform.conftest import REPO_ROOT

STAGES = {
    stage: json.loads((REPO_ROOT / f"{stage}-config.tfvars.json").read_text(encoding="utf-8"))
    for stage in ("pre-prod", "prod")
}
DEV = STAGES["pre-prod"]["source_account_id"]
LISTED = "serving/own-container"


@pytest.fixture(scope="module")
def dev_root(
    tmp_path_factory: pytest.TempPathFactory, terraform: Terraform
) -> Iterator[tuple[Path, dict[str, str]]]:
    """bootstrap/dev of a working copy, initialised against the embedded AWS whose dev account
    holds the team's repository; and an administrator's credentials of the dev account there."""
    copy = working_copy(REPO_ROOT, tmp_path_factory.mktemp("bootstrap-images"))
    settings_path = copy / "bootstrap" / "settings.tfvars.json"
    settings = json.loads(settings_path.read_text(encoding="utf-8"))
    settings_path.write_text(json.dumps({**settings, "github_repository": "example-org/churn"}))
    with local_aws() as endpoint, pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", endpoint)
        account_session(DEV).client("ecr").create_repository(repositoryName=LISTED)
        directory = copy / "bootstrap" / "dev"
        write_local_aws_override(directory, endpoint, local_backend=True)
        env = credentials_environment(account_session(DEV))
        terraform.run(["init", "-input=false", "-no-color", "-lockfile=readonly"],
                      cwd=directory, env=env)  # fmt: skip
        yield directory, env


def _plan(
    terraform: Terraform, root: tuple[Path, dict[str, str]], repositories: list[str]
) -> tuple[int, str, dict[str, Any]]:
    """Plan with the shipped settings but `dev_image_repositories`; the exit code, stderr, and
    the planned changes by address."""
    directory, env = root
    listed = directory / "images.tfvars.json"
    listed.write_text(json.dumps({"dev_image_repositories": repositories}))
    plan = directory / "images.plan"
    done = terraform.run(
        ["plan", "-input=false", "-no-color", f"-out={plan}",
         "-var-file=../settings.tfvars.json", f"-var-file={listed.name}"],
        cwd=directory, env=env, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        return done.returncode, done.stderr, {}
    shown = json.loads(terraform.run(["show", "-json", str(plan)], cwd=directory, env=env).stdout)
    changes = {c["address"]: c["change"] for c in shown.get("resource_changes", [])}
    return 0, done.stderr, changes


def test_the_listed_repository_gets_the_policy_for_the_promote_roles(
    terraform: Terraform, dev_root: tuple[Path, dict[str, str]]
) -> None:
    # GIVEN the team's repository in the dev account, listed in the settings
    # WHEN bootstrap/dev plans
    code, stderr, changes = _plan(terraform, dev_root, [LISTED])

    # THEN it creates the repository's policy: reads, by the pre-prod deploy and prod plan roles
    assert code == 0, stderr
    change = changes[f'aws_ecr_repository_policy.model_images["{LISTED}"]']
    assert change["actions"] == ["create"]
    assert change["after"]["repository"] == LISTED
    (statement,) = json.loads(change["after"]["policy"])["Statement"]
    assert sorted(statement["Action"]) == ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    roles = sorted(statement["Condition"]["ArnEquals"]["aws:PrincipalArn"])
    accounts = [STAGES[stage]["account_id"] for stage in ("pre-prod", "prod")]
    assert [role.split(":")[4] for role in roles] == accounts
    assert roles[0].endswith("-deploy-pre-prod") and roles[1].endswith("-plan-prod")


def test_a_name_that_is_no_repository_fails_the_plan(
    terraform: Terraform, dev_root: tuple[Path, dict[str, str]]
) -> None:
    # GIVEN a typo in the settings' list
    # WHEN bootstrap/dev plans
    code, stderr, _ = _plan(terraform, dev_root, ["serving/own-contianer"])

    # THEN the plan fails, naming what the dev account does not hold
    assert code != 0
    assert "serving/own-contianer" in stderr
