"""A stage deployed by v1.0.0 (the repository root applied as the root module) upgraded to the
stage root: stage-root/moved.tf carries every resource to module.stage.* in the same state, and
the first plan replaces nothing.

v1.0.0's stage root (its top-level .tf files, from tests/v1.0.0.tar.xz, the release as it
shipped) is what a repository made from v1.0.0 applied. The real Terraform applies it on the
embedded AWS with local state; the stage root then plans on that state.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from testbed.local_aws import account_session, credentials_environment, local_aws
from testbed.terraform import Terraform, stage_root, write_local_aws_override
from tests.conftest import extract_v1_0_0
from tests.terraform.conftest import FIXTURE_DEFINITION, REPO_ROOT, deployment_tfvars_for

V1_STAGE_ROOT = ("batch-config-template.tf", "variables.tf", "outputs.tf", "versions.tf")
STAGE = "pre-prod"


def _plan(
    terraform: Terraform, root: Path, env: dict[str, str], arguments: list[str]
) -> dict[str, Any]:
    plan = root / "upgrade.tfplan"
    terraform.run(["plan", "-input=false", "-no-color", f"-out={plan}", *arguments],
                  cwd=root, env=env)  # fmt: skip
    return dict(json.loads(terraform.run(["show", "-json", str(plan)], cwd=root, env=env).stdout))


def test_a_v1_stage_moves_into_the_module_and_nothing_is_replaced(
    terraform: Terraform, tmp_path: Path
) -> None:
    stage_file = REPO_ROOT / f"{STAGE}-config.tfvars.json"
    config = json.loads(stage_file.read_text(encoding="utf-8"))
    deployment = deployment_tfvars_for(config)
    with local_aws() as endpoint:  # (it sets AWS_ENDPOINT_URL, and removes it at the end)
        env = credentials_environment(account_session(config["account_id"]))

        # GIVEN a stage applied by v1.0.0's root module (its resources at the top level)
        old = tmp_path / "v1"
        extract_v1_0_0(old, V1_STAGE_ROOT)
        shutil.copy2(REPO_ROOT / "stage-root" / ".terraform.lock.hcl", old)
        shutil.copy2(FIXTURE_DEFINITION, old / "pipeline-definition.json")
        values = {**deployment, "pipeline_definition_file": "pipeline-definition.json"}
        (old / "deployment.tfvars.json").write_text(json.dumps(values), encoding="utf-8")
        write_local_aws_override(old, endpoint, local_backend=True)
        terraform.run(["init", "-input=false", "-no-color", "-lockfile=readonly"], cwd=old, env=env)
        terraform.run(["apply", "-auto-approve", "-input=false", "-no-color",
                       f"-var-file={stage_file}", "-var-file=deployment.tfvars.json"],
                      cwd=old, env=env)  # fmt: skip
        state = json.loads((old / "terraform.tfstate").read_text(encoding="utf-8"))
        applied = {f"{r['type']}.{r['name']}" for r in state["resources"] if r["mode"] == "managed"}
        assert "aws_kms_key.alerts" in applied and "aws_sagemaker_pipeline.this" in applied

        # WHEN the stage root (main.tf and moved.tf, the module of this checkout) plans on that
        # state, with the same stage file and build
        new = stage_root(
            tmp_path / "root", REPO_ROOT, stage=STAGE, config=stage_file,
            deployment=deployment, definition=FIXTURE_DEFINITION, endpoint=endpoint,
        )  # fmt: skip
        shutil.copy2(old / "terraform.tfstate", new / "terraform.tfstate")
        terraform.run(["init", "-input=false", "-no-color", "-lockfile=readonly"], cwd=new, env=env)
        shown = _plan(terraform, new, env, [f"-var=stage={STAGE}"])

    # THEN every resource v1.0.0 applied moves under module.stage, none is created, destroyed or
    # replaced; only in-place updates (the alerts key's policy: one Sid for the account's
    # statement) may remain
    changes = [c for c in shown["resource_changes"] if c["mode"] == "managed"]
    moved_from = {c.get("previous_address") for c in changes}
    assert applied <= moved_from, sorted(applied - moved_from)
    assert all(c["address"].startswith("module.stage.") for c in changes)
    actions = Counter("/".join(c["change"]["actions"]) for c in changes)
    assert set(actions) <= {"no-op", "update"}, actions
    updated = sorted(c["address"] for c in changes if c["change"]["actions"] == ["update"])
    print(f"moved {len(applied)} resources; updated in place: {updated}")
