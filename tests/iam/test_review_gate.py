"""Prod changes only after the review: whatever the unreviewed plan role can write is new and
inert. Under IAM enforcement, the prod plan role cannot overwrite or delete any object the live
prod model or pipeline reads (its model copies and step scripts), by any write S3 offers, while
its own promotions of new versions still pass: create-only writes (`s3:if-none-match`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

import pipelines.definition.pipeline as pipeline
from testbed.enforcement import aws_semantics, enforced
from testbed.iam_world import World, as_role, build_world
from testbed.local_aws import local_aws
from tests.iam import flows
from utils import new_session

LIVE_PREFIXES = ("model-packages/", "pipeline-code/")
Write = Callable[[Any, str, str], Any]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Prod promoted by its plan role and approved after the review: a live prod."""
    real_render = pipeline.render_definition
    rendered: dict[str, str] = {}

    def render_once(**kwargs: Any) -> str:
        if "definition" not in rendered:
            rendered["definition"] = real_render(**kwargs)
        return rendered["definition"]

    with pytest.MonkeyPatch.context() as patch, local_aws() as endpoint:
        patch.setattr(pipeline, "render_definition", render_once)
        built = build_world(endpoint, tmp_path_factory.mktemp("gate"))
        with pytest.MonkeyPatch.context() as env:
            planned = flows.plan_prod(built, env)
            assert planned.code == 0, planned.stderr
            approved = flows.approve_prod(built, env)
            assert approved.code == 0, approved.stderr
        yield built
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)


def _live_objects(world: World) -> dict[str, str]:
    """Key -> ETag of every object of prod's artifacts bucket the live model or pipeline reads."""
    config = world.configs["prod"]
    with world.admin(config.account_id) as session:
        s3 = session.client("s3")
        listing = s3.list_objects_v2(Bucket=config.artifacts_bucket)["Contents"]
    return {o["Key"]: o["ETag"] for o in listing if o["Key"].startswith(LIVE_PREFIXES)}


def _multipart(s3: Any, bucket: str, key: str, **complete: Any) -> Any:
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=b"evil")
    parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}
    return s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload=parts, **complete
    )


def _copy(s3: Any, bucket: str, key: str, **conditions: Any) -> Any:
    # The source: any object the role may read (a live step script is as good as any).
    return s3.copy_object(
        Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key},
        MetadataDirective="REPLACE", Metadata={"evil": "yes"}, **conditions,
    )  # fmt: skip


WRITES: dict[str, Write] = {
    "PutObject": lambda s3, b, k: s3.put_object(Bucket=b, Key=k, Body=b"evil"),
    "PutObject If-None-Match": lambda s3, b, k: s3.put_object(
        Bucket=b, Key=k, Body=b"evil", IfNoneMatch="*"
    ),
    "CopyObject": lambda s3, b, k: _copy(s3, b, k),
    "CopyObject If-None-Match": lambda s3, b, k: _copy(s3, b, k, IfNoneMatch="*"),
    "CompleteMultipartUpload": lambda s3, b, k: _multipart(s3, b, k),
    "CompleteMultipartUpload If-None-Match": lambda s3, b, k: _multipart(s3, b, k, IfNoneMatch="*"),
    "DeleteObject": lambda s3, b, k: s3.delete_object(Bucket=b, Key=k),
    "DeleteObjects": lambda s3, b, k: _refused_in_batch(s3, b, k),
}
# S3's refusals: IAM, the precondition, and 501 to a conditional CopyObject under the policy
# enforcing conditional writes (S3 User Guide, "Enforce conditional writes on Amazon S3 buckets").
REFUSALS = {"AccessDenied", "PreconditionFailed", "NotImplemented"}


def _refused_in_batch(s3: Any, bucket: str, key: str) -> None:
    errors = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key}]}).get("Errors", [])
    if errors:
        raise ClientError({"Error": {"Code": errors[0]["Code"]}}, "DeleteObjects")


@pytest.mark.parametrize("way", list(WRITES))
def test_the_plan_role_cannot_overwrite_or_delete_what_live_prod_reads(
    world: World, monkeypatch: pytest.MonkeyPatch, way: str
) -> None:
    # GIVEN a live prod: the approved model's copies and the pipeline's step scripts
    live = _live_objects(world)
    assert {key.split("/")[0] + "/" for key in live} == set(LIVE_PREFIXES)
    bucket = world.configs["prod"].artifacts_bucket

    # WHEN the unreviewed plan role writes over (or deletes) each of them, one way
    codes = {}
    with as_role(world, "plan-prod", monkeypatch), aws_semantics(), enforced():
        s3 = new_session(region_name=world.configs["prod"].region).client("s3")
        for key in live:
            try:
                WRITES[way](s3, bucket, key)
                codes[key] = "written"
            except ClientError as error:
                codes[key] = error.response["Error"]["Code"]

    # THEN S3 refuses every attempt (IAM without If-None-Match, the precondition with it), and
    # every live object is unchanged
    assert {key: code for key, code in codes.items() if code not in REFUSALS} == {}
    assert _live_objects(world) == live


def test_the_plan_role_still_adds_new_objects_create_only(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the plan role and a key nothing uses yet
    config = world.configs["prod"]
    key = "model-packages/new-version/model.tar.gz"

    # WHEN it writes the key create-only, then tries to write it again
    with as_role(world, "plan-prod", monkeypatch), aws_semantics(), enforced():
        s3 = new_session(region_name=config.region).client("s3")
        s3.put_object(Bucket=config.artifacts_bucket, Key=key, Body=b"new", IfNoneMatch="*")
        with pytest.raises(ClientError) as again:
            s3.put_object(Bucket=config.artifacts_bucket, Key=key, Body=b"x", IfNoneMatch="*")

    # THEN the first write adds it, the second is refused by S3's precondition
    assert again.value.response["Error"]["Code"] == "PreconditionFailed"


def test_a_multipart_promotion_by_the_plan_role_completes_create_only(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN version 1, never promoted to prod, copied in parts (as artifacts >= 64 MiB are)
    older = world.source_arns[0]

    # WHEN the plan role promotes it as PendingManualApproval
    outcome = flows.promote_in_parts(world, "plan-prod", "prod", older, monkeypatch, *flows.PENDING)

    # THEN it passes server-side: parts are copied (s3:ObjectCreationOperation false) and each
    # copy is completed with If-None-Match (never over an existing key)
    assert outcome.code == 0, outcome.stderr
    assert "(created)" in outcome.stdout and "(version 1)" in outcome.stdout
    assert "streaming it instead" not in caplog.text
    assert [k for k in _live_objects(world) if k.startswith("model-packages/") and "/v1/" in k]
