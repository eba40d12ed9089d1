"""A model repository's own checks, run from the template at its pin (`make check`, ci.yml).

    MODEL_REPOSITORY=. PYTHONPATH=.template python .template/scripts/model_checks.py

What its team can break, without AWS: each stage file against the schema (the stage-config
model), the pipeline definition rendering for each stage, its inputs naming the model's columns,
and its deploy.yml calling the template's reusable workflow with the inputs it declares, at the
pin. Terraform (validate, test) runs next to it in the Makefile. One line per problem; exit 2
when one is found.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TEMPLATE_ROOT))

import yaml  # noqa: E402

from errors import ConfigError  # noqa: E402
from promotion.config import REPO_ROOT, STAGES, StageConfig, load_stage_config  # noqa: E402

CALLER = Path(".github/workflows/deploy.yml")
ANSWERS = ".copier-answers.yml"
INPUTS = (Path("inputs/smoke-input.csv"), Path("inputs/evaluation-rows.csv"))
_USES = re.compile(r"^(?P<repository>[^/]+/[^/]+)/\.github/workflows/deploy\.yml@(?P<ref>\S+)$")


def stage_files(root: Path) -> dict[str, StageConfig]:
    """Each stage file, validated as build.py reads it."""
    return {stage: load_stage_config(root / f"{stage}-config.tfvars.json", stage=stage)
            for stage in STAGES}  # fmt: skip


def model_columns(config: StageConfig, root: Path) -> tuple[list[str], str]:
    """The model's feature columns and where they come from: the stage key `feature_columns`,
    else the team's answer to Copier (`feature_columns` of .copier-answers.yml), else the smoke
    input's header (its id column left out). The stage key stays null by default so that build.py
    takes the package's metadata; the answer is what the team declared its model reads."""
    from pipelines.evidence.model_inputs import header_of

    if config.feature_columns:
        return list(config.feature_columns), (f"{config.path.name}'s feature_columns; if a name "
                                               "is misspelled there, correct it there")  # fmt: skip
    answered = str(_answers(root).get("feature_columns") or "").split()
    if answered:
        # Answered once, at `copier copy`: a model whose columns changed since names them in the
        # stage key, which then wins here and in build.py.
        return answered, (f"{ANSWERS}'s feature_columns; if the model's columns changed, "
                          "name them in feature_columns of both stage files")  # fmt: skip
    header = header_of(root / INPUTS[0])
    return [name for name in header if name != config.id_column], f"{INPUTS[0]}'s header"


def _answers(root: Path) -> dict[str, Any]:
    """Copier's answers file of the repository; empty when there is none."""
    path = root / ANSWERS
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read it ({error}): restore it from git") from error
    return document if isinstance(document, dict) else {}


def check_inputs(configs: Mapping[str, StageConfig], root: Path) -> None:
    """Both inputs exist and name every column each stage's model reads; the smoke input has
    rows."""
    from pipelines.evidence.model_inputs import check_columns, row_count

    for relative in INPUTS:
        if not (root / relative).is_file():
            raise ConfigError(f"{relative} is missing: write the model's rows there "
                              "(docs/fleet.md of the template)")  # fmt: skip
    if row_count(root / INPUTS[0]) == 0:
        raise ConfigError(f"{INPUTS[0]} has no rows: the smoke run would score nothing")
    for config in configs.values():
        features, source = model_columns(config, root)
        for relative in INPUTS:
            check_columns(root / relative, features=features, id_column=config.id_column,
                          source=source)  # fmt: skip


def check_definitions(configs: Mapping[str, StageConfig], root: Path) -> None:
    """Each stage's pipeline definition renders (no AWS call) to a JSON document."""
    from pipelines.definition.pipeline import pipeline_name_for, render_definition

    for stage, config in configs.items():
        features, _ = model_columns(config, root)
        text = render_definition(config=config, pipeline_name=pipeline_name_for(config),
                                 model_name=f"check-{stage}", model_package_version=1,
                                 feature_columns=features)  # fmt: skip
        if not json.loads(text).get("Steps"):
            raise ConfigError(f"the {stage} pipeline definition rendered without steps")


def _workflow(path: Path) -> dict[Any, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read it as a workflow ({error})") from error
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: not a workflow")
    return document


def check_caller(root: Path, template: Path, pin_commit: str) -> None:
    """The repository's deploy.yml calls the reusable deploy.yml at the template's commit, with
    every input it requires and none it does not declare."""
    triggers = _workflow(template / CALLER).get(True) or {}  # YAML 1.1 reads `on` as True
    declared = (triggers.get("workflow_call") or {}).get("inputs") or {}
    calls = [job for job in (_workflow(root / CALLER).get("jobs") or {}).values()
             if _USES.match(str(job.get("uses", "")))]  # fmt: skip
    if len(calls) != 1:
        raise ConfigError(
            f"{CALLER}: one job must call OWNER/REPO/.github/workflows/deploy.yml@REF"
        )
    (call,) = calls
    ref = _USES.match(call["uses"])["ref"]  # type: ignore[index]
    given = call.get("with") or {}
    unknown = sorted(set(given) - set(declared))
    missing = sorted(name for name, spec in declared.items()
                     if spec.get("required") and name not in given)  # fmt: skip
    if unknown or missing:
        raise ConfigError(f"{CALLER}: inputs {unknown} are not declared by the template's "
                          f"deploy.yml, {missing} are required: run `copier update`")  # fmt: skip
    passed = str(given.get("template-ref"))
    if pin_commit and {ref, passed} != {pin_commit}:
        raise ConfigError(f"{CALLER} calls the template at {ref} with template-ref {passed}, "
                          f"not the pin's commit {pin_commit}")  # fmt: skip


def template_commit(template: Path) -> str:
    """The commit of the checkout at the pin (`make setup`), read from git's files."""
    git = template / ".git"
    head = (git / "HEAD").read_text(encoding="utf-8").strip() if git.is_dir() else ""
    if head.startswith("ref: "):
        head = (git / head[5:]).read_text(encoding="utf-8").strip()
    return head if re.fullmatch(r"[0-9a-f]{40}", head) else ""


def main() -> int:
    """Run every check; one line per failure, exit 2 if any."""
    root, failures = REPO_ROOT, 0
    try:
        configs = stage_files(root)
    except ConfigError as error:
        print(f"check: {error}", file=sys.stderr)
        return 2
    checks: list[tuple[str, Callable[[], None]]] = [
        ("inputs name the model's columns", lambda: check_inputs(configs, root)),
        ("pipeline definitions render", lambda: check_definitions(configs, root)),
        ("deploy.yml calls the template at the pin",
         lambda: check_caller(root, TEMPLATE_ROOT, template_commit(TEMPLATE_ROOT))),
    ]  # fmt: skip
    print("ok    stage files match the schema")
    for name, check in checks:
        try:
            check()
        except ConfigError as error:
            failures += 1
            print(f"check: {error}", file=sys.stderr)
        else:
            print(f"ok    {name}")
    return 2 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
