"""Print the bootstrap outputs in the form to paste: stage-file keys and GitHub variables.

    python scripts/bootstrap_outputs.py {dev,pre-prod,prod} [--outputs-json FILE]

Reads `terraform output -json` of bootstrap/dev (dev) or of the stage's workspace of
bootstrap/stage (pre-prod, prod); `--outputs-json` reads a saved copy instead. Called by
`make bootstrap-outputs STAGE=...`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
STAGE_FILE_KEYS = ("kms_key_arn", "permissions_boundary_arn")


def terraform_outputs(stage: str) -> dict[str, Any]:
    """`terraform output -json` of the root (and workspace) that bootstrapped `stage`."""
    root = REPO_ROOT / "bootstrap" / ("dev" if stage == "dev" else "stage")
    env = dict(os.environ)
    if stage != "dev":
        env["TF_WORKSPACE"] = stage
    run = subprocess.run(
        ["terraform", f"-chdir={root}", "output", "-json"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if run.returncode != 0:
        raise SystemExit(f"terraform output failed in {root}: {run.stderr.strip()}")
    return {name: item["value"] for name, item in json.loads(run.stdout).items()}


def paste_ready(stage: str, outputs: Mapping[str, Any]) -> str:
    """The text to paste: stage-file keys, then `gh variable set` commands."""
    lines: list[str] = []
    if stage == "dev":
        lines.append("# GitHub repository variables")
        for name, value in sorted(outputs["github_repository_variables"].items()):
            lines.append(f"gh variable set {name} --body {shlex.quote(value)}")
        for key, what in (
            ("dev_artifacts_bucket_policy_statements", "the dev artifacts bucket's policy"),
            ("dev_artifacts_key_policy_statements", "the dev artifacts KMS key's policy"),
        ):
            if outputs.get(key):
                statements = json.dumps(json.loads(outputs[key]), indent=2)
                lines += ["", f"# Statements to merge into {what}", statements]
        return "\n".join(lines) + "\n"
    lines.append(f"# {stage}-config.tfvars.json")
    lines += [f'  "{key}": {json.dumps(outputs[key])},' for key in STAGE_FILE_KEYS]
    for environment, variables in sorted(outputs["github_environment_variables"].items()):
        lines += ["", f"# GitHub environment {environment}"]
        for name, value in sorted(variables.items()):
            lines.append(f"gh variable set {name} --env {environment} --body {shlex.quote(value)}")
    for name, role in sorted(outputs.get("github_role_variables", {}).items()):
        environment, arn = role["environment"], shlex.quote(role["arn"])
        lines += ["", f"# GitHub environment {environment}: a role of this account it assumes"]
        lines.append(f"gh variable set {name} --env {environment} --body {arn}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the paste-ready outputs of one bootstrap apply."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=("dev", "pre-prod", "prod"))
    parser.add_argument("--outputs-json", type=Path, help="saved `terraform output -json`")
    args = parser.parse_args(argv)
    if args.outputs_json:
        raw = json.loads(args.outputs_json.read_text(encoding="utf-8"))
        outputs = {name: item["value"] for name, item in raw.items()}
    else:
        outputs = terraform_outputs(args.stage)
    sys.stdout.write(paste_ready(args.stage, outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
