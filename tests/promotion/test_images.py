"""Own container images, pinned and copied: a model that is not the demo's (other columns, its
own container in the dev account's ECR) promoted on the embedded AWS, whose ECR serves layers as
AWS documents (testbed/moto_ecr.py). The copy goes through a moto server: real HTTP, real bytes."""

from __future__ import annotations

import http.client
import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

import build
from errors import ConfigError, CopyError
from promotion import image_copy
from promotion.artifacts import CopySettings
from promotion.config import load_stage_config
from promotion.image_copy import https_fetch
from promotion.images import stage_repository
from promotion.promote import PromotionResult, apply_promotion, image_rows, plan_promotion
from testbed.images import PushedImage, digest_of, image_uri, push_image, push_index
from testbed.local_aws import (
    DEMO_STAGES,
    DEV_ACCOUNT,
    PRE_PROD_ACCOUNT,
    PROD_ACCOUNT,
    REGION,
    account_session,
    create_bucket,
    local_aws,
    role_arn,
)
from tests.promotion.conftest import Call, mutating

GROUP = "churn-model"
DEV_BUCKET = "churn-dev-artifacts"
DEV_REPOSITORY = "churn/serving"
FEATURES = "tenure monthly_charges contract_months"  # not the demo's f00..f29
STAGE_REPOSITORY = stage_repository(GROUP)
BASE_LAYERS = [b"base-os " * 40_000, b"python runtime " * 30_000]  # what most images share


@dataclass
class World:
    """Three accounts on a moto server, the dev ECR holding the team's serving image."""

    dev: boto3.Session
    pre_prod: boto3.Session
    prod: boto3.Session
    image: PushedImage
    tmp: Path

    def stage_file(self, stage: str, **overrides: Any) -> Path:
        account = PRE_PROD_ACCOUNT if stage == "pre-prod" else PROD_ACCOUNT
        values = json.loads((DEMO_STAGES / f"{stage}-config.tfvars.json").read_text())
        bucket = f"churn-art-{account}"
        values.update(model_package_group_name=GROUP, artifacts_bucket=bucket,
                      input_data_url=f"s3://{bucket}/input/",
                      output_data_url=f"s3://{bucket}/predictions/",
                      feature_columns=None, **overrides)  # fmt: skip
        path = self.tmp / f"{stage}-config.tfvars.json"
        path.write_text(json.dumps(values, indent=2))
        return path

    def session(self, stage: str) -> boto3.Session:
        return self.pre_prod if stage == "pre-prod" else self.prod


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with local_aws() as endpoint:
        # moto's state is per process, shared by every server this process starts: start clean
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
        dev, pre_prod, prod = (account_session(a) for a in (DEV_ACCOUNT, PRE_PROD_ACCOUNT,
                                                             PROD_ACCOUNT))  # fmt: skip
        create_bucket(dev, DEV_BUCKET)
        dev.client("s3").put_object(Bucket=DEV_BUCKET, Key="run-1/model.tar.gz", Body=b"model")
        dev.client("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
        dev.client("ecr").create_repository(repositoryName=DEV_REPOSITORY)  # mutable tags
        image = push_image(dev.client("ecr"), DEV_REPOSITORY, [*BASE_LAYERS, b"churn app v1"],
                           tag="1.0")  # fmt: skip
        for account, session in ((PRE_PROD_ACCOUNT, pre_prod), (PROD_ACCOUNT, prod)):
            create_bucket(session, f"churn-art-{account}")
            # What the stage bootstrap creates (issue 25, Deliver 3): immutable tags.
            session.client("ecr").create_repository(
                repositoryName=STAGE_REPOSITORY, imageTagMutability="IMMUTABLE"
            )
        yield World(dev, pre_prod, prod, image, tmp_path)


def register(world: World, image: str, **container: Any) -> str:
    """An Approved package of the team's own container."""
    specification: Any = {
        "Containers": [{"Image": image, "ModelDataUrl": f"s3://{DEV_BUCKET}/run-1/model.tar.gz",
                        "Environment": {"SERVING_THREADS": "2"}, **container}],
        "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"],
    }  # fmt: skip
    return str(world.dev.client("sagemaker").create_model_package(
        ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved",
        InferenceSpecification=specification,
        CustomerMetadataProperties={"feature_columns": FEATURES},
    )["ModelPackageArn"])  # fmt: skip


