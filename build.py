"""Promote one approved model package into one stage's account; write its Terraform inputs.

    python build.py --stage pre-prod [--model-package-arn ARN] [--dry-run]
    python build.py --stage pre-prod --status [--json]     (read-only: what runs where)
    python build.py --stage prod --model-package-arn ARN --approval-status PendingManualApproval
    python build.py --stage prod --approve [--model-package-arn ARN]   # after the review

Exit codes: 0 done, 1 AWS or runtime failure, 2 bad input or configuration.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

try:
    import boto3
except ModuleNotFoundError:  # not the project's environment: one line naming `make setup`
    from errors import require_environment

    require_environment()
    raise

from errors import ConfigError, PromotionError
from pipelines.definition.stage_build import (
    StageBuild,
    check_stage_inputs,
    feature_columns_for,
    render_stage,
)
from pipelines.evidence.model_inputs import check_columns
from promotion import approval, registry
from promotion.artifacts import CopySettings
from promotion.config import (
    REPO_ROOT,
    STAGES,
    StageConfig,
    default_config_path,
    is_role_arn,
    load_stage_config,
)
from promotion.config_rules import refuse_control_characters
from promotion.images import read_pinned
from promotion.lease import LeaseSettings
from promotion.output import (
    append_step_summary,
    check_writable_dir,
    progress_reporter,
    summary_markdown,
    summary_text,
    write_tfvars,
)
from promotion.promote import PromotionResult, image_rows, plan_promotion, promote
from promotion.stage_buckets import blaming_stage_keys
from utils import (
    Identity,
    OneLineParser,
    aws_errors,
    check_endpoint_environment,
    new_session,
    open_identity,
)

LOG = logging.getLogger("build")


@dataclass(frozen=True)
class Options:
    """The parsed command line."""

    stage: str
    config: Path
    model_package_arn: str | None
    source_role_arn: str | None
    target_role_arn: str | None
    output_dir: Path
    dry_run: bool
    resolve_only: bool
    status: bool = False
    json: bool = False
    approval_status: str = approval.APPROVED
    approve: bool = False
    images_from: Path | None = None
    check_inputs: tuple[Path, ...] = ()


def parse_args(argv: Sequence[str] | None) -> Options:
    """Parse the command line; `--stage` must be a known stage."""
    parser = OneLineParser(
        prog="build.py",
        description="Promote an approved model package from the dev registry into a stage "
        "account, render the stage's pipeline and write its Terraform inputs; or show what the "
        "stage runs (--status).",
        epilog="Exit codes: 0 done, 1 AWS or runtime failure, 2 bad input or configuration.",
    )
    parser.add_argument("--stage", required=True, choices=STAGES, help="stage to act on")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="stage config (default: <stage>-config.tfvars.json in the repository root, "
        f"e.g. {default_config_path(STAGES[0]).name})",
    )
    parser.add_argument(
        "--model-package-arn",
        metavar="ARN",
        help="pin this Approved source package version (default: the group's latest Approved)",
    )
    parser.add_argument(
        "--source-role-arn",
        metavar="ARN",
        help="role to assume for the dev registry (default: the config's source_role_arn, "
        "else the ambient credentials)",
    )
    parser.add_argument(
        "--target-role-arn",
        metavar="ARN",
        help="role to assume in the stage account (default: the config's target_role_arn, "
        "else the ambient credentials)",
    )
    parser.add_argument(
        "--output-dir", type=Path, metavar="DIR", help="where to write (default: build/<stage>)"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")
    mode.add_argument(
        "--resolve-only",
        action="store_true",
        help="print only the source package ARN to promote (needs only dev credentials)",
    )
    mode.add_argument(
        "--status",
        action="store_true",
        help="show the stage's promoted versions, what its pipeline and schedule run and the "
        "last executions; read-only, needs only stage-account read access",
    )
    parser.add_argument(
        "--images-from",
        type=Path,
        metavar="PATH",
        help="the previous stage's build/<stage>/images.json: promote exactly the image digests "
        "it promoted (prod runs the digest pre-prod ran; deploy.yml passes it)",
    )
    parser.add_argument(
        "--check-input",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="a file the model will score (the repository's inputs/smoke-input.csv, "
        "inputs/evaluation-rows.csv): refused before anything is written unless its header "
        "names every feature column of the model (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="with --status: print JSON")
    parser.add_argument(
        "--approval-status",
        choices=approval.APPROVAL_STATUSES,
        default=approval.APPROVED,
        help="status of a newly promoted package: PendingManualApproval keeps it inert until "
        "--approve (the prod plan job); default Approved",
    )
    parser.add_argument(
        "--approve",
        action="store_true",
        help="after the review: set the package of the reviewed build (OUTPUT_DIR/"
        "deployment.tfvars.json) Approved; needs only stage credentials",
    )
    args = parser.parse_args(argv)
    refuse_control_characters(parser, args)
    if args.json and not args.status:
        parser.error("--json goes with --status")
    if args.approve and (
        args.resolve_only or args.status or args.approval_status != approval.APPROVED
    ):
        parser.error(
            "--approve cannot be combined with --resolve-only, --status or --approval-status"
        )
    for path in args.check_input:
        if not path.is_file():
            parser.error(f"--check-input {path}: no such file")
    for flag in ("source_role_arn", "target_role_arn"):
        value = getattr(args, flag)
        if value is not None and not is_role_arn(value):
            parser.error(f"--{flag.replace('_', '-')} {value!r} is not an IAM role ARN")
    return Options(
        stage=args.stage,
        config=args.config or default_config_path(args.stage),
        model_package_arn=args.model_package_arn or None,
        source_role_arn=args.source_role_arn,
        target_role_arn=args.target_role_arn,
        output_dir=args.output_dir or REPO_ROOT / "build" / args.stage,
        dry_run=args.dry_run,
        resolve_only=args.resolve_only,
        status=args.status,
        json=args.json,
        approval_status=args.approval_status,
        approve=args.approve,
        images_from=args.images_from,
        check_inputs=tuple(args.check_input),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run build.py; expected failures print one line and return 1 or 2."""
    options = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    for name in ("build", "promotion"):  # ours at INFO; botocore's INFO lines are noise
        logging.getLogger(name).setLevel(logging.INFO)
    try:
        check_endpoint_environment(dict(os.environ))
        with aws_errors("the configured credentials", "build.py"):
            return run(options)
    except PromotionError as error:
        for line in str(error).splitlines():  # several only for a list (LimitError)
            print(f"build.py: error: {line}", file=sys.stderr)
        return error.exit_code


