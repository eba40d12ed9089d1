"""Stand-ins for the actions deploy.yml uses, each doing on this machine what the action does.

An action deploy.yml names that has no stand-in here stops the rehearsal: a new action must be
rehearsed before it is trusted. Each stand-in says what it does differently from GitHub.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

OIDC_ISSUER = "https://token.actions.githubusercontent.com"
OIDC_AUDIENCE = "sts.amazonaws.com"


class StepFailed(Exception):
    """A step failed; the message is what the job log shows."""


@dataclass
class JobContext:
    """What a job's steps share: its workspace, environment, artifacts and identity."""

    name: str
    workspace: Path
    env: dict[str, str]
    repository: str
    environment: str | None
    permissions: Mapping[str, str]
    artifacts: Path
    prepare_checkout: Callable[[Path], None]
    python_bin: Path
    terraform_bin: Path
    terraform_version: str
    endpoint: str
    outputs: dict[str, str] = field(default_factory=dict)

    def prepend_path(self, directory: Path) -> None:
        self.env["PATH"] = f"{directory}{os.pathsep}{self.env.get('PATH', '')}"


def checkout(job: JobContext, inputs: Mapping[str, str]) -> None:
    """actions/checkout: the repository as pushed (plus the embedded AWS's override files)."""
    if inputs.get("persist-credentials", "true") != "false":
        raise StepFailed("checkout keeps a token in .git/config: set persist-credentials: false")
    job.prepare_checkout(job.workspace)


def setup_python(job: JobContext, inputs: Mapping[str, str]) -> None:
    """actions/setup-python: this machine's interpreter, if it is the version asked for."""
    asked = inputs.get("python-version", "")
    have = f"{sys.version_info.major}.{sys.version_info.minor}"
    if asked != have:
        raise StepFailed(f"python-version {asked!r} asked; this machine has {have}")
    job.prepend_path(job.python_bin)


def setup_terraform(job: JobContext, inputs: Mapping[str, str]) -> None:
    """hashicorp/setup-terraform: the embedded Terraform, if it is the version asked for."""
    if inputs.get("terraform_version") != job.terraform_version:
        raise StepFailed(
            f"terraform_version {inputs.get('terraform_version')!r} asked; the rehearsal runs"
            f" {job.terraform_version}, so what it proves would not hold for the workflow"
        )
    job.prepend_path(job.terraform_bin)


def _b64(document: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


def oidc_token(repository: str, environment: str | None) -> str:
    """The claims GitHub's token carries for a job (its signature is not checked here)."""
    subject = f"environment:{environment}" if environment else "ref:refs/heads/main"
    claims = {"iss": OIDC_ISSUER, "aud": OIDC_AUDIENCE, "sub": f"repo:{repository}:{subject}"}
    return f"{_b64({'alg': 'RS256', 'typ': 'JWT'})}.{_b64(claims)}.unsigned"


# configure-aws-credentials' role-duration-seconds when not given: one hour with OIDC (its
# action.yml: "default: 6 hours, 1 hour for OIDC/specified aws-session-token").
OIDC_SESSION_SECONDS = 3600


def web_identity_environment(
    endpoint: str, role: str, *, repository: str, environment: str | None, region: str,
    session_name: str = "GitHubActions", duration_seconds: int = OIDC_SESSION_SECONDS,
) -> dict[str, str]:  # fmt: skip
    """AWS_* variables of the role a job of `environment` assumes with its OIDC token."""
    sts = boto3.client("sts", region_name=region, endpoint_url=endpoint)
    try:
        answer = sts.assume_role_with_web_identity(
            RoleArn=role, RoleSessionName=session_name[:64], DurationSeconds=duration_seconds,
            WebIdentityToken=oidc_token(repository, environment),
        )  # fmt: skip
    except Exception as error:  # the action fails the step with the service's message
        raise StepFailed(f"could not assume {role}: {error}") from error
    credentials = answer["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def configure_aws_credentials(job: JobContext, inputs: Mapping[str, str]) -> None:
    """aws-actions/configure-aws-credentials with OIDC: AssumeRoleWithWebIdentity."""
    if job.permissions.get("id-token") != "write":
        raise StepFailed("no OIDC token: the job lacks permissions id-token: write")
    role, region = inputs.get("role-to-assume", ""), inputs.get("aws-region", "")
    if not role or not region:
        raise StepFailed("role-to-assume and aws-region are required (is the variable set?)")
    job.env.update(web_identity_environment(
        job.endpoint, role, repository=job.repository, environment=job.environment,
        region=region, session_name=inputs.get("role-session-name", "GitHubActions"),
        duration_seconds=int(inputs.get("role-duration-seconds") or OIDC_SESSION_SECONDS),
    ))  # fmt: skip


def _paths(job: JobContext, spec: str) -> list[Path]:
    return [job.workspace / line.strip() for line in spec.splitlines() if line.strip()]


def upload_artifact(job: JobContext, inputs: Mapping[str, str]) -> None:
    """actions/upload-artifact: files under the least common ancestor of the paths."""
    paths = [path for path in _paths(job, inputs.get("path", "")) if path.exists()]
    if not paths:
        if inputs.get("if-no-files-found", "warn") == "error":
            raise StepFailed(f"no files found for artifact {inputs.get('name')}")
        return
    root = Path(os.path.commonpath(paths))
    if root in paths and root.is_file():
        root = root.parent
    hidden = inputs.get("include-hidden-files", "false") == "true"
    artifact_id = str(len(list(job.artifacts.glob("*"))) + 1)
    target = job.artifacts / artifact_id
    for path in paths:
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            relative = file.relative_to(root)
            if not hidden and any(part.startswith(".") for part in relative.parts):
                continue
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target / relative)
    (job.artifacts / f"{artifact_id}.name").write_text(inputs.get("name", "artifact"))
    job.outputs["artifact-id"] = artifact_id


def download_artifact(job: JobContext, inputs: Mapping[str, str]) -> None:
    """actions/download-artifact: by name (the newest) or by id, into `path`."""
    wanted = inputs.get("artifact-ids", "").strip()
    if not wanted:
        names = sorted(job.artifacts.glob("*.name"), key=lambda p: int(p.stem))
        matching = [p.stem for p in names if p.read_text() == inputs.get("name")]
        if not matching:
            raise StepFailed(f"artifact {inputs.get('name')!r} not found")
        wanted = matching[-1]
    source = job.artifacts / wanted
    if not source.is_dir():
        raise StepFailed(f"artifact {wanted} not found")
    shutil.copytree(source, job.workspace / inputs.get("path", "."), dirs_exist_ok=True)


ACTIONS: dict[str, Callable[[JobContext, Mapping[str, str]], None]] = {
    "actions/checkout": checkout,
    "actions/setup-python": setup_python,
    "hashicorp/setup-terraform": setup_terraform,
    "aws-actions/configure-aws-credentials": configure_aws_credentials,
    "actions/upload-artifact": upload_artifact,
    "actions/download-artifact": download_artifact,
}
