"""Structure of deploy.yml, ci.yml and template-update.yml: order, the one ARN, the reviewed
plan, least privilege."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
DEPLOY = WORKFLOWS / "deploy.yml"
PLAN, APPLY = 'terraform -chdir="$TF_ROOT" plan', 'terraform -chdir="$TF_ROOT" apply'
CI = WORKFLOWS / "ci.yml"
# A model repository's own workflows (template/, Copier's _subdirectory; its deploy.yml, a
# .jinja caller, is checked rendered: tests/fleet).
MODEL_WORKFLOWS = ROOT / "template" / ".github" / "workflows"
TEMPLATE_UPDATE = MODEL_WORKFLOWS / "template-update.yml"
MODEL_CI = MODEL_WORKFLOWS / "ci.yml"
ALL = (DEPLOY, CI, TEMPLATE_UPDATE, MODEL_CI)
ALL_IDS = ("deploy", "ci", "template-update", "model-ci")
ARN_OUTPUT = "${{ needs.resolve.outputs.model_package_arn }}"
BUILD_ARGS = 'python "$TEMPLATE/build.py" "${args[@]}"'  # the template's code at template-ref
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<action>[^@\s]+)@(?P<ref>\S+)(?P<comment>.*)$")


def _load(path: Path) -> dict[str, Any]:
    workflow = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return dict(workflow)


@pytest.fixture(scope="module")
def deploy() -> dict[str, Any]:
    return _load(DEPLOY)


@pytest.fixture(scope="module")
def ci() -> dict[str, Any]:
    return _load(CI)


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job["steps"])


def _step_using(job: dict[str, Any], action: str) -> dict[str, Any]:
    (step,) = [s for s in _steps(job) if s.get("uses", "").startswith(f"{action}@")]
    return step


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in _steps(job))


def _index(job: dict[str, Any], needle: str) -> int:
    """Position of the first step whose run script or action contains ``needle``."""
    for position, step in enumerate(_steps(job)):
        if needle in step.get("run", "") or needle in step.get("uses", ""):
            return position
    raise AssertionError(f"no step contains {needle!r}")


def _needs(job: dict[str, Any]) -> set[str]:
    needs = job.get("needs", [])
    return {needs} if isinstance(needs, str) else set(needs)


# --- triggers and workflow-level settings -----------------------------------------------------


def test_triggers(deploy: dict[str, Any]) -> None:
    inputs = deploy["on"]["workflow_dispatch"]["inputs"]
    assert inputs["model_package_arn"]["type"] == "string"
    assert inputs["model_package_arn"]["default"] == ""
    assert inputs["skip_prod"]["type"] == "boolean"
    assert inputs["skip_prod"]["default"] is False

    push = deploy["on"]["push"]
    assert push["branches"] == ["main"]
    for path in ("*-config.tfvars.json", "*.tf", "stage-root/**", "modules/**", "pipelines/**",
                 "build.py", "promotion/**"):  # fmt: skip
        assert path in push["paths"]


def test_no_default_permissions_and_one_queued_deploy_per_stage(deploy: dict[str, Any]) -> None:
    assert deploy["permissions"] == {}
    # No workflow-wide group: it would be held while prod waits for its reviewer (days).
    assert "concurrency" not in deploy
    jobs = deploy["jobs"]
    groups = {name: jobs[name]["concurrency"] for name in ("pre-prod", "prod-plan", "prod")}
    for concurrency in groups.values():
        assert concurrency["cancel-in-progress"] is False
        # One group per stage for every run: not per ref, run or input.
        assert not re.search(r"github\.(ref|run_id|sha)|inputs\.", concurrency["group"])
    assert groups["prod-plan"]["group"] == groups["prod"]["group"] != groups["pre-prod"]["group"]


# --- jobs, order and the one ARN --------------------------------------------------------------


def test_jobs_run_in_order(deploy: dict[str, Any]) -> None:
    jobs = deploy["jobs"]
    assert list(jobs) == ["resolve", "pre-prod", "prod-plan", "prod"]
    assert _needs(jobs["resolve"]) == set()
    assert _needs(jobs["pre-prod"]) == {"resolve"}
    assert _needs(jobs["prod-plan"]) == {"resolve", "pre-prod"}
    assert _needs(jobs["prod"]) == {"resolve", "prod-plan"}


def test_environments(deploy: dict[str, Any]) -> None:
    jobs = deploy["jobs"]
    assert "environment" not in jobs["resolve"]
    assert jobs["pre-prod"]["environment"] == "pre-prod"
    assert jobs["prod-plan"]["environment"] == "prod-plan"
    assert jobs["prod"]["environment"] == "prod"


def test_resolve_outputs_one_arn_and_only_it_resolves(deploy: dict[str, Any]) -> None:
    jobs = deploy["jobs"]
    resolve = jobs["resolve"]
    assert resolve["outputs"] == {
        "model_package_arn": "${{ steps.resolve.outputs.model_package_arn }}"
    }
    step = next(s for s in _steps(resolve) if s.get("id") == "resolve")
    assert "--resolve-only" in step["run"]
    assert step["env"]["REQUESTED_ARN"] == "${{ inputs.model_package_arn }}"
    for name in ("pre-prod", "prod-plan", "prod"):
        assert "--resolve-only" not in _runs(jobs[name])


@pytest.mark.parametrize(("job_name", "stage"), [("pre-prod", "pre-prod"), ("prod-plan", "prod")])
def test_both_stages_build_the_resolved_arn(
    deploy: dict[str, Any], job_name: str, stage: str
) -> None:
    job = deploy["jobs"][job_name]
    assert job["env"] == {"STAGE": stage, "MODEL_PACKAGE_ARN": ARN_OUTPUT}
    (build,) = [s for s in _steps(job) if BUILD_ARGS in s.get("run", "")]
    assert 'args=(--stage "$STAGE" --model-package-arn "$MODEL_PACKAGE_ARN")' in build["run"]
    # Dev is read through the config's source_role_arn, else the dev read-only role.
    assert build["env"] == {"DEV_READ_ROLE_ARN": "${{ vars.DEV_READ_ROLE_ARN }}"}
    assert 'args+=(--source-role-arn "$DEV_READ_ROLE_ARN")' in build["run"]
    # The build outputs are checked against the resolved ARN before Terraform sees them.
    assert _index(job, "build.py") < _index(job, ".source_model_package_arn")
    assert _index(job, ".source_model_package_arn") < _index(job, PLAN)


def test_prod_plan_is_skipped_on_request(deploy: dict[str, Any]) -> None:
    assert deploy["jobs"]["prod-plan"]["if"] == "${{ !inputs.skip_prod }}"
    assert "if" not in deploy["jobs"]["prod"]  # skipped with prod-plan, through needs


# --- pre-prod: plan, apply, smoke -------------------------------------------------------------


def test_the_reviewers_summary_lists_every_change_even_past_the_cut(
    deploy: dict[str, Any], tmp_path: Path
) -> None:
    # GIVEN the prod plan's summary script, and a plan whose long pipeline definition comes
    # before the schedule's and the alarm's changes, past the 60,000 characters shown
    (step,) = [s for s in _steps(deploy["jobs"]["prod-plan"]) if s.get("id") == "plan"]
    script = step["run"][step["run"].index("# Every changed resource") :]
    plan = tmp_path / "prod-plan.txt"
    plan.write_text(
        "  # module.stage.aws_sagemaker_pipeline.this will be updated in-place\n"
        + "      ~ pipeline_definition = " + "x" * 70_000 + "\n"
        + "  # module.stage.aws_scheduler_schedule.this will be updated in-place\n"
        + "  # module.stage.aws_cloudwatch_metric_alarm.data_quality must be replaced\n"
        + "  # module.stage.aws_sqs_queue.dlq has moved to module.stage.aws_sqs_queue.dead\n"
    )  # fmt: skip
    summary = tmp_path / "summary.md"
    env = {"PATH": os.environ["PATH"], "STAGE": "prod", "sha256": "f" * 64,
           "GITHUB_STEP_SUMMARY": str(summary)}  # fmt: skip
    # WHEN it runs
    done = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, check=False,
                          capture_output=True, text=True)  # fmt: skip
    # THEN every changed resource is listed before the plan, and the cut is said
    assert done.returncode == 0, done.stderr
    text = summary.read_text()
    listed = text[: text.index("<details")]
    assert "aws_scheduler_schedule.this will be updated" in listed
    assert "aws_cloudwatch_metric_alarm.data_quality must be replaced" in listed
    assert "aws_sqs_queue.dlq has moved to" in listed
    assert "[cut at 60,000 characters: the whole plan is prod-plan.txt in the artifact]" in text


def test_terraform_runs_the_stage_root_and_applies_saved_plans(deploy: dict[str, Any]) -> None:
    # The stage root reads <stage>-config.tfvars.json and build/<stage>/ from where Terraform
    # runs: the repository root, with -chdir to the root (a model repository: -chdir=.).
    # Called with template-ref: the caller's root (its main.tf); else this repository's.
    assert deploy["env"]["TF_ROOT"] == "${{ inputs.template-ref && '.' || 'stage-root' }}"
    for name in ("pre-prod", "prod-plan"):
        runs = _runs(deploy["jobs"][name])
        assert 'terraform -chdir="$TF_ROOT" plan' in runs
        assert '-var="stage=$STAGE" -out="$PWD/$STAGE.tfplan"' in runs
        assert "-var-file" not in runs
        assert 'terraform -chdir="$TF_ROOT" show -no-color "$PWD/$STAGE.tfplan"' in runs
        assert "GITHUB_STEP_SUMMARY" in runs
    for job in deploy["jobs"].values():
        assert "-auto-approve" not in _runs(job)
        for line in _runs(job).splitlines():
            if "terraform" in line.split() or line.lstrip().startswith("terraform "):
                assert '-chdir="$TF_ROOT"' in line, line
            if " apply " in line and "terraform" in line:
                assert line.strip().endswith('"$PWD/$STAGE.tfplan"')


def test_terraform_backend_comes_from_variables(deploy: dict[str, Any]) -> None:
    for name in ("pre-prod", "prod-plan", "prod"):
        init = next(s for s in _steps(deploy["jobs"][name]) if s.get("name") == "Terraform init")
        assert init["env"]["TF_STATE_BUCKET"] == "${{ vars.TF_STATE_BUCKET }}"
        assert init["env"]["TF_STATE_KEY"] == "${{ vars.TF_STATE_KEY }}"
        assert '-backend-config="bucket=$TF_STATE_BUCKET"' in init["run"]
    assert "secrets." not in DEPLOY.read_text()


def test_pre_prod_smoke_runs_after_apply_and_waits(deploy: dict[str, Any]) -> None:
    job = deploy["jobs"]["pre-prod"]
    runs = _runs(job)
    # pipelines.smoke uploads the file under today's partition, runs the pipeline and waits
    assert 'python -m pipelines.smoke --stage "$STAGE" --input inputs/smoke-input.csv' in runs
    assert '--run-id "${GITHUB_RUN_ID}-${GITHUB_RUN_ATTEMPT}"' in runs  # a run-scoped prefix
    assert "aws " not in runs  # the runtime set is all a job needs
    assert _index(job, APPLY) < _index(job, "pipelines.smoke")


def test_deploys_read_the_models_own_inputs_never_the_demos(
    deploy: dict[str, Any], tmp_path: Path
) -> None:
    # The smoke input and the evaluation rows are the repository's (its team's: docs/fleet.md)
    assert "demo/" not in DEPLOY.read_text()
    assert "inputs/**" in deploy["on"]["push"]["paths"]
    job = deploy["jobs"]["pre-prod"]
    (build,) = [s for s in _steps(job) if BUILD_ARGS in s.get("run", "")]
    # checked against the model's columns before build.py writes anything: the smoke input
    # always (a missing one is refused by build.py), the evaluation rows when the team has them
    assert "--input-file inputs/evaluation-rows.csv" in _runs(job)
    for present in ([], ["evaluation-rows.csv"], ["smoke-input.csv", "evaluation-rows.csv"]):
        checked = _build_arguments(build["run"], tmp_path / "-".join(["repo", *present]), present)
        assert checked == [
            "inputs/smoke-input.csv",
            *(f"inputs/{name}" for name in present if name == "evaluation-rows.csv"),
        ]


def _build_arguments(script: str, repository: Path, inputs: list[str]) -> list[str]:
    """The --check-input values the build step passes to build.py in a checkout holding `inputs`
    (the step's bash run as written, with `python` printing its arguments)."""
    (repository / "inputs").mkdir(parents=True)
    for name in inputs:
        (repository / "inputs" / name).write_text("record_id,f00\n1,0.5\n")
    (repository / "pre-prod-config.tfvars.json").write_text("{}")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", 'python() { printf "%s\\n" "$@"; }\n' + script],
        cwd=repository, capture_output=True, text=True, check=True,
        env={"PATH": os.environ["PATH"], "STAGE": "pre-prod", "TEMPLATE": "template",
             "MODEL_PACKAGE_ARN": "arn", "DEV_READ_ROLE_ARN": "role"},
    )  # fmt: skip
    printed = done.stdout.splitlines()
    return [printed[i + 1] for i, word in enumerate(printed) if word == "--check-input"]


