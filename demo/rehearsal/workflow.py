"""Runs a GitHub Actions workflow file on this machine, job by job, step by step, as written.

The rehearsal reads `.github/workflows/deploy.yml` itself, so it runs exactly the workflow's
commands: `run:` steps go to `bash --noprofile --norc -eo pipefail` (GitHub's default shell) with
the job's environment, `GITHUB_OUTPUT`, `GITHUB_ENV`, `GITHUB_PATH` and `GITHUB_STEP_SUMMARY`;
`uses:` steps go to the stand-ins of demo/rehearsal/actions.py. Expressions, `if:`, `needs`,
job outputs, `continue-on-error` and `timeout-minutes` follow GitHub's documentation. A job's
`environment` gives it that environment's variables; GitHub creates an environment a job names
if it does not exist (without protection), and so does this, saying so. Not modelled:
`concurrency` (jobs run one at a time here), matrices, services and containers (deploy.yml
uses none: an unknown key stops the run).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from demo.rehearsal.actions import ACTIONS, JobContext, StepFailed
from demo.rehearsal.expressions import condition, substitute
from testbed.github import GitHub, dispatch_inputs

JOB_KEYS = {
    "name", "needs", "if", "runs-on", "timeout-minutes", "environment", "concurrency",
    "permissions", "outputs", "env", "steps",
}  # fmt: skip
STEP_KEYS = {"name", "id", "if", "uses", "with", "run", "env", "continue-on-error"}
_HEREDOC = re.compile(r"^([^=<\s]+)<<(.+)$")


@dataclass
class JobResult:
    """One job: its result (success, failure or skipped), outputs and step lines."""

    name: str
    result: str
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    summary: str = ""
    seconds: float = 0.0


def read_file_commands(path: Path) -> dict[str, str]:
    """`name=value` and `name<<DELIMITER` blocks of GITHUB_OUTPUT / GITHUB_ENV."""
    values: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    index = 0
    while index < len(lines):
        line = lines[index]
        heredoc = _HEREDOC.match(line)
        if heredoc:
            name, delimiter = heredoc.groups()
            end = lines.index(delimiter, index + 1)
            values[name] = "\n".join(lines[index + 1 : end])
            index = end + 1
            continue
        if "=" in line:
            name, _, value = line.partition("=")
            values[name] = value
        index += 1
    return values


@dataclass
class Workflow:
    """A workflow file and where its runs happen."""

    path: Path
    github: GitHub
    home: Path
    make_job: Callable[[str, dict[str, Any], Path, dict[str, str]], JobContext]
    log: Callable[[str], None]
    approve: Callable[[str, dict[str, Any]], None]
    run_number: int = 0

    def document(self) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        return data

    def dispatch_inputs(self, document: dict[str, Any], given: Mapping[str, str]) -> dict[str, Any]:
        """The `inputs` context: declared defaults, given values, booleans as booleans."""
        declared = dispatch_inputs(document)
        unknown = set(given) - set(declared)
        if unknown:
            raise StepFailed(f"inputs {sorted(unknown)} are not declared by {self.path.name}")
        inputs: dict[str, Any] = {}
        for name, spec in declared.items():
            value = given.get(name, spec.get("default", ""))
            if spec.get("type") == "boolean":
                value = str(value).lower() == "true"
            inputs[name] = value
        return inputs

    def run(self, inputs: Mapping[str, str]) -> dict[str, JobResult]:
        """One run of the workflow (workflow_dispatch) with `inputs`; every job's result."""
        self.run_number += 1
        document = self.document()
        context_inputs = self.dispatch_inputs(document, inputs)
        results: dict[str, JobResult] = {}
        pending = dict(document["jobs"])
        while pending:
            ready = [job_id for job_id, job in pending.items() if set(_needs(job)) <= set(results)]
            if not ready:
                raise StepFailed(f"jobs {sorted(pending)} wait for each other")
            for job_id in ready:
                results[job_id] = self._job(job_id, pending.pop(job_id), document,
                                            context_inputs, results)  # fmt: skip
        return results

    def _job(
        self,
        job_id: str,
        job: dict[str, Any],
        document: dict[str, Any],
        inputs: dict[str, Any],
        results: dict[str, JobResult],
    ) -> JobResult:
        unknown = set(job) - JOB_KEYS
        if unknown:
            raise StepFailed(f"job {job_id}: {sorted(unknown)} is not rehearsed")
        needs = {name: results[name] for name in _needs(job)}
        context: dict[str, Any] = {
            "inputs": inputs,
            "github": {"repository": self.github.read()["repository"],
                       "run_id": str(self.run_number), "ref": "refs/heads/main"},
            "needs": {n: {"result": r.result, "outputs": r.outputs} for n, r in needs.items()},
        }  # fmt: skip
        environment = job.get("environment")
        context["vars"] = self.github.variables(environment)
        context["env"] = {str(k): str(v) for k, v in (document.get("env") or {}).items()}
        needs_ok = all(r.result == "success" for r in needs.values())
        if not condition(str(job.get("if", "success()")), context, _status(not needs_ok)):
            self.log(f"  job {job_id}: skipped")
            return JobResult(job_id, "skipped")
        if environment:
            settings = self.github.read()["environments"]
            if environment not in settings:
                self.log(f"  environment {environment} did not exist: created without rules")
                settings[environment] = {"variables": {}}
            self.approve(environment, settings[environment])
        started = time.monotonic()
        directory = self.home / f"run{self.run_number}" / job_id
        (directory / "tmp").mkdir(parents=True)
        (directory / "workspace").mkdir()
        ctx = self.make_job(job_id, job, directory / "workspace", {
            "GITHUB_WORKSPACE": str(directory / "workspace"), "GITHUB_JOB": job_id,
            "GITHUB_REPOSITORY": context["github"]["repository"], "GITHUB_REF": "refs/heads/main",
            "GITHUB_RUN_ID": str(self.run_number), "GITHUB_RUN_ATTEMPT": "1",
            "RUNNER_TEMP": str(directory / "tmp"), "CI": "true", "GITHUB_ACTIONS": "true",
        })  # fmt: skip
        for level in (document.get("env") or {}, job.get("env") or {}):
            context["env"] = ctx.env
            ctx.env.update({str(k): _text(v, context) for k, v in level.items()})
        context["env"] = ctx.env
        result = self._steps(job_id, job, ctx, context, directory)
        result.seconds = time.monotonic() - started
        self.log(f"  job {job_id}: {result.result} ({result.seconds:.0f} s)")
        return result

    def _steps(
        self,
        job_id: str,
        job: dict[str, Any],
        ctx: JobContext,
        context: dict[str, Any],
        directory: Path,
    ) -> JobResult:
        result = JobResult(job_id, "success")
        steps: dict[str, dict[str, Any]] = {}
        context["steps"] = steps
        timeout = float(job.get("timeout-minutes", 360)) * 60
        for number, step in enumerate(job["steps"], start=1):
            unknown = set(step) - STEP_KEYS
            if unknown:
                raise StepFailed(f"job {job_id} step {number}: {sorted(unknown)} is not rehearsed")
            failed = result.result == "failure"
            name = step.get("name") or step.get("uses") or step.get("run", "").splitlines()[0]
            if not condition(str(step.get("if", "success()")), context, _status(failed)):
                result.steps.append(f"skipped  {name}")
                continue
            started = time.monotonic()
            outcome, outputs = self._step(step, ctx, context, directory / f"{number:02d}", timeout)
            if step.get("id"):
                steps[step["id"]] = {"outputs": outputs, "outcome": outcome}
            allowed = outcome == "failure" and bool(step.get("continue-on-error"))
            seconds = time.monotonic() - started
            result.steps.append(f"{outcome:<8} {name} ({seconds:.1f} s)"
                                + (" (continue-on-error)" if allowed else ""))  # fmt: skip
            if outcome == "failure" and not allowed:
                result.result = "failure"
        result.summary = "".join(
            p.read_text(encoding="utf-8") for p in sorted(directory.glob("*/summary.md"))
        )
        for key, value in (job.get("outputs") or {}).items():
            result.outputs[key] = _text(value, context)
        return result

    def _step(
        self,
        step: dict[str, Any],
        ctx: JobContext,
        context: dict[str, Any],
        directory: Path,
        timeout: float,
    ) -> tuple[str, dict[str, str]]:
        directory.mkdir(parents=True)
        files = {name: directory / name for name in ("output", "env", "path", "summary.md")}
        for path in files.values():
            path.touch()
        step_env = {str(k): _text(v, context) for k, v in (step.get("env") or {}).items()}
        log = directory / "log.txt"
        ctx.outputs = {}
        try:
            if "uses" in step:
                action = str(step["uses"]).split("@", 1)[0]
                if action not in ACTIONS:
                    raise StepFailed(f"{action} has no stand-in: it is not rehearsed")
                inputs = {str(k): _text(v, context) for k, v in (step.get("with") or {}).items()}
                ACTIONS[action](ctx, inputs)
                log.write_text(f"{action} {sorted(inputs)}\n", encoding="utf-8")
                return "success", dict(ctx.outputs)
            script = directory / "step.sh"
            script.write_text(_text(step["run"], context))
            env = {**ctx.env, **step_env, "GITHUB_OUTPUT": str(files["output"]),
                   "GITHUB_ENV": str(files["env"]), "GITHUB_PATH": str(files["path"]),
                   "GITHUB_STEP_SUMMARY": str(files["summary.md"])}  # fmt: skip
            with log.open("w", encoding="utf-8") as out:
                done = subprocess.run(
                    ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                    cwd=ctx.workspace, env=env, stdout=out, stderr=subprocess.STDOUT,
                    timeout=timeout, check=False,
                )  # fmt: skip
            if done.returncode != 0:
                raise StepFailed(f"exit code {done.returncode}")
        except StepFailed as error:
            with log.open("a", encoding="utf-8") as out:
                out.write(f"\nfailed: {error}\n")
            return "failure", {}
        ctx.env.update(read_file_commands(files["env"]))
        for line in files["path"].read_text(encoding="utf-8").splitlines():
            if line.strip():
                ctx.prepend_path(Path(line.strip()))
        return "success", read_file_commands(files["output"])


def _status(failed: bool) -> Callable[[str], bool]:
    """The status functions of a step: success() until a step of its job failed."""
    values = {"success": not failed, "failure": failed, "always": True, "cancelled": False}
    return values.__getitem__


def _text(value: Any, context: Mapping[str, Any]) -> str:
    """A workflow value with its expressions evaluated (status functions do not occur there);
    YAML's booleans as the runner passes them (`true`, `false`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return substitute(str(value), context, _status(False))


def _needs(job: Mapping[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def step_logs(home: Path) -> list[Path]:
    """Every step log of every run, in order (for a failure's message)."""
    return sorted(home.glob("run*/*/*/log.txt"), key=os.path.getmtime)
