"""Fixtures of the Terraform tests: the stage module read with python-hcl2, the stage files, the
keys build.py writes, pipeline parameter names of rendered definitions, a working copy.

The stage module is the repository root (versions.tf, variables.tf, batch-config-template.tf,
outputs.tf); stage-root/ is the root that calls it (a model repository's main.tf).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import hcl2
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULE_FILES = ("versions.tf", "variables.tf", "batch-config-template.tf", "outputs.tf")
STAGE_ROOT = "stage-root"  # the root module, relative to the repository root
STAGES = ("pre-prod", "prod")
FIXTURE_DEFINITION = Path(__file__).with_name("pipeline-definition.fixture.json")
FIXTURE_DEPLOYMENT = Path(__file__).with_name("deployment.fixture.json")
RENDERER_MODULE = "pipelines.definition.pipeline"

# The parameters the schedule may pass, by name (docs/interfaces.md).
INTERFACE_PARAMETERS = frozenset(
    {
        "ModelName",
        "InputDataUrl",
        "OutputDataUrl",
        "ProcessingInstanceType",
        "ProcessingInstanceCount",
        "TransformInstanceType",
        "TransformInstanceCount",
        "RunDate",
        "ScheduledTime",
    }
)

Module = dict[str, Any]


def load_hcl(path: Path) -> dict[str, Any]:
    """One .tf file in python-hcl2's simple shape: quotes stripped, blocks as plain dicts."""
    options = hcl2.SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
    with path.open(encoding="utf-8") as handle:
        return dict(hcl2.load(handle, serialization_options=options))


def merge_module(parsed_files: list[dict[str, Any]]) -> Module:
    """Several parsed files as one module, keyed by kind then label(s)."""
    module: Module = {
        "variable": {},
        "output": {},
        "locals": {},
        "provider": {},
        "terraform": [],
        "resource": {},
        "data": {},
        "module": {},
    }
    for parsed in parsed_files:
        for kind in ("variable", "output", "provider", "module"):
            for block in parsed.get(kind, []):
                module[kind].update(block)
        for block in parsed.get("locals", []):
            module["locals"].update({k: v for k, v in block.items() if k != "__comments__"})
        module["terraform"] += parsed.get("terraform", [])
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                for type_name, by_name in block.items():
                    module[kind].setdefault(type_name, {}).update(by_name)
    return module


@pytest.fixture(scope="session")
def stage_module() -> Module:
    """The stage module (the four .tf files at the repository root)."""
    return merge_module([load_hcl(REPO_ROOT / name) for name in MODULE_FILES])


@pytest.fixture(scope="session")
def root_module() -> Module:
    """The root that calls the stage module (stage-root/main.tf)."""
    return merge_module([load_hcl(REPO_ROOT / STAGE_ROOT / "main.tf")])


@pytest.fixture(scope="session")
def stage_configs() -> dict[str, dict[str, Any]]:
    """Each stage's `<stage>-config.tfvars.json`."""
    return {
        stage: json.loads((REPO_ROOT / f"{stage}-config.tfvars.json").read_text(encoding="utf-8"))
        for stage in STAGES
    }


def deployment_tfvars_for(config: dict[str, Any]) -> dict[str, Any]:
    """What build.py writes to `build/<stage>/deployment.tfvars.json` for a stage (its keys and
    value shapes, docs/interfaces.md), with made-up but valid values."""
    group, stage, account = (
        config["model_package_group_name"],
        config["stage"],
        config["account_id"],
    )
    region = config["region"]
    return {
        "model_package_arn": f"arn:aws:sagemaker:{region}:{account}:model-package/{group}/1",
        "source_model_package_arn": (
            f"arn:aws:sagemaker:{region}:{config['source_account_id']}:model-package/{group}/3"
        ),
        "source_model_package_version": 3,
        "model_name": f"{group}-{stage}-v3",
        "pipeline_name": f"{group}-{stage}-batch-inference",
        "pipeline_definition_file": f"build/{stage}/pipeline-definition.json",
    }


@pytest.fixture(scope="session")
def deployment_tfvars(stage_configs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each stage's deployment.tfvars.json as build.py would write it."""
    return {stage: deployment_tfvars_for(config) for stage, config in stage_configs.items()}


def definition_parameter_names(definition: dict[str, Any]) -> set[str]:
    """The names of a pipeline definition's Parameters."""
    return {parameter["Name"] for parameter in definition.get("Parameters", [])}


def fixture_parameter_names() -> set[str]:
    """Parameter names of the small fixture definition kept next to these tests."""
    return definition_parameter_names(json.loads(FIXTURE_DEFINITION.read_text(encoding="utf-8")))


def rendered_parameter_names(stage: str) -> set[str]:
    """Parameter names of the definition the real renderer produces for `stage`, rendered the
    way build.py does (pipelines/definition/stage_build.py)."""
    pipeline = importlib.import_module(RENDERER_MODULE)
    from promotion.config import load_stage_config
    from promotion.package import model_name_for

    config = load_stage_config(REPO_ROOT / f"{stage}-config.tfvars.json", stage=stage)
    definition = pipeline.render_definition(
        config=config,
        pipeline_name=pipeline.pipeline_name_for(config),
        model_name=model_name_for(config.model_package_group_name, stage, 3, "0123abcd"),
        model_package_version=3,
        feature_columns=config.feature_columns or ("mean radius", "mean texture"),
    )
    return definition_parameter_names(json.loads(definition))


@pytest.fixture(scope="session", params=["fixture", "rendered"])
def pipeline_parameter_names(request: pytest.FixtureRequest) -> set[str]:
    """Parameter names of a rendered pipeline definition: the fixture's always, and the real
    renderer's (pre-prod; names do not depend on the stage)."""
    if request.param == "fixture":
        return fixture_parameter_names()
    return rendered_parameter_names("pre-prod")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (the stage module's directory)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def module_files() -> tuple[Path, ...]:
    """The stage module's .tf files."""
    return tuple(REPO_ROOT / name for name in MODULE_FILES)


def checkout_with_builds(destination: Path) -> Path:
    """A working copy of the repository with build.py's outputs for both stages (fixture values),
    so that Terraform writes its .terraform/, state and plans there, never into the checkout."""
    from testbed.terraform import working_copy

    copy = working_copy(REPO_ROOT, destination)
    for stage in STAGES:
        config = json.loads((copy / f"{stage}-config.tfvars.json").read_text(encoding="utf-8"))
        build = copy / "build" / stage
        build.mkdir(parents=True)
        shutil.copy(FIXTURE_DEFINITION, build / "pipeline-definition.json")
        tfvars = deployment_tfvars_for(config)
        (build / "deployment.tfvars.json").write_text(json.dumps(tfvars), encoding="utf-8")
    return copy


@pytest.fixture(scope="session")
def interface_parameters() -> frozenset[str]:
    """Pipeline parameter names fixed by docs/interfaces.md."""
    return INTERFACE_PARAMETERS


@pytest.fixture(params=STAGES)
def stage(request: pytest.FixtureRequest) -> str:
    """Each stage in turn."""
    return str(request.param)