def test_prod_promotes_the_image_digests_pre_prod_promoted(deploy: dict[str, Any]) -> None:
    pre_prod = deploy["jobs"]["pre-prod"]
    (upload,) = [s for s in _steps(pre_prod) if s.get("with", {}).get("name") == "images"]
    assert upload["with"]["path"] == "build/pre-prod/images.json"
    assert upload["with"]["if-no-files-found"] == "error"
    assert _index(pre_prod, BUILD_ARGS) < _steps(pre_prod).index(upload)
    job = deploy["jobs"]["prod-plan"]
    (download,) = [s for s in _steps(job) if s.get("with", {}).get("name") == "images"]
    assert download["uses"].startswith("actions/download-artifact@")
    assert download["with"]["path"] == "build/pre-prod"
    (build,) = [s for s in _steps(job) if BUILD_ARGS in s.get("run", "")]
    assert "args+=(--images-from build/pre-prod/images.json)" in build["run"]
    assert _steps(job).index(download) < _steps(job).index(build)


# --- prod: exactly the reviewed plan ----------------------------------------------------------


def test_prod_plan_uploads_the_plan_and_build_outputs(deploy: dict[str, Any]) -> None:
    job = deploy["jobs"]["prod-plan"]
    upload = _step_using(job, "actions/upload-artifact")
    paths = [line.strip() for line in upload["with"]["path"].splitlines() if line.strip()]
    assert {"prod.tfplan", "${{ env.TF_ROOT }}/.terraform.lock.hcl", "build/prod/"} <= set(paths)
    assert upload["with"]["include-hidden-files"] is True
    assert upload["with"]["if-no-files-found"] == "error"
    assert job["outputs"]["plan_artifact_id"] == "${{ steps.upload.outputs.artifact-id }}"
    assert job["outputs"]["plan_sha256"] == "${{ steps.plan.outputs.sha256 }}"
    assert _index(job, PLAN) < _index(job, "actions/upload-artifact")


