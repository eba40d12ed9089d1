"""The workflow runner runs a workflow file as GitHub does, and refuses what it cannot rehearse."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from demo.rehearsal.actions import JobContext, StepFailed
from demo.rehearsal.workflow import Workflow, read_file_commands
from testbed.github import GitHub

WORKFLOW = """
on:
  workflow_dispatch:
    inputs:
      name: {type: string, default: world}
      skip: {type: boolean, default: false}
env:
  GREETING: hello
jobs:
  first:
    runs-on: ubuntu-24.04
    environment: staging
    outputs:
      said: ${{ steps.say.outputs.said }}
    steps:
      - id: say
        run: |
          echo "said=$GREETING ${{ inputs.name }} ${{ vars.SUFFIX }}" >> "$GITHUB_OUTPUT"
          echo "LATER=from-env-file" >> "$GITHUB_ENV"
      - run: test "$LATER" = from-env-file
      - run: exit 3
        continue-on-error: true
      - run: echo still running
  second:
    needs: first
    if: ${{ !inputs.skip }}
    runs-on: ubuntu-24.04
    steps:
      - run: test "${{ needs.first.outputs.said }}" = "hello world !"
      - run: exit 1
      - if: ${{ always() }}
        run: echo cleanup
      - run: echo never
"""


def runner(tmp_path: Path, text: str) -> tuple[Workflow, GitHub, list[str]]:
    (tmp_path / "workflows").mkdir()
    path = tmp_path / "workflows" / "w.yml"
    path.write_text(textwrap.dedent(text))
    github = GitHub.create(tmp_path / "gh", "org/repo", sys.executable, tmp_path / "workflows")
    state = github.read()
    state["environments"]["staging"] = {"variables": {"SUFFIX": "!"}}
    github.state.write_text(__import__("json").dumps(state))
    lines: list[str] = []

    def make_job(
        job_id: str, job: dict[str, Any], workspace: Path, env: dict[str, str]
    ) -> JobContext:
        return JobContext(
            name=job_id, workspace=workspace, env={**env, "PATH": "/usr/bin:/bin"},
            repository="org/repo", environment=job.get("environment"),
            permissions=job.get("permissions") or {}, artifacts=tmp_path / "artifacts",
            prepare_checkout=lambda _ws: None, python_bin=tmp_path, terraform_bin=tmp_path,
            terraform_version="1.15.5", endpoint="http://127.0.0.1:9",
        )  # fmt: skip

    workflow = Workflow(path, github, tmp_path / "runs", make_job, lines.append,
                        lambda _env, _settings: None)  # fmt: skip
    return workflow, github, lines


def test_outputs_env_files_conditions_and_failures_as_github(tmp_path: Path) -> None:
    # GIVEN a workflow using outputs, GITHUB_ENV, environment variables and status functions
    workflow, _, _ = runner(tmp_path, WORKFLOW)
    # WHEN it is dispatched
    results = workflow.run({})
    # THEN the first job succeeds through its allowed failure and passes its output on
    first, second = results["first"], results["second"]
    assert first.result == "success" and first.outputs == {"said": "hello world !"}
    assert [line.split()[0] for line in first.steps] == ["success", "success", "failure", "success"]
    # AND the second fails at `exit 1`, runs the always() step and skips the rest
    assert second.result == "failure"
    assert [line.split()[0] for line in second.steps] == [
        "success",
        "failure",
        "success",
        "skipped",
    ]


def test_a_skipped_job_by_its_condition(tmp_path: Path) -> None:
    workflow, _, _ = runner(tmp_path, WORKFLOW)
    results = workflow.run({"skip": "true"})  # a boolean input arrives as a string
    assert results["second"].result == "skipped"


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ("steps: [{uses: some/action@v1}]", "some/action has no stand-in"),
        ("strategy: {matrix: {a: [1]}}\n    steps: []", "strategy"),
    ],
)
def test_what_cannot_be_rehearsed_stops_the_run(tmp_path: Path, job: str, message: str) -> None:
    text = f"on: {{workflow_dispatch: {{}}}}\njobs:\n  only:\n    runs-on: x\n    {job}\n"
    workflow, _, _ = runner(tmp_path, text)
    if "strategy" in job:
        with pytest.raises(StepFailed, match=message):
            workflow.run({})
    else:
        result = workflow.run({})["only"]
        log = next((tmp_path / "runs").rglob("log.txt")).read_text()
        assert result.result == "failure" and message in log


def test_undeclared_inputs_are_refused(tmp_path: Path) -> None:
    workflow, _, _ = runner(tmp_path, WORKFLOW)
    with pytest.raises(StepFailed, match="not declared"):
        workflow.run({"other": "x"})


def test_file_commands_read_heredocs(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_text("a=1\nbody<<EOF\nline one\nline=two\nEOF\nb=x=y\n")
    assert read_file_commands(path) == {"a": "1", "body": "line one\nline=two", "b": "x=y"}
