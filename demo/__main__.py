"""`make demo`: the life of a model version on one machine, with no AWS account.

An embedded moto server holds the dev, pre-prod and prod accounts. The demo registers four
versions of a real scikit-learn model in the dev registry, plans and promotes the latest Approved
one into pre-prod, re-runs the promotion (nothing is written), runs the pre-prod pipeline locally
on held-out rows and measures the model's accuracy, backfills three days of a daily layout, shows
the evidence prod's reviewer gets (a clean batch passing the data-quality check, a drifted one
stopped, two versions compared), promotes the same source ARN into prod, rolls pre-prod back to
the older Approved version, promotes and scores two more model kinds (AWS's built-in XGBoost,
and an own container copied from the dev ECR into both stages) and shows the stage's status.
Everything it writes goes below --output-dir (build outputs, predictions, reports, the logs of a
failed step). The embedded AWS is new at every run, so every run starts afresh: it replaces what
the last one wrote there.
"""

from __future__ import annotations

import argparse
import fcntl
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import promotion.config
from demo.story import PHASES, Phase, Story
from promotion.config import REPO_ROOT, default_config_path, load_stage_config
from promotion.output import text_table
from testbed.deploy import Deployer
from testbed.local_aws import (
    DEMO_STAGES,
    DEV_ACCOUNT,
    HIDDEN_AWS_SETTINGS,
    NO_AWS_FILES,
    PRE_PROD_ACCOUNT,
    PROD_ACCOUNT,
    account_session,
    create_service_role,
    credentials_environment,
    local_aws,
    role_arn,
)
from testbed.processes import Owned, owned_processes
from utils import OneLineParser

# A shell sourcing an account's file leaves its own AWS setup behind, as the embedded AWS does.
SHELL_WITHOUT_OWN_AWS = (
    f"unset {' '.join(HIDDEN_AWS_SETTINGS)}\n"
    + "".join(f"export {key}={value}\n" for key, value in NO_AWS_FILES.items())
    + "for name in $(env | sed -n 's/^\\(AWS_ENDPOINT_URL_[A-Za-z0-9_]*\\)=.*/\\1/p'); do\n"
    '  unset "$name"\ndone\n'
)
MARKER = ".made-by-demo"  # the demo only ever reuses (and writes into) directories holding it
DEFAULT_OUTPUT_DIR = REPO_ROOT / "demo-output"
# What a run writes below --output-dir: a new run removes these first (nothing else).
OUTPUTS = ("build", "predictions.csv", "daily", "evidence", "kinds", "local-aws") + (
    TEMPORARY := ("terraform", "local-run")  # removed when a run ends, kept when it failed
)
WHAT_NEXT = """\
What next
  Read the story of a version   docs/promotion.md, docs/pipeline.md
  Try the commands              .venv/bin/python build.py --help
                                .venv/bin/python -m pipelines.run_pipeline --help
                                make local-aws (the demo, then its AWS kept running to try them)
  Go live on your accounts      docs/going-live.md (accounts, roles, GitHub environments)
  Check everything              make test"""


class OutputDirError(Exception):
    """The output directory cannot be used; the message is one line."""


