"""Promotion benchmark against an embedded moto server.

    python -m bench.bench_promotion [--versions 1000] [--artifact-mib 256]

(a) SageMaker calls to resolve the latest of N versions (target 1); (b) mutating AWS calls on a
re-run with nothing new (target 0); (c) bytes this process reads from the source on the
server-side path (target 0); (d) wall time of a promotion on both paths and the streaming path's
peak RSS (target < 300 MB). Each promotion runs in a child process so its RSS excludes moto's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from testbed.local_aws import (
    DEMO_STAGES,
    DEV_ACCOUNT,
    PRE_PROD_ACCOUNT,
    PROD_ACCOUNT,
    account_session,
    create_bucket,
    local_aws,
)

GROUP = "bench-model"
DEV_BUCKET = "bench-dev"
MIB = 1024**2


def seed(versions: int, artifact_mib: int) -> str:
    """N packages, the newest Approved and the rest a mix; returns the newest ARN."""
    dev = account_session(DEV_ACCOUNT)
    create_bucket(dev, DEV_BUCKET)
    create_bucket(account_session(PRE_PROD_ACCOUNT), "bench-pre-prod")
    s3, sm = dev.client("s3"), dev.client("sagemaker")
    chunk = os.urandom(MIB)
    s3.put_object(Bucket=DEV_BUCKET, Key="model.tar.gz", Body=chunk * artifact_mib)
    sm.create_model_package_group(ModelPackageGroupName=GROUP)
    statuses: tuple[Literal["Approved", "Rejected", "PendingManualApproval"], ...] = (
        "Approved", "Rejected", "PendingManualApproval",
    )  # fmt: skip
    arn = ""
    for index in range(versions):
        arn = sm.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelApprovalStatus="Approved" if index == versions - 1 else statuses[index % 3],
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sklearn:1.2-1",
                        "ModelDataUrl": f"s3://{DEV_BUCKET}/model.tar.gz",
                    }
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )["ModelPackageArn"]
    return arn


def count_resolve_calls() -> int:
    """SageMaker calls build.py's resolver makes."""
    from promotion.registry import resolve_latest_approved

    calls: list[str] = []
    sm = account_session(DEV_ACCOUNT).client("sagemaker")
    sm.meta.events.register("before-call.sagemaker.*", lambda model, **_: calls.append(model.name))
    resolve_latest_approved(sm, group=GROUP, account_id=DEV_ACCOUNT)
    return len(calls)


def promote_in_child(
    config: Path, *, deny_server_side: bool, target_account: str = PRE_PROD_ACCOUNT
) -> dict[str, Any]:
    """Run one promotion in a child process; return its report."""
    command = [sys.executable, "-m", "bench.promote_once", "--config", str(config)]
    command += ["--target-account", target_account]
    if deny_server_side:
        command.append("--deny-server-side")
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    report: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return report


def write_config(directory: Path, stage: str, bucket: str) -> Path:
    values = json.loads((DEMO_STAGES / f"{stage}-config.tfvars.json").read_text())
    values.update(model_package_group_name=GROUP, artifacts_bucket=bucket, feature_columns=["a"])
    path = directory / f"{stage}-config.tfvars.json"
    path.write_text(json.dumps(values))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--artifact-mib", type=int, default=256)
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    with local_aws(), tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        seed(args.versions, args.artifact_mib)
        print(f"seeded {args.versions} versions in {time.perf_counter() - started:.1f} s")
        rows.append(("(a) SageMaker calls to resolve the latest", str(count_resolve_calls()), "1"))
        config = write_config(Path(scratch), "pre-prod", "bench-pre-prod")
        server_side = promote_in_child(config, deny_server_side=False)
        rerun = promote_in_child(config, deny_server_side=False)
        rows.append(("(b) mutating calls on a re-run", str(rerun["mutating_calls"]), "0"))
        rows.append(
            ("(c) bytes read from the source, server-side", str(server_side["source_bytes"]), "0")
        )
        rows.append(
            (f"(d) promotion of {args.artifact_mib} MiB, server-side",
             f"{server_side['seconds']:.1f} s", "-")
        )  # fmt: skip
        # The streaming path promotes into prod: pre-prod holds the version already.
        create_bucket(account_session(PROD_ACCOUNT), "bench-prod")
        config = write_config(Path(scratch), "prod", "bench-prod")
        streamed = promote_in_child(config, deny_server_side=True, target_account=PROD_ACCOUNT)
        rows.append(
            (f"(d) promotion of {args.artifact_mib} MiB, streamed",
             f"{streamed['seconds']:.1f} s", "-")
        )  # fmt: skip
        rows.append(
            ("(d) streaming path peak RSS", f"{streamed['max_rss_mib']:.0f} MiB", "< 300 MB")
        )
        rows.append(("    (bytes streamed through memory)", str(streamed["source_bytes"]), "-"))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure':<{width}}  {'value':>14}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>14}  {target}")


if __name__ == "__main__":
    main()
