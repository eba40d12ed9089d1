"""`make bootstrap-outputs`: what to paste, valid as pasted; without state, one line, no change."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.bootstrap_outputs import STAGE_FILE_KEYS, paste_ready
from testbed.terraform import Terraform, working_copy

REPO_ROOT = Path(__file__).resolve().parents[1]
DEV_OUTPUTS = {
    "github_repository_variables": {"DEV_READ_ROLE_ARN": "arn:aws:iam::111111111111:role/r"},
    "approval_trigger_backend_config": {"bucket": "b", "key": "approval-trigger.tfstate",
                                        "region": "us-east-1", "kms_key_id": "arn:aws:kms:k"},
    "dev_artifacts_bucket_policy_statements": json.dumps([{"Sid": "S", "Effect": "Allow"}]),
}  # fmt: skip


@pytest.mark.parametrize("stage", ["pre-prod", "prod"])
def test_every_pasted_key_has_its_line_in_the_shipped_stage_file(stage: str) -> None:
    # GIVEN the shipped stage file, and what the stage's outputs print
    text = (REPO_ROOT / f"{stage}-config.tfvars.json").read_text(encoding="utf-8")
    outputs = {key: f"arn:{key}" for key in STAGE_FILE_KEYS}
    printed = paste_ready(stage, {**outputs, "github_environment_variables": {}})
    # WHEN each printed line replaces the line of its key, text for text
    for line in (row for row in printed.splitlines() if row.startswith('  "')):
        key = line.split('"')[1]
        text, count = re.subn(rf'^  "{key}": .*$', line, text, flags=re.M)
        assert count == 1, f"{stage}-config.tfvars.json has no line of {key}"
    # THEN the file is still valid JSON with the pasted values
    assert {key: json.loads(text)[key] for key in STAGE_FILE_KEYS} == outputs


def test_dev_prints_the_variable_and_the_trigger_backend_as_commands(tmp_path: Path) -> None:
    # WHEN dev's outputs are printed and the printed commands run in a checkout
    printed = paste_ready("dev", DEV_OUTPUTS)
    commands = printed.split("\n\n")[0].splitlines()[1:]
    (tmp_path / "approval_trigger").mkdir()
    script = "\n".join(line for line in commands if not line.startswith("gh "))
    subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=tmp_path, check=True)
    # THEN the repository variable is one gh command and the backend file holds the four values
    assert "gh variable set DEV_READ_ROLE_ARN --body arn:aws:iam::111111111111:role/r" in commands
    backend = (tmp_path / "approval_trigger" / "backend.tfbackend").read_text()
    assert 'kms_key_id = "arn:aws:kms:k"' in backend and 'bucket = "b"' in backend
    assert '"Sid": "S"' in printed  # the statements for the bucket owner


def run(checkout: Path, env: dict[str, str], stage: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "scripts/bootstrap_outputs.py", stage],
        cwd=checkout, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("stage", "initialised", "message"),
    [
        ("dev", False, "bootstrap/dev was never initialised in this checkout: apply it first"),
        ("dev", True, "bootstrap/dev has no output github_repository_variables: apply it first"),
        ("pre-prod", True, "bootstrap/stage has no workspace pre-prod: apply it first"),
    ],
)
def test_without_state_one_line_and_nothing_changed(
    terraform: Terraform, tmp_path: Path, stage: str, initialised: bool, message: str
) -> None:
    # GIVEN a checkout where no bootstrap root was applied (perhaps initialised)
    checkout = working_copy(REPO_ROOT, tmp_path / "checkout")
    if initialised:
        root = checkout / "bootstrap" / ("dev" if stage == "dev" else "stage")
        terraform.run(["init", "-backend=false", "-input=false", "-no-color"], cwd=root)
    before = sorted(p.relative_to(checkout) for p in checkout.rglob("*"))
    # WHEN its outputs are asked for
    done = run(checkout, terraform.environment(), stage)
    # THEN one line naming what to do, exit 1, and no file or workspace created
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert sorted(p.relative_to(checkout) for p in checkout.rglob("*")) == before


def test_without_terraform_one_line(tmp_path: Path) -> None:
    checkout = working_copy(REPO_ROOT, tmp_path / "checkout")
    done = run(checkout, {"PATH": str(tmp_path)}, "dev")
    assert done.returncode == 1 and "terraform is not on PATH" in done.stderr


def test_saved_outputs_of_an_unapplied_root_are_one_line_and_the_backend_file_is_written(
    tmp_path: Path,
) -> None:
    # GIVEN saved outputs: dev's, and those of a root never applied (`{}`)
    saved = tmp_path / "dev.json"
    saved.write_text(json.dumps({name: {"value": value} for name, value in DEV_OUTPUTS.items()}))
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    backend = tmp_path / "backend.tfbackend"
    script = [sys.executable, str(REPO_ROOT / "scripts" / "bootstrap_outputs.py")]
    # WHEN they are printed with --trigger-backend
    done = subprocess.run([*script, "dev", "--outputs-json", str(saved), "--trigger-backend",
                           str(backend)], capture_output=True, text=True, check=False)  # fmt: skip
    refused = subprocess.run([*script, "prod", "--outputs-json", str(empty)],
                             capture_output=True, text=True, check=False)  # fmt: skip
    # THEN dev's backend is written, not printed; the unapplied root is one line, exit 1
    assert done.returncode == 0 and "backend.tfbackend" not in done.stdout
    assert 'bucket = "b"' in backend.read_text() and "DEV_READ_ROLE_ARN" in done.stdout
    assert refused.returncode == 1 and refused.stderr == (
        "bootstrap-outputs: error: the outputs have no kms_key_arn: apply the root first\n"
    )
