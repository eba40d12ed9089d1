"""No resource pattern of one model's policies matches a resource of another model in the same
stage account, for generated pairs of group names (a seeded generator: hypothesis is not in the
dev lock). A statement whose pattern does match (SageMaker models carry their version in the name,
KMS keys have random ids) must be confined by the model's tag instead: a condition on
`aws:ResourceTag/ModelPackageGroup` or `aws:RequestTag/ModelPackageGroup` equal to its own group,
which the other model's resources and requests cannot meet.

Pure: renders the templates as Terraform does and matches ARNs as IAM does (`*`, `?`).
"""

from __future__ import annotations

import fnmatch
import functools
import random
import re
import string
from typing import Any

import pytest

from promotion.config import default_config_path, load_stage_config
from promotion.package import model_name_for
from testbed.iam_policies import (
    MODULE_ALARM_SUFFIXES,
    module_name,
    policy_variables,
    render,
    role_documents,
    role_specs,
)
from testbed.iam_world import accounts_for
from tests.iam.test_policies import STAR_ONLY_ACTIONS
from tests.terraform.conftest import REPO_ROOT, load_hcl

SEED = 20261201
PAIRS = 300
GROUP_CHARS = string.ascii_lowercase + string.digits
TAG_KEYS = ("aws:ResourceTag/ModelPackageGroup", "aws:RequestTag/ModelPackageGroup")
# SageMaker's ModelPackageGroupName pattern: 1-63 letters, digits and hyphens, alphanumeric ends.
_GROUP = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def _group(rng: random.Random, length: int) -> str:
    chars = [rng.choice(GROUP_CHARS + "-" * 6) for _ in range(length)]
    chars[0], chars[-1] = rng.choice(GROUP_CHARS), rng.choice(GROUP_CHARS)
    return "".join(chars)


def generated_pairs() -> list[tuple[str, str]]:
    """Pairs of distinct group names, most of them one the other plus a suffix."""
    rng = random.Random(SEED)
    pairs = [("churn", "churn-v2"), ("churn-v2", "churn"), ("churn", "churn-prod-v2"),
             ("a" * 30, "a" * 30 + "-b"), ("m" * 50, "m" * 50 + "x")]  # fmt: skip
    while len(pairs) < PAIRS:
        first = _group(rng, rng.randint(1, 50))
        kind = rng.random()
        if kind < 0.5:  # the other plus a hyphenated suffix
            second = f"{first}-{_group(rng, rng.randint(1, 62 - len(first)))}"
        elif kind < 0.7:  # the other plus a plain suffix
            second = first + _group(rng, rng.randint(1, 63 - len(first)))
        else:
            second = _group(rng, rng.randint(1, 63))
        if second[:63] != first and _GROUP.match(second[:63]):
            pairs.append(rng.choice([(first, second[:63]), (second[:63], first)]))
    return pairs


def _matches(pattern: str, arn: str) -> bool:
    """IAM's Resource matching: `*` any run of characters, `?` one, case-sensitive."""
    return fnmatch.fnmatchcase(arn, pattern.replace("[", "[[]"))


def module_arns(config: Any) -> list[str]:
    """The ARNs of one model's stage resources (batch-config-template.tf), and its models'."""
    group, stage, account, region = (config.model_package_group_name, config.stage,
                                     config.account_id, config.region)  # fmt: skip
    pipeline = f"{group}-{stage}-batch-inference"
    name = module_name(pipeline)
    sm = f"arn:aws:sagemaker:{region}:{account}"
    models = [model_name_for(group, s, v, "0123abcd") for s in (stage, f"{stage}-cmp")
              for v in (1, 42, 1234)]  # fmt: skip
    database = re.sub(r"[^a-z0-9_]", "_", name.lower())
    return [
        f"{sm}:pipeline/{pipeline.lower()}",
        *(f"{sm}:model/{model.lower()}" for model in models),
        f"arn:aws:scheduler:{region}:{account}:schedule-group/{name}",
        f"arn:aws:scheduler:{region}:{account}:schedule/{name}/{name}",
        f"arn:aws:iam::{account}:role/{name}-scheduler",
        f"arn:aws:sqs:{region}:{account}:{name}-schedule-dlq",
        f"arn:aws:kms:{region}:{account}:alias/{name}-alerts",
        f"arn:aws:kms:{region}:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        f"arn:aws:sns:{region}:{account}:{name}-alerts",
        f"arn:aws:events:{region}:{account}:rule/{name}-failed",
        *(f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}-{s}" for s in MODULE_ALARM_SUFFIXES),
        f"arn:aws:cloudwatch::{account}:dashboard/{name}",
        f"arn:aws:glue:{region}:{account}:database/{database}",
        f"arn:aws:glue:{region}:{account}:table/{database}/predictions",
    ]


