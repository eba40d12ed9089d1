"""The fault trial of issue 10, rerun: races, lost responses, kills mid-copy, bad inputs and
unreachable endpoints against a local three-account world (moto on loopback).

    python -m bench.fault_trial [--trials N]

Prints, per kind of fault: tried / handled / tracebacks (and seconds for endpoints).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from botocore.client import BaseClient

import build
from promotion.artifacts import MIB
from promotion.config import REPO_ROOT
from testbed.local_aws import (
    DEMO_STAGES,
    DEV_ACCOUNT,
    PRE_PROD_ACCOUNT,
    account_session,
    create_bucket,
    local_aws,
    role_arn,
)
from testbed.promotion_cases import (
    BAD_VALUES,
    DEV_BUCKET,
    GROUP,
    MUTATING_PREFIXES,
    PAUSING_RUN,
    TARGET_BUCKET,
    register,
)

Outcome = tuple[bool, bool]  # handled, traceback


def fresh_world(endpoint: str, work: Path, model_mib: int) -> Path:
    """Reset moto, seed one approved package, write the stage file; return its path."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    dev, pre_prod = account_session(DEV_ACCOUNT), account_session(PRE_PROD_ACCOUNT)
    create_bucket(dev, DEV_BUCKET)
    dev.client("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
    create_bucket(pre_prod, TARGET_BUCKET)
    register(dev, model_data=os.urandom(model_mib * MIB))
    values = json.loads((DEMO_STAGES / "pre-prod-config.tfvars.json").read_text())
    values.update(model_package_group_name=GROUP, artifacts_bucket=TARGET_BUCKET)
    path = work / "pre-prod-config.tfvars.json"
    path.write_text(json.dumps(values))
    return path


def flags(config: Path, out: Path) -> list[str]:
    return ["--stage", "pre-prod", "--config", str(config), "--output-dir", str(out),
            "--source-role-arn", role_arn(DEV_ACCOUNT),
            "--target-role-arn", role_arn(PRE_PROD_ACCOUNT)]  # fmt: skip


def target_state() -> tuple[list[str], int]:
    pre_prod = account_session(PRE_PROD_ACCOUNT)
    listed = pre_prod.client("sagemaker").list_model_packages(ModelPackageGroupName=GROUP)
    uploads = pre_prod.client("s3").list_multipart_uploads(Bucket=TARGET_BUCKET)
    arns = [p["ModelPackageArn"] for p in listed["ModelPackageSummaryList"]]
    return arns, len(uploads.get("Uploads", []))


def named(out: Path) -> str | None:
    path = out / "deployment.tfvars.json"
    return json.loads(path.read_text())["model_package_arn"] if path.is_file() else None


def race(endpoint: str, work: Path, trial: int, runs: int = 3) -> Outcome:
    config = fresh_world(endpoint, work, model_mib=8)
    processes = []
    for index in range(runs):
        processes.append(subprocess.Popen(
            [sys.executable, "build.py", *flags(config, work / f"out{index}")], cwd=REPO_ROOT,
            env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        ))  # fmt: skip
        time.sleep(trial % 2)  # odd trials start the runs a second apart
    errors = [process.communicate(timeout=300)[1] for process in processes]
    arns, _ = target_state()
    outputs = {named(work / f"out{index}") for index in range(runs)}
    codes = [process.returncode for process in processes]
    handled = codes == [0] * runs and len(arns) == 1 and outputs == set(arns)
    return handled, any("Traceback" in error for error in errors)


def lost_response(endpoint: str, work: Path, trial: int) -> Outcome:
    from botocore.exceptions import ConnectionClosedError
    from botocore.httpsession import URLLib3Session

    config = fresh_world(endpoint, work, model_mib=1)
    original, lost = build.Identity.client, cast(list[str], [])

    def lose(request: Any, **_: Any) -> None:
        if not lost:
            URLLib3Session().send(request)
            lost.append(request.url)
            raise ConnectionClosedError(endpoint_url=request.url)

    def client(self: build.Identity, name: str) -> Any:
        made = original(self, name)
        if name == "sagemaker" and self.account_id == PRE_PROD_ACCOUNT:
            made.meta.events.register("before-send.sagemaker.CreateModelPackage", lose)
        return made

    setattr(build.Identity, "client", client)  # noqa: B010
    try:
        code, traceback = quiet(lambda: build.main(flags(config, work / "out")))
    finally:
        setattr(build.Identity, "client", original)  # noqa: B010
    arns, _ = target_state()
    return code == 0 and arns == [named(work / "out")] and len(lost) == 1, traceback


def kill_mid_copy(endpoint: str, work: Path, trial: int) -> Outcome:
    config = fresh_world(endpoint, work, model_mib=12)
    process = subprocess.Popen(
        [sys.executable, "-c", PAUSING_RUN, *flags(config, work / "killed")], cwd=REPO_ROOT,
        env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip() == "PAUSED":
            break
    process.kill()
    process.wait()
    _, orphans = target_state()
    code, traceback = quiet(lambda: build.main(flags(config, work / "rerun")))
    arns, left = target_state()
    return orphans == 1 and code == 0 and left == 0 and arns == [named(work / "rerun")], traceback


def bad_input(endpoint: str, work: Path, overrides: dict[str, Any]) -> Outcome:
    config = fresh_world(endpoint, work, model_mib=1)
    values = {**json.loads(config.read_text()), **overrides}
    config.write_text(json.dumps(values))
    writes: list[str] = []
    original = getattr(BaseClient, "_make_api_call")  # noqa: B009

    def record(self: BaseClient, operation: str, params: Any) -> Any:
        if operation.startswith(MUTATING_PREFIXES):
            writes.append(operation)
        return original(self, operation, params)

    setattr(BaseClient, "_make_api_call", record)  # noqa: B010
    try:
        code, traceback = quiet(lambda: build.main(flags(config, work / "out")))
    finally:
        setattr(BaseClient, "_make_api_call", original)  # noqa: B010
    return code == 2 and not writes, traceback


def endpoint_case(url: str) -> tuple[bool, bool, float]:
    saved = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = url
    config = DEMO_STAGES / "pre-prod-config.tfvars.json"
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as out:
            code, traceback = quiet(lambda: build.main(flags(config, Path(out))))
    finally:
        os.environ["AWS_ENDPOINT_URL"] = saved or ""
    seconds = time.perf_counter() - started
    return code in (1, 2) and seconds < 10, traceback, seconds


def quiet(call: Callable[[], int]) -> tuple[int, bool]:
    """Run a CLI main with its output swallowed; an escaping exception counts as a traceback."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            return call(), False
        except Exception:
            return -1, True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    tally: dict[str, list[Outcome]] = {}
    with local_aws() as endpoint:
        for kind, trial_of in (("races (3 build.py at once)", race),
                               ("lost CreateModelPackage responses", lost_response),
                               ("kills mid-copy, then re-run", kill_mid_copy)):  # fmt: skip
            for trial in range(args.trials):
                with tempfile.TemporaryDirectory() as work:
                    tally.setdefault(kind, []).append(trial_of(endpoint, Path(work), trial))
        for overrides, _ in BAD_VALUES:
            with tempfile.TemporaryDirectory() as work:
                tally.setdefault("bad stage-file inputs", []).append(
                    bad_input(endpoint, Path(work), overrides)
                )
    seconds: list[float] = []
    for url in ("http://127.0.0.1:9", "http://no-such-host.invalid", "http://10.255.255.1",
                "not a url"):  # fmt: skip
        handled, traceback, took = endpoint_case(url)
        tally.setdefault("unreachable or malformed endpoints", []).append((handled, traceback))
        seconds.append(took)
    print(f"{'fault':<40} {'tried':>5} {'handled':>8} {'tracebacks':>10}")
    for kind, outcomes in tally.items():
        done = sum(1 for ok, _ in outcomes if ok)
        tracebacks = sum(1 for _, escaped in outcomes if escaped)
        print(f"{kind:<40} {len(outcomes):>5} {done:>8} {tracebacks:>10}")
    print("endpoint failure reported after (s): " + ", ".join(f"{s:.1f}" for s in seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