def test_prod_applies_the_uploaded_plan_only(deploy: dict[str, Any]) -> None:
    job = deploy["jobs"]["prod"]
    download = _step_using(job, "actions/download-artifact")
    assert download["with"] == {
        "artifact-ids": "${{ needs.prod-plan.outputs.plan_artifact_id }}",
        "path": ".",
    }
    assert job["env"]["PLAN_SHA256"] == "${{ needs.prod-plan.outputs.plan_sha256 }}"
    assert job["env"]["STAGE"] == "prod"
    runs = _runs(job)
    assert "sha256sum --check" in runs
    # Nothing is promoted or rendered again: build.py only approves the reviewed package and
    # reports the status, read-only.
    assert runs.count("build.py") == 2
    assert 'build.py" --stage "$STAGE" --status' in runs and "--approve" in runs
    for forbidden in (PLAN, "pip install -e"):
        assert forbidden not in runs
    assert _index(job, "actions/download-artifact") < _index(job, "sha256sum --check")
    assert _index(job, "sha256sum --check") < _index(job, APPLY)


# --- the review gate: nothing Approved in prod before the review ------------------------------


def test_prod_plan_promotes_an_inert_pending_package(deploy: dict[str, Any]) -> None:
    job = deploy["jobs"]["prod-plan"]
    (build,) = [s for s in _steps(job) if BUILD_ARGS in s.get("run", "")]
    assert "args+=(--approval-status PendingManualApproval)" in build["run"]
    assert "--approve " not in build["run"]
    # pre-prod (no reviewers, no prod data) promotes Approved directly: its smoke run needs it
    (pre_prod,) = [s for s in _steps(deploy["jobs"]["pre-prod"]) if BUILD_ARGS in s.get("run", "")]
    assert "--approval-status" not in pre_prod["run"]


