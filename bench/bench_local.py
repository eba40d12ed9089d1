"""Benchmark of the local runner against a pandas baseline that produces exactly what the
pipeline produces, for the scikit-learn and the built-in XGBoost model side by side
(bench/bench_models.py).

    .venv/bin/python -m bench.bench_local                      # 1M rows; again at 4M rows
    .venv/bin/python -m bench.bench_local --rows 20000 --rss-rows 20000,80000   # quick run

An embedded moto server plays S3 and SageMaker. Every measurement runs in a child process, so
the server's own memory and CPU stay out of the child's figures (they still share the 2 cores):
- baseline: pandas reads the pipeline's input CSV (ids, header), the model scores every row once
  as the serving container computes the scores (ModelKind.scores), and the result is written as
  Postprocess writes it: one Parquet table with the id, ``prediction`` and the
  ``model_package_version``, ``execution_id`` and ``run_date`` columns
  (tests/local/test_bench_baseline.py checks it equals the pipeline's, for both kinds);
- Transform: a one-step definition (the real Transform settings: MultiRecord, 6 MB, Line) over
  the same features as one headerless S3 object, with the kind's model package;
- pipeline: the real rendered definition (Preprocess -> Transform -> Postprocess, which
  publishes) over the same input, with each step's seconds and peak RSS (Processing steps are
  measured by bench/peak_rss.py around their process; Transform runs inside the runner).
The children run with compiled bytecode allowed (PYTHONDONTWRITEBYTECODE unset), as in the
processing image, whose packages are installed with it, and each kind is warmed once.
It also prints the SageMaker jobs a scheduled run starts, read from the rendered definition.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bench.bench_models import KINDS, NAMES, REGION, REPO, ModelKind
from pipelines.definition.diagram import job_steps
from testbed.local_aws import DEMO_STAGES

BENCH_BUCKET = "bench-local"
BLOCK_ROWS = 10_000
ID_COLUMN = "record_id"


def write_rows(path: Path, rows: int, *, with_ids: bool) -> int:
    """Write ``rows`` noisy breast-cancer rows (a repeated block); return the file size."""
    from sklearn.datasets import load_breast_cancer

    features = load_breast_cancer().data
    rng = np.random.default_rng(0)
    picks = features[rng.integers(0, len(features), BLOCK_ROWS)]
    block = pd.DataFrame(picks * rng.normal(1.0, 0.05, picks.shape), columns=NAMES)
    with path.open("w") as out:
        if with_ids:
            out.write(",".join(["record_id", *NAMES]) + "\n")
        written = 0
        while written < rows:
            part = block.iloc[: min(BLOCK_ROWS, rows - written)]
            if with_ids:
                part = part.assign(record_id=np.arange(written, written + len(part)))
                part = part[["record_id", *NAMES]]
            out.write(part.to_csv(header=False, index=False, float_format="%.6g"))
            written += len(part)
    return path.stat().st_size


def transform_definition(input_uri: str, output_uri: str) -> dict[str, Any]:
    """One Transform step with the settings of the real pipeline."""
    return {
        "Version": "2020-12-01",
        "Parameters": [],
        "Steps": [
            {
                "Name": "Transform",
                "Type": "Transform",
                "Arguments": {
                    "ModelName": "bench-model",
                    "BatchStrategy": "MultiRecord",
                    "MaxPayloadInMB": 6,
                    "MaxConcurrentTransforms": 4,
                    "TransformInput": {
                        "ContentType": "text/csv",
                        "SplitType": "Line",
                        "DataSource": {
                            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}
                        },
                    },
                    "TransformOutput": {
                        "S3OutputPath": output_uri,
                        "Accept": "text/csv",
                        "AssembleWith": "Line",
                    },
                    "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge"},
                },
            }
        ],
    }


def real_definition(s3: Any) -> tuple[dict[str, Any], str]:
    """The rendered pre-prod definition (scripts uploaded) and its input prefix."""
    from pipelines.definition.pipeline import (
        pipeline_name_for,
        render_definition,
        upload_step_scripts,
    )
    from promotion.config import load_stage_config

    config = load_stage_config(DEMO_STAGES / "pre-prod-config.tfvars.json")
    for bucket in {config.artifacts_bucket, config.input_data_url.split("/")[2]}:
        s3.create_bucket(Bucket=bucket)
    upload_step_scripts(s3, config=config)
    rendered = render_definition(
        config=config,
        pipeline_name=pipeline_name_for(config),
        model_name="bench-model",
        model_package_version=1,
        feature_columns=NAMES,
    )
    return json.loads(rendered), config.input_data_url


# ---------------------------------------------------------------- the baseline


def baseline_table(csv_path: Path, model: Any, *, version: int, execution_id: str,
                   run_date: datetime.date, kind: ModelKind = KINDS[0]) -> pa.Table:  # fmt: skip
    """What the pipeline writes for ``csv_path``, computed with pandas and the model as its
    container scores: the id as text, the score of each row, and the columns Postprocess adds."""
    frame = pd.read_csv(csv_path, dtype={ID_COLUMN: str})
    scores = kind.scores(frame, model)
    rows = len(frame)
    return pa.Table.from_arrays(
        [
            pa.array(frame[ID_COLUMN].to_numpy(dtype=object), pa.string()),
            pa.array(scores, pa.float64()),
            pa.repeat(pa.scalar(version, pa.int64()), rows),
            pa.repeat(pa.scalar(execution_id, pa.string()), rows),
            pa.repeat(pa.scalar(run_date, pa.date32()), rows),
        ],
        names=[ID_COLUMN, "prediction", "model_package_version", "execution_id", "run_date"],
    )


# ---------------------------------------------------------------- children (one measurement each)


def child_main(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in this (child) process; return figures."""
    import sklearn.linear_model  # noqa: F401  (imports are not what is measured)
    import sklearn.pipeline  # noqa: F401
    import xgboost  # noqa: F401

    model_kind = next(k for k in KINDS if k.name == spec["kind"])

    started, cpu_started = time.perf_counter(), _cpu()
    step_seconds: dict[str, float] = {}
    step_rss: dict[str, float] = {}
    step_cpu: dict[str, float] = {}
    if kind == "baseline":
        model = model_kind.load(Path(spec["model_path"]))
        table = baseline_table(Path(spec["csv"]), model, version=1, execution_id="baseline",
                               run_date=datetime.date.today(), kind=model_kind)  # fmt: skip
        pq.write_table(table, spec["out"])
        seconds = time.perf_counter() - started
    else:
        from pipelines.local import processing, run_definition

        record = Path(spec["rss_record"])
        real_command = processing._command

        def measured(app: dict[str, Any], root: Path) -> list[str]:
            command = real_command(app, root)
            return [sys.executable, str(REPO / "bench" / "peak_rss.py"), str(record), *command]

        processing._command = measured
        session = boto3.Session(region_name=REGION)
        result = run_definition(
            spec["definition"],
            parameters={},
            session=session,
            model_package_arn=spec["arn"],
            log=lambda line: None,
        )
        if result.status != "Succeeded":
            reasons = [s.failure_reason for s in result.steps if s.failure_reason]
            raise SystemExit(f"{kind} run failed: {reasons}")
        seconds = time.perf_counter() - started
        step_seconds = {step.name: step.seconds for step in result.steps}
        lines = record.read_text().splitlines() if record.exists() else []
        processing_steps = [s.name for s in result.steps if s.type == "Processing"]
        for name, line in zip(processing_steps, lines, strict=True):
            step_rss[name] = json.loads(line)["peak_rss_mb"]
            step_cpu[name] = json.loads(line)["cpu"]
    return {
        "seconds": seconds,
        "cpu": _cpu() - cpu_started,  # this process and its finished children (the steps)
        "steps": step_seconds,
        "step_rss": step_rss,
        "step_cpu": step_cpu,
        "peak_rss_mb": peak_rss_mb(),
    }