@contextmanager
def claim_output_dir(path: Path) -> Iterator[None]:
    """Create `path`, or take one an earlier demo made and remove what that run wrote; hold it
    (another demo naming it meanwhile is refused) until the block ends.

    Raises:
        OutputDirError: `path` is a file, holds files the demo did not make, is not writable, or
            another demo is using it.
    """
    if path.exists() and not path.is_dir():
        raise OutputDirError(f"--output-dir {path} is a file; name a directory")
    if path.is_dir() and any(path.iterdir()) and not (path / MARKER).is_file():
        hint = " (or `make clean` to remove it)" if path == DEFAULT_OUTPUT_DIR else ""
        raise OutputDirError(
            f"--output-dir {path} is not empty and was not made by the demo; the demo never "
            f"deletes what it did not create: name an empty or new directory{hint}"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        marker = (path / MARKER).open("a+")
    except OSError as error:
        raise OutputDirError(f"--output-dir {path} is not writable: {error.strerror}") from error
    with marker:
        try:
            fcntl.flock(marker, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputDirError(
                f"--output-dir {path} is in use by another demo (or `make local-aws`); wait for "
                "it to end, or name another directory"
            ) from None
        marker.truncate(0)
        marker.write("Written by `python -m demo`; safe to delete. Each run replaces it.\n")
        marker.flush()
        for name in OUTPUTS:
            remove(path / name)
        yield  # the lock goes with the file (or the process), however the run ends


def remove(path: Path) -> None:
    """Remove a file or a directory tree, if there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def head_commit() -> str:
    """The repository's HEAD commit (recorded as the promotions' commit), or "" outside git."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return ""
    return done.stdout.strip()


def run_story(story: Story, phases: Sequence[Phase] = PHASES) -> list[tuple[str, float]]:
    """Run the phases in order, each under a numbered heading; return their timings."""
    timings: list[tuple[str, float]] = []
    for number, phase in enumerate(phases, start=1):
        print(f"\n== {number}/{len(phases)} {phase.title} ==")
        started = time.perf_counter()
        try:
            phase.run(story)
        finally:
            timings.append((phase.title, time.perf_counter() - started))
        print(f"  ({timings[-1][1]:.1f} s)")
    return timings


def print_summary(story: Story, timings: list[tuple[str, float]], *, serving: bool = False) -> None:
    """The closing facts, the time of each phase and what to do next (`serving`: the embedded
    AWS stays up, so the line suggesting it is left out)."""
    print("\nSummary")
    print(text_table(("", ""), story.facts).split("\n", 2)[-1])
    if story.accuracies:
        print("\nAccuracy per model kind (the same held-out rows, pre-prod, scored locally)")
        print(text_table(("model kind", "image", "accuracy"), story.accuracies))
    print("\nTime per phase")
    rows = [(title, f"{seconds:.1f} s") for title, seconds in timings]
    rows.append(("total", f"{sum(seconds for _, seconds in timings):.1f} s"))
    print(text_table(("phase", "time"), rows))
    shown = [line for line in WHAT_NEXT.splitlines() if not (serving and "make local-aws" in line)]
    print("\n" + "\n".join(shown))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; exit 1 when a phase fails, 2 for an unusable --output-dir, 130 when
    interrupted (Ctrl-C, SIGTERM): every process it started is ended then, Terraform's too."""
    promotion.config.STAGE_FILES_DIR = DEMO_STAGES  # the demo world's stage files
    parser = OneLineParser(
        prog="python -m demo", description=__doc__.split("\n\n")[1] if __doc__ else None
    )
    parser.add_argument("--rows", type=int, default=5000, help="rows to score (default: 5000)")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT_DIR,
        metavar="DIR",
        help="where the demo writes; a new or empty directory, or one an earlier demo made, "
        "whose outputs it replaces (default: demo-output/ in the repository root)",
    )
    parser.add_argument(
        "--serve",
        action="store_true",
        help="afterwards, keep the embedded AWS running with the demo's state (Ctrl-C stops it) "
        "and write the environment to use it from another shell",
    )
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    output: Path = args.output_dir
    owned = Owned()
    try:
        with claim_output_dir(output):
            try:
                succeeded = run_demo(args, owned)
            except SystemExit as failed:  # a phase stops the story
                if isinstance(failed.code, str):
                    print(f"python -m demo: error: {failed.code}", file=sys.stderr)
                succeeded = False
            except KeyboardInterrupt:
                remove_temporary(output)
                print(f"python -m demo: interrupted; stopped the embedded AWS and "
                      f"{owned.describe()} it started; nothing of it runs any more, and the next "
                      "run starts afresh", file=sys.stderr)  # fmt: skip
                return 130
            if succeeded:
                remove_temporary(output)
            else:
                kept = [str(output / name) for name in TEMPORARY if (output / name).exists()]
                if kept:
                    print(f"the run failed; its working files are kept: {', '.join(kept)} "
                          "(the next run replaces them)", file=sys.stderr)  # fmt: skip
            return 0 if succeeded else 1
    except OutputDirError as error:
        print(f"python -m demo: error: {error}", file=sys.stderr)
        return 2


