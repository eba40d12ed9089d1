"""Image copy benchmark: bytes through this process (the runner) when an own container image is
promoted from the dev account's ECR into a stage's, against an embedded moto server whose ECR
serves layers as AWS does (testbed/moto_ecr.py).

    python -m bench.bench_images [--base-mib 3x64] [--app-mib 8]

Three promotions of one image (base layers shared with the stage's earlier image, plus an app
layer): (a) cold, the stage holds nothing; (b) warm, the stage holds the base layers (an earlier
version's image; the goal: only the missing layers move); (c) a re-run, the image is there.
Counted independently of the copy's own counters: the layer URLs' response bytes, and the HTTP
bodies botocore sends to and receives from ECR (UploadLayerPart's JSON carries the layer in
base64, 4/3 of its size).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from promotion.artifacts import CopySettings
from promotion.config import load_stage_config
from promotion.image_copy import https_fetch
from promotion.images import stage_repository
from promotion.promote import apply_promotion, plan_promotion
from testbed.images import image_uri, push_image
from testbed.local_aws import (
    DEMO_STAGES,
    DEV_ACCOUNT,
    PRE_PROD_ACCOUNT,
    PROD_ACCOUNT,
    REGION,
    account_session,
    create_bucket,
    local_aws,
)

GROUP = "bench-images"
MIB = 1024**2


class Wire:
    """Bytes on the wire: ECR request and response bodies, and layer downloads."""

    def __init__(self) -> None:
        self.sent = self.received = self.downloaded = 0

    def watch(self, client: Any) -> Any:
        def sent(request: Any, **_: Any) -> None:
            self.sent += len(request.body or b"")

        def received(http_response: Any, **_: Any) -> None:
            self.received += len(http_response.content or b"")

        client.meta.events.register("before-send.ecr", sent)
        client.meta.events.register("after-call.ecr", received)
        return client

    def fetch(self) -> Any:
        inner = https_fetch()

        def counted(url: str) -> Any:
            response = inner(url)
            original = response.read

            def read(size: int = -1) -> bytes:
                data: bytes = original(size)
                self.downloaded += len(data)
                return data

            response.read = read
            return response

        return counted


def promote_once(
    arn: str, stage_name: str, account: str, config_path: Path
) -> tuple[Wire, float, Any]:
    dev, stage = account_session(DEV_ACCOUNT), account_session(account)
    config = load_stage_config(config_path, stage=stage_name)
    wire = Wire()
    clients: dict[str, Any] = {
        "source_s3": dev.client("s3"), "target_sm": stage.client("sagemaker"),
        "target_s3": stage.client("s3"), "source_ecr": wire.watch(dev.client("ecr")),
        "target_ecr": wire.watch(stage.client("ecr")),
    }  # fmt: skip
    started = time.perf_counter()
    plan = plan_promotion(config, source_arn=arn, source_sm=dev.client("sagemaker"), **clients)
    result = apply_promotion(plan, config, settings=CopySettings(), fetch=wire.fetch(), **clients)
    return wire, time.perf_counter() - started, result


def stage_file(folder: Path, stage: str, account: str) -> Path:
    """The demo's stage file for the benchmark's group and bucket."""
    values = json.loads((DEMO_STAGES / f"{stage}-config.tfvars.json").read_text())
    values.update(model_package_group_name=GROUP, artifacts_bucket=f"bench-images-{account}")
    path = folder / f"{stage}.json"
    path.write_text(json.dumps(values))
    return path


def seed(base: list[bytes], app: bytes, folder: Path) -> tuple[Any, str, dict[str, Path]]:
    """The team's image in dev, a package naming it by tag, both stages' buckets and
    repositories; pre-prod's repository holds the base layers (an earlier version's image)."""
    dev = account_session(DEV_ACCOUNT)
    dev.client("ecr").create_repository(repositoryName="team/serving")
    image = push_image(dev.client("ecr"), "team/serving", [*base, app], tag="2.0")
    create_bucket(dev, "bench-images-dev")
    dev.client("s3").put_object(Bucket="bench-images-dev", Key="m.tar.gz", Body=b"model")
    sm = dev.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName=GROUP)
    arn = sm.create_model_package(
        ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved",
        InferenceSpecification={"Containers": [{
            "Image": image_uri(DEV_ACCOUNT, REGION, "team/serving", "2.0"),
            "ModelDataUrl": "s3://bench-images-dev/m.tar.gz"}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
        CustomerMetadataProperties={"feature_columns": "a b"},
    )["ModelPackageArn"]  # fmt: skip
    configs = {}
    for stage_name, account in (("pre-prod", PRE_PROD_ACCOUNT), ("prod", PROD_ACCOUNT)):
        session = account_session(account)
        create_bucket(session, f"bench-images-{account}")
        session.client("ecr").create_repository(repositoryName=stage_repository(GROUP),
                                                imageTagMutability="IMMUTABLE")  # fmt: skip
        configs[stage_name] = stage_file(folder, stage_name, account)
    push_image(account_session(PRE_PROD_ACCOUNT).client("ecr"), stage_repository(GROUP), base)
    return image, arn, configs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-mib", default="3x64", help="base layers, COUNTxMIB")
    parser.add_argument("--app-mib", type=int, default=8, help="the app layer, MiB")
    args = parser.parse_args()
    count, size = (int(part) for part in args.base_mib.split("x"))
    base = [os.urandom(size * MIB) for _ in range(count)]
    app = os.urandom(args.app_mib * MIB)
    with local_aws() as endpoint, tempfile.TemporaryDirectory() as folder:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
        image, arn, configs = seed(base, app, Path(folder))
        total = sum(image.blobs.values())
        missing = total - sum(len(layer) for layer in base)
        print(f"image: {len(image.blobs)} blobs (config, {count} base layers of {size} MiB, an "
              f"app layer of {args.app_mib} MiB), {total / MIB:.1f} MiB; missing in the warm "
              f"stage: {missing / MIB:.1f} MiB")  # fmt: skip
        runs = (("cold (the stage holds nothing)", "prod", PROD_ACCOUNT),
                ("warm (the stage holds the base layers)", "pre-prod", PRE_PROD_ACCOUNT),
                ("re-run (the image is in the stage)", "pre-prod", PRE_PROD_ACCOUNT))  # fmt: skip
        for label, stage_name, account in runs:
            wire, seconds, result = promote_once(arn, stage_name, account, configs[stage_name])
            moved = result.moved.get(image.digest)
            layers = (f"; blobs copied {moved.layers_copied}, skipped {moved.layers_skipped}"
                      if moved else "; nothing to copy")  # fmt: skip
            print(f"{label}: layer bytes downloaded {wire.downloaded / MIB:.1f} MiB, request "
                  f"bodies sent to ECR {wire.sent / MIB:.1f} MiB, response bodies from ECR "
                  f"{wire.received / MIB:.2f} MiB, {seconds:.2f} s{layers}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
