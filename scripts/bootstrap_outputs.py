"""Print a bootstrap apply's outputs in the form to paste: stage-file lines and commands to run.

    python3 scripts/bootstrap_outputs.py {dev,pre-prod,prod} [--outputs-json FILE]
                                         [--trigger-backend FILE]

Reads `terraform output -json` of bootstrap/dev (dev) or of the stage's workspace of
bootstrap/stage (pre-prod, prod); `--outputs-json` reads a saved copy instead (a model
repository's `make bootstrap-outputs`, whose state is not under this checkout). With
`--trigger-backend`, dev's approval-trigger backend settings are written to FILE instead of
printed as a command that writes them. Standard library
only: `make bootstrap-outputs STAGE=...` runs it with the machine's python3, no environment needed.
A root that was not applied ends in one line and changes nothing (exit 1); a bad stage, exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
STAGE_FILE_KEYS = ("kms_key_arn", "permissions_boundary_arn")
DEV_KEYS = ("github_repository_variables", "approval_trigger_backend_config")
STAGE_KEYS = (*STAGE_FILE_KEYS, "github_environment_variables")
TRIGGER_BACKEND = "approval_trigger/backend.tfbackend"
STAGE_FILE_HEADER = "# 1. In {file}, replace the lines of these keys with:"
COMMANDS_HEADER = (
    "# {number}. Run (create the GitHub environments first, docs/going-live.md step 3):"
)


class OutputsError(Exception):
    """The outputs cannot be read; the message says what to do."""


def _first_error(stderr: str) -> str:
    lines = [line.strip(" │╷╵") for line in stderr.splitlines() if line.strip(" │╷╵")]
    errors = [line for line in lines if line.startswith("Error:")]
    return (errors or lines or ["no output"])[0]


def _terraform(root: Path, args: Sequence[str], env: Mapping[str, str]) -> str:
    done = subprocess.run(
        ["terraform", f"-chdir={root}", *args, "-no-color"],
        capture_output=True, text=True, env=dict(env), check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise OutputsError(f"terraform {args[0]} failed in {root}: {_first_error(done.stderr)}")
    return done.stdout


def terraform_outputs(stage: str, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """`terraform output -json` of the root (and workspace) that bootstrapped `stage`.

    The stage's workspace is looked up first: `TF_WORKSPACE` naming a workspace that does not
    exist would make `terraform output` create an empty one and print `{}`.
    """
    root = REPO_ROOT / "bootstrap" / ("dev" if stage == "dev" else "stage")
    if shutil.which("terraform", path=environ.get("PATH")) is None:
        raise OutputsError("terraform is not on PATH: install Terraform >= 1.10 (README)")
    if not (root / ".terraform").is_dir():
        raise OutputsError(
            f"{root.relative_to(REPO_ROOT)} was never initialised in this checkout: apply it first"
            " (docs/going-live.md), or run this from the checkout that holds its state"
        )
    env = {k: v for k, v in environ.items() if k != "TF_WORKSPACE"}
    if stage != "dev":
        listed = _terraform(root, ["workspace", "list"], env)
        if stage not in {line.strip(" *") for line in listed.splitlines()}:
            raise OutputsError(
                f"bootstrap/stage has no workspace {stage}: apply it first (docs/going-live.md"
                " step 2), from the checkout that holds its state"
            )
        env["TF_WORKSPACE"] = stage
    outputs = {name: item["value"] for name, item in json.loads(
        _terraform(root, ["output", "-json"], env) or "{}").items()}  # fmt: skip
    expected = DEV_KEYS if stage == "dev" else STAGE_KEYS
    missing = [key for key in expected if key not in outputs]
    if missing:
        where = "bootstrap/dev" if stage == "dev" else f"bootstrap/stage (workspace {stage})"
        raise OutputsError(
            f"{where} has no output {missing[0]}: apply it first (docs/going-live.md), from the"
            " checkout that holds its state"
        )
    return outputs


def trigger_backend(outputs: Mapping[str, Any]) -> str:
    """The approval trigger's `terraform init -backend-config=` file, from dev's outputs."""
    backend = outputs["approval_trigger_backend_config"]
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in sorted(backend.items()))


def _dev_text(outputs: Mapping[str, Any], *, with_backend: bool = True) -> list[str]:
    lines = [COMMANDS_HEADER.format(number=1)]
    for name, value in sorted(outputs["github_repository_variables"].items()):
        lines.append(f"gh variable set {name} --body {shlex.quote(value)}")
    if with_backend:
        lines += [f"cat > {TRIGGER_BACKEND} <<'EOF'", *trigger_backend(outputs).splitlines(), "EOF"]
    for key, what in (
        ("dev_artifacts_bucket_policy_statements", "the dev artifacts bucket's policy"),
        ("dev_artifacts_key_policy_statements", "the dev artifacts KMS key's policy"),
    ):
        if outputs.get(key):
            statements = json.dumps(json.loads(outputs[key]), indent=2)
            lines += ["", f"# Statements for the owner of {what} to merge:", statements]
    return lines


def paste_ready(stage: str, outputs: Mapping[str, Any], *, with_backend: bool = True) -> str:
    """The text to paste: stage-file lines, then the commands to run (dev: the command writing
    the trigger's backend file unless `with_backend` is false)."""
    if stage == "dev":
        return "\n".join(_dev_text(outputs, with_backend=with_backend)) + "\n"
    lines = [STAGE_FILE_HEADER.format(file=f"{stage}-config.tfvars.json")]
    lines += [f'  "{key}": {json.dumps(outputs[key])},' for key in STAGE_FILE_KEYS]
    lines += ["", COMMANDS_HEADER.format(number=2)]
    for environment, variables in sorted(outputs["github_environment_variables"].items()):
        for name, value in sorted(variables.items()):
            lines.append(f"gh variable set {name} --env {environment} --body {shlex.quote(value)}")
    for name, role in sorted(outputs.get("github_role_variables", {}).items()):
        environment, arn = role["environment"], shlex.quote(role["arn"])
        lines.append(f"gh variable set {name} --env {environment} --body {arn}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the paste-ready outputs of one bootstrap apply."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("stage", choices=("dev", "pre-prod", "prod"))
    parser.add_argument("--outputs-json", type=Path, help="saved `terraform output -json`")
    parser.add_argument("--trigger-backend", type=Path, help="dev: write its backend file here")
    args = parser.parse_args(argv)
    try:
        if args.outputs_json:
            raw = json.loads(args.outputs_json.read_text(encoding="utf-8"))
            outputs = {name: item["value"] for name, item in raw.items()}
        else:
            outputs = terraform_outputs(args.stage)
        expected = DEV_KEYS if args.stage == "dev" else STAGE_KEYS
        missing = [key for key in expected if key not in outputs]
        if missing:
            raise OutputsError(f"the outputs have no {missing[0]}: apply the root first")
        if args.trigger_backend and args.stage == "dev":
            args.trigger_backend.write_text(trigger_backend(outputs), encoding="utf-8")
    except (OSError, ValueError, OutputsError) as error:
        print(f"bootstrap-outputs: error: {error}", file=sys.stderr)
        return 1
    with_backend = args.trigger_backend is None
    sys.stdout.write(paste_ready(args.stage, outputs, with_backend=with_backend))
    return 0


if __name__ == "__main__":
    sys.exit(main())
