"""The stage module's inputs beyond what its .tftest.hcl files check: every variable described
and typed, and the names build.py chooses pass the module's validations (tests of the values
themselves: stage_inputs.tftest.hcl, run by the real Terraform)."""

from __future__ import annotations

import json
import re
from typing import Any

_REGEX_CALL = re.compile(r'regex\("((?:[^"\\]|\\.)*)",\s*var\.deployment\.(\w+)\)')


def deployment_pattern(module: dict[str, Any], key: str) -> re.Pattern[str]:
    """The pattern of `can(regex("...", var.deployment.<key>))` in the deployment's validations."""
    for validation in module["variable"]["deployment"].get("validation", []):
        for literal, name in _REGEX_CALL.findall(validation["condition"]):
            if name == key:
                return re.compile(json.loads(f'"{literal}"'))  # HCL escapes, as JSON
    raise AssertionError(f"no regex validation of deployment.{key}")


def test_every_variable_is_described_and_typed_never_any(stage_module: dict[str, Any]) -> None:
    # GIVEN every variable of the stage module
    problems = []
    for name, body in stage_module["variable"].items():
        # THEN it has a description and an explicit type that is not `any`
        if not str(body.get("description", "")).strip():
            problems.append(f"{name}: no description")
        kind = str(body.get("type", ""))
        if not kind:
            problems.append(f"{name}: no type")
        elif re.search(r"\bany\b", kind):
            problems.append(f"{name}: typed with any ({kind})")
    assert problems == []
    # AND a root passes the two inputs a model repository's main.tf gives (docs/terraform.md)
    required = {name for name, body in stage_module["variable"].items() if "default" not in body}
    assert required == {"config", "deployment"}


def test_build_py_model_names_fit_the_model_name_validation(stage_module: dict[str, Any]) -> None:
    # GIVEN build.py's model names, for a short and a 63-character group name
    from promotion.package import model_name_for

    pattern = deployment_pattern(stage_module, "model_name")
    for group in ("breast-cancer-classifier", "g" * 63):
        for stage in ("pre-prod", "prod"):
            # THEN Terraform accepts them
            assert pattern.search(model_name_for(group, stage, 1234, "0123abcd"))
    assert not pattern.search("under_score")  # the pattern found is the one that refuses


def test_build_py_pipeline_names_fit_the_pipeline_name_validation(
    stage_module: dict[str, Any], repo_root: Any, stage: str
) -> None:
    from pipelines.definition import pipeline
    from promotion.config import load_stage_config

    config = load_stage_config(repo_root / f"{stage}-config.tfvars.json", stage=stage)
    pattern = deployment_pattern(stage_module, "pipeline_name")
    assert pattern.search(pipeline.pipeline_name_for(config))
    long_group = config.model_copy(update={"model_package_group_name": "g" * 63})
    assert pattern.search(pipeline.pipeline_name_for(long_group))
