"""The policy templates, as Terraform and the tests share them: same variables, exact trust,
every statement classified (proven by a flow or justified by documentation)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.bootstrap_outputs import paste_ready
from testbed.iam_policies import (
    POLICIES_DIR,
    REPO_ROOT,
    TEMPLATE_SUFFIX,
    placeholders,
    render,
    role_specs,
)
from testbed.iam_world import EXECUTION
from testbed.local_aws import DEMO_STAGES
from tests.iam.classification import (
    DOCUMENTED,
    IMAGE_PROVEN,
    PROVEN,
    PROVEN_BY_FALLBACK,
    REHEARSED,
)

STAGE_ROOT = REPO_ROOT / "bootstrap" / "stage" / "main.tf"
DEV_ROOT = REPO_ROOT / "bootstrap" / "dev" / "main.tf"
TEMPLATES = sorted(
    p.name[: -len(TEMPLATE_SUFFIX)] for p in POLICIES_DIR.glob(f"*{TEMPLATE_SUFFIX}")
)
# Actions AWS authorizes only on "*" (no resource-level permissions), by the Service
# Authorization Reference.
STAR_ONLY_ACTIONS = {
    "sagemaker:ListModelPackages", "sagemaker:ListModelPackageGroups", "sagemaker:ListModels",
    "sagemaker:ListPipelines",
    "ecr:GetAuthorizationToken", "cloudwatch:PutMetricData", "kms:ListAliases", "kms:CreateKey",
    "iam:DeleteRolePermissionsBoundary", "iam:CreatePolicyVersion", "iam:DeletePolicy",
    "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion",
    "sns:GetSubscriptionAttributes", "sns:SetSubscriptionAttributes", "sns:Unsubscribe",
}  # fmt: skip


def _policy_var_names(main_tf: Path) -> set[str]:
    text = main_tf.read_text(encoding="utf-8")
    block = re.search(r"\n  policy_vars = \{\n(.*?)\n  \}\n", text, re.S)
    assert block, f"{main_tf}: no policy_vars block"
    return set(re.findall(r"^\s+(\w+)\s+=", block.group(1), re.M))


def _all_documents() -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(role, template) -> statements, rendered with placeholder values."""
    values: dict[str, Any] = {
        name: f"x-{name}" for template in TEMPLATES for name in placeholders(template)
    }
    values |= {"stage_account_roots": ["r"], "stage_role_arns": ["a"], "data_bucket_arns": ["b"],
               "dev_image_repository_arns": ["i"], "aws_image_repository_arns": ["f"]}  # fmt: skip
    documents = {}
    for spec in role_specs().values():
        for template in (*spec.policies, "dev-artifacts-key", "dev-images"):
            if template in ("dev-artifacts-key", "dev-images") and not spec.reads_dev_artifacts:
                continue
            if template == "dev-images" and spec.account == "dev":  # stage roles only
                continue
            documents[(spec.name, template)] = render(template, values)["Statement"]
    for stage in ("pre-prod", "prod"):
        documents[(f"{EXECUTION}-{stage}", "execution")] = render("execution", values)["Statement"]
    return documents


def test_terraform_passes_every_variable_the_templates_use() -> None:
    # GIVEN the templatefile calls of both roots (plus the per-call merges)
    stage_vars = _policy_var_names(STAGE_ROOT) | {"github_subject", "created_package_status"}
    dev_vars = _policy_var_names(DEV_ROOT)

    # WHEN every template's placeholders are compared with what its root passes
    dev_templates = {"registry-reader-trust", "registry-reader", "dev-artifacts-key"}
    dev_templates |= {"dev-artifacts-bucket", "dev-artifacts-key-policy", "dev-image-repository"}
    missing = {
        template: placeholders(template) - (dev_vars if template in dev_templates else stage_vars)
        for template in TEMPLATES
    }

    # THEN none is missing (templatefile would fail on apply)
    assert {t: m for t, m in missing.items() if m} == {}


def test_the_tests_render_with_the_same_variable_names_as_terraform() -> None:
    # GIVEN the Python mirror of local.policy_vars
    from testbed.iam_policies import Accounts, policy_variables
    from testbed.iam_world import load_stage_config

    config = load_stage_config(DEMO_STAGES / "prod-config.tfvars.json")
    accounts = Accounts("b", "", None, "k", "s", "key", "k2", "p")

    # WHEN its names are compared with Terraform's
    python_names = set(policy_variables(config, accounts))

    # THEN they are the same (the trust-only oidc_provider_arn aside)
    assert python_names == _policy_var_names(STAGE_ROOT) - {"oidc_provider_arn"}


