"""Benchmark the batch pipeline: definition rendering, CLI import, and the step scripts.

    .venv/bin/python bench/bench_pipeline.py [--rows 1000000] [--features 30]
        [--formats csv,parquet] [--repeat 3]

Each measured piece runs in its own subprocess; wall time is measured around it and peak memory
is the subprocess's maximum resident set size (``wait4`` rusage). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from testbed.local_aws import DEMO_STAGES

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = REPO_ROOT / "pipelines" / "steps"

RENDER = """
import json, os, sys, time
from pathlib import Path
from promotion.config import load_stage_config
from pipelines.definition import pipeline
config = load_stage_config(Path(sys.argv[1]))
features = [f"feature_{i:02d}" for i in range(30)]
import pipelines.definition.definition  # the SDK import, outside the timing
times = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    pipeline.render_definition(config=config, pipeline_name=pipeline.pipeline_name_for(config),
        model_name="model", model_package_version=1, feature_columns=features)
    times.append(time.perf_counter() - start)
print(json.dumps(times))
"""

GENERATE = """
import sys
import numpy as np, pyarrow as pa, pyarrow.csv as pacsv, pyarrow.parquet as pq
rows, features, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(7)
columns = {"record_id": pa.array(np.arange(rows).astype(str))}
columns.update({f"feature_{i:02d}": rng.standard_normal(rows) for i in range(features)})
table = pa.table(columns)
if path.endswith(".csv"):
    pacsv.write_csv(table, path)
else:
    pq.write_table(table, path, row_group_size=128 * 1024)
"""


def measure(command: Sequence[str], *, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run ``command``; return its wall time in seconds and peak RSS in MiB."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"benchmark command failed ({process.returncode}): {' '.join(command)}")
    return seconds, usage.ru_maxrss / 1024


def fake_transform(shards: Path, predictions: Path) -> None:
    """One prediction line per shard line, like the scikit-learn container with Accept text/csv."""
    predictions.mkdir(parents=True, exist_ok=True)
    for shard in sorted(shards.iterdir()):
        lines = shard.read_bytes().count(b"\n")
        (predictions / f"{shard.name}.out").write_bytes(
            b"0\n1\n" * (lines // 2) + b"1\n" * (lines % 2)
        )


def bench_render(python: str, config: Path, repeat: int) -> list[tuple[str, str, str]]:
    """Render time without imports, and the import times of the CLI and of the SDK."""
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    result = subprocess.run(
        [python, "-c", RENDER, str(config), str(repeat)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    times = [float(t) for t in result.stdout.strip().splitlines()[-1].strip("[]").split(",")]
    rows = [
        ("render_definition, first call (SDK imported)", f"{times[0]:.2f} s", "-"),
        (f"render_definition, median of {len(times)}", f"{statistics.median(times):.2f} s", "-"),
    ]
    baseline, _ = measure([python, "-c", "pass"], env=env)
    for label, module in (
        ("import pipelines.get_pipeline_definition (CLI)", "pipelines.get_pipeline_definition"),
        ("import of the SageMaker SDK (first render)", "pipelines.definition.definition"),
    ):
        seconds, rss = measure([python, "-c", f"import {module}"], env=env)
        rows.append((label, f"{seconds - baseline:.2f} s", f"{rss:.0f} MiB"))
    return rows


def bench_scripts(
    python: str, work: Path, rows: int, features: int, file_format: str
) -> list[tuple[str, str, str]]:
    """Preprocess then postprocess ``rows`` x ``features`` of one format."""
    data = work / file_format / "in"
    data.mkdir(parents=True)
    source = data / f"data.{file_format}"
    subprocess.run([python, "-c", GENERATE, str(rows), str(features), str(source)], check=True)
    size = source.stat().st_size / 2**20
    out = work / file_format / "out"
    columns = ",".join(f"feature_{i:02d}" for i in range(features))
    seconds, rss = measure(
        [
            python,
            str(SCRIPTS / "preprocess.py"),
            "--input-dir",
            str(data),
            "--shards-dir",
            str(out / "shards"),
            "--ids-dir",
            str(out / "ids"),
            "--feature-columns",
            columns,
            "--id-column",
            "record_id",
        ]
    )
    shards = len(list((out / "shards").iterdir()))
    label = f"preprocess {rows:,} x {features} {file_format} ({size:.0f} MiB, {shards} shards)"
    results = [(label, f"{seconds:.2f} s", f"{rss:.0f} MiB")]
    fake_transform(out / "shards", out / "predictions")
    seconds, rss = measure(
        [
            python,
            str(SCRIPTS / "postprocess.py"),
            "--ids-dir",
            str(out / "ids"),
            "--predictions-dir",
            str(out / "predictions"),
            "--output-dir",
            str(out / "final"),
            "--model-package-version",
            "1",
            "--execution-id=bench",
            "--run-date=2024-01-31",
        ]
    )
    results.append(
        (f"postprocess {rows:,} rows ({file_format} run)", f"{seconds:.2f} s", f"{rss:.0f} MiB")
    )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and print one Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--formats", default="csv,parquet", help="comma-separated: csv, parquet")
    parser.add_argument("--repeat", type=int, default=3, help="renders to time")
    parser.add_argument("--skip-render", action="store_true")
    args = parser.parse_args(argv)
    python = sys.executable
    results: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as directory:
        work = Path(directory)
        if not args.skip_render:
            config = DEMO_STAGES / "pre-prod-config.tfvars.json"
            results += bench_render(python, config, args.repeat)
        for file_format in args.formats.split(","):
            results += bench_scripts(python, work, args.rows, args.features, file_format)
    width = max(len(row[0]) for row in results)
    print(f"| {'measurement':<{width}} | wall time | peak RSS |")
    print(f"|{'-' * (width + 2)}|-----------|----------|")
    for label, seconds, rss in results:
        print(f"| {label:<{width}} | {seconds:>9} | {rss:>8} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
