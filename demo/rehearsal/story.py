"""The going-live rehearsal, phase by phase: docs/going-live.md and deploy.yml, on the embedded AWS.

Every request is authorized by IAM (moto's enforcement, corrected to AWS's semantics): the
administrators hold `*`, the GitHub jobs hold exactly the roles the bootstrap apply created.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from demo.rehearsal import guide
from demo.rehearsal.actions import JobContext, web_identity_environment
from demo.rehearsal.workflow import JobResult, Workflow
from testbed import inventory, seed
from testbed.github import GitHub
from testbed.local_aws import (
    DEMO_STAGES,
    DEV_ACCOUNT,
    PRE_PROD_ACCOUNT,
    PROD_ACCOUNT,
    REGION,
    Administrator,
    create_bucket,
)
from testbed.services import fire_schedule, invoke_function
from testbed.terraform import (
    STAGE_ROOT,
    Terraform,
    s3_backend_settings,
    working_copy,
    write_local_aws_override,
)

REPOSITORY = "example-org/churn-batch"
ROOTS = (STAGE_ROOT, "approval_trigger", "bootstrap/dev", "bootstrap/stage")
ADMINISTRATORS = {"dev": DEV_ACCOUNT, "pre-prod": PRE_PROD_ACCOUNT, "prod": PROD_ACCOUNT}
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
# Settings of this machine's own shell that must not reach the rehearsal's people and jobs
# (MAKE*: run from `make test`, their `make` would print its directory lines into the outputs).
FOREIGN_PREFIXES = (
    "AWS_", "GITHUB_", "GH_", "TF_", "RUNNER_", "ACTIONS_", "VIRTUAL_ENV", "PYTHON", "MAKE",
    "MFLAGS",
)  # fmt: skip
DEV_ARTIFACTS_BUCKET = f"ml-artifacts-{DEV_ACCOUNT}"
OWN_IMAGE_REPOSITORY = "breast-cancer/own-server"  # the team's own image in dev (own_image.py)


class RehearsalError(Exception):
    """A phase failed: the message names the phase, what failed and where its log is."""


@dataclass
class Rehearsal:
    """Everything the phases share."""

    repo: Path
    work: Path
    terraform: Terraform
    endpoint: str
    admins: dict[str, Administrator]
    awscli: Path
    log: Callable[[str], None] = print
    report: dict[str, Any] = field(default_factory=dict)
    clone: Path = field(init=False)
    github: GitHub = field(init=False)
    tools: Path = field(init=False)
    remote: Path = field(init=False)
    backend_file: Path = field(init=False)
    state_clones: dict[str, Path] = field(default_factory=dict)
    runner: Workflow | None = None

    def __post_init__(self) -> None:
        self.clone = self.work / "clone"
        self.remote = self.work / "remote.git"
        self.tools = self.work / "tools"
        self.backend_file = self.work / "local-aws.tfbackend"
        self.report.setdefault("phases", {})

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time one phase; report it."""
        self.log(f"== {name}")
        started = time.monotonic()
        yield
        seconds = round(time.monotonic() - started, 1)
        self.report["phases"][name] = seconds
        self.log(f"   {name}: {seconds} s")

    def environment(self, account: str | None = None, **extra: str) -> dict[str, str]:
        """A person's shell: this machine's settings (proxies, certificates, caches) without any
        AWS, GitHub or Terraform setting of its own; our tools first; an administrator's
        credentials for `account`. No AWS profile or config file can be read."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_PREFIXES)}
        env.update({
            "PATH": os.pathsep.join(
                [str(self.terraform.bin_dir), str(self.github.bin_dir), str(self.tools / "bin"),
                 str(self.tools / "python"), SYSTEM_PATH]),
            "AWS_CONFIG_FILE": str(self.work / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.work / "no-aws-credentials"),
            "AWS_ENDPOINT_URL": self.endpoint, "AWS_EC2_METADATA_DISABLED": "true",
            "TF_CLI_ARGS_init": f"-backend-config={self.backend_file}",
            "GIT_AUTHOR_NAME": "Rehearsal", "GIT_AUTHOR_EMAIL": "rehearsal@example.invalid",
            "GIT_COMMITTER_NAME": "Rehearsal", "GIT_COMMITTER_EMAIL": "rehearsal@example.invalid",
            **self.github.environment(), **extra,
        })  # fmt: skip
        env = self.terraform.environment(env)
        env.pop("TF_IN_AUTOMATION", None)  # a person at a terminal
        if account:
            env.update(self.admins[account].environment())
        return env


def prepare(r: Rehearsal) -> None:
    """The clone, our tools, the GitHub stand-in; step 0 of the guide (the repository)."""
    working_copy(r.repo, r.clone)
    for name in (".terraform", "build"):
        for leftover in r.clone.rglob(name):
            shutil.rmtree(leftover, ignore_errors=True)
    # Step 0: the values of the embedded AWS's accounts (the demo world's files), whatever this
    # repository's own stage files hold; the repository named; the input in its own bucket.
    for stage in ("pre-prod", "prod"):
        shutil.copy2(DEMO_STAGES / f"{stage}-config.tfvars.json", r.clone)
    settings = r.clone / "bootstrap" / "settings.tfvars.json"
    values = json.loads((DEMO_STAGES / "settings.tfvars.json").read_text(encoding="utf-8"))
    settings.write_text(json.dumps({**values, "github_repository": REPOSITORY,
                                    "dev_image_repositories": [OWN_IMAGE_REPOSITORY]},
                                   indent=2) + "\n")  # fmt: skip
    for stage, account in (("pre-prod", PRE_PROD_ACCOUNT), ("prod", PROD_ACCOUNT)):
        # Input apart from the predictions, as most teams have it (the shipped files share one
        # bucket); the evaluation rows outside the scheduled input.
        path = r.clone / f"{stage}-config.tfvars.json"
        config = json.loads(path.read_text(encoding="utf-8"))
        config["input_data_url"] = f"s3://batch-inference-input-{account}/input/"
        if stage == "pre-prod":
            config["evaluation_input_url"] = f"s3://batch-inference-input-{account}/evaluation/"
        path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    for root in ROOTS:  # the one file that differs from a real deployment
        write_local_aws_override(r.clone / root, r.endpoint, local_backend=False)
    r.backend_file.write_text(s3_backend_settings(r.endpoint), encoding="utf-8")
    (r.tools / "python").mkdir(parents=True)
    (r.tools / "bin").mkdir()
    base = Path(getattr(sys, "_base_executable", sys.executable))
    for name in ("python", "python3"):
        (r.tools / "python" / name).symlink_to(base)
    (r.tools / "bin" / "aws").symlink_to(r.awscli)
    git = ["git", "-c", "user.name=Rehearsal", "-c", "user.email=rehearsal@example.invalid"]
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(r.remote)], check=True)
    for command in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["commit", "-q", "-m", "The repository, created for one model"],
        ["remote", "add", "origin", str(r.remote)],
        ["push", "-q", "-u", "origin", "main"],
    ):
        subprocess.run([*git, "-C", str(r.clone), *command], check=True)  # fmt: skip
    r.github = GitHub.create(r.work / "github", REPOSITORY, sys.executable,
                             r.clone / ".github" / "workflows")  # fmt: skip


def bootstrap(r: Rehearsal) -> None:
    """Steps 1 and 2: each administrator applies their account's root from their own clone."""
    blocks = guide.blocks(r.clone / "docs" / "going-live.md")

    def apply(stage: str) -> guide.BlockRun:
        clone = r.work / f"clone-{stage}-administrator"
        shutil.copytree(r.clone, clone, symlinks=True)
        r.state_clones[stage] = clone
        return guide.run_block(
            blocks[f"{stage} administrator"], name=f"{stage} administrator", cwd=clone,
            env=r.environment(ADMINISTRATORS[stage]), typed=guide.YES, logs=r.work / "logs",
        )  # fmt: skip

    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = dict(zip(ADMINISTRATORS, pool.map(apply, ADMINISTRATORS), strict=True))
    r.report["resources"] = {
        f"bootstrap/{'dev' if s == 'dev' else 'stage'} ({s})": _applied(run.log)
        for s, run in runs.items()
    }