def _cpu() -> float:
    """User + system seconds of this process and of its children that have ended."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). ru_maxrss is not used: Linux carries the parent's
    peak over fork and exec, so a child of the (big) moto parent would report the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(kind: str, spec: dict[str, Any], endpoint: str) -> dict[str, Any]:
    """Run ``kind`` in a fresh interpreter against the moto server."""
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.pop("AWS_PROFILE", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # compiled bytecode, as in the processing image
    command = [sys.executable, "-m", "bench.bench_local", "--child", kind, json.dumps(spec)]
    server_cpu = time.process_time()  # this process: the moto server's threads serving S3
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    server_cpu = time.process_time() - server_cpu
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{done.stderr[-3000:]}")
    figures = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    figures["server_cpu"] = server_cpu
    return figures


# ---------------------------------------------------------------- parent


def run(rows: int, rss_rows: list[int], pipeline: bool, work: Path) -> list[tuple[str, ...]]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    )  # the parent's own clients only
    session = boto3.Session(region_name=REGION)
    s3 = session.client("s3", endpoint_url=endpoint)
    sm = session.client("sagemaker", endpoint_url=endpoint)
    try:
        s3.create_bucket(Bucket=BENCH_BUCKET)
        sm.create_model_package_group(ModelPackageGroupName="bench")
        packages = {kind.name: register(kind, s3, sm, work) for kind in KINDS}
        definition, input_url = real_definition(s3)
        print(f"SageMaker jobs per scheduled run (rendered definition): "
              f"{len(job_steps(definition))} ({', '.join(job_steps(definition))})")  # fmt: skip
        context = Context(s3, endpoint, packages, work, definition, input_url)
        warm_up(context)
        table: list[tuple[str, ...]] = []
        for count in sorted({rows, *rss_rows}):
            table += measure_size(context, count, pipeline)
        return table
    finally:
        server.stop()


def register(kind: ModelKind, s3: Any, sm: Any, work: Path) -> str:
    """Train the kind's model, keep it for the baseline, and register its package."""
    model = kind.train()
    kind.save(model, work / f"model-{kind.name}")
    key = f"model/{kind.name}/model.tar.gz"
    s3.put_object(Bucket=BENCH_BUCKET, Key=key, Body=kind.archive(model))
    return str(
        sm.create_model_package(
            ModelPackageGroupName="bench",
            InferenceSpecification={
                "Containers": [kind.container(f"s3://{BENCH_BUCKET}/{key}")],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )["ModelPackageArn"]
    )


@dataclass(frozen=True)
class Context:
    """What every measurement needs: the moto clients and endpoint, the packages, the files."""

    s3: Any
    endpoint: str
    packages: dict[str, str]  # model kind -> its package ARN
    work: Path
    definition: dict[str, Any]
    input_url: str


def _pipeline_input(context: Context, rows: int) -> tuple[Path, int]:
    """The pipeline's input (ids and a header) on disk and under the stage's input prefix."""
    path = context.work / f"input-{rows}.csv"
    size = write_rows(path, rows, with_ids=True)
    bucket, _, prefix = context.input_url[5:].partition("/")
    for item in context.s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        context.s3.delete_object(Bucket=bucket, Key=item["Key"])
    context.s3.upload_file(str(path), bucket, prefix + "part-0000.csv")
    return path, size


def _transform_input(context: Context, rows: int) -> str:
    """The same features, headerless, as one S3 object; its prefix."""
    path = context.work / f"features-{rows}.csv"
    write_rows(path, rows, with_ids=False)
    key = f"transform-input-{rows}/features.csv"
    context.s3.upload_file(str(path), BENCH_BUCKET, key)
    path.unlink()
    return f"s3://{BENCH_BUCKET}/transform-input-{rows}/"


def warm_up(context: Context) -> None:
    """One small run of each kind: compiled bytecode and page cache, as a warm machine has."""
    measure_size(context, 2_000, True)


def measure_size(context: Context, rows: int, pipeline: bool) -> list[tuple[str, ...]]:
    """Baseline, Transform and the whole pipeline at one input size, for every model kind."""
    input_path, size = _pipeline_input(context, rows)
    prefix = _transform_input(context, rows)
    table: list[tuple[str, ...]] = []
    for kind in KINDS:
        table += _measure_kind(context, kind.name, rows, size, input_path, prefix, pipeline)
    input_path.unlink()
    return table


def _measure_kind(context: Context, kind: str, rows: int, size: int, input_path: Path,
                  prefix: str, pipeline: bool) -> list[tuple[str, ...]]:  # fmt: skip
    spec: dict[str, Any] = {
        "kind": kind,
        "model_path": str(context.work / f"model-{kind}"),
        "csv": str(input_path),
        "out": str(context.work / "baseline.parquet"),
    }
    baseline = measure("baseline", spec, context.endpoint)
    base, base_cpu = baseline["seconds"], baseline["cpu"]
    label = f"{kind}: baseline, pandas + the model -> Parquet"
    table = [_row(rows, size, label, base, base, base_cpu, base_cpu, baseline["peak_rss_mb"])]
    arn = context.packages[kind]
    definition = transform_definition(prefix, f"s3://{BENCH_BUCKET}/out-{kind}-{rows}/")
    record = context.work / f"rss-{rows}-{time.monotonic_ns()}.jsonl"
    spec = {"kind": kind, "definition": definition, "arn": arn, "rss_record": str(record)}
    one = measure("transform", spec, context.endpoint)
    cpu = one["cpu"] + one["server_cpu"]
    label = f"{kind}: local Transform step (one object)"
    seconds = one["steps"]["Transform"]
    table.append(_row(rows, size, label, seconds, base, cpu, base_cpu, one["peak_rss_mb"]))
    if pipeline:
        record = context.work / f"rss-{rows}-{time.monotonic_ns()}.jsonl"
        spec = {"kind": kind, "definition": context.definition, "arn": arn,
                "rss_record": str(record)}  # fmt: skip
        whole = measure("pipeline", spec, context.endpoint)
        total, cpu = sum(whole["steps"].values()), whole["cpu"] + whole["server_cpu"]
        label = f"{kind}: whole pipeline (+ moto's CPU)"
        table.append(_row(rows, size, label, total, base, cpu, base_cpu, whole["peak_rss_mb"]))
        runner_cpu = whole["cpu"] - sum(whole["step_cpu"].values())
        for name, secs in whole["steps"].items():
            if name in whole["step_rss"]:
                step_cpu, rss = whole["step_cpu"][name], whole["step_rss"][name]
                table.append(_row(rows, size, f"  {name}", secs, base, step_cpu, None, rss))
            else:
                what = f"  {name} (CPU: the runner's, all steps' S3 I/O)"
                table.append(_row(rows, size, what, secs, base, runner_cpu, None, None))
    return table


def _row(rows: int, size: int, what: str, seconds: float, base: float, cpu: float,
         base_cpu: float | None, rss: float | None) -> tuple[str, ...]:  # fmt: skip
    return (
        f"{rows:,}",
        f"{size / 1e6:.0f}",
        what,
        f"{seconds:.2f}",
        f"{seconds / base:.2f}x",
        f"{cpu:.2f}" + (f" ({cpu / base_cpu:.2f}x)" if base_cpu else ""),
        "-" if rss is None else f"{rss:.0f}",
    )


def print_table(table: list[tuple[str, ...]]) -> None:
    header = ("rows", "CSV MB", "measurement", "seconds", "vs baseline", "CPU s", "peak RSS MB")
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    for line in [header, tuple("-" * w for w in widths), *table]:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the timed run")
    parser.add_argument(
        "--rss-rows", default="1000000,4000000", help="comma-separated sizes for the RSS check"
    )
    parser.add_argument("--no-pipeline", action="store_true", help="skip the whole-pipeline run")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child_main(args.child[0], json.loads(args.child[1]))))
        return 0
    rss_rows = [int(value) for value in args.rss_rows.split(",") if value.strip()]
    print(f"local runner benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="bench-local-") as work:
        table = run(args.rows, rss_rows, not args.no_pipeline, Path(work))
    print_table(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