def run(
    options: Options,
    *,
    settings: CopySettings | None = None,
    lease_settings: LeaseSettings | None = None,
) -> int:
    """Validate, open both accounts, resolve, plan, then promote and render (unless dry-run)."""
    config = load_stage_config(options.config, stage=options.stage)
    with blaming_stage_keys(config):
        return run_stage(config, options, settings=settings, lease_settings=lease_settings)


def run_stage(
    config: StageConfig,
    options: Options,
    *,
    settings: CopySettings | None,
    lease_settings: LeaseSettings | None,
) -> int:
    """`run` once the stage file is read."""
    if options.status:
        return show_status(config, options)
    if options.approve:
        return approve_reviewed(config, options)
    if options.model_package_arn:
        registry.check_pinned_arn(
            options.model_package_arn,
            group=config.model_package_group_name,
            account_id=config.source_account_id,
            region=config.region,
        )
    if not (options.dry_run or options.resolve_only):
        check_writable_dir(options.output_dir)
    source, target = open_identities(config, options)
    source_sm = source.client("sagemaker")
    source_arn = options.model_package_arn or registry.resolve_latest_approved(
        source_sm, group=config.model_package_group_name, account_id=source.account_id
    )
    if options.resolve_only or target is None:
        registry.describe_approved(source_sm, source_arn)  # a pinned ARN must be Approved too
        print(source_arn)
        return 0
    pinned: dict[str, str] = {}
    pinned_artifacts: dict[str, str] | None = None
    pinned_by = ""
    if options.images_from:
        earlier = read_pinned(options.images_from, source_arn)
        pinned, pinned_artifacts = earlier.images, earlier.artifacts
        pinned_by = f"{earlier.stage} ({options.images_from})"
        if pinned_artifacts is None:
            LOG.warning("notice: %s records no artifact ETags (written before 1.1.0): the "
                        "artifacts are not checked against what %s copied",
                        options.images_from, earlier.stage)  # fmt: skip
    source_s3, target_sm, target_s3 = (
        source.client("s3"),
        target.client("sagemaker"),
        target.client("s3"),
    )
    # The dev repositories' policies let the stage roles that promote read the model's images
    # (bootstrap/dev): the registry reader, which the resolve job assumes too, may not.
    ecr = {"source_ecr": target.client("ecr"), "target_ecr": target.client("ecr")}
    plan = plan_promotion(
        config, source_arn=source_arn, source_sm=source_sm, source_s3=source_s3,
        target_sm=target_sm, target_s3=target_s3, pinned_images=pinned,
        pinned_artifacts=pinned_artifacts, **ecr,
    )  # fmt: skip
    features = feature_columns_for(config, plan.source)  # refuse before writing anything
    check_stage_inputs(config, plan.source, features)
    columns_from = (f"the stage key feature_columns of {config.path}" if config.feature_columns
                    else f"the feature_columns metadata of {source_arn}")  # fmt: skip
    for path in options.check_inputs:
        check_columns(path, features=features, id_column=config.id_column, source=columns_from)
    for notice in plan.notices:
        LOG.warning("notice: %s", notice)
    if options.dry_run:
        print(f"Plan for {config.stage} (account {config.account_id}), dry run: nothing written")
        for line in plan.describe(options.approval_status):
            print(f"  - {line}")
        return 0
    result = promote(
        plan, config, source_sm=source_sm, source_s3=source_s3, target_sm=target_sm,
        target_s3=target_s3, settings=settings or CopySettings(), lease_settings=lease_settings,
        git_sha=os.environ.get("GITHUB_SHA"), progress=progress_reporter(), on_wait=_waiting,
        approval_status=options.approval_status, pinned_images=pinned,
        pinned_artifacts=pinned_artifacts, **ecr,
    )  # fmt: skip
    built = render_stage(
        config, target_s3=target_s3, source_package=plan.source,
        feature_columns=features, output_dir=options.output_dir,
        target_package=result.target_package,
    )  # fmt: skip
    write_outputs(config, options, result, built, pinned_by)
    return 0