def _documents(config: Any) -> list[tuple[str, dict[str, Any]]]:
    """(role/template, document) of every role of the model's stage, and the boundary."""
    variables = policy_variables(config, accounts_for(config))
    documents = [("boundary", render("boundary", variables))]
    for spec in role_specs().values():
        if spec.account == config.stage:
            for template, document in role_documents(
                spec, variables, dev_artifacts_key=False
            ).items():
                documents.append((f"{spec.name}/{template}", document))
    documents.append(("execution", render("execution", variables)))
    return documents


def _confined_by_tag(statement: dict[str, Any], group: str) -> bool:
    conditions = statement.get("Condition", {}).get("StringEquals", {})
    return any(conditions.get(key) == group for key in TAG_KEYS)


@functools.lru_cache(maxsize=2)
def _stage_config(stage: str) -> Any:
    return load_stage_config(default_config_path(stage))


def collisions(first: str, second: str, stage: str) -> list[str]:
    """What of `first`'s policies matches a resource of `second` without being tag-confined."""
    base = _stage_config(stage)
    mine = base.model_copy(update={"model_package_group_name": first})
    theirs = base.model_copy(update={"model_package_group_name": second})
    found = []
    for where, document in _documents(mine):
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [
                statement["Action"]]  # fmt: skip
            resources = statement.get("Resource", [])
            resources = resources if isinstance(resources, list) else [resources]
            if statement["Effect"] != "Allow" or set(actions) <= STAR_ONLY_ACTIONS:
                continue
            if _confined_by_tag(statement, first):
                continue
            for pattern in resources:
                for arn in module_arns(theirs):
                    if _matches(pattern, arn):
                        found.append(f"{where}:{statement['Sid']} {pattern} matches {arn}")
    return found


@pytest.mark.parametrize("stage", ["pre-prod", "prod"])
def test_no_pattern_of_one_model_matches_a_resource_of_another(stage: str) -> None:
    # GIVEN generated pairs of group names, most one the other plus a suffix
    pairs = generated_pairs()
    assert len(pairs) == PAIRS and all(a != b for a, b in pairs)

    # WHEN each model's rendered policies are matched against the other's resource ARNs
    found = {pair: hits for pair in pairs if (hits := collisions(*pair, stage))}

    # THEN nothing of one matches anything of the other, except statements confined by the tag
    assert found == {}


def test_the_two_models_never_share_a_resource_name() -> None:
    # GIVEN the generated pairs
    # WHEN their module names are derived (the base of every resource name)
    names = [(module_name(f"{a}-prod-batch-inference"), module_name(f"{b}-prod-batch-inference"))
             for a, b in generated_pairs()]  # fmt: skip
    same = [pair for pair in names if pair[0] == pair[1]]

    # THEN no two groups share one (else AWS itself would make them one resource)
    assert same == []


def _locals(path: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for block in load_hcl(path).get("locals", []):
        found.update(block)
    return found


def test_bootstrap_names_the_resources_as_the_stage_module_does() -> None:
    # GIVEN the stage module's naming and bootstrap/stage's copy of it (its policies name them)
    root = _locals(REPO_ROOT / "batch-config-template.tf")
    stage = _locals(REPO_ROOT / "bootstrap" / "stage" / "main.tf")
    pipeline = "the pipeline name build.py passes (pipeline_name_for)"

    # WHEN the expressions are compared over the same pipeline name
    same_base = root["name"].replace("var.deployment.pipeline_name", pipeline) == stage[
        "module_name"
    ].replace("local.pipeline_name", pipeline)

    # THEN they agree: the base, the pipeline name, the alarms, the results database
    assert same_base
    assert stage["pipeline_name"] == "${var.model_package_group_name}-${var.stage}-batch-inference"
    assert sorted(v.removeprefix("${local.name}-") for v in root["alarm_names"].values()) == sorted(
        MODULE_ALARM_SUFFIXES
    )
    assert root["results_database"] == '${replace(lower(local.name), "/[^a-z0-9_]/", "_")}'
    assert "replace(lower(local.module_name)" in (REPO_ROOT / "bootstrap/stage/main.tf").read_text()
