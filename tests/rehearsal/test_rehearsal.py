"""`make rehearse` in `make test`: the going-live guide and deploy.yml, played end to end on the
embedded three-account AWS with the real Terraform under IAM enforcement (docs/rehearsal.md).

The rehearsal runs once, as a command (its moto server and patches stay in its own process);
these tests read what it reports. It is never skipped: a machine without the provider mirror
installs the provider from the registry.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.iam.classification import DOCUMENTED, IMAGE_PROVEN, REHEARSED

REPO_ROOT = Path(__file__).resolve().parents[2]
ROOTS = {
    "bootstrap/dev", "bootstrap/stage (pre-prod)", "bootstrap/stage (prod)", "approval_trigger",
    "root module (pre-prod, as the pre-prod role)", "root module (prod, as the prod-plan role)",
}  # fmt: skip


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("rehearsal")
    path = work / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "demo.rehearsal", "--work-dir", str(work / "work"),
         "--report", str(path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    print(f"\nrehearsal: {loaded['terraform']}; {loaded['seconds']} s")
    return loaded


def test_every_deploy_job_succeeds_and_only_a_reviewer_lets_prod_run(
    report: dict[str, Any],
) -> None:
    first, second = report["workflow runs"]
    assert {name: job["result"] for name, job in first.items()} == {
        "resolve": "success", "pre-prod": "success", "prod-plan": "success", "prod": "success",
    }  # fmt: skip
    assert {name: job["result"] for name, job in second.items()} == {
        "resolve": "success", "pre-prod": "success", "prod-plan": "skipped", "prod": "skipped",
    }  # fmt: skip
    assert report["reviewed environments"] == ["prod"]
    jobs = first
    steps = " | ".join(jobs["pre-prod"]["steps"] + jobs["prod"]["steps"])
    for step in (
        "Terraform apply",
        "Smoke run of the pre-prod pipeline",
        "Approve the reviewed model package",
        "Check the plan is the reviewed one",
    ):
        assert f"success  {step}" in steps, step  # fmt: skip


def test_the_trigger_dispatched_exactly_the_approved_version(report: dict[str, Any]) -> None:
    dispatch = report["dispatch"]
    assert dispatch["workflow"] == "deploy.yml" and dispatch["ref"] == "main"
    arn = dispatch["inputs"]["model_package_arn"]
    assert arn.startswith("arn:aws:sagemaker:us-east-1:111111111111:model-package/")


def test_github_holds_what_the_bootstrap_outputs_said(report: dict[str, Any]) -> None:
    github = report["github"]
    state = ["AWS_ROLE_ARN", "TF_STATE_BUCKET", "TF_STATE_KEY", "TF_STATE_KMS_KEY_ARN"]
    assert github["repository variables"] == ["DEV_READ_ROLE_ARN"]
    assert github["environments"] == {
        "pre-prod": sorted([*state, "PROD_READ_ROLE_ARN"]), "prod-plan": state, "prod": state,
    }  # fmt: skip
    # AND each environment deploys from main alone, never "any protected branch"
    assert github["deployment branches"] == {"pre-prod": ["main"], "prod-plan": ["main"],
                                             "prod": ["main"]}  # fmt: skip
    assert github["stage files pasted"] == [
        "pre-prod-config.tfvars.json",
        "prod-config.tfvars.json",
    ]


def test_every_run_reads_what_it_needs_as_the_execution_role(report: dict[str, Any]) -> None:
    # GIVEN input in its own bucket, predictions in another, evaluation rows outside the input
    # THEN the smoke runs, the scheduled prod run and the comparison's two runs succeed
    assert report["scheduled run"]["status"] == "Succeeded"
    comparison = report["champion/challenger"]
    assert comparison["status"] == "compared" and comparison["champion"] != comparison["challenger"]
    # AND the execution role's reads of results and evaluation rows were each needed
    needed = report["iam"]["by role"]["sagemaker-batch-inference-execution"]
    assert {"execution:ReadOwnResults", "execution:ReadInput", "execution:WriteOutput"} <= set(
        needed
    )


def test_a_second_plan_of_every_root_has_no_changes(report: dict[str, Any]) -> None:
    assert report["second plans"] == dict.fromkeys(ROOTS, "no changes")


def test_the_teardown_leaves_only_what_the_guide_keeps(report: dict[str, Any]) -> None:
    created = report["resources"]
    assert created["root module (pre-prod)"] == created["root module (prod)"] > 0
    assert report["destroyed"] == {
        name: created[name] for name in ("root module (prod)", "root module (pre-prod)",
                                         "approval_trigger")
    }  # fmt: skip
    left = report["left after the teardown"]
    assert {account: items["not removed"] for account, items in left.items()} == {
        "dev": {}, "pre-prod": {}, "prod": {},
    }  # fmt: skip
    # The first version reached both stages; the second, dispatched by hand, pre-prod only; the
    # own-container version both (promoted by build.py, never applied).
    for stage, packages in (("pre-prod", 3), ("prod", 2)):
        kept = left[stage]["kept"]
        assert kept["model packages"] == packages
        assert any(prefix.endswith("/model-packages/") for prefix in kept["objects by prefix"])


def test_prod_applied_the_reviewed_plan_with_a_key_policy_naming_the_deploy_role(
    report: dict[str, Any],
) -> None:
    # GIVEN the prod alerts key, planned by the plan role, applied from the reviewed plan by the
    # deploy role
    named = report["prod alerts key principals"]
    # THEN its policy names the account and the deploy role, never the read-only plan role
    assert named == sorted([
        "arn:aws:iam::333333333333:root",
        "arn:aws:iam::333333333333:role/breast-cancer-classifier-deploy-prod",
    ])  # fmt: skip


def test_taking_a_stage_down_removes_only_what_its_module_owns(report: dict[str, Any]) -> None:
    # GIVEN each stage destroyed by its deploy role after the runs published their results
    for stage in ("pre-prod", "prod"):
        gone = report["removed by the destroy"][stage]
        # THEN its scheduler role, its results database and its alerts key (pending deletion)
        # went; no bucket, object (the published results), policy or bootstrap role did
        assert gone["roles"] == [f"breast-cancer-classifier-{stage}-batch-inference-scheduler"]
        assert {"buckets", "objects", "policies"}.isdisjoint(gone)
        assert [t for t in gone["tables"] if t.endswith(".predictions")]
        assert len(gone["keys"]) == 1 and gone["keys"][0].endswith(" Enabled")


def test_the_deploy_roles_applied_with_exactly_the_shipped_policies(report: dict[str, Any]) -> None:
    # GIVEN the statements that alone allowed one of the rehearsal's requests
    proven = report["iam"]["by role"]
    # THEN each deploy role's Terraform apply needed its terraform-apply and state statements
    for role in (
        "breast-cancer-classifier-deploy-pre-prod",
        "breast-cancer-classifier-deploy-prod",
    ):
        by_terraform = {s for s, clients in proven[role].items() if "terraform" in clients}
        expected = {
            "terraform-apply:ManageModulePipeline",
            "terraform-state-write:WriteState",
            "terraform-apply-alerts:CreateAlertsKey",
        }
        assert expected <= by_terraform, sorted(by_terraform)
    # AND the only refusals are the provider's own probe of iam:GetUser (a role is no user)
    denied = {(action, resource) for _, action, resource in report["iam"]["denied requests"]}
    assert denied <= {("iam:GetUser", "*")}, denied


def test_the_iam_classification_says_what_the_rehearsal_proves(report: dict[str, Any]) -> None:
    # GIVEN every statement that alone allowed one of the rehearsal's requests
    proven = {
        tuple(statement.split(":", 1))
        for statements in report["iam"]["by role"].values()
        for statement in statements
    }
    # THEN each statement docs/iam.md counts as proven by the rehearsal was, and none it counts
    # as justified only by documentation was
    assert set(REHEARSED) - proven == set()
    assert set(DOCUMENTED) & proven == set()


IMAGE_ROLES = ("breast-cancer-classifier-deploy-pre-prod", "breast-cancer-classifier-plan-prod")
IMAGE_STATEMENTS = {"dev-images:ReadDevModelImages", "promote:ReadModelImageCopies",
                    "promote:PushModelImageCopies"}  # fmt: skip


def test_the_own_container_reaches_both_stages_by_its_dev_digest(report: dict[str, Any]) -> None:
    # GIVEN the team's image pushed into the dev ECR before the bootstrap, and a version of the
    # model naming it by tag
    own = report["own image"]
    dev_digest, version = own["dev digest"], own["version"].rsplit("/", 1)[-1]
    assert dev_digest.startswith("sha256:") and own["dev image"].endswith(
        "111111111111.dkr.ecr.us-east-1.amazonaws.com/breast-cancer/own-server:1.0"
    )
    # WHEN build.py promotes it as the pre-prod deploy role, then as the prod plan role with the
    # digests pre-prod promoted
    for stage, account in (("pre-prod", "222222222222"), ("prod", "333333333333")):
        copy = own["stages"][stage]
        # THEN the stage's own repository holds exactly the dev digest, tagged with the version,
        # and the stage's package names that copy by digest
        assert copy["digest in the stage"] == dev_digest
        assert copy["tags"] == [f"v{version}-{dev_digest[7:19]}"]
        assert copy["package names"] == (
            f"{account}.dkr.ecr.us-east-1.amazonaws.com/model-images/breast-cancer-classifier"
            f"@{dev_digest}"
        )
        # AND every blob (config and layers) was copied into it through the runner, byte for byte
        assert (copy["layers copied"], copy["layers already there"]) == (own["blobs"], 0)
        assert copy["bytes moved"] == own["bytes"] > 0


def test_the_image_was_copied_with_the_shipped_grants_alone(report: dict[str, Any]) -> None:
    # GIVEN the dev repository holding only the policy bootstrap/dev set, IAM enforced
    assert report["own image"]["dev repository policy"] == ["StageRolesReadModelImages"]
    # THEN the copy needed each promote role's image statements, as an SDK's requests (build.py)
    proven = report["iam"]["by role"]
    for role in IMAGE_ROLES:
        by_sdk = {s for s, clients in proven[role].items() if "sdk" in clients}
        assert by_sdk >= IMAGE_STATEMENTS, (role, sorted(by_sdk))
    # AND they are the statements the IAM tests prove for the copy
    assert {f"{case.template}:{case.sid}" for case in IMAGE_PROVEN} == IMAGE_STATEMENTS