def show_status(config: StageConfig, options: Options) -> int:
    """Print the stage's status (read-only); append it to the job summary in GitHub Actions."""
    from pipelines.status import collect_status, render_json, render_markdown, render_text

    target = open_identity(
        new_session(region_name=config.region), label=f"target ({config.stage})",
        role_arn=options.target_role_arn or config.target_role_arn,
        expected_account=config.account_id,
        session_name=f"build-py-status-{os.environ.get('GITHUB_RUN_ID', 'local')}",
        config_key="account_id",
    )  # fmt: skip
    status = collect_status(
        config, sagemaker=target.client("sagemaker"), scheduler=target.client("scheduler"),
        s3=target.client("s3"),
    )  # fmt: skip
    print(render_json(status) if options.json else render_text(status))
    append_step_summary(render_markdown(status))
    return 0


def approve_reviewed(config: StageConfig, options: Options) -> int:
    """Set the reviewed build's package Approved; nothing else is read or written.

    The package is found again by lineage and must be the one the reviewed build names.
    """
    reviewed = approval.read_reviewed_build(options.output_dir / "deployment.tfvars.json")
    if options.model_package_arn and options.model_package_arn != reviewed.source_arn:
        raise ConfigError(
            f"--model-package-arn {options.model_package_arn} is not the source of the reviewed "
            f"build ({reviewed.path}: {reviewed.source_arn}); approve the build that was reviewed"
        )
    target = open_target(config, options)
    target_sm = target.client("sagemaker")
    package = registry.find_promoted(
        target_sm, group=config.model_package_group_name, source_arn=reviewed.source_arn
    )
    needed = approval.needs_approval(package, reviewed, target.account_id)
    assert package is not None  # needs_approval raised otherwise
    if options.dry_run:
        print(f"{'approve' if needed else 'already Approved:'} {reviewed.target_arn} (dry run)")
        return 0
    if needed:
        approval.approve(target_sm, package, stage=config.stage, description=_approval_note())
    verb = "Approved" if needed else "Already Approved"
    print(f"{verb}: {reviewed.target_arn} (promoted from {reviewed.source_arn})")
    shown = f"`{reviewed.target_arn}` (promoted from `{reviewed.source_arn}`)"
    append_step_summary(f"{verb}: {shown}\n")
    return 0


