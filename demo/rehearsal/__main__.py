"""`python -m demo.rehearsal`: play docs/going-live.md and deploy.yml on the embedded AWS.

    python -m demo.rehearsal [--work-dir DIR] [--report FILE]

Exit 0 when every phase passed; 1 with one line naming the phase that failed and its log.
docs/rehearsal.md describes the phases and what stands in for AWS and GitHub.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from demo.rehearsal import checks, own_image, story
from testbed.services import ServiceError
from utils import OneLineParser

REPO_ROOT = Path(__file__).resolve().parents[2]
AWSCLI = REPO_ROOT / ".venv-awscli" / "bin" / "aws"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = OneLineParser(prog="python -m demo.rehearsal", description=__doc__)
    parser.add_argument(
        "--work-dir", type=Path,
        help="where to work (kept); default: a temporary directory, removed unless the run fails",
    )  # fmt: skip
    parser.add_argument("--report", type=Path, help="write the report (JSON) here")
    args = parser.parse_args(argv)
    if args.work_dir and args.work_dir.exists() and any(args.work_dir.iterdir()):
        parser.error(f"--work-dir {args.work_dir} is not empty")
    return args


def rehearse(work: Path, report: dict[str, object], log: object = print) -> None:
    """Every phase, in order, recorded in `report`. Raises RehearsalError at the first failure."""
    from demo.rehearsal.iam_evidence import evidence
    from testbed.enforcement import aws_semantics, enforced
    from testbed.enforcement.grants import recording_grants
    from testbed.github import dispatch_api
    from testbed.local_aws import create_administrators, local_aws
    from testbed.services import running_pipelines
    from testbed.terraform import setup

    terraform = setup(work / "terraform")
    report["terraform"] = terraform.describe()
    started = time.monotonic()
    with local_aws() as endpoint, aws_semantics(), running_pipelines():
        admins = create_administrators()
        with enforced(), recording_grants() as grants:
            r = story.Rehearsal(REPO_ROOT, work, terraform, endpoint, admins, AWSCLI,
                                log=log, report=report)  # type: ignore[arg-type]  # fmt: skip
            with r.phase("0. the repository and the stand-ins"):
                story.prepare(r)
                own_image.push(r)
            with r.phase("1-2. bootstrap: dev, pre-prod and prod (administrators)"):
                story.bootstrap(r)
            with r.phase("3. GitHub environments and variables, stage files pasted"):
                story.github_settings(r)
            token = "github_pat_" + secrets.token_hex(20)
            with dispatch_api(r.github, token) as api_url:
                report["dispatch api"] = api_url
                with r.phase("4. approval trigger applied in dev, its token stored"):
                    story.approval_trigger(r, api_url, token)
                with r.phase("a version approved in dev: the trigger dispatches deploy.yml"):
                    story.approve_version(r)
                with r.phase("deploy.yml: resolve, pre-prod, prod-plan, review, prod"):
                    story.deploy(r, story.FULL_RUN)
                    checks.prod_alerts_key(r)
                with r.phase("the prod schedule fires: a scheduled run"):
                    story.scheduled_run(r)
                with r.phase("5. a second version, dispatched by hand: pre-prod compares it"):
                    story.second_version(r)
                with r.phase("the own container: build.py copies its image to pre-prod, then prod"):
                    own_image.promote(r)
                with r.phase("second plan of every root"):
                    story.replan(r)
                with r.phase("destroy: the stages (deploy roles) and the trigger"):
                    story.destroy(r)
        report["iam"] = evidence(grants, REPO_ROOT / "bootstrap" / "policies")
    report["seconds"] = round(time.monotonic() - started, 1)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the rehearsal; one line on failure (its work directory kept and named), and on Ctrl-C,
    after every process it started has ended."""
    from testbed.processes import Owned, owned_processes

    args = parse_args(argv)
    if not AWSCLI.exists():
        print("rehearsal: error: .venv-awscli is missing: run `make setup`", file=sys.stderr)
        return 1
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="rehearsal-"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {}
    owned, outcome = Owned(), "failed"  # a failure keeps the work directory, and names it
    try:
        with owned_processes(owned):
            rehearse(work, report)
        outcome = "passed"
    except (story.RehearsalError, story.guide.GuideError, ServiceError) as error:
        print(f"rehearsal: error: {error} (work directory: {work})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        outcome = "interrupted"
        print(f"rehearsal: interrupted; stopped the embedded AWS and {owned.describe()} it "
              "started; nothing of it runs any more", file=sys.stderr)  # fmt: skip
        return 130
    finally:
        if args.report:
            args.report.write_text(json.dumps(report, indent=2), encoding="utf-8")
        if args.work_dir is None and outcome != "failed":
            shutil.rmtree(work, ignore_errors=True)
    print(f"rehearsal passed in {report['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