def _applied(log: Path) -> int:
    text = log.read_text(encoding="utf-8")
    marker = "Apply complete! Resources: "
    return int(text.split(marker, 1)[1].split()[0]) if marker in text else 0


def github_settings(r: Rehearsal) -> None:
    """Step 3: the environments, then every output pasted from the clone that holds its state."""
    blocks = guide.blocks(r.clone / "docs" / "going-live.md")
    guide.run_block(blocks["GitHub"], name="GitHub", cwd=r.clone,
                    env=r.environment(REVIEWERS_TEAM_ID="4242"), typed="",
                    logs=r.work / "logs")  # fmt: skip
    pasted: list[str] = []
    for line in filter(None, (row.strip() for row in blocks["outputs"].splitlines())):
        stage = line.rsplit("STAGE=", 1)[-1]
        printed = guide.run_block(line, name=f"outputs {stage}", cwd=r.state_clones[stage],
                                  env=r.environment(), typed="", logs=r.work / "logs")  # fmt: skip
        pasted += guide.paste(printed.stdout, checkout=r.clone, env=r.environment(),
                              logs=r.work / "logs")  # fmt: skip
    guide.run_block(blocks["commit"], name="commit", cwd=r.clone, env=r.environment(), typed="",
                    logs=r.work / "logs")  # fmt: skip
    state = r.github.read()
    r.report["github"] = {
        "repository variables": sorted(state["variables"]),
        "environments": {
            name: sorted(env["variables"]) for name, env in state["environments"].items()
        },
        "stage files pasted": sorted(set(pasted)),
        "deployment branches": {
            name: [policy["name"] for policy in env.get("branch_policies", [])]
            for name, env in state["environments"].items()
        },
    }


