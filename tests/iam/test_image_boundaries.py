"""The edges of the image grants, IAM enforced: what the roles around the model's images may NOT
do with ECR, next to what they must (tests/iam/test_image_promotion.py proves each statement
necessary). Each refusal here turns into an allowance when the grant it bounds is widened: a
promote statement on `repository/*`, a delete or tag action added, the dev repository's policy
without its condition or with write actions, the execution role's pull beyond its own stage.

The emulator authorizes ECR calls on the repository's ARN and evaluates the policy of another
account's repository (testbed/enforcement/ecr.py, correction 12).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from promotion.images import stage_repository
from testbed.iam_world import DEV_IMAGE_REPOSITORY, EXECUTION, World, build_world
from testbed.images import push_image
from testbed.local_aws import DEV_ACCOUNT, PRE_PROD_ACCOUNT, PROD_ACCOUNT, local_aws
from tests.iam.flows import ecr_as

OTHER_MODEL = "model-images/another-model"  # another model's repository in the stage account
OTHER_TEAM = "serving/another-team"  # another team's dev repository, open to the stage accounts
ABSENT = "sha256:" + "0" * 64
PROMOTE, PLAN, RUN = "deploy-pre-prod", "plan-prod", f"{EXECUTION}-pre-prod"
OWN = ""  # the stage's own model repository (promotion.images.stage_repository)
Call = Callable[[Any], Any]


@dataclass(frozen=True)
class Edges:
    """The IAM world and the digest of the team's image in dev."""

    world: World
    digest: str

    def repository(self, name: str) -> str:
        return name or stage_repository(self.world.configs["pre-prod"].model_package_group_name)


@pytest.fixture(scope="module")
def edges(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edges]:
    """The IAM world; the team's image in dev, another team's dev repository whose policy lets
    the stage accounts read it, and another model's repository in pre-prod."""
    with local_aws() as endpoint:
        world = build_world(endpoint, tmp_path_factory.mktemp("iam-image-edges"))
        region = world.configs["pre-prod"].region
        with world.admin(DEV_ACCOUNT) as dev:
            ecr = dev.client("ecr", region_name=region)
            image = push_image(ecr, DEV_IMAGE_REPOSITORY, [b"layer"], tag="1.0")
            ecr.create_repository(repositoryName=OTHER_TEAM)
            roots = [f"arn:aws:iam::{a}:root" for a in (PRE_PROD_ACCOUNT, PROD_ACCOUNT)]
            ecr.set_repository_policy(repositoryName=OTHER_TEAM, policyText=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Sid": "StageAccountsRead", "Effect": "Allow",
                               "Principal": {"AWS": roots},
                               "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}],
            }))  # fmt: skip
        with world.admin(PRE_PROD_ACCOUNT) as pre_prod:
            pre_prod.client("ecr", region_name=region).create_repository(repositoryName=OTHER_MODEL)
        yield Edges(world, image.digest)
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)


def _get(repository: str, registry: str | None = None) -> Callable[[Edges], Call]:
    """BatchGetImage of the team's image's digest (a manifest read, as a pull begins)."""
    where = {"registryId": registry} if registry else {}
    return lambda e: (
        lambda ecr: ecr.batch_get_image(
            repositoryName=e.repository(repository), imageIds=[{"imageDigest": e.digest}], **where
        )
    )


def _on(repository: str, method: str, **arguments: Any) -> Callable[[Edges], Call]:
    return lambda e: (
        lambda ecr: getattr(ecr, method)(repositoryName=e.repository(repository), **arguments)
    )


