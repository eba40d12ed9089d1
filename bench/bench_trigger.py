"""Kill the approval trigger mid-dispatch and count lost approvals: prints figures, asserts nothing.

Each trial starts one invocation in its own process (moto server for DynamoDB and Secrets
Manager, a GitHub stand-in on 127.0.0.1), kills it with SIGKILL at one point of its dispatch,
then redelivers the event as Lambda's retry does (after the 60 s wait, simulated through the
clock given to the handler) and once more. Kill points: GitHub never answers (in flight),
GitHub answers after the kill (slow), GitHub has just answered 204 (after accept).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3

from approval_trigger import lambda_function as fn
from approval_trigger.events import FunctionIdentity
from approval_trigger.failures import ClaimBusy
from approval_trigger.settings import FIRST_RETRY_WAIT_SECONDS, Settings
from testbed.local_aws import local_aws

REPO_ROOT = Path(__file__).resolve().parent.parent
REGION, ACCOUNT, GROUP = "us-east-1", "123456789012", "bench-group"
ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/1"
TABLE, SECRET = "bench-dedup", "bench/github-token"
KILL_POINTS = ("in-flight", "slow", "after-accept")
TRIALS_PER_POINT = 3
CHILD = """
import json, sys, boto3
from approval_trigger import lambda_function as fn
from approval_trigger.events import FunctionIdentity
from approval_trigger.settings import Settings
a = json.loads(sys.argv[1])
fn.handle_event(a["event"], settings=Settings(**a["settings"]), owner="killed",
                runtime=fn.Runtime(boto3.Session(region_name=a["region"])),
                identity=FunctionIdentity(*a["identity"]))
"""


class GitHub:
    """Counts dispatch requests per state change; ``mode`` decides how it answers."""

    def __init__(self) -> None:
        self.mode = "accept"
        self.generation = 0  # one per trial: a late answer to a killed trial signals nothing
        self.received: Counter[int] = Counter()
        self.answered: Counter[int] = Counter()
        self.got_request, self.sent_204, self.stop = (threading.Event() for _ in range(3))
        github = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                generation = github.generation
                github.received[generation] += 1
                github.got_request.set()
                if github.mode in ("in-flight", "slow"):
                    github.stop.wait(None if github.mode == "in-flight" else 1.0)
                    if github.mode == "in-flight":
                        return
                try:
                    self.send_response(204)
                    self.end_headers()
                except OSError:
                    return
                if generation == github.generation:
                    github.answered[generation] += 1
                    github.sent_204.set()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def event(change: str) -> dict[str, Any]:
    detail = {
        "ModelPackageGroupName": GROUP,
        "ModelPackageArn": ARN,
        "LastModifiedTime": change,
        "ModelApprovalStatus": "Approved",
        "ModelPackageStatus": "Completed",
    }
    return {"id": change, "source": "aws.sagemaker", "detail": detail,
            "detail-type": "SageMaker Model Package State Change"}  # fmt: skip


def trial(point: str, index: int, github: GitHub, settings: Settings) -> dict[str, Any]:
    """One killed invocation and two redeliveries; what each one did."""
    change = f"2025-01-02T00:00:{index:02d}Z"
    github.mode = point
    github.generation += 1
    for flag in (github.got_request, github.sent_204):
        flag.clear()
    identity = FunctionIdentity("aws", REGION, ACCOUNT)
    args = {"event": event(change), "settings": settings.__dict__, "region": REGION,
            "identity": [identity.partition, identity.region, identity.account]}  # fmt: skip
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(args)], cwd=REPO_ROOT)
    (github.sent_204 if point == "after-accept" else github.got_request).wait(30)
    killed_at = time.time()
    child.kill()
    child.wait(10)
    github.mode = "accept"
    runtime = fn.Runtime(boto3.Session(region_name=REGION))
    outcomes = []
    for at in (killed_at + 1, killed_at + FIRST_RETRY_WAIT_SECONDS, killed_at + 300):
        try:
            result = fn.handle_event(
                event(change), settings=settings, runtime=runtime, identity=identity,
                now=lambda at=at: at,  # type: ignore[misc]
            )  # fmt: skip
            outcomes.append("dispatched" if result["dispatched"] else result["reason"])
        except ClaimBusy:
            outcomes.append("busy")
    return {"point": point, "outcomes": outcomes}


def main() -> None:
    with local_aws():
        session = boto3.Session(region_name=REGION)
        session.client("secretsmanager").create_secret(Name=SECRET, SecretString="ghp_bench")
        session.client("dynamodb").create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        )  # fmt: skip
        github = GitHub()
        settings = Settings(repository="acme/repo", token_secret_id=SECRET, group_name=GROUP,
                            dedup_table=TABLE, api_url=github.url)  # fmt: skip
        started = time.perf_counter()
        results = [
            trial(point, index * len(KILL_POINTS) + number, github, settings)
            for index in range(TRIALS_PER_POINT)
            for number, point in enumerate(KILL_POINTS)
        ]
        github.stop.set()
        github.server.shutdown()
    print(f"{len(results)} kills in {time.perf_counter() - started:.1f} s "
          "(redeliveries at +1 s, +60 s, +300 s)")  # fmt: skip
    for point in KILL_POINTS:
        rows = [r["outcomes"] for r in results if r["point"] == point]
        print(f"  killed {point:<12} {len(rows)} trials, redeliveries: {Counter(map(tuple, rows))}")
    lost = sum("dispatched" not in r["outcomes"] and r["point"] != "after-accept" for r in results)
    print(
        f"approvals lost: {lost}; dispatch requests GitHub received: "
        f"{sum(github.received.values())} for {len(results)} approvals (each one would be a run;"
        " a kill between GitHub's 204 and the done marker costs a second run)"
    )


if __name__ == "__main__":
    main()