def promote(world: World, arn: str, stage: str = "pre-prod", **extra: Any) -> PromotionResult:
    """plan + apply with explicit clients (hooks can be put on them)."""
    config = load_stage_config(world.stage_file(stage), stage=stage)
    target = world.session(stage)
    clients: dict[str, Any] = {
        "source_s3": world.dev.client("s3"), "target_sm": target.client("sagemaker"),
        "target_s3": target.client("s3"),
    }  # fmt: skip
    ecr: dict[str, Any] = {
        "source_ecr": extra.pop("source_ecr", world.dev.client("ecr")),
        "target_ecr": extra.pop("target_ecr", target.client("ecr")),
    }
    plan = plan_promotion(
        config,
        source_arn=arn,
        source_sm=world.dev.client("sagemaker"),
        **clients,
        **ecr,
        pinned_images=extra.pop("pinned_images", None),
    )
    fetch = extra.pop("fetch", https_fetch())
    return apply_promotion(plan, config, settings=CopySettings(), fetch=fetch, **clients, **ecr,
                           **extra)  # fmt: skip


def stage_manifest(session: boto3.Session, digest: str) -> str | None:
    images = session.client("ecr").batch_get_image(
        repositoryName=STAGE_REPOSITORY, imageIds=[{"imageDigest": digest}]
    )["images"]
    return str(images[0]["imageManifest"]) if images else None


def run_build(world: World, stage: str, out: Path, *extra: str) -> int:
    account = PRE_PROD_ACCOUNT if stage == "pre-prod" else PROD_ACCOUNT
    return build.main(["--stage", stage, "--config", str(world.stage_file(stage)),
                       "--output-dir", str(out), "--source-role-arn", role_arn(DEV_ACCOUNT),
                       "--target-role-arn", role_arn(account), *extra])  # fmt: skip


def test_an_own_image_is_copied_by_digest_and_the_package_names_the_copy(
    world: World, api_calls: list[Call]
) -> None:
    # GIVEN a package whose image is the team's, in the dev account's ECR, named by tag
    arn = register(world, image_uri(DEV_ACCOUNT, REGION, DEV_REPOSITORY, "1.0"))

    # WHEN it is promoted into pre-prod
    result = promote(world, arn)

    # THEN the package names the stage's own copy, by the digest the tag named
    container = result.target_package["InferenceSpecification"]["Containers"][0]
    digest = world.image.digest
    assert container["Image"] == image_uri(PRE_PROD_ACCOUNT, REGION, STAGE_REPOSITORY, digest)
    assert container["ImageDigest"] == digest
    # AND the stage holds that exact manifest, tagged with the version, every layer byte moved
    assert stage_manifest(world.pre_prod, digest) == world.image.manifest
    details = world.pre_prod.client("ecr").describe_images(
        repositoryName=STAGE_REPOSITORY, imageIds=[{"imageDigest": digest}]
    )["imageDetails"][0]
    assert details["imageTags"] == [f"v1-{digest[7:19]}"]
    moved = result.moved[digest]
    assert moved.downloaded == sum(world.image.blobs.values()) and moved.layers_skipped == 0
    # AND a re-run writes nothing
    api_calls.clear()
    again = promote(world, arn)
    assert again.reused and mutating(api_calls) == []