def approval_trigger(r: Rehearsal, api_url: str, token: str) -> None:
    """Step 4: the trigger applied in dev, its token stored as the guide says."""
    blocks = guide.blocks(r.clone / "docs" / "going-live.md")
    env = r.environment(DEV_ACCOUNT, TF_VAR_github_api_url=api_url)
    run = guide.run_block(blocks["dev administrator, the approval trigger"],
                          name="approval trigger", cwd=r.clone, env=env, typed=guide.YES,
                          logs=r.work / "logs")  # fmt: skip
    r.report["resources"]["approval_trigger"] = _applied(run.log)
    guide.run_block(blocks["dev administrator, the token"], name="token", cwd=r.clone,
                    env=env, typed=token + "\n", logs=r.work / "logs")  # fmt: skip
    if token in run.log.read_text(encoding="utf-8") + _logs_text(r):
        raise RehearsalError("the GitHub token appears in a log")


def _logs_text(r: Rehearsal) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in (r.work / "logs").glob("*.log"))


def approve_version(r: Rehearsal) -> str:
    """A data scientist registers a version and approves it; EventBridge's event reaches the
    deployed function, which dispatches deploy.yml. Returns the approved ARN."""
    dev = r.admins[DEV_ACCOUNT].session()
    config = json.loads((r.clone / "pre-prod-config.tfvars.json").read_text(encoding="utf-8"))
    group = config["model_package_group_name"]
    create_bucket(dev, DEV_ARTIFACTS_BUCKET)
    arn = seed.register_versions(dev, group=group, bucket=DEV_ARTIFACTS_BUCKET,
                                 statuses=("PendingManualApproval",))[0]  # fmt: skip
    sagemaker = dev.client("sagemaker")
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    event = {
        "version": "0", "id": "5c1f-rehearsal", "source": "aws.sagemaker",
        "detail-type": "SageMaker Model Package State Change", "account": DEV_ACCOUNT,
        "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "region": REGION,
        "resources": [arn],
        "detail": {"ModelPackageGroupName": group, "ModelPackageArn": arn,
                   "ModelPackageVersion": package["ModelPackageVersion"],
                   "ModelApprovalStatus": "Approved", "ModelPackageStatus": "Completed",
                   "LastModifiedTime": int(time.time() * 1000)},
    }  # fmt: skip
    outputs = _outputs(r, r.clone / "approval_trigger", DEV_ACCOUNT)
    events = dev.client("events")
    rule = events.describe_rule(Name=outputs["event_rule_arn"].rsplit("/", 1)[-1])
    if not events.test_event_pattern(EventPattern=rule["EventPattern"], Event=json.dumps(event))[
        "Result"
    ]:
        raise RehearsalError("the approval event does not match the deployed rule's pattern")
    done = invoke_function(dev, outputs["lambda_function_name"], event, work=r.work / "lambda",
                           endpoint=r.endpoint)  # fmt: skip
    (r.work / "logs" / "lambda.log").write_text(done.stdout + done.stderr, encoding="utf-8")
    if done.returncode != 0:
        raise RehearsalError(f"the function failed: {done.stderr.strip()[-300:]}")
    dispatches = r.github.read()["dispatches"]
    if len(dispatches) != 1 or dispatches[0]["inputs"].get("model_package_arn") != arn:
        raise RehearsalError(f"expected one dispatch of {arn}, GitHub received {dispatches}")
    r.report["dispatch"] = dispatches[0]
    return arn