def test_a_mixed_case_group_s_state_policies_name_the_lower_case_state_bucket() -> None:
    # GIVEN a stage of a group in mixed case (Copier and SageMaker accept it), as the tests set it
    # up (testbed/iam_world.py) and bootstrap/stage passes it (`state_bucket = local.state_bucket`,
    # the name of the bucket it creates, tests/terraform/test_bootstrap_names.py)
    from testbed.iam_policies import policy_variables
    from testbed.iam_world import accounts_for, load_stage_config

    shipped = load_stage_config(DEMO_STAGES / "pre-prod-config.tfvars.json")
    config = shipped.model_copy(update={"model_package_group_name": "ChurnModel"})
    variables = policy_variables(config, accounts_for(config))
    assert re.search(r"\n  policy_vars = \{\n.*\n    state_bucket\s+= local\.state_bucket\n",
                     STAGE_ROOT.read_text(encoding="utf-8"), re.S)  # fmt: skip

    # WHEN the policies that name the state bucket are rendered
    buckets = {
        arn.removeprefix("arn:aws:s3:::").split("/", 1)[0]
        for template in ("terraform-state", "terraform-state-write")
        for statement in render(template, variables)["Statement"]
        for arn in ([statement["Resource"]] if isinstance(statement["Resource"], str)
                    else statement["Resource"])
        if arn.startswith("arn:aws:s3:::")
    }  # fmt: skip

    # THEN they name one bucket, in lower case (S3 bucket names are)
    assert buckets == {f"churnmodel-tfstate-{config.account_id}"}


@pytest.mark.parametrize("template", TEMPLATES)
def test_each_template_is_valid_json_with_unique_sids(template: str) -> None:
    values: dict[str, Any] = {name: "x" for name in placeholders(template)}
    values |= {"stage_account_roots": ["r"], "stage_role_arns": ["a"], "data_bucket_arns": ["b"],
               "dev_image_repository_arns": ["i"], "aws_image_repository_arns": ["f"]}  # fmt: skip
    statements = render(template, values)["Statement"]
    sids = [s["Sid"] for s in statements]
    assert len(sids) == len(set(sids)) and all(sids)


def test_no_statement_grants_a_whole_service_and_star_resources_are_justified() -> None:
    for (role, template), statements in _all_documents().items():
        for statement in statements:
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            assert not any(a.endswith(":*") or a == "*" for a in actions), (role, statement)
            if statement.get("Resource") == "*" and statement["Effect"] == "Allow":
                assert set(actions) <= STAR_ONLY_ACTIONS, (role, template, statement["Sid"])


def test_every_shipped_statement_is_proven_rehearsed_or_documented() -> None:
    # GIVEN every statement of every role
    cases = PROVEN + IMAGE_PROVEN + PROVEN_BY_FALLBACK
    proven = {(case.role, case.template, case.sid) for case in cases}

    # WHEN each is looked up
    unclassified = [
        (role, template, statement["Sid"])
        for (role, template), statements in _all_documents().items()
        for statement in statements
        if (role, template, statement["Sid"]) not in proven
        and (template, statement["Sid"]) not in DOCUMENTED
        and (template, statement["Sid"]) not in REHEARSED
        and (template, statement["Sid"])
        not in {(c.template, c.sid) for c in PROVEN + IMAGE_PROVEN + PROVEN_BY_FALLBACK}
    ]

    # THEN none is left, and docs/iam.md lists every documented one
    assert unclassified == []
    iam_md = (REPO_ROOT / "docs" / "iam.md").read_text(encoding="utf-8")
    assert [sid for _, sid in DOCUMENTED if f"`{sid}`" not in iam_md] == []


