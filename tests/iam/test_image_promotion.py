"""Own images under IAM enforcement: the pre-prod deploy role and the prod plan role copy a
model's own image from the dev account's ECR into their stage's repository, holding exactly the
shipped policies, the dev repository holding exactly the policy bootstrap/dev sets; and each
statement the copy needs is proven by dropping it.

The emulator authorizes ECR calls on the repository's ARN and evaluates the repository policy of
another account's repository, as AWS does for cross-account calls (testbed/enforcement/ecr.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

import pipelines.definition.pipeline as pipeline
from promotion.images import stage_repository
from testbed.enforcement import aws_semantics, enforced
from testbed.iam_world import (
    DEV_IMAGE_REPOSITORY,
    World,
    as_role,
    build_world,
    dev_image_repository_policy,
    reset_stage,
)
from testbed.images import PushedImage, image_uri, push_image
from testbed.local_aws import DEV_ACCOUNT, PRE_PROD_ACCOUNT, PROD_ACCOUNT, local_aws
from tests.iam import flows
from tests.iam.classification import IMAGE_PROVEN, Case
from utils import new_session

LAYERS = [b"base os " * 20_000, b"runtime " * 10_000, b"the team's serving code"]


class ImageWorld:
    """The IAM world, plus the team's image in dev and a version of the model that names it."""

    def __init__(self, world: World, image: PushedImage, arn: str) -> None:
        self.world, self.image, self.arn = world, image, arn


def _register_own_image_version(world: World) -> tuple[PushedImage, str]:
    """Push the team's image to its dev repository (tag 1.0) and register a version of the model
    that names it by tag, as the first two versions but for the image."""
    config = world.configs["pre-prod"]
    with world.admin(DEV_ACCOUNT) as dev:
        image = push_image(dev.client("ecr"), DEV_IMAGE_REPOSITORY, LAYERS, tag="1.0")
        sm = dev.client("sagemaker")
        source = sm.describe_model_package(ModelPackageName=world.source_arns[-1])
        specification = source["InferenceSpecification"]
        specification["Containers"][0]["Image"] = image_uri(
            DEV_ACCOUNT, config.region, DEV_IMAGE_REPOSITORY, "1.0"
        )
        arn = sm.create_model_package(
            ModelPackageGroupName=config.model_package_group_name,
            ModelApprovalStatus="Approved", InferenceSpecification=specification,
            CustomerMetadataProperties=source["CustomerMetadataProperties"],
        )["ModelPackageArn"]  # fmt: skip
    return image, str(arn)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageWorld]:
    """The three accounts, roles with the shipped policies, and an own-image version."""
    real_render = pipeline.render_definition
    rendered: dict[str, str] = {}

    def render_once(**kwargs: Any) -> str:  # IAM does not depend on the definition (see
        if "definition" not in rendered:  # test_least_privilege.py)
            rendered["definition"] = real_render(**kwargs)
        return rendered["definition"]

    with pytest.MonkeyPatch.context() as patch, local_aws() as endpoint:
        patch.setattr(pipeline, "render_definition", render_once)
        world = build_world(endpoint, tmp_path_factory.mktemp("iam-images"))
        image, arn = _register_own_image_version(world)
        yield ImageWorld(world, image, arn)
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)


def _stage_tags(world: World, stage: str, digest: str) -> list[str] | None:
    """The tags of the image in the stage's repository, or None when it is not there."""
    config = world.configs[stage]
    with world.admin(config.account_id) as session:
        ecr = session.client("ecr")
        try:
            details = ecr.describe_images(
                repositoryName=stage_repository(config.model_package_group_name),
                imageIds=[{"imageDigest": digest}],
            )["imageDetails"]
        except ecr.exceptions.ImageNotFoundException:
            return None
    return sorted(details[0].get("imageTags", []))


def _promote_pre_prod(images: ImageWorld, monkeypatch: pytest.MonkeyPatch) -> flows.Outcome:
    return flows.promote(images.world, "deploy-pre-prod", "pre-prod", images.arn, monkeypatch)


def _plan_prod(images: ImageWorld, monkeypatch: pytest.MonkeyPatch) -> flows.Outcome:
    pinned = images.world.scratch / "pre-prod" / "images.json"
    return flows.promote(images.world, "plan-prod", "prod", images.arn, monkeypatch,
                         *flows.PENDING, "--images-from", str(pinned))  # fmt: skip


