"""The bootstrap roots with a model package group in mixed case (Copier and SageMaker accept
`ChurnModel`), planned by the real Terraform against the embedded AWS in eu-west-1: each state
bucket is named in lower case (S3's CreateBucket refuses upper case, in the middle of an apply
that has created other resources), as the tests render the policies that name it
(testbed/iam_policies.py; Terraform renders them from the same local, `state_bucket`:
tests/iam/test_policies.py), and the roles keep the group's case."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.iam_policies import state_bucket
from testbed.local_aws import account_session, credentials_environment, local_aws
from testbed.terraform import Terraform, working_copy, write_local_aws_override
from tests.terraform.conftest import REPO_ROOT

GROUP = "ChurnModel"
REGION = "eu-west-1"


def _stage_file(stage: str) -> dict[str, Any]:
    """The shipped stage file of `stage` with the mixed-case group, in eu-west-1."""
    shipped = json.loads((REPO_ROOT / f"{stage}-config.tfvars.json").read_text(encoding="utf-8"))
    return {**shipped, "model_package_group_name": GROUP, "region": REGION}


STAGES = {stage: _stage_file(stage) for stage in ("pre-prod", "prod")}
DEV = STAGES["pre-prod"]["source_account_id"]
PRE_PROD = STAGES["pre-prod"]["account_id"]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A working copy whose stage files name the mixed-case group, and the embedded AWS."""
    copy = working_copy(REPO_ROOT, tmp_path_factory.mktemp("bootstrap-names"))
    for stage, values in STAGES.items():
        (copy / f"{stage}-config.tfvars.json").write_text(json.dumps(values), encoding="utf-8")
    settings_path = copy / "bootstrap" / "settings.tfvars.json"
    settings = json.loads(settings_path.read_text(encoding="utf-8"))
    settings_path.write_text(json.dumps({**settings, "github_repository": "example-org/churn"}))
    with local_aws() as endpoint:
        yield copy, endpoint


def _planned(
    terraform: Terraform,
    directory: Path,
    endpoint: str,
    account: str,
    arguments: list[str],
    workspace: str | None = None,
) -> dict[str, Any]:
    """`terraform show -json` of the root's plan, as an administrator of `account`."""
    write_local_aws_override(directory, endpoint, local_backend=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", endpoint)
        env = credentials_environment(account_session(account, REGION))
    terraform.run(["init", "-input=false", "-no-color", "-lockfile=readonly"],
                  cwd=directory, env=env)  # fmt: skip
    if workspace:
        terraform.run(["workspace", "select", "-or-create", workspace], cwd=directory, env=env)
    plan = directory / "names.plan"
    done = terraform.run(["plan", "-input=false", "-no-color", f"-out={plan}", *arguments],
                         cwd=directory, env=env, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    shown = terraform.run(["show", "-json", str(plan)], cwd=directory, env=env).stdout
    return dict(json.loads(shown))


def _after(shown: dict[str, Any], address: str) -> dict[str, Any]:
    (change,) = [c for c in shown["resource_changes"] if c["address"] == address]
    return dict(change["change"]["after"])


def test_a_stage_names_its_state_bucket_in_lower_case_everywhere(
    terraform: Terraform, checkout: tuple[Path, str]
) -> None:
    # GIVEN the pre-prod stage of a group in mixed case, in eu-west-1
    copy, endpoint = checkout
    directory = copy / "bootstrap" / "stage"

    # WHEN bootstrap/stage plans it
    shown = _planned(terraform, directory, endpoint, PRE_PROD,
                     ["-var-file=../../pre-prod-config.tfvars.json",
                      "-var-file=../settings.tfvars.json"], workspace="pre-prod")  # fmt: skip

    # THEN the state bucket is the lower-case name the tests render the policies with
    expected = state_bucket(GROUP, PRE_PROD)
    assert expected == f"churnmodel-tfstate-{PRE_PROD}"
    assert _after(shown, "module.state_bucket.aws_s3_bucket.this")["bucket"] == expected
    # AND the roles keep the group's case (nothing already deployed is renamed)
    role = _after(shown, 'aws_iam_role.github["deploy-pre-prod"]')
    assert role["name"] == f"{GROUP}-deploy-pre-prod"


def test_dev_names_the_trigger_state_bucket_in_lower_case(
    terraform: Terraform, checkout: tuple[Path, str]
) -> None:
    # GIVEN the dev account of the same group
    copy, endpoint = checkout

    # WHEN bootstrap/dev plans it
    shown = _planned(terraform, copy / "bootstrap" / "dev", endpoint, DEV,
                     ["-var-file=../settings.tfvars.json"])  # fmt: skip

    # THEN the approval trigger's state bucket is named in lower case
    bucket = _after(shown, "module.state_bucket.aws_s3_bucket.this")["bucket"]
    assert bucket == state_bucket(GROUP, DEV) == f"churnmodel-tfstate-{DEV}"