def run_demo(args: argparse.Namespace, owned: Owned) -> bool:
    """The story on a new embedded AWS (then, with --serve, that AWS until Ctrl-C); every
    process started meanwhile is ended before the embedded AWS stops."""
    story = Story(rows=args.rows, output_dir=args.output_dir, commit=head_commit())
    with local_aws() as endpoint, owned_processes(owned):
        print(f"local AWS (moto) at {endpoint}: accounts {DEV_ACCOUNT} dev, "
              f"{PRE_PROD_ACCOUNT} pre-prod, {PROD_ACCOUNT} prod")  # fmt: skip
        story.deployer = Deployer(args.output_dir / "terraform", endpoint)
        print(
            f"terraform: {story.deployer.terraform.describe() if story.deployer.terraform else '-'}"
        )
        for stage in ("pre-prod", "prod"):  # `terraform init` while the first phases run
            config = load_stage_config(default_config_path(stage))
            story.deployer.prepare(stage, account_session(config.account_id, config.region))
        timings = run_story(story)
        print_summary(story, timings, serving=args.serve)
        if args.serve and story.succeeded:
            serve(endpoint, story)
    return story.succeeded


def remove_temporary(output: Path) -> None:
    """Remove the run's working files (Terraform's roots and state, the local run's files)."""
    for name in TEMPORARY:
        remove(output / name)


def serve(endpoint: str, story: Story) -> None:
    """Write one environment file per account, say how to use them, wait for Ctrl-C. Meanwhile
    the embedded SageMaker runs a started pipeline (testbed/services.py) as its role."""
    from testbed.services import running_pipelines

    for stage, config in story.configs.items():
        create_service_role(story.session(stage), config.sagemaker_execution_role_arn, "sagemaker")
    output = story.output_dir
    directory = output / "local-aws"
    directory.mkdir(exist_ok=True)
    accounts = {"dev": DEV_ACCOUNT, "pre-prod": PRE_PROD_ACCOUNT, "prod": PROD_ACCOUNT}
    for name, account in accounts.items():
        values = {**credentials_environment(account_session(account)),
                  "AWS_ENDPOINT_URL": endpoint, "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
        lines = "".join(f"export {key}={shlex.quote(value)}\n" for key, value in values.items())
        lines = SHELL_WITHOUT_OWN_AWS + lines
        (directory / f"{name}.env").write_text(lines, encoding="utf-8")
    shown = output.relative_to(Path.cwd()) if output.is_relative_to(Path.cwd()) else output
    print(f"\nThe embedded AWS runs at {endpoint} with the demo's state until Ctrl-C. In another"
          f" shell, act in one account (dev, pre-prod or prod):\n"
          f"  source {shown}/local-aws/pre-prod.env\n"
          "  .venv/bin/python build.py --stage pre-prod --status"
          " --config demo/stages/pre-prod-config.tfvars.json\n"
          f"  .venv/bin/python -m pipelines.run_pipeline --local --definition"
          f" {shown}/build/pre-prod/pipeline-definition.json\n"
          "  .venv/bin/python -m pipelines.run_pipeline --stage pre-prod --wait"
          " --config demo/stages/pre-prod-config.tfvars.json\n"
          "A promotion starts in dev (as the workflow does), assuming pre-prod's deploy role:\n"
          f"  source {shown}/local-aws/dev.env\n"
          "  .venv/bin/python build.py --stage pre-prod --dry-run"
          " --config demo/stages/pre-prod-config.tfvars.json"
          f" --target-role-arn {role_arn(PRE_PROD_ACCOUNT)}")  # fmt: skip
    try:
        with running_pipelines():
            threading.Event().wait()
    except KeyboardInterrupt:
        print("stopped: the embedded AWS and everything the demo started have ended")


if __name__ == "__main__":
    sys.exit(main())