DENIED = {
    # promote: copies into its own model repository only, and only adds
    "push into another model's repository": (PROMOTE, _on(OTHER_MODEL, "initiate_layer_upload")),
    "read another model's repository": (PROMOTE, _get(OTHER_MODEL)),
    "delete an image": (
        PROMOTE,
        _on(OWN, "batch_delete_image", imageIds=[{"imageDigest": ABSENT}]),
    ),
    "make its tags mutable": (
        PROMOTE,
        _on(OWN, "put_image_tag_mutability", imageTagMutability="MUTABLE"),
    ),
    "drop its lifecycle policy": (PROMOTE, _on(OWN, "delete_lifecycle_policy")),
    "set its repository policy": (PROMOTE, _on(OWN, "set_repository_policy", policyText="{}")),
    "delete the repository": (PROMOTE, _on(OWN, "delete_repository")),
    # dev-images: exactly the listed dev repositories, although another team's lets the stage in
    "read another team's dev repository": (PROMOTE, _get(OTHER_TEAM, DEV_ACCOUNT)),
    "plan role reads another team's dev repository": (PLAN, _get(OTHER_TEAM, DEV_ACCOUNT)),
    # execution: its own stage's model repository (and AWS's registries) only
    "execution pulls another model's images": (RUN, _get(OTHER_MODEL)),
    "execution pulls from dev": (RUN, _get(DEV_IMAGE_REPOSITORY, DEV_ACCOUNT)),
    "execution pushes into its repository": (RUN, _on(OWN, "initiate_layer_upload")),
}

ALLOWED = {
    "promote reads its copies": (PROMOTE, _get(OWN)),
    "execution reads its stage's copy": (RUN, _get(OWN)),
    "execution fetches its layers": (
        RUN,
        _on(OWN, "get_download_url_for_layer", layerDigest=ABSENT),
    ),
    "execution checks its layers": (
        RUN,
        _on(OWN, "batch_check_layer_availability", layerDigests=[ABSENT]),
    ),
}


@pytest.mark.parametrize("case", DENIED)
def test_a_role_may_not_reach_past_its_image_grants(
    edges: Edges, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    # GIVEN a role holding exactly the shipped policies
    role, call = DENIED[case]

    # WHEN it makes the call, IAM enforced
    refusal = ecr_as(edges.world, role, monkeypatch, call(edges))

    # THEN IAM refuses it (a widened grant would let it through to ECR)
    assert refusal == "AccessDeniedException"


@pytest.mark.parametrize("case", ALLOWED)
def test_the_calls_the_image_grants_are_for_pass(
    edges: Edges, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    # GIVEN a role holding exactly the shipped policies, the stage's repository empty
    role, call = ALLOWED[case]

    # WHEN it makes the call, IAM enforced
    refusal = ecr_as(edges.world, role, monkeypatch, call(edges))

    # THEN IAM lets it through (ECR answers that nothing is there)
    assert refusal is None


@pytest.mark.parametrize(
    "method",
    [
        ("initiate_layer_upload", {}),
        ("batch_delete_image", {"imageIds": [{"imageTag": "1.0"}]}),
        ("set_repository_policy", {"policyText": "{}"}),
    ],
    ids=lambda m: m[0],
)
def test_the_dev_repository_policy_lets_the_stage_read_only(
    edges: Edges, monkeypatch: pytest.MonkeyPatch, method: tuple[str, dict[str, Any]]
) -> None:
    # GIVEN the pre-prod promote role with an identity grant of every ECR action on the dev
    # repository (the repository's policy alone must stop a write)
    world = edges.world
    document = world.roles[PROMOTE].documents["dev-images"]
    probe = {"Sid": "Probe", "Effect": "Allow", "Action": "ecr:*", "Resource": "*"}
    world.put_policy(PROMOTE, "dev-images", {**document, "Statement": [probe]})
    name, arguments = method
    call = _on(DEV_IMAGE_REPOSITORY, name, registryId=DEV_ACCOUNT, **arguments)
    try:
        # WHEN it writes to the dev repository, IAM enforced
        refusal = ecr_as(world, PROMOTE, monkeypatch, call(edges))
        read = ecr_as(world, PROMOTE, monkeypatch, _get(DEV_IMAGE_REPOSITORY, DEV_ACCOUNT)(edges))
    finally:
        world.put_policy(PROMOTE, "dev-images", document)

    # THEN the repository's policy refuses it; it still reads
    assert refusal == "AccessDeniedException"
    assert read is None
