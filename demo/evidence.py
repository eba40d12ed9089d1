"""The demo's evidence: a clean batch passes the data-quality check, a drifted one is caught,
and two model versions are compared the way the pre-prod job compares them for prod's reviewer.

    from demo.evidence import show_evidence
    show_evidence(Path("demo-output/evidence"))

Runs on this machine only (no AWS, no moto): the check is Preprocess itself, run with policy
``fail`` against a baseline of the demo model's training rows, on the held-out rows (clean) and
on the same rows with one feature shifted (drifted); the comparison scores the held-out rows
with versions 1 and 3 and builds the same report as ``python -m pipelines.compare``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.baseline import write_baseline
from pipelines.evidence.comparison_rows import Column
from pipelines.evidence.quality_comparison import (
    Thresholds,
    compare_predictions,
    markdown_report,
)
from pipelines.steps import preprocess
from testbed import seed

QUALITY_MODULE = Path(preprocess.__file__).with_name("quality.py")
DRIFTED_FEATURE = "f03"
SHIFT_STD_DEVS = 4.0
VERSIONS = (1, 3)  # the demo's two Approved versions (seed.VERSION_STATUSES)


@dataclass(frozen=True)
class Evidence:
    """What the evidence demo found, and where its reports are."""

    clean_passed: bool
    drift_caught: bool
    drift_line: str
    comparison_verdict: str
    reports: dict[str, Path]
    agreement: float = 0.0
    rows: int = 0


def check_batch(frame: pd.DataFrame, work: Path, baseline: Path) -> tuple[int, str]:
    """Run Preprocess with the data-quality gate on one batch; its exit code and failure line.

    What the step prints (its Markdown report, the failure) goes to ``work/preprocess.log``.
    """
    data = work / "input"
    data.mkdir(parents=True, exist_ok=True)
    frame.to_csv(data / "batch.csv", index=False)
    argv = [
        *("--input-dir", str(data), "--shards-dir", str(work / "shards")),
        *("--ids-dir", str(work / "ids"), "--failure-file", str(work / "message")),
        *("--resource-config", str(work / "none.json")),
        *("--feature-columns", ",".join(seed.FEATURES), "--id-column", seed.ID_COLUMN),
        *("--quality-code", str(QUALITY_MODULE)),
        *("--quality-option", "policy=fail", "--quality-option", f"baseline_dir={baseline}"),
        *("--quality-option", f"output_dir={work / 'quality'}"),
    ]
    with (
        (work / "preprocess.log").open("w", encoding="utf-8") as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
    ):
        code = preprocess.main(argv)
    message = work / "message"
    return code, message.read_text(encoding="utf-8") if message.exists() else ""


def largest_drift(work: Path) -> str:
    """The feature nearest its drift limit in a checked batch, e.g. "f00 0.086 (limit 0.131)"."""
    result = json.loads((work / "quality" / "algo-1-data-quality.json").read_text("utf-8"))
    measured = [f for f in result["features"] if f.get("distance") is not None]
    worst: dict[str, Any] = max(measured, key=lambda f: f["distance"] / f["threshold"])
    return f"{worst['name']} {worst['distance']:.3f} (limit {worst['threshold']:.3f})"


def show_evidence(out_dir: Path, *, log: Callable[[str], None] = print) -> Evidence:
    """Baseline, clean and drifted batches through the gate, and a two-version comparison."""
    train, held_out = seed.split()
    baseline = out_dir / "baseline"
    statistics, constraints = write_baseline(train[seed.FEATURES], out_dir / "files")
    for part, path in (("statistics", statistics), ("constraints", constraints)):
        (baseline / part).mkdir(parents=True, exist_ok=True)
        (baseline / part / path.name).write_bytes(path.read_bytes())
    clean = held_out[seed.FEATURES].reset_index(drop=True)
    clean.insert(0, seed.ID_COLUMN, [f"r{i:07d}" for i in range(len(clean))])
    drifted = clean.copy()
    drifted[DRIFTED_FEATURE] += SHIFT_STD_DEVS * train[DRIFTED_FEATURE].std()
    clean_code, _ = check_batch(clean, out_dir / "clean", baseline)
    drift_code, drift_line = check_batch(drifted, out_dir / "drifted", baseline)
    rows = len(clean)
    log(f"baseline        the {len(train)} training rows -> {baseline}")
    log(f"clean batch     {rows} held-out rows: {'passed' if clean_code == 0 else 'FAILED'}, "
        f"largest drift {largest_drift(out_dir / 'clean')}")  # fmt: skip
    shifted = f"{DRIFTED_FEATURE} + {SHIFT_STD_DEVS:g} std"
    caught = drift_line.removeprefix("preprocess failed: ") if drift_code else "NOT caught"
    log(f"drifted batch   the same rows, {shifted}: {'stopped, ' if drift_code else ''}{caught}")

    champion, challenger = (f"v{version}" for version in VERSIONS)
    frames = [
        pd.DataFrame(
            {
                seed.ID_COLUMN: clean[seed.ID_COLUMN],
                "prediction": seed.train_model(seed=version - 1).predict_proba(
                    clean[seed.FEATURES]
                )[:, 1],
            }
        )
        for version in VERSIONS
    ]
    result = compare_predictions(
        frames[0], frames[1], thresholds=Thresholds(), id_columns=[seed.ID_COLUMN],
        prediction_columns=[Column("prediction")],
    )  # fmt: skip
    report = markdown_report(result, champion=champion, challenger=challenger)
    reports = {
        "clean": out_dir / "clean" / "quality" / "algo-1-data-quality.md",
        "drifted": out_dir / "drifted" / "quality" / "algo-1-data-quality.md",
        "comparison": out_dir / "comparison.md",
    }
    reports["comparison"].write_text(report, encoding="utf-8")
    (out_dir / "comparison.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    log(f"comparison      {champion} vs {challenger} on the held-out rows: {result['verdict']}, "
        f"{result['agreement']:.1%} agree within {result['large_difference']:g}, "
        f"correlation {result['correlation']:.3f}")  # fmt: skip
    shown = ", ".join(str(reports[name].relative_to(out_dir)) for name in ("drifted", "comparison"))
    log(f"reports         {out_dir}/: {shown} (JSON beside each)")
    return Evidence(
        clean_code == 0, drift_code != 0, drift_line, result["verdict"], reports,
        agreement=result["agreement"], rows=rows,
    )  # fmt: skip


def compare_locally(work: Path, *, rows: int = 200, log: Callable[[str], None] = print) -> Path:
    """Champion/challenger end to end on the local AWS (testbed.local_aws must be running): the
    demo's versions 1 and 3 approved and promoted into pre-prod with build.py, then
    ``python -m pipelines.compare --local`` scores one input with both. Returns the report dir.
    """
    import build
    from demo.story import DEV_ACCOUNT, Story, register_versions
    from pipelines import compare
    from promotion.config import parse_s3_url
    from testbed.local_aws import PRE_PROD_ACCOUNT, account_session, role_arn

    stage_name = "pre-prod"
    story = Story(rows=rows, output_dir=work)
    register_versions(story)  # versions 1 and 3 are Approved (seed.VERSION_STATUSES)
    arns = story.source_arns
    config = story.configs[stage_name]
    for arn in (arns[0], arns[2]):
        code = build.main(
            ["--stage", stage_name, "--model-package-arn", arn, "--output-dir", str(work / "build"),
             "--source-role-arn", role_arn(DEV_ACCOUNT),
             "--target-role-arn", role_arn(PRE_PROD_ACCOUNT)]
        )  # fmt: skip
        if code != 0:
            raise SystemExit(code)
    bucket, _ = parse_s3_url(config.input_data_url)
    sample = seed.sample_input(rows, seed=13)
    stage = account_session(PRE_PROD_ACCOUNT, config.region).client("s3")
    stage.put_object(Bucket=bucket, Key="evaluation/eval.csv", Body=sample.to_csv(index=False))
    output = work / "comparison"
    code = compare.main(
        ["--stage", stage_name, "--champion", "1", "--challenger", "3", "--local",
         "--input", f"s3://{bucket}/evaluation/", "--output", str(output),
         "--definition", str(work / "build" / "pipeline-definition.json"),
         "--role-arn", role_arn(PRE_PROD_ACCOUNT)]
    )  # fmt: skip
    if code != 0:
        raise SystemExit(code)
    log(f"comparison report: {output / 'comparison.md'}")
    return output
