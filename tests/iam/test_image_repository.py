"""The data the stage bootstrap's image repository is made from (bootstrap/stage/images.tf): its
lifecycle policy and the AWS image registries the execution role may pull from."""

from __future__ import annotations

import json

from promotion.images import aws_registries_by_region, execution_role_pulls
from scripts import aws_image_registries
from testbed.iam_policies import POLICIES_DIR

LIFECYCLE = POLICIES_DIR / "model-images-lifecycle.json"


def test_the_lifecycle_policy_expires_untagged_images_only() -> None:
    # GIVEN the stage repository's lifecycle policy (ECR User Guide, "Lifecycle policy
    # properties": tagStatus selects tagged, untagged or any images)
    rules = json.loads(LIFECYCLE.read_text(encoding="utf-8"))["rules"]

    # WHEN the images each rule may expire are read
    selected = {rule["selection"]["tagStatus"] for rule in rules}

    # THEN none may expire a tagged image: build.py tags every manifest a promoted package names,
    # and a rule keeping "the last N" would in time expire what prod or a rollback runs
    assert rules and selected == {"untagged"}
    assert all(rule["action"]["type"] == "expire" for rule in rules)


def test_the_registries_file_is_what_the_sagemaker_sdk_lists() -> None:
    # GIVEN the file Terraform reads the execution role's framework registries from
    written = json.loads((POLICIES_DIR / "aws-image-registries.json").read_text(encoding="utf-8"))

    # WHEN it is compared with the installed SageMaker SDK's image configuration
    listed = {region: sorted(accounts) for region, accounts in aws_registries_by_region().items()}

    # THEN they agree (`make docs` rewrites it), and the check of `make lint` passes
    assert written == listed
    assert aws_image_registries.main([]) == 0


def test_build_py_and_the_grant_agree_on_the_framework_images() -> None:
    # GIVEN AWS's scikit-learn image in us-east-1 (the demo's), and the same path in an account
    # the file does not list for the region
    sklearn = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    written = json.loads((POLICIES_DIR / "aws-image-registries.json").read_text(encoding="utf-8"))
    stranger = sklearn.replace("683313688378", "444455556666")

    # WHEN build.py's check is asked about each
    where = {"account_id": "222222222222", "region": "us-east-1", "group": "churn"}

    # THEN it accepts exactly what the execution role's grant lists
    assert "683313688378" in written["us-east-1"] and "444455556666" not in written["us-east-1"]
    assert execution_role_pulls(sklearn, **where)
    assert not execution_role_pulls(stranger, **where)
