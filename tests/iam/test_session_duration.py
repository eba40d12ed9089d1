"""Every job's AWS session lasts as long as the job may run: the role-duration-seconds each job asks
configure-aws-credentials for (one hour with OIDC when not given) covers its timeout-minutes, and
the role's MaxSessionDuration (bootstrap/policies/roles.json `session_seconds`, one hour when not
given) allows it: STS refuses a longer DurationSeconds (STS API reference,
AssumeRoleWithWebIdentity). Without it, the pre-prod job's calls after an hour (a smoke run
waiting for its pipeline) fail with expired credentials.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from testbed.iam_policies import REPO_ROOT, ROLES_FILE

DEPLOY = REPO_ROOT / ".github" / "workflows" / "deploy.yml"
CONFIGURE = "aws-actions/configure-aws-credentials"
OIDC_DEFAULT_SECONDS = 3600  # configure-aws-credentials' action.yml: "1 hour for OIDC"
MAX_SESSION_DEFAULT = 3600  # bootstrap/stage: lookup(role, "session_seconds", 3600)


def _jobs() -> dict[str, dict[str, Any]]:
    jobs: dict[str, dict[str, Any]] = yaml.safe_load(DEPLOY.read_text(encoding="utf-8"))["jobs"]
    return jobs


def _own_role(environment: str) -> dict[str, Any]:
    """The role a job of `environment` assumes as vars.AWS_ROLE_ARN (roles.json)."""
    roles = json.loads(ROLES_FILE.read_text(encoding="utf-8"))
    found = [
        role for account in roles.values() for role in account.values()
        if role["github_subject"] == f"environment:{environment}" and "github_variable" not in role
    ]  # fmt: skip
    assert len(found) == 1, environment
    return dict(found[0])


@pytest.mark.parametrize("job_id", [j for j, job in _jobs().items() if job.get("environment")])
def test_a_jobs_own_session_covers_its_timeout_and_its_role_allows_it(job_id: str) -> None:
    # GIVEN a job that assumes its environment's role, and the timeout it may run for
    job = _jobs()[job_id]
    timeout = int(job["timeout-minutes"]) * 60
    maximum = int(_own_role(job["environment"]).get("session_seconds", MAX_SESSION_DEFAULT))
    steps = [
        step for step in job["steps"]
        if str(step.get("uses", "")).startswith(CONFIGURE)
        and step["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
    ]  # fmt: skip
    assert steps, job_id

    # WHEN each of its sessions is asked for
    asked = [int(step["with"].get("role-duration-seconds", OIDC_DEFAULT_SECONDS)) for step in steps]

    # THEN each lasts the job's timeout, and the role lets STS grant it
    assert all(timeout <= seconds <= maximum for seconds in asked), (timeout, asked, maximum)


def test_bootstrap_gives_each_role_the_session_roles_json_asks() -> None:
    main = (REPO_ROOT / "bootstrap" / "stage" / "main.tf").read_text(encoding="utf-8")
    assert 'max_session_duration = lookup(each.value, "session_seconds", 3600)' in main