def _outputs(r: Rehearsal, root: Path, account: str) -> dict[str, Any]:
    done = r.terraform.run(["output", "-json"], cwd=root, env=r.environment(account))
    return {name: item["value"] for name, item in json.loads(done.stdout).items()}


def _checkout(r: Rehearsal, workspace: Path) -> None:
    """What actions/checkout gives a job: main as pushed to the remote."""
    archive = subprocess.run(["git", "-C", str(r.remote), "archive", "main"], capture_output=True,
                             check=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(workspace)], input=archive, check=True)


def workflow(r: Rehearsal) -> Workflow:
    """deploy.yml as GitHub would run it here (one runner for every run of the rehearsal)."""
    if r.runner is not None:
        return r.runner
    artifacts = r.work / "artifacts"
    artifacts.mkdir()

    def make_job(
        job_id: str, job: dict[str, Any], workspace: Path, env: dict[str, str]
    ) -> JobContext:
        base = r.environment(**env)
        base["PATH"] = os.pathsep.join([str(r.github.bin_dir), str(r.tools / "bin"), SYSTEM_PATH])
        return JobContext(
            name=job_id, workspace=workspace, env=base, repository=REPOSITORY,
            environment=job.get("environment"), permissions=job.get("permissions") or {},
            artifacts=artifacts, prepare_checkout=lambda ws: _checkout(r, ws),
            python_bin=r.tools / "python", terraform_bin=r.terraform.bin_dir,
            terraform_version=r.terraform.version, endpoint=r.endpoint,
        )  # fmt: skip

    def approve(environment: str, settings: dict[str, Any]) -> None:
        policy = settings.get("deployment_branch_policy") or {}
        branches = [p["name"] for p in settings.get("branch_policies", [])]
        if policy.get("custom_branch_policies") and "main" not in branches:
            raise RehearsalError(f"the {environment} environment does not deploy from main")
        if settings.get("reviewers"):
            r.report.setdefault("reviewed environments", []).append(environment)
            r.log(f"  {environment}: a required reviewer approves the deployment")
        elif environment == "prod":
            raise RehearsalError("the prod environment has no required reviewers")

    r.runner = Workflow(r.clone / ".github" / "workflows" / "deploy.yml", r.github,
                        r.work / "runs", make_job, r.log, approve)  # fmt: skip
    return r.runner


def deploy(r: Rehearsal, expected: dict[str, str]) -> dict[str, JobResult]:
    """Run deploy.yml for the newest dispatch; each job must end as `expected` says."""
    runner = workflow(r)
    results = runner.run(r.github.read()["dispatches"][-1]["inputs"])
    r.report.setdefault("workflow runs", []).append({
        name: {"result": job.result, "seconds": round(job.seconds, 1), "steps": job.steps}
        for name, job in results.items()
    })  # fmt: skip
    wrong = [job for name, job in results.items() if job.result != expected[name]]
    if wrong:
        step = next((s for s in wrong[0].steps if s.startswith("failure")), wrong[0].result)
        raise RehearsalError(f"job {wrong[0].name}: {step} (logs: {runner.home})")
    run = runner.home / f"run{runner.run_number}"
    for stage in ("pre-prod", "prod"):
        logs = sorted((run / stage).glob("*/log.txt"))
        if logs:
            # the module's size: what its first apply created (later ones replace a model)
            r.report["resources"].setdefault(f"root module ({stage})", max(map(_applied, logs)))
    return results


FULL_RUN = {"resolve": "success", "pre-prod": "success", "prod-plan": "success", "prod": "success"}
PRE_PROD_ONLY = {**FULL_RUN, "prod-plan": "skipped", "prod": "skipped"}


