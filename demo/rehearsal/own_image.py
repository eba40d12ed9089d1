"""The team's own container, beside the scikit-learn model (issue 25, point 5).

Its image is pushed into the dev account's ECR before the bootstrap (testbed/model_kinds.py's
image), and its repository is listed in the bootstrap settings' `dev_image_repositories`, so
bootstrap/dev sets the repository policy that lets the promote roles read it. After the
scikit-learn versions, a version of the model naming that image by tag is promoted by build.py
as the GitHub jobs would: as the pre-prod deploy role, then as the prod plan role with the digest
pre-prod promoted (`--images-from`), each holding only what the bootstrap created, IAM enforced.
The model package group is the repository's: the bootstrap grants its roles one group.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from demo.rehearsal.story import (
    ADMINISTRATORS,
    DEV_ARTIFACTS_BUCKET,
    OWN_IMAGE_REPOSITORY,
    Rehearsal,
    RehearsalError,
    role_environment,
)
from promotion.images import stage_repository
from testbed import model_kinds, seed
from testbed.local_aws import DEV_ACCOUNT

# build.py's summary of an image copy (promotion/promote.py image_rows)
MOVED = re.compile(
    r"(\d+) blob\(s\) copied \(layers and the image config\), (\d+) already there, (\d+) B moved"
)
# stage -> (the GitHub environment whose role promotes, build.py's arguments beyond the package)
PROMOTIONS = {
    "pre-prod": ("pre-prod", []),
    "prod": ("prod-plan", ["--approval-status", "PendingManualApproval"]),
}


def push(r: Rehearsal) -> None:
    """The team pushes its image into the dev ECR (as the dev administrator), before bootstrap."""
    dev = r.admins[DEV_ACCOUNT].session()
    image, pushed = model_kinds.push_own_image(dev, OWN_IMAGE_REPOSITORY)
    r.report["own image"] = {
        "dev image": image, "dev digest": pushed.digest, "blobs": len(pushed.blobs),
        "bytes": sum(pushed.blobs.values()),
    }  # fmt: skip


def register(r: Rehearsal, group: str) -> str:
    """A data scientist registers and approves a version of the model in its own container (its
    image by tag, its weights and server in model.tar.gz). Returns its ARN."""
    dev = r.admins[DEV_ACCOUNT].session()
    key = f"training/{group}/own-container/model.tar.gz"
    dev.client("s3").put_object(Bucket=DEV_ARTIFACTS_BUCKET, Key=key,
                                Body=model_kinds.own_archive())  # fmt: skip
    container = {**model_kinds.own_container(r.report["own image"]["dev image"]),
                 "ModelDataUrl": f"s3://{DEV_ARTIFACTS_BUCKET}/{key}"}  # fmt: skip
    specification: Any = {"Containers": [container], **model_kinds.SUPPORTED}
    return str(
        dev.client("sagemaker").create_model_package(
            ModelPackageGroupName=group,
            ModelPackageDescription="breast cancer classifier in the team's own container",
            ModelApprovalStatus="Approved",
            InferenceSpecification=specification,
            CustomerMetadataProperties={"feature_columns": " ".join(seed.FEATURES)},
        )["ModelPackageArn"]
    )


def promote(r: Rehearsal) -> dict[str, Any]:
    """build.py promotes the own-container version into pre-prod, then prod, as the stage roles;
    each stage's repository must then hold the dev digest, its layers copied."""
    config = json.loads((r.clone / "pre-prod-config.tfvars.json").read_text(encoding="utf-8"))
    group = config["model_package_group_name"]
    arn = register(r, group)
    record: dict[str, Any] = r.report["own image"]
    record.update(version=arn, stages={})
    out = r.work / "own-image"
    reader = r.github.variables(None)["DEV_READ_ROLE_ARN"]
    for stage, (environment, extra) in PROMOTIONS.items():
        pinned = ["--images-from", str(out / "pre-prod" / "images.json")] if stage == "prod" else []
        done = subprocess.run(
            [sys.executable, "build.py", "--stage", stage, "--model-package-arn", arn,
             "--source-role-arn", reader, "--output-dir", str(out / stage), *extra, *pinned],
            cwd=r.clone, env=role_environment(r, environment, environment), capture_output=True,
            text=True, check=False,
        )  # fmt: skip
        log = r.work / "logs" / f"own image {stage}.log"
        log.write_text(done.stdout + done.stderr, encoding="utf-8")
        if done.returncode != 0:
            raise RehearsalError(f"build.py --stage {stage} of the own-container version failed: "
                                 f"{done.stderr.strip()[-300:]} (log: {log})")  # fmt: skip
        record["stages"][stage] = _stage_image(r, stage, group, out / stage / "images.json", done)
    digests = {stage: found["digest in the stage"] for stage, found in record["stages"].items()}
    if set(digests.values()) != {record["dev digest"]}:
        raise RehearsalError(f"the stages hold {digests}, not the dev digest "
                             f"{record['dev digest']}")  # fmt: skip
    dev = r.admins[DEV_ACCOUNT].session().client("ecr")
    policy = dev.get_repository_policy(repositoryName=OWN_IMAGE_REPOSITORY)["policyText"]
    # what bootstrap/dev set (dev-image-repository.json.tftpl), the only grant of the read
    record["dev repository policy"] = [s.get("Sid") for s in json.loads(policy)["Statement"]]
    return record


def _stage_image(
    r: Rehearsal, stage: str, group: str, images_json: Path, done: subprocess.CompletedProcess[str]
) -> dict[str, Any]:
    """What the stage's package names, what its repository holds, what build.py moved."""
    (named,) = json.loads(images_json.read_text(encoding="utf-8"))["images"]
    moved = MOVED.search(done.stdout + done.stderr)
    if moved is None:
        raise RehearsalError(f"build.py --stage {stage} copied no image: {done.stdout[-300:]}")
    ecr = r.admins[ADMINISTRATORS[stage]].session().client("ecr")
    held = ecr.describe_images(
        repositoryName=stage_repository(group), imageIds=[{"imageDigest": named["digest"]}]
    )["imageDetails"]
    return {
        "package names": named["image"], "digest in the stage": held[0]["imageDigest"],
        "tags": held[0].get("imageTags", []), "layers copied": int(moved[1]),
        "layers already there": int(moved[2]), "bytes moved": int(moved[3]),
    }  # fmt: skip