def test_prod_approves_exactly_the_reviewed_package_before_applying(
    deploy: dict[str, Any],
) -> None:
    job = deploy["jobs"]["prod"]
    # (the other build.py step is the read-only status, after the apply)
    (approve,) = [
        s for s in _steps(job) if 'build.py" --stage "$STAGE" --approve' in s.get("run", "")
    ]
    # Only --approve: no promotion, no rendering, no dev credentials in the prod job.
    assert approve["run"] == (
        'python "$TEMPLATE/build.py" --stage "$STAGE" --approve --model-package-arn'
        ' "$MODEL_PACKAGE_ARN"'
    )
    assert "env" not in approve
    assert _index(job, "sha256sum --check") < _index(job, "--approve")
    assert _index(job, "aws-actions/configure-aws-credentials") < _index(job, "--approve")
    assert _index(job, "--approve") < _index(job, APPLY)


# --- least privilege, pins, injection ---------------------------------------------------------


@pytest.mark.parametrize("path", [DEPLOY, CI], ids=["deploy", "ci"])
def test_job_permissions_are_least(path: Path) -> None:
    workflow = _load(path)
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        permissions = job["permissions"]
        assert permissions["contents"] == "read", name
        oidc = any(
            s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
            for s in _steps(job)
        )
        expected = {"contents": "read", "id-token": "write"} if oidc else {"contents": "read"}
        assert permissions == expected, name


