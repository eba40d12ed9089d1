"""One promotion, in its own process, for bench_promotion: prints a JSON report as its last line."""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

from promotion.artifacts import CopySettings
from promotion.config import load_stage_config
from promotion.promote import apply_promotion, plan_promotion
from promotion.registry import resolve_latest_approved
from testbed.local_aws import DEV_ACCOUNT, PRE_PROD_ACCOUNT, account_session, refuse

MUTATING = ("Create", "Put", "Copy", "Upload", "Complete", "Delete", "Update", "Abort", "Add")


def peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM, unlike ru_maxrss, is not inherited across fork+exec from a
    large parent (here the moto server holding the artifacts)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--deny-server-side", action="store_true")
    parser.add_argument("--target-account", default=PRE_PROD_ACCOUNT)
    args = parser.parse_args()
    config = load_stage_config(args.config)
    dev, target = account_session(DEV_ACCOUNT), account_session(args.target_account)
    source_sm, source_s3 = dev.client("sagemaker"), dev.client("s3")
    target_sm, target_s3 = target.client("sagemaker"), target.client("s3")
    mutating: list[str] = []
    source_bytes = [0]

    def record(model: Any, **_: Any) -> None:
        if model.name.startswith(MUTATING):
            mutating.append(model.name)

    def count_read(parsed: dict[str, Any], **_: Any) -> None:
        source_bytes[0] += int(parsed.get("ContentLength", 0))

    for client in (source_sm, source_s3, target_sm, target_s3):
        client.meta.events.register("before-call", record)
    source_s3.meta.events.register("after-call.s3.GetObject", count_read)
    if args.deny_server_side:
        for operation in ("CopyObject", "UploadPartCopy"):
            refuse(target_s3, operation)
    started = time.perf_counter()
    arn = resolve_latest_approved(
        source_sm, group=config.model_package_group_name, account_id=DEV_ACCOUNT
    )
    plan = plan_promotion(
        config, source_arn=arn, source_sm=source_sm, source_s3=source_s3,
        target_sm=target_sm, target_s3=target_s3,
    )  # fmt: skip
    apply_promotion(
        plan, config, source_s3=source_s3, target_sm=target_sm, target_s3=target_s3,
        settings=CopySettings(),
    )  # fmt: skip
    report = {
        "seconds": time.perf_counter() - started,
        "mutating_calls": len([m for m in mutating if m not in ("CopyObject", "UploadPartCopy")])
        if args.deny_server_side
        else len(mutating),
        "source_bytes": source_bytes[0],
        "max_rss_mib": peak_rss_mib(),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
