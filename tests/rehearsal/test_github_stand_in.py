"""The GitHub stand-in answers the guide's commands and the dispatch API as GitHub does."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from testbed.github import GitHub, dispatch_api

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "github_pat_test"


@pytest.fixture
def github(tmp_path: Path) -> GitHub:
    return GitHub.create(tmp_path, "org/repo", sys.executable, REPO_ROOT / ".github" / "workflows")


def gh(github: GitHub, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(github.bin_dir / "gh"), *args], input=stdin, capture_output=True, text=True,
        env={**github.environment(), "PATH": "/usr/bin:/bin"}, check=False,
    )  # fmt: skip


def test_a_variable_of_a_missing_environment_is_refused(github: GitHub) -> None:
    # WHEN a variable is set for an environment nobody created
    done = gh(github, "variable", "set", "AWS_ROLE_ARN", "--env", "prod", "--body", "arn")
    # THEN GitHub's 404, and nothing stored
    assert done.returncode == 1 and "HTTP 404" in done.stderr
    assert github.read()["environments"] == {}


def test_environments_then_variables_as_the_guide_sets_them(github: GitHub) -> None:
    # GIVEN the prod environment created with reviewers, as the guide's gh api command does
    body = {"reviewers": [{"type": "Team", "id": 7}], "prevent_self_review": True}
    path = "repos/{owner}/{repo}/environments/prod"
    created = gh(github, "api", "--method", "PUT", path, "--input", "-", stdin=json.dumps(body))
    # WHEN a variable is set for it and one for the repository
    gh(github, "variable", "set", "AWS_ROLE_ARN", "--env", "prod", "--body", "arn:prod")
    gh(github, "variable", "set", "DEV_READ_ROLE_ARN", "--body", "arn:dev")
    # THEN a prod job sees both, its own first
    assert created.returncode == 0, created.stderr
    assert github.read()["environments"]["prod"]["reviewers"] == [{"type": "Team", "id": 7}]
    assert github.variables("prod") == {"AWS_ROLE_ARN": "arn:prod", "DEV_READ_ROLE_ARN": "arn:dev"}
    assert github.variables(None) == {"DEV_READ_ROLE_ARN": "arn:dev"}


def test_a_branch_policy_needs_an_environment_with_custom_branch_policies(github: GitHub) -> None:
    path = "repos/{owner}/{repo}/environments/prod"
    policy = ["api", "--method", "POST", f"{path}/deployment-branch-policies",
              "-f", "name=main", "-f", "type=branch"]  # fmt: skip
    # GIVEN no environment yet, then one admitting protected branches: GitHub answers 404
    assert "HTTP 404" in gh(github, *policy).stderr
    protected = {"deployment_branch_policy": {"protected_branches": True,
                                              "custom_branch_policies": False}}  # fmt: skip
    gh(github, "api", "--method", "PUT", path, "--input", "-", stdin=json.dumps(protected))
    assert "HTTP 404" in gh(github, *policy).stderr
    # WHEN the environment takes custom branch policies, as the guide sets it
    custom = {"deployment_branch_policy": {"protected_branches": False,
                                           "custom_branch_policies": True}}  # fmt: skip
    gh(github, "api", "--method", "PUT", path, "--input", "-", stdin=json.dumps(custom))
    added = gh(github, *policy)
    # THEN main is its one deployment branch
    assert added.returncode == 0, added.stderr
    assert github.read()["environments"]["prod"]["branch_policies"] == [
        {"name": "main", "type": "branch"}
    ]


def post(url: str, body: dict[str, object], token: str) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.mark.parametrize(
    ("path", "body", "token", "status"),
    [
        ("deploy.yml", {"ref": "main", "inputs": {"model_package_arn": "a"}}, TOKEN, 204),
        ("deploy.yml", {"ref": "main", "inputs": {}}, "wrong", 401),
        ("missing.yml", {"ref": "main", "inputs": {}}, TOKEN, 404),
        ("deploy.yml", {"ref": "main", "inputs": {"undeclared": "x"}}, TOKEN, 422),
        ("deploy.yml", {"ref": "other", "inputs": {}}, TOKEN, 422),
        ("deploy.yml", {"ref": "main", "inputs": {"skip_prod": False}}, TOKEN, 422),
    ],
)
def test_the_dispatch_api_answers_as_github(
    github: GitHub, path: str, body: dict[str, object], token: str, status: int
) -> None:
    # WHEN the approval trigger's request arrives
    with dispatch_api(github, TOKEN) as url:
        answer = post(f"{url}/repos/org/repo/actions/workflows/{path}/dispatches", body, token)
    # THEN GitHub's status, and a dispatch recorded only when accepted
    assert answer == status
    assert len(github.read()["dispatches"]) == (1 if status == 204 else 0)