def test_layers_the_stage_holds_already_are_not_moved(world: World, api_calls: list[Call]) -> None:
    # GIVEN a stage repository that holds the base layers already (an earlier version's image)
    push_image(world.pre_prod.client("ecr"), STAGE_REPOSITORY, BASE_LAYERS)
    arn = register(world, image_uri(DEV_ACCOUNT, REGION, DEV_REPOSITORY, "1.0"))
    api_calls.clear()
    # WHEN the package is promoted
    result = promote(world, arn)
    # THEN only the missing blobs (the app layer and the config) went through this process
    moved = result.moved[world.image.digest]
    missing = {d: s for d, s in world.image.blobs.items()
               if d not in {digest_of(layer) for layer in BASE_LAYERS}}  # fmt: skip
    assert moved.downloaded == moved.uploaded == sum(missing.values())
    assert (moved.layers_copied, moved.layers_skipped) == (len(missing), 2)
    uploads = [c for c in api_calls if c[1] == "InitiateLayerUpload"]
    assert len(uploads) == len(missing)


def test_a_copy_killed_half_way_leaves_no_image_and_the_rerun_finishes_it(world: World) -> None:
    # GIVEN a copy whose process dies during the second layer's upload
    arn = register(world, image_uri(DEV_ACCOUNT, REGION, DEV_REPOSITORY, "1.0"))
    target_ecr = world.pre_prod.client("ecr")
    parts: list[int] = []

    def killed(**_: Any) -> None:
        parts.append(1)
        if len(parts) == 2:
            raise KeyboardInterrupt  # SIGINT: the process stops here

    target_ecr.meta.events.register("before-call.ecr.UploadLayerPart", killed)
    with pytest.raises(KeyboardInterrupt):
        promote(world, arn, target_ecr=target_ecr)
    # THEN the stage has no image (nothing names half an image) and no package
    assert stage_manifest(world.pre_prod, world.image.digest) is None
    assert not world.pre_prod.client("sagemaker").list_model_packages(ModelPackageGroupName=GROUP)[
        "ModelPackageSummaryList"
    ]
    # WHEN the run is repeated
    result = promote(world, arn)
    # THEN the layer completed before the kill is skipped, the rest copied, the digest verified
    moved = result.moved[world.image.digest]
    assert moved.layers_skipped == 1 and moved.layers_copied == len(world.image.blobs) - 1
    assert stage_manifest(world.pre_prod, world.image.digest) == world.image.manifest


class BrokenBody:
    """A layer's download whose connection breaks on the second read, in the middle of the body."""

    def __init__(self, response: Any, error: Exception) -> None:
        self.response, self.error, self.reads = response, error, 0

    def __enter__(self) -> BrokenBody:
        return self

    def __exit__(self, *_: object) -> None:
        self.response.close()

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        if self.reads == 2:
            raise self.error
        return bytes(self.response.read(1000))  # a first part of the body


@pytest.mark.parametrize(
    "error",
    [TimeoutError("The read operation timed out"),
     ConnectionResetError(104, "Connection reset by peer"),
     http.client.IncompleteRead(b"", 4000)],
    ids=["timeout", "reset", "incomplete"],
)  # fmt: skip
def test_a_layer_download_broken_mid_body_is_one_line_and_the_rerun_finishes(
    world: World, error: Exception
) -> None:
    # GIVEN a copy whose second layer's download breaks after its first bytes
    arn = register(world, image_uri(DEV_ACCOUNT, REGION, DEV_REPOSITORY, "1.0"))
    real, fetched = https_fetch(), []

    def fetch(url: str) -> Any:
        fetched.append(url)
        response = real(url)
        return BrokenBody(response, error) if len(fetched) == 2 else response

    # WHEN it is promoted THEN the copy stops with the module's one-line error, saying re-run
    with pytest.raises(CopyError, match=r"from the dev account's ECR broke off .*; re-run"):
        promote(world, arn, fetch=fetch)
    assert stage_manifest(world.pre_prod, world.image.digest) is None
    # AND the re-run skips the layer completed before, copies the rest, verifies the digest
    moved = promote(world, arn).moved[world.image.digest]
    assert moved.layers_skipped == 1 and moved.layers_copied == len(world.image.blobs) - 1
    assert stage_manifest(world.pre_prod, world.image.digest) == world.image.manifest


