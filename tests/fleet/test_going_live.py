"""Going live from a model repository (docs/going-live.md, "From a model repository"): its make
targets run the template's bootstrap roots and approval trigger at the pin, in .template/, on the
repository's own stage files and settings, with their state outside .template/. Run against the
embedded AWS with the real make, Terraform and the provider mirror."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.local_aws import account_session, credentials_environment, local_aws
from testbed.terraform import s3_backend_settings, write_local_aws_override

from .test_model_repository import copy, make_env, world
from .test_template import ANSWERS

__all__ = ["world"]  # the module fixture: the tagged template this test copies from
DEV, PRE_PROD = ANSWERS["dev_account_id"], ANSWERS["pre_prod_account_id"]
GROUP = ANSWERS["model_package_group_name"]


@pytest.fixture(scope="module")
def embedded_aws() -> Iterator[str]:
    with local_aws() as endpoint:
        yield endpoint


def make_as(
    repository: Path, world: dict[str, Path], account: str, *arguments: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    """The repository's make, as an administrator of `account` in the embedded AWS."""
    env = {**make_env(world), **credentials_environment(account_session(account)), **extra}
    return subprocess.run(["make", *arguments, f"PY={sys.executable}"], cwd=repository, env=env,
                          capture_output=True, text=True, check=False)  # fmt: skip


def test_the_model_repository_bootstraps_from_its_own_files_with_state_outside_the_template(
    world: dict[str, Path], embedded_aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", embedded_aws)
    # GIVEN a model repository (not the demo's group, accounts or region), its template checked
    # out at the pin, the pinned roots pointed at the embedded AWS
    repository = copy(world, tmp_path / "churn-batch", "v1.1.0")
    assert make_as(repository, world, DEV, "setup").returncode == 0
    template = repository / ".template"
    for root in ("bootstrap/dev", "bootstrap/stage", "approval_trigger"):
        write_local_aws_override(template / root, embedded_aws, local_backend=False)

    # WHEN the dev account is bootstrapped, and pre-prod's is planned
    dev = make_as(repository, world, DEV, "bootstrap-dev", "ARGS=-auto-approve -no-color")
    assert dev.returncode == 0, dev.stdout[-3000:] + dev.stderr[-3000:]
    pre_prod = make_as(repository, world, PRE_PROD, "bootstrap-stage", "STAGE=pre-prod",
                       "ACTION=plan", "ARGS=-no-color")  # fmt: skip
    assert pre_prod.returncode == 0, pre_prod.stdout[-3000:] + pre_prod.stderr[-3000:]

    # THEN dev's state is the repository's (bootstrap/dev.tfstate), none is under .template/,
    # and it holds the model's group and accounts: the roots read the repository's files
    state = json.loads((repository / "bootstrap" / "dev.tfstate").read_text())
    assert state["resources"], "bootstrap-dev applied nothing"
    assert [path for path in template.rglob("*.tfstate*") if path.is_file()] == []
    text = json.dumps(state)
    assert f"arn:aws:iam::{DEV}:role/" in text and PRE_PROD in text and "111111111111" not in text
    assert f"{GROUP.lower()}-tfstate-{DEV}" in text
    # AND pre-prod's plan is the model's: its account, name prefix and Region
    for expected in (f"arn:aws:iam::{PRE_PROD}:role/sagemaker-churn-execution", "eu-west-1"):
        assert expected in pre_prod.stdout, expected
    assert "222222222222" not in pre_prod.stdout

    # WHEN dev's outputs are printed
    outputs = make_as(repository, world, DEV, "bootstrap-outputs", "STAGE=dev")

    # THEN the repository variable names the model's dev role, and the trigger's backend is
    # written for `make approval-trigger` instead of printed
    assert outputs.returncode == 0, outputs.stderr
    assert f"gh variable set DEV_READ_ROLE_ARN --body arn:aws:iam::{DEV}:role/" in outputs.stdout
    assert "backend.tfbackend" not in outputs.stdout

    # WHEN the approval trigger is planned, its S3 backend in the bucket bootstrap-dev made
    backend = tmp_path / "endpoints.tfbackend"
    backend.write_text(s3_backend_settings(embedded_aws), encoding="utf-8")
    trigger = make_as(repository, world, DEV, "approval-trigger", "ACTION=plan", "ARGS=-no-color",
                      TF_CLI_ARGS_init=f"-backend-config={backend}")  # fmt: skip

    # THEN it is named after the model's group and reads the model's repository
    assert trigger.returncode == 0, trigger.stdout[-3000:] + trigger.stderr[-3000:]
    assert f"{GROUP.lower()}-approval-dispatch" in trigger.stdout
    assert "acme/churn-batch" in trigger.stdout


def test_outputs_without_state_say_what_to_run(
    world: dict[str, Path], embedded_aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", embedded_aws)
    repository = copy(world, tmp_path / "churn-batch", "v1.1.0")
    done = make_as(repository, world, PRE_PROD, "bootstrap-outputs", "STAGE=prod")
    assert done.returncode != 0
    assert "bootstrap/prod.tfstate is missing: run make bootstrap-stage STAGE=prod" in done.stderr