@pytest.mark.parametrize("path", ALL, ids=ALL_IDS)
def test_every_action_is_pinned_by_sha_with_its_version(path: Path) -> None:
    lines = [line for line in path.read_text().splitlines() if USES.match(line)]
    assert lines
    for line in lines:
        match = USES.match(line)
        assert match is not None
        assert re.fullmatch(r"[0-9a-f]{40}", match["ref"]), line
        assert re.fullmatch(r"\s+# v\d+\.\d+\.\d+", match["comment"]), line


def test_each_action_has_one_pin_across_workflows() -> None:
    pins: dict[str, set[str]] = {}
    for path in ALL:
        for line in path.read_text().splitlines():
            if match := USES.match(line):
                pins.setdefault(match["action"], set()).add(match["ref"] + match["comment"])
    assert all(len(refs) == 1 for refs in pins.values()), pins


@pytest.mark.parametrize("path", ALL, ids=ALL_IDS)
def test_checkout_keeps_no_credentials_and_run_has_no_expressions(path: Path) -> None:
    for job in _load(path)["jobs"].values():
        for step in _steps(job):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
            # Inputs, outputs and variables reach scripts only through env:.
            assert "${{" not in step.get("run", ""), step.get("name")


def test_every_terraform_job_uses_the_committed_lock_and_the_state_key(
    deploy: dict[str, Any],
) -> None:
    # One provider for pre-prod, the prod plan and the prod apply; the state encrypted with the
    # bootstrap's state key (docs/going-live.md)
    for name in ("pre-prod", "prod-plan", "prod"):
        init = next(s for s in _steps(deploy["jobs"][name]) if s.get("name") == "Terraform init")
        assert "-lockfile=readonly" in init["run"]
        assert '-backend-config="kms_key_id=$TF_STATE_KMS_KEY_ARN"' in init["run"]
        assert init["env"]["TF_STATE_KMS_KEY_ARN"] == "${{ vars.TF_STATE_KMS_KEY_ARN }}"