def test_github_trust_names_exactly_this_repository_and_the_workflow_environments() -> None:
    # GIVEN deploy.yml's jobs and their environments
    workflow = yaml.safe_load((REPO_ROOT / ".github/workflows/deploy.yml").read_text())
    environments = {job["environment"] for job in workflow["jobs"].values() if "environment" in job}

    # WHEN the roles' subjects are rendered into the trust template
    subjects = {spec.name: spec.github_subject for spec in role_specs().values()}
    trust = render("github-trust", {"oidc_provider_arn": "arn:p", "github_subject": "repo:o/r:x"})
    condition = trust["Statement"][0]["Condition"]

    # THEN each stage role trusts one environment of deploy.yml, the reader the main branch,
    # with exact matches (no wildcard) on subject and audience
    stage_envs = {
        s.removeprefix("environment:") for n, s in subjects.items() if n != "registry-reader"
    }
    assert stage_envs == environments
    assert subjects["registry-reader"] == "ref:refs/heads/main"
    assert set(condition) == {"StringEquals"}
    assert (
        condition["StringEquals"]["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    )


def test_outputs_are_printed_ready_to_paste() -> None:
    # GIVEN prod's bootstrap outputs
    role = "arn:aws:iam::333333333333:role/"
    state = {"TF_STATE_BUCKET": "s", "TF_STATE_KEY": "batch-inference/prod.tfstate"}
    outputs = {
        "kms_key_arn": "arn:aws:kms:us-east-1:333333333333:key/k",
        "permissions_boundary_arn": "arn:aws:iam::333333333333:policy/b",
        "github_environment_variables": {
            "prod": {"AWS_ROLE_ARN": f"{role}d", **state},
            "prod-plan": {"AWS_ROLE_ARN": f"{role}p", **state},
        },
        "github_role_variables": {
            "PROD_READ_ROLE_ARN": {"environment": "pre-prod", "arn": f"{role}r"},
        },
    }

    # WHEN they are printed
    text = paste_ready("prod", outputs)

    # THEN the stage-file lines are valid JSON members and each variable is one gh command
    members = [line for line in text.splitlines() if line.startswith('  "')]
    assert json.loads("{" + ",".join(m.rstrip(",") for m in members) + "}") == {
        "kms_key_arn": outputs["kms_key_arn"],
        "permissions_boundary_arn": outputs["permissions_boundary_arn"],
    }
    assert (
        "gh variable set AWS_ROLE_ARN --env prod-plan --body arn:aws:iam::333333333333:role/p"
        in text
    )
    assert "gh variable set PROD_READ_ROLE_ARN --env pre-prod --body " + role + "r" in text
    assert text.count("gh variable set") == 7


def test_docs_state_the_counts_the_classification_gives() -> None:
    # GIVEN every statement and its classification
    documents = _all_documents()
    distinct = {(t, s["Sid"]) for (_, t), statements in documents.items() for s in statements}
    per_role = [(r, t) for (r, t), statements in documents.items()
                if t not in ("dev-artifacts-key", "dev-images") for _ in statements]  # fmt: skip
    proven = {(case.template, case.sid) for case in PROVEN + IMAGE_PROVEN + PROVEN_BY_FALLBACK}

    # WHEN they are counted
    pairs = len(PROVEN) + len(IMAGE_PROVEN) + len(PROVEN_BY_FALLBACK)
    rehearsed = set(REHEARSED) - proven
    documented = distinct - proven - rehearsed

    # THEN docs/iam.md reports the same figures, and no statement is in two classes
    iam_md = " ".join((REPO_ROOT / "docs" / "iam.md").read_text(encoding="utf-8").split())
    assert f"{len(distinct)} distinct statements in" in iam_md
    assert f"({len(per_role)} across the" in iam_md
    assert f"{len(proven)} distinct statements ({pairs} role/statement pairs" in iam_md
    assert f"**Proven by the going-live rehearsal**: {len(rehearsed)} more distinct" in iam_md
    assert f"**Justified by documentation**: {len(documented)} distinct" in iam_md
    assert set(DOCUMENTED) == documented
    assert rehearsed == set(REHEARSED)


def test_every_role_fits_iam_size_quotas() -> None:
    # GIVEN every role's rendered templates (Terraform attaches each as a managed policy, but
    # dev-images and the execution role's, which are inline)
    by_role: dict[str, list[int]] = {}
    inline: dict[str, int] = {}
    for (role, template), statements in _all_documents().items():
        document = {"Version": "2012-10-17", "Statement": statements}
        size = len("".join(json.dumps(document, separators=(",", ":")).split()))
        if template in ("dev-images", "execution"):
            inline[role] = inline.get(role, 0) + size
        else:
            by_role.setdefault(role, []).append(size)

    # WHEN they are measured as IAM does (characters without whitespace)
    # THEN each fits one managed policy (6,144), no role needs more than 10, and a role's inline
    # policies fit 10,240 together (IAM quotas)
    for role, sizes in by_role.items():
        assert max(sizes) <= 6144, (role, sizes)
        assert len(sizes) <= 10, role
    assert inline and max(inline.values()) <= 10240, inline
