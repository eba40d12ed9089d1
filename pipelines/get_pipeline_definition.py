"""Render one stage's pipeline definition JSON to a file or stdout; no AWS call.

    python -m pipelines.get_pipeline_definition --stage pre-prod --model-name NAME \\
        --model-package-version 3 [--feature-columns a,b,c] [--config PATH] [--output FILE]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from errors import ConfigError
from promotion.config import STAGES, default_config_path, load_stage_config
from promotion.config_rules import refuse_control_characters
from promotion.output import check_writable_dir, write_atomically
from utils import OneLineParser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; see the module docstring."""
    parser = OneLineParser(
        prog="python -m pipelines.get_pipeline_definition",
        description="Render a stage's batch-inference pipeline definition (no AWS call).",
    )
    parser.add_argument("--stage", required=True, choices=STAGES, help="stage to render for")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="stage config (default: <stage>-config.tfvars.json in the repository root)",
    )
    parser.add_argument(
        "--model-name", required=True, help="SageMaker model name: the default of ModelName"
    )
    parser.add_argument(
        "--model-package-version",
        required=True,
        type=int,
        metavar="N",
        help="source version number, written next to every prediction",
    )
    parser.add_argument(
        "--feature-columns",
        metavar="A,B,...",
        help="model features, comma-separated, in model order (default: the stage config's "
        "feature_columns; required when that is null)",
    )
    parser.add_argument(
        "--pipeline-name",
        help="pipeline name (default: <model_package_group_name>-<stage>-batch-inference)",
    )
    parser.add_argument(
        "--output", type=Path, metavar="FILE", help="file to write (default: standard output)"
    )
    args = parser.parse_args(argv)
    refuse_control_characters(parser, args)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Render; exit 0, or 2 with one line on stderr for bad input or configuration."""
    args = parse_args(argv)
    # Rendering needs no credentials: never let botocore ask the instance metadata service.
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    from pipelines.definition.pipeline import pipeline_name_for, render_definition

    try:
        if args.output is not None:  # refuse before the seconds a render takes
            check_writable_dir(args.output.parent, flag="--output")
        config = load_stage_config(args.config or default_config_path(args.stage), stage=args.stage)
        if args.feature_columns is not None:
            columns = [column.strip() for column in args.feature_columns.split(",")]
        elif config.feature_columns:
            columns = list(config.feature_columns)
        else:
            raise ConfigError(
                f"{config.path}: no feature columns; pass --feature-columns or set feature_columns"
            )
        text = render_definition(
            config=config,
            pipeline_name=args.pipeline_name or pipeline_name_for(config),
            model_name=args.model_name,
            model_package_version=args.model_package_version,
            feature_columns=columns,
        )
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        write_atomically(args.output, text)
    except OSError as error:
        print(
            f"error: cannot write {args.output} ({error.strerror or error}); "
            "pass a writable --output",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