def refused(
    world: World, capsys: pytest.CaptureFixture[str], api_calls: list[Call], stage: str,
    *arguments: str,
) -> tuple[int, str]:  # fmt: skip
    """build.py run from here on: its exit code and its one error line; nothing was written."""
    capsys.readouterr()
    api_calls.clear()
    code = run_build(world, stage, world.tmp / f"refused-{stage}", *arguments)
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1, error
    assert mutating(api_calls) == []
    return code, error[0]


def pre_prod_promoted_then_tag_moved(world: World, out: Path) -> tuple[str, str, str]:
    """build.py promoted the package whose image is `churn/serving:1.0` into pre-prod (output in
    `out`), then someone re-pushed the tag in dev with another build: (ARN, first, second)."""
    arn = register(world, image_uri(DEV_ACCOUNT, REGION, DEV_REPOSITORY, "1.0"))
    assert run_build(world, "pre-prod", out, "--model-package-arn", arn) == 0
    second = repush_tag(world)
    assert second != world.image.digest
    return arn, world.image.digest, second


def repush_tag(world: World) -> str:
    """Push another build under the tag `1.0` in dev; its digest."""
    return push_image(world.dev.client("ecr"), DEV_REPOSITORY, [*BASE_LAYERS, b"churn app v2"],
                      tag="1.0").digest  # fmt: skip


def deployed_image(session: boto3.Session, out: Path) -> str:
    """The image of the package a build output deploys, as the stage's registry describes it."""
    deployed = json.loads((out / "deployment.tfvars.json").read_text())
    package = session.client("sagemaker").describe_model_package(
        ModelPackageName=deployed["model_package_arn"]
    )
    return str(package["InferenceSpecification"]["Containers"][0]["Image"])