def second_version(r: Rehearsal) -> dict[str, Any]:
    """Step 5 of the guide after a second approval: pre-prod deploys it and compares it with the
    version prod runs, on the stage's evaluation rows, as the execution role."""
    config = json.loads((r.clone / "pre-prod-config.tfvars.json").read_text(encoding="utf-8"))
    bucket, _, key = config["evaluation_input_url"].removeprefix("s3://").partition("/")
    batch = (r.clone / "inputs" / "evaluation-rows.csv").read_bytes()  # the repository's own
    r.admins[PRE_PROD_ACCOUNT].session().client("s3").put_object(
        Bucket=bucket, Key=f"{key}rows.csv", Body=batch
    )
    dev = r.admins[DEV_ACCOUNT].session()
    group = config["model_package_group_name"]
    arn = seed.register_versions(dev, group=group, bucket=DEV_ARTIFACTS_BUCKET,
                                 statuses=("Approved",))[0]  # fmt: skip
    blocks = guide.blocks(r.clone / "docs" / "going-live.md")
    guide.run_block(blocks["first dispatch"], name="first dispatch", cwd=r.clone,
                    env=r.environment(), typed="", logs=r.work / "logs")  # fmt: skip
    deploy(r, PRE_PROD_ONLY)
    run = workflow(r).home / f"run{workflow(r).run_number}"
    comparison = run / "pre-prod" / "workspace" / "build" / "pre-prod" / "comparison"
    report = json.loads((comparison / "comparison.json").read_text(encoding="utf-8"))
    r.report["champion/challenger"] = {key: report.get(key) for key in
                                       ("status", "champion", "challenger", "verdict")}  # fmt: skip
    if report.get("status") != "compared":
        raise RehearsalError(f"pre-prod compared nothing for {arn}: {report.get('reason')}")
    return report


def role_environment(
    r: Rehearsal, variable_environment: str, job_environment: str
) -> dict[str, str]:
    """A shell holding the role a job of `job_environment` assumes (AWS_ROLE_ARN of
    `variable_environment`)."""
    role = r.github.variables(variable_environment)["AWS_ROLE_ARN"]
    credentials = web_identity_environment(
        r.endpoint, role, repository=REPOSITORY, environment=job_environment, region=REGION
    )
    return r.environment(**credentials)


def scheduled_run(r: Rehearsal) -> str:
    """EventBridge Scheduler fires the prod schedule; the pipeline runs as the execution role."""
    config = json.loads((r.clone / "prod-config.tfvars.json").read_text(encoding="utf-8"))
    admin = r.admins[PROD_ACCOUNT].session()
    bucket, _, prefix = config["input_data_url"].removeprefix("s3://").partition("/")
    batch = (r.clone / "inputs" / "smoke-input.csv").read_bytes()  # the repository's own rows
    admin.client("s3").put_object(Bucket=bucket, Key=f"{prefix}batch.csv", Body=batch)
    workspace = newest_workspace(r, "prod")
    name = json.loads((workspace / "build" / "prod" / "deployment.tfvars.json").read_text())[
        "pipeline_name"
    ]
    answer = fire_schedule(admin, group=name, name=name, at=datetime.now(timezone.utc))
    arn = answer["PipelineExecutionArn"]
    described = admin.client("sagemaker").describe_pipeline_execution(PipelineExecutionArn=arn)
    r.report["scheduled run"] = {"execution": arn, "status": described["PipelineExecutionStatus"]}
    if described["PipelineExecutionStatus"] != "Succeeded":
        raise RehearsalError(f"the scheduled prod run failed: {described.get('FailureReason')}")
    return arn


def _plan(r: Rehearsal, label: str, cwd: Path, env: dict[str, str], arguments: list[str]) -> None:
    """`terraform plan` in `cwd` (arguments: -var-file=..., -var=..., and -chdir=... first)."""
    chdir = [a for a in arguments if a.startswith("-chdir=")]
    rest = [a for a in arguments if not a.startswith("-chdir=")]
    done = r.terraform.run([*chdir, "plan", "-detailed-exitcode", "-input=false", "-no-color",
                            "-lock-timeout=60s", *rest], cwd=cwd, env=env, check=False)  # fmt: skip
    outcome = {0: "no changes", 2: "changes"}.get(done.returncode, "error")
    r.report.setdefault("second plans", {})[label] = outcome
    if outcome != "no changes":
        detail = [
            line for line in done.stdout.splitlines() if line.strip().startswith(("#", "Error"))
        ]
        raise RehearsalError(f"the second plan of {label}: {outcome}: {' | '.join(detail[:5])}")


def newest_workspace(r: Rehearsal, job: str) -> Path:
    """The workspace of the newest run of a job (it holds that job's build/, and the stage
    root's .terraform/ under stage-root/)."""
    runs = sorted(r.work.glob(f"runs/run*/{job}/workspace"), key=lambda p: int(p.parts[-3][3:]))
    return runs[-1]