def test_the_promote_roles_copy_an_own_image_with_exactly_the_shipped_policies(
    images: ImageWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN stages that hold nothing of the model yet, and its version naming the team's image
    world, digest = images.world, images.image.digest
    for stage in ("pre-prod", "prod"):
        reset_stage(world, stage)

    # WHEN the pre-prod job promotes it, again, and the prod plan job promotes what pre-prod ran
    pre_prod = _promote_pre_prod(images, monkeypatch)
    again = _promote_pre_prod(images, monkeypatch)
    prod = _plan_prod(images, monkeypatch)

    # THEN each succeeds as its role, under enforcement; both stages hold the same digest, tagged
    # with the version, and each package names its own stage's copy
    for outcome in (pre_prod, again, prod):
        assert outcome.code == 0, outcome.stderr
    assert "(reused)" in again.stdout
    tag = f"v3-{digest[7:19]}"
    assert _stage_tags(world, "pre-prod", digest) == [tag]
    assert _stage_tags(world, "prod", digest) == [tag]
    for stage, account in (("pre-prod", PRE_PROD_ACCOUNT), ("prod", PROD_ACCOUNT)):
        pinned = json.loads((world.scratch / stage / "images.json").read_text())["images"][0]
        copy = image_uri(
            account,
            world.configs[stage].region,
            stage_repository(world.configs[stage].model_package_group_name),
            digest,
        )
        assert pinned["image"] == copy and pinned["digest"] == digest  # fmt: skip


@pytest.mark.parametrize(
    ("role", "reads"),
    [("deploy-pre-prod", True), ("plan-prod", True), ("deploy-prod", False),
     ("read-prod", False), ("execution-prod", False)],
)  # fmt: skip
def test_only_the_promote_roles_may_read_the_dev_repository(
    images: ImageWorld, monkeypatch: pytest.MonkeyPatch, role: str, reads: bool
) -> None:
    # GIVEN a stage role whose identity policy would allow reading the dev repository
    world = images.world
    probe = {
        "Sid": "Probe", "Effect": "Allow", "Action": "ecr:BatchGetImage",
        "Resource": f"arn:aws:ecr:{world.configs['prod'].region}:{DEV_ACCOUNT}:repository/*",
    }  # fmt: skip
    template = next(iter(world.roles[role].documents))
    document = world.roles[role].documents[template]
    world.put_policy(role, template, {**document, "Statement": [*document["Statement"], probe]})
    try:
        # WHEN it reads the image's manifest across accounts, IAM enforced
        allowed = _reads_dev_image(images, role, monkeypatch)
    finally:
        world.put_policy(role, template, document)

    # THEN only the roles the repository policy names (by aws:PrincipalArn) get it
    assert allowed is reads


def test_the_registry_reader_may_not_read_the_images(
    images: ImageWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The resolve job's role (main branch) reads the registry, never an image: its own account's
    # repository needs an identity grant, which it has not.
    assert _reads_dev_image(images, "registry-reader", monkeypatch) is False


def _reads_dev_image(images: ImageWorld, role: str, monkeypatch: pytest.MonkeyPatch) -> bool:
    with as_role(images.world, role, monkeypatch), aws_semantics(), enforced():
        ecr = new_session(region_name=images.world.configs["prod"].region).client("ecr")
        try:
            ecr.batch_get_image(registryId=DEV_ACCOUNT, repositoryName=DEV_IMAGE_REPOSITORY,
                                imageIds=[{"imageDigest": images.image.digest}])  # fmt: skip
        except ecr.exceptions.ClientError as error:
            assert error.response["Error"]["Code"] == "AccessDeniedException"
            return False
    return True


IMAGE_FLOWS = {
    "pre-prod image dry run": lambda i, m: flows.promote(
        i.world, "deploy-pre-prod", "pre-prod", i.arn, m, "--dry-run"
    ),
    "pre-prod image promotion": _promote_pre_prod,
}


@pytest.mark.parametrize("case", IMAGE_PROVEN, ids=str)
def test_dropping_an_image_statement_fails_its_flow_naming_the_action(
    images: ImageWorld, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    # GIVEN the role without one statement, and a stage that holds nothing of the model
    world = images.world
    document = world.roles[case.role].documents[case.template]
    kept = [s for s in document["Statement"] if s["Sid"] != case.sid]
    assert len(kept) == len(document["Statement"]) - 1
    world.put_policy(case.role, case.template, {**document, "Statement": kept})
    reset_stage(world, "pre-prod")
    try:
        # WHEN the flow that needs it runs
        outcome = IMAGE_FLOWS[case.flow](images, monkeypatch)
    finally:
        world.put_policy(case.role, case.template, document)

    # THEN it fails with one line naming the refused action, no traceback, no image in the stage
    assert outcome.code != 0
    assert "Traceback" not in outcome.stderr + outcome.stdout
    assert [line for line in outcome.error_lines if case.action in line], outcome.stderr
    assert _stage_tags(world, "pre-prod", images.image.digest) is None


def test_without_the_dev_repository_policy_statement_the_promotion_fails_naming_the_action(
    images: ImageWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the dev repository's policy without its one statement (a policy must hold one: an
    # unrelated principal stands in), the stage roles' identity policies as shipped
    world = images.world
    shipped = dev_image_repository_policy(world.configs)
    other = {**shipped["Statement"][0], "Sid": "SomeoneElse",
             "Principal": {"AWS": "arn:aws:iam::444455556666:root"}}  # fmt: skip
    del other["Condition"]
    reset_stage(world, "pre-prod")
    _set_dev_repository_policy(world, {**shipped, "Statement": [other]})
    try:
        # WHEN the pre-prod job plans the promotion
        outcome = IMAGE_FLOWS["pre-prod image dry run"](images, monkeypatch)
    finally:
        _set_dev_repository_policy(world, shipped)

    # THEN the cross-account read is refused, in one line naming the action
    assert outcome.code != 0 and "Traceback" not in outcome.stderr
    assert [line for line in outcome.error_lines if "ecr:BatchGetImage" in line], outcome.stderr


def _set_dev_repository_policy(world: World, policy: dict[str, Any]) -> None:
    with world.admin(DEV_ACCOUNT) as dev:
        dev.client("ecr").set_repository_policy(
            repositoryName=DEV_IMAGE_REPOSITORY, policyText=json.dumps(policy)
        )