def test_a_tag_repushed_in_dev_after_pre_prod_leaves_prod_on_the_first_digest(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN pre-prod promoted the package whose image is `churn/serving:1.0`, and then someone
    # re-pushed the tag in dev with another build
    out = world.tmp / "build"
    arn, first, second = pre_prod_promoted_then_tag_moved(world, out / "pre-prod")
    capsys.readouterr()

    # WHEN prod is promoted from pre-prod's images.json (as deploy.yml does)
    code = run_build(world, "prod", out / "prod", "--model-package-arn", arn,
                     "--images-from", str(out / "pre-prod" / "images.json"))  # fmt: skip

    # THEN prod's package names the digest pre-prod ran, and the summary says so
    assert code == 0
    printed = capsys.readouterr().out
    prod_image = image_uri(PROD_ACCOUNT, REGION, STAGE_REPOSITORY, first)
    pinned_by = f"the digest pre-prod ({out / 'pre-prod' / 'images.json'}) promoted"
    assert prod_image in printed and pinned_by in printed
    assert deployed_image(world.prod, out / "prod") == prod_image
    assert stage_manifest(world.prod, first) is not None
    assert stage_manifest(world.prod, second) is None
    # AND --status shows the digest the stage's package names
    assert run_build(world, "prod", out / "prod", "--status", "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["versions"][0]["images"] == [prod_image]


def test_model_data_overwritten_in_dev_after_pre_prod_is_refused_for_prod(
    world: World, api_calls: list[Call], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN pre-prod promoted the package (its images.json records the model data's ETag), and
    # then someone overwrote the model data in dev under the same key
    out = world.tmp / "build"
    arn = register(world, image_uri(DEV_ACCOUNT, REGION, DEV_REPOSITORY, "1.0"))
    assert run_build(world, "pre-prod", out / "pre-prod", "--model-package-arn", arn) == 0
    recorded = json.loads((out / "pre-prod" / "images.json").read_text())["artifacts"]
    source = f"s3://{DEV_BUCKET}/run-1/model.tar.gz"
    assert [entry["source"] for entry in recorded] == [source]
    world.dev.client("s3").put_object(Bucket=DEV_BUCKET, Key="run-1/model.tar.gz",
                                      Body=b"other bytes")  # fmt: skip

    # WHEN prod is promoted from pre-prod's images.json
    code, error = refused(world, capsys, api_calls, "prod", "--model-package-arn", arn,
                          "--images-from", str(out / "pre-prod" / "images.json"))  # fmt: skip

    # THEN it is refused before anything is written, naming the object and what to do
    assert code == 1
    assert f"{source} is not what the earlier stage promoted" in error
    assert "promote a new version through it" in error


def test_without_the_pin_prod_would_have_taken_the_repushed_tag(world: World) -> None:
    # The pin above is what keeps prod on the first digest: resolved again, the tag moved.
    arn = register(world, image_uri(DEV_ACCOUNT, REGION, DEV_REPOSITORY, "1.0"))
    promote(world, arn)
    second = repush_tag(world)
    result = promote(world, arn, "prod")
    assert result.images[0].decision.digest == second


def test_promoting_the_same_version_again_keeps_the_digest_its_first_promotion_resolved(
    world: World, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN pre-prod runs the version whose image is `churn/serving:1.0`, and the tag moved since
    out = world.tmp / "build"
    arn, first, second = pre_prod_promoted_then_tag_moved(world, out / "first")
    capsys.readouterr()

    # WHEN the same version is promoted to pre-prod again (a re-run, or a rollback to it)
    code = run_build(world, "pre-prod", out / "again", "--model-package-arn", arn)

    # THEN the package pre-prod already runs is reused, on the digest resolved the first time,
    # and the moved tag is named
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (
        f"the tag 1.0 now names {second}; the stage's package of this version records {first}"
        in caplog.text
    )
    stage_image = image_uri(PRE_PROD_ACCOUNT, REGION, STAGE_REPOSITORY, first)
    assert deployed_image(world.pre_prod, out / "again") == stage_image
    assert stage_manifest(world.pre_prod, second) is None


def test_a_version_promoted_again_after_dev_expired_its_image_is_read_from_the_stage_copy(
    world: World, api_calls: list[Call], capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN pre-prod runs the version whose image is `churn/serving:1.0`, and dev's lifecycle
    # rule has expired that image since (its digest and tag gone from dev)
    out = world.tmp / "build"
    arn = register(world, image_uri(DEV_ACCOUNT, REGION, DEV_REPOSITORY, "1.0"))
    assert run_build(world, "pre-prod", out / "first", "--model-package-arn", arn) == 0
    world.dev.client("ecr").batch_delete_image(
        repositoryName=DEV_REPOSITORY, imageIds=[{"imageDigest": world.image.digest}]
    )
    capsys.readouterr()
    api_calls.clear()

    # WHEN the same version is promoted to pre-prod again (a rollback to it)
    code = run_build(world, "pre-prod", out / "again", "--model-package-arn", arn)

    # THEN the stage's own copy answers: same digest, nothing written to ECR
    assert code == 0, capsys.readouterr().err
    stage_image = image_uri(PRE_PROD_ACCOUNT, REGION, STAGE_REPOSITORY, world.image.digest)
    assert deployed_image(world.pre_prod, out / "again") == stage_image
    assert [call for call in mutating(api_calls) if call[0] == "ecr"] == []
    # AND a stage that never held it (prod) is refused in one line, nothing written: only dev
    # had it
    code, error = refused(world, capsys, api_calls, "prod", "--model-package-arn", arn,
                          "--images-from", str(out / "first" / "images.json"))  # fmt: skip
    assert code == 1
    assert f"{world.image.digest} is not in the dev account's ECR" in error


def test_a_stage_copy_the_promote_role_may_not_read_is_one_line_naming_the_grant(
    world: World, api_calls: list[Call], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # GIVEN pre-prod holds the version's image, and a promote role without ecr:BatchGetImage on
    # the stage's repository (a bootstrap older than this release), answered as ECR does
    arn = register(world, image_uri(DEV_ACCOUNT, REGION, DEV_REPOSITORY, "1.0"))
    assert run_build(world, "pre-prod", world.tmp / "first", "--model-package-arn", arn) == 0
    recorded = getattr(BaseClient, "_make_api_call")  # noqa: B009 (private to botocore)

    def deny(self: BaseClient, operation: str, parameters: Any) -> Any:
        if operation == "BatchGetImage" and parameters.get("registryId") == PRE_PROD_ACCOUNT:
            answer: Any = {"Error": {"Code": "AccessDeniedException", "Message": (
                f"User: {role_arn(PRE_PROD_ACCOUNT)} is not authorized to perform: "
                "ecr:BatchGetImage on resource: " + STAGE_REPOSITORY)},
                "ResponseMetadata": {"HTTPStatusCode": 400}}  # fmt: skip
            raise ClientError(answer, operation)
        return recorded(self, operation, parameters)

    monkeypatch.setattr(BaseClient, "_make_api_call", deny)
    # WHEN the version is promoted again THEN one line names the grant, exit 1, nothing written
    code, error = refused(world, capsys, api_calls, "pre-prod", "--model-package-arn", arn)
    assert code == 1
    assert "may not call BatchGetImage" in error and "grant ecr:BatchGetImage" in error


def test_a_digest_the_package_records_is_promoted_even_after_the_tag_moved(world: World) -> None:
    # GIVEN a package that records its image's digest (ImageDigest), whose tag moved since
    arn = register(world, image_uri(DEV_ACCOUNT, REGION, DEV_REPOSITORY, "1.0"),
                   ImageDigest=world.image.digest)  # fmt: skip
    push_image(world.dev.client("ecr"), DEV_REPOSITORY, [b"other"], tag="1.0")
    # WHEN it is promoted THEN the recorded digest is, with a notice that the tag moved
    result = promote(world, arn)
    assert result.images[0].decision.digest == world.image.digest
    assert stage_manifest(world.pre_prod, world.image.digest) == world.image.manifest


def test_a_multi_arch_index_is_copied_child_by_child_then_whole(world: World) -> None:
    # GIVEN an image index for two platforms
    index, children = push_index(world.dev.client("ecr"), DEV_REPOSITORY, {
        "linux/amd64": [*BASE_LAYERS, b"app amd64"], "linux/arm64": [b"arm base", b"app arm64"],
    }, tag="multi")  # fmt: skip
    arn = register(world, image_uri(DEV_ACCOUNT, REGION, DEV_REPOSITORY, "multi"))
    # WHEN it is promoted
    result = promote(world, arn)
    # THEN the stage holds the index and each platform's image, byte for byte
    assert stage_manifest(world.pre_prod, index.digest) == index.manifest
    for child in children:
        assert stage_manifest(world.pre_prod, child.digest) == child.manifest
    container = result.target_package["InferenceSpecification"]["Containers"][0]
    assert container["Image"].endswith(f"@{index.digest}")


def test_an_image_and_its_recorded_digest_that_disagree_are_refused_before_writing(
    world: World, api_calls: list[Call]
) -> None:
    arn = register(world, image_uri(DEV_ACCOUNT, REGION, DEV_REPOSITORY, world.image.digest),
                   ImageDigest="sha256:" + "0" * 64)  # fmt: skip
    api_calls.clear()
    with pytest.raises(ConfigError, match="2 different digests"):
        promote(world, arn)
    assert mutating(api_calls) == []


def test_a_stage_without_its_image_repository_is_told_to_apply_the_bootstrap(
    world: World, api_calls: list[Call], capsys: pytest.CaptureFixture[str]
) -> None:
    world.pre_prod.client("ecr").delete_repository(repositoryName=STAGE_REPOSITORY, force=True)
    arn = register(world, image_uri(DEV_ACCOUNT, REGION, DEV_REPOSITORY, "1.0"))
    code, error = refused(world, capsys, api_calls, "pre-prod", "--model-package-arn", arn)
    assert code == 1
    assert f"ECR repository {STAGE_REPOSITORY} does not exist" in error
    assert "bootstrap" in error


@pytest.mark.parametrize("reference", ["1.0", "digest"])
def test_an_image_whose_dev_repository_is_gone_is_one_line_before_writing(
    world: World, api_calls: list[Call], capsys: pytest.CaptureFixture[str], reference: str
) -> None:
    # GIVEN a package naming an image (by tag or by digest) of a dev repository deleted since
    name = world.image.digest if reference == "digest" else reference
    arn = register(world, image_uri(DEV_ACCOUNT, REGION, "churn/retired", name))
    # WHEN it is promoted THEN one line names the repository, exit 1, nothing written
    code, error = refused(world, capsys, api_calls, "pre-prod", "--model-package-arn", arn)
    assert code == 1
    assert "churn/retired is not a repository of the dev account's ECR" in error


def test_a_layer_too_large_for_ecrs_uploads_is_refused_before_writing(
    world: World, api_calls: list[Call], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # GIVEN layers larger than ECR's layer uploads take (here: any layer, with no part allowed)
    monkeypatch.setattr(image_copy, "MAX_PARTS", 0)
    arn = register(world, image_uri(DEV_ACCOUNT, REGION, DEV_REPOSITORY, "1.0"))
    # WHEN it is promoted THEN one line, exit 2, before the artifacts or any upload
    code, error = refused(world, capsys, api_calls, "pre-prod", "--model-package-arn", arn)
    assert code == 2
    assert "ECR's layer uploads take at most 0 parts" in error


def test_an_inference_pipeline_of_own_images_is_promoted_whole(world: World) -> None:
    # GIVEN a package of two containers, a featurizer and the model, each its own image
    featurizer = push_image(world.dev.client("ecr"), DEV_REPOSITORY, [*BASE_LAYERS, b"features"],
                            tag="featurizer-1")  # fmt: skip
    specification: Any = {
        "Containers": [
            {"Image": image_uri(DEV_ACCOUNT, REGION, DEV_REPOSITORY, "featurizer-1"),
             "ModelDataUrl": f"s3://{DEV_BUCKET}/run-1/model.tar.gz"},
            {"Image": image_uri(DEV_ACCOUNT, REGION, DEV_REPOSITORY, "1.0"),
             "ModelDataUrl": f"s3://{DEV_BUCKET}/run-1/model.tar.gz"},
        ],
        "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"],
    }  # fmt: skip
    arn = world.dev.client("sagemaker").create_model_package(
        ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved",
        InferenceSpecification=specification,
        CustomerMetadataProperties={"feature_columns": FEATURES},
    )["ModelPackageArn"]  # fmt: skip
    # WHEN it is promoted
    result = promote(world, arn)
    # THEN each container names its own copy, and the base layers moved once
    images = [c["Image"] for c in result.target_package["InferenceSpecification"]["Containers"]]
    assert images == [image_uri(PRE_PROD_ACCOUNT, REGION, STAGE_REPOSITORY, d)
                      for d in (featurizer.digest, world.image.digest)]  # fmt: skip
    moved = [result.moved[featurizer.digest], result.moved[world.image.digest]]
    assert moved[0].layers_copied == 4 and moved[1].layers_copied == 2  # config + app layer
    rows = dict(image_rows(result, pinned_from=None)[:1])
    assert rows["Inference pipeline"].startswith("2 containers, run in sequence")