def test_every_job_installs_the_locked_runtime_set_without_a_cache(deploy: dict[str, Any]) -> None:
    for name in ("resolve", "pre-prod", "prod-plan", "prod"):
        job = deploy["jobs"][name]
        setup = _step_using(job, "actions/setup-python")
        assert setup["with"] == {"python-version": "${{ env.PYTHON_VERSION }}"}
        runs = _runs(job)
        # into an environment of the job's own: `uv --system` skips a virtual environment
        assert 'python -m venv "$RUNNER_TEMP/venv"' in runs
        assert 'pip install --require-hashes --no-deps -r "$template/requirements/uv.txt"' in runs
        assert 'uv pip install --python "$RUNNER_TEMP/venv/bin/python"' in runs
        assert '--require-hashes -r "$template/requirements/runtime.txt"' in runs
        assert "--system" not in runs
        assert 'echo "$RUNNER_TEMP/venv/bin" >> "$GITHUB_PATH"' in runs
        assert "pip install -e" not in runs
    assert deploy["env"]["PYTHON_VERSION"] == "3.11"
    for name in ("pre-prod", "prod"):  # what runs where, after each deploy
        status = [s for s in _steps(deploy["jobs"][name]) if "--status" in s.get("run", "")]
        assert [s["if"] for s in status] == ["${{ !cancelled() }}"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", deploy["env"]["TERRAFORM_VERSION"])


# --- ci.yml -----------------------------------------------------------------------------------


def test_ci_runs_make_test_on_push_and_pull_request(ci: dict[str, Any]) -> None:
    assert set(ci["on"]) == {"push", "pull_request"}
    (job,) = ci["jobs"].values()
    assert job["permissions"] == {"contents": "read"}
    assert any(step.get("run", "").startswith("make test") for step in _steps(job))


# --- the linters make test runs ---------------------------------------------------------------


def _tool(name: str) -> str:
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    assert found, f"{name} is not installed: run `make setup` (make test installs it)"
    return found


def _offline_env() -> dict[str, str]:
    # With a GitHub token in the environment zizmor goes online.
    hidden = {"GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN"}
    return {name: value for name, value in os.environ.items() if name not in hidden}


def test_zizmor_has_no_findings() -> None:
    result = subprocess.run(
        [_tool("zizmor"), "--offline", "--no-progress", str(WORKFLOWS)],
        capture_output=True,
        text=True,
        env=_offline_env(),
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_is_clean() -> None:
    result = subprocess.run(
        [_tool("actionlint"), "-no-color", str(DEPLOY), str(CI)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_template_update_opens_a_pull_request_and_never_overwrites_one() -> None:
    workflow = _load(TEMPLATE_UPDATE)
    assert workflow["permissions"] == {}
    update, pull_request = workflow["jobs"]["update"], workflow["jobs"]["pull-request"]
    runs = _runs(update)
    # Copier from the lock of the template at the pin; the repository's checks on the result;
    # the pull request's body from the new version's CHANGELOG; an existing update branch is
    # left alone (no force push), and the last step fails naming the conflicted files.
    # `make update`, as by hand (docs/fleet.md): its recipe installs that lock, hashes checked
    assert "make update PYTHON=python" in runs
    makefile = (ROOT / "template" / "Makefile.jinja").read_text()
    assert "--require-hashes --no-deps -r $(TEMPLATE)/requirements/copier.txt" in makefile
    assert "$(COPIER) update --trust --defaults --conflict inline" in makefile
    assert "python3 .template/scripts/fleet.py pr-body" in runs
    assert "python3 .template/scripts/fleet.py conflicts" in runs
    assert _steps(update)[_index(update, "make setup check")]["continue-on-error"] is True
    assert pull_request["needs"] == "update"
    opening = _runs(pull_request)
    order = [_index(pull_request, step) for step in ("gh pr create", "CONFLICTS")]
    assert order == sorted(order) and _steps(pull_request)[-1]["env"] == {
        "CONFLICTS": "${{ needs.update.outputs.conflicts }}"
    }
    assert "--force" not in opening and "x-access-token" not in opening
    assert "git ls-remote --exit-code origin" in opening
    assert 'git apply --index --binary "$RUNNER_TEMP/update/update.patch"' in opening


def test_template_update_runs_the_new_version_only_where_no_token_is() -> None:
    # A tag pushed to the template runs its code (Copier's tasks, its lock, `make check`) in the
    # update job: that job may read the repository and nothing else, and holds no secret; the
    # job that holds the update token runs git and gh on the patch, nothing of the new version.
    jobs = _load(TEMPLATE_UPDATE)["jobs"]
    update, pull_request = jobs["update"], jobs["pull-request"]
    assert update["permissions"] == {"contents": "read"}
    assert pull_request["permissions"] == {"contents": "read"}
    assert "secrets." not in yaml.safe_dump(update) and "environment" not in update
    assert any("TEMPLATE_UPDATE_TOKEN" in str(s.get("env", {})) for s in _steps(pull_request))
    # ... and the token is a secret of an environment that deploys from main only (a workflow
    # the pushed update branch carries, ci.yml on push, could read a repository secret), checked
    # by that job's first step
    assert pull_request["environment"] == "template-update"
    assert "secrets.TEMPLATE_UPDATE_TOKEN != ''" in _steps(pull_request)[0]["env"]["TOKEN_SET"]
    fleet_md = " ".join((ROOT / "docs" / "fleet.md").read_text().split())
    assert "gh secret set TEMPLATE_UPDATE_TOKEN --env template-update" in fleet_md
    commands = {line.split()[0] for line in _runs(pull_request).splitlines() if line.strip()}
    assert commands <= {"branch=\"template-update/$TO\"", "gh", "if", "#", "echo", "exit", "fi",
                        "git", "cp", "printf", "--title", "then"}, commands  # fmt: skip
    assert [s["uses"].split("@")[0] for s in _steps(pull_request) if "uses" in s] == [
        "actions/checkout", "actions/download-artifact",
    ]  # fmt: skip


def test_the_model_repositorys_ci_runs_its_own_checks_only() -> None:
    (job,) = _load(MODEL_CI)["jobs"].values()
    assert job["permissions"] == {"contents": "read"}
    assert [s["run"] for s in _steps(job) if "run" in s] == [
        "make setup PYTHON=python",
        "make check",
    ]


def test_deploy_is_reusable_and_runs_the_template_at_the_callers_pin(
    deploy: dict[str, Any],
) -> None:
    called = deploy["on"]["workflow_call"]["inputs"]
    dispatched = deploy["on"]["workflow_dispatch"]["inputs"]
    assert {name: called[name] for name in dispatched} == dispatched
    assert called["template-ref"]["required"] is True
    assert called["template-repository"]["required"] is True
    for name, job in deploy["jobs"].items():
        steps = _steps(job)
        (template,) = [s for s in steps if s.get("with", {}).get("path") == ".template"]
        assert template["if"] == "${{ inputs.template-ref }}", name
        assert template["with"]["ref"] == "${{ inputs.template-ref }}"
        assert template["with"]["repository"] == "${{ inputs.template-repository }}"
        assert steps.index(template) == 1  # right after the caller's checkout
        install = next(s for s in steps if s.get("name") == "Install the locked runtime packages")
        assert install["env"] == {"TEMPLATE_REF": "${{ inputs.template-ref }}"}
        assert 'echo "MODEL_REPOSITORY=$GITHUB_WORKSPACE"' in install["run"]
        # Every command of ours runs the template's code: build.py and the CLIs (PYTHONPATH).
        for line in _runs(job).splitlines():
            assert "python build.py" not in line and "pip install -e" not in line