def replan(r: Rehearsal) -> None:
    """Every root planned again, side by side (read-only, each its own state): no changes
    anywhere."""
    plans: list[tuple[str, Path, dict[str, str], list[str]]] = [
        ("bootstrap/dev", r.state_clones["dev"] / "bootstrap" / "dev", r.environment(DEV_ACCOUNT),
         ["-var-file=../settings.tfvars.json"]),
    ]  # fmt: skip
    for stage in ("pre-prod", "prod"):
        env = r.environment(ADMINISTRATORS[stage], TF_WORKSPACE=stage)
        plans.append((f"bootstrap/stage ({stage})", r.state_clones[stage] / "bootstrap" / "stage",
                      env, [f"-var-file=../../{stage}-config.tfvars.json",
                            "-var-file=../settings.tfvars.json"]))  # fmt: skip
    plans.append(("approval_trigger", r.clone / "approval_trigger",
                  r.environment(DEV_ACCOUNT, TF_VAR_github_api_url=str(r.report["dispatch api"])),
                  []))  # fmt: skip
    stages = {
        "pre-prod": ("pre-prod", "pre-prod", "pre-prod"),
        "prod": ("prod", "prod-plan", "prod-plan"),
    }
    for stage, (job, variables, environment) in stages.items():
        plans.append((f"root module ({stage}, as the {environment} role)",
                      newest_workspace(r, job), role_environment(r, variables, environment),
                      [f"-chdir={STAGE_ROOT}", f"-var=stage={stage}"]))  # fmt: skip
    with ThreadPoolExecutor(max_workers=3) as pool:
        for done in [pool.submit(_plan, r, *plan) for plan in plans]:
            done.result()  # the first failure, in the order above


def _module_names(r: Rehearsal, stage: str) -> set[str]:
    """The names the stage's module owns (its base name, results database, alerts key id)."""
    outputs = _outputs(r, newest_workspace(r, stage) / STAGE_ROOT, ADMINISTRATORS[stage])
    name = str(outputs["scheduler_schedule_name"])  # the module's base name, `local.name`
    kms = r.admins[ADMINISTRATORS[stage]].session().client("kms")
    key = kms.describe_key(KeyId=f"alias/{name}-alerts")["KeyMetadata"]["KeyId"]
    return {name, str(outputs["glue_results_database_name"]), key}


def destroy(r: Rehearsal) -> None:
    """The guide's teardown: each stage as its deploy role (after the scheduled run published
    its results), the trigger as the dev administrator; then nothing of theirs is left but what
    the guide says is kept, and nothing else was removed: the bootstrap's roles, policies,
    buckets, keys and aliases and the published results are as they were."""
    blocks = guide.blocks(r.clone / "docs" / "going-live.md")
    destroyed = r.report.setdefault("destroyed", {})
    removed = r.report.setdefault("removed by the destroy", {})

    def take_down(stage: str) -> None:  # each stage in its own account, side by side
        admin = r.admins[ADMINISTRATORS[stage]].session()
        owned, before = _module_names(r, stage), inventory.snapshot(admin)
        env = {**role_environment(r, stage, stage), "STAGE": stage}
        run = guide.run_block(blocks["take a stage down"], name=f"take {stage} down",
                              cwd=newest_workspace(r, stage), env=env, typed=guide.YES,
                              logs=r.work / "logs")  # fmt: skip
        destroyed[f"root module ({stage})"] = _destroyed(run.log)
        gone = removed[stage] = inventory.removed(before, inventory.snapshot(admin))
        foreign = inventory.not_owned(gone, owned)
        if foreign:
            raise RehearsalError(f"terraform destroy of {stage} removed what its module does "
                                 f"not own: {foreign}")  # fmt: skip

    with ThreadPoolExecutor(max_workers=2) as pool:
        for done in [pool.submit(take_down, stage) for stage in ("prod", "pre-prod")]:
            done.result()
    env = r.environment(DEV_ACCOUNT, TF_VAR_github_api_url=str(r.report["dispatch api"]))
    run = guide.run_block(blocks["take the approval trigger down"], name="take the trigger down",
                          cwd=r.clone, env=env, typed=guide.YES, logs=r.work / "logs")  # fmt: skip
    destroyed["approval_trigger"] = _destroyed(run.log)
    sessions = {stage: r.admins[account].session() for stage, account in ADMINISTRATORS.items()}
    left = r.report["left after the teardown"] = inventory.left_over(sessions)
    not_removed = {account: items["not removed"] for account, items in left.items()
                   if items["not removed"]}  # fmt: skip
    if not_removed:
        raise RehearsalError(f"terraform destroy left {not_removed}")


def _destroyed(log: Path) -> int:
    marker = "Destroy complete! Resources: "
    text = log.read_text(encoding="utf-8")
    return int(text.split(marker, 1)[1].split()[0]) if marker in text else 0