def _approval_note() -> str:
    run_id = os.environ.get("GITHUB_RUN_ID")
    if not run_id:
        return "approved with build.py --approve"
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    run_url = f"{server}/{os.environ.get('GITHUB_REPOSITORY', '')}/actions/runs/{run_id}"
    return f"approved by the reviewers of the prod environment in {run_url}"


def _waiting(holder: dict[str, object]) -> None:
    LOG.warning(
        "another run (%s on %s) is promoting this version; waiting for it to finish",
        holder.get("holder"), holder.get("host"),
    )  # fmt: skip


def open_identities(config: StageConfig, options: Options) -> tuple[Identity, Identity | None]:
    """The checked source identity, and the target one unless only resolving."""
    base = new_session(region_name=config.region)
    source = open_identity(
        base, label="source (dev)", role_arn=options.source_role_arn or config.source_role_arn,
        expected_account=config.source_account_id, session_name=_session_name(config),
        config_key="source_account_id",
    )  # fmt: skip
    if options.resolve_only:
        return source, None
    return source, open_target(config, options, base)


def open_target(
    config: StageConfig, options: Options, base: boto3.Session | None = None
) -> Identity:
    """The checked identity of the stage account."""
    return open_identity(
        base or new_session(region_name=config.region), label=f"target ({config.stage})",
        role_arn=options.target_role_arn or config.target_role_arn,
        expected_account=config.account_id, session_name=_session_name(config),
        config_key="account_id",
    )  # fmt: skip


def _session_name(config: StageConfig) -> str:
    return f"build-py-{config.stage}-{os.environ.get('GITHUB_RUN_ID', 'local')}"


def write_outputs(
    config: StageConfig,
    options: Options,
    result: PromotionResult,
    built: StageBuild,
    pinned_by: str = "",
) -> None:
    """Write deployment.tfvars.json and summary.md; print the summary."""
    source_version = int(
        result.target_package["CustomerMetadataProperties"][registry.LINEAGE_SOURCE_VERSION]
    )
    values = {
        "model_package_arn": result.target_arn,
        "source_model_package_arn": result.target_package["CustomerMetadataProperties"][
            registry.LINEAGE_SOURCE_ARN
        ],
        "source_model_package_version": source_version,
        "model_name": built.model_name,
        **built.tfvars,
    }
    write_tfvars(options.output_dir / "deployment.tfvars.json", values)
    write_tfvars(options.output_dir / "images.json", result.images_document(config.stage))
    copied = [c for c in result.copies if c.action != "skipped"]
    rows = [
        ("Stage", f"{config.stage} (account {config.account_id}, {config.region})"),
        ("Source package", f"{values['source_model_package_arn']} (version {source_version})"),
        ("Target package", result.target_arn + (" (reused)" if result.reused else " (created)")),
        ("Approval status", str(result.target_package.get("ModelApprovalStatus"))),
        ("Model name", built.model_name),
        ("Artifacts", f"{len(copied)} copied, {len(result.copies) - len(copied)} already there"),
        *image_rows(result, pinned_from=pinned_by or None),
        *built.summary_rows,
    ]
    markdown = summary_markdown(f"Promotion to {config.stage}", rows, built.summary_extra)
    (options.output_dir / "summary.md").write_text(markdown, encoding="utf-8")
    print(summary_text(f"Promotion to {config.stage}", rows))
    append_step_summary(markdown)


if __name__ == "__main__":
    sys.exit(main())
