"""Benchmark of the local runner against a plain pandas + scikit-learn baseline.

    .venv/bin/python -m bench.bench_local                      # 1M rows; RSS at 1M and 4M rows
    .venv/bin/python -m bench.bench_local --rows 20000 --rss-rows 20000,80000   # quick run

An embedded moto server plays S3 and SageMaker. Every measurement runs in a child process, so
the server's own memory and CPU stay out of the child's peak RSS (they still share the 2 cores):
- baseline: pandas reads the feature CSV, ``model.predict`` once, pandas writes a CSV;
- Transform: a one-step definition (the real Transform settings: MultiRecord, 6 MB, Line) over
  the same CSV as one S3 object, with the demo model and demo/inference.py;
- pipeline: the real rendered definition (Preprocess -> Transform -> Postprocess) over the same
  rows with a record_id column and a header.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import joblib
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
NAMES = [f"f{i:02d}" for i in range(30)]
REGION = "us-east-1"
BENCH_BUCKET = "bench-local"
BLOCK_ROWS = 10_000


def train_model() -> Any:
    """The demo model: StandardScaler + LogisticRegression on breast cancer, features f00..f29."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, labels = load_breast_cancer(return_X_y=True)
    frame = pd.DataFrame(features, columns=NAMES)
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)).fit(frame, labels)


def model_archive(model: Any) -> bytes:
    """model.tar.gz: model.joblib at the root and code/inference.py."""
    buffer = io.BytesIO()
    pickled = io.BytesIO()
    joblib.dump(model, pickled)
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in (
            ("model.joblib", pickled.getvalue()),
            ("code/inference.py", (REPO / "demo" / "inference.py").read_bytes()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


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
    from pipelines.batch_inference.pipeline import (
        pipeline_name_for,
        render_definition,
        upload_step_scripts,
    )
    from promotion.config import default_config_path, load_stage_config

    config = load_stage_config(default_config_path("pre-prod"))
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


# ---------------------------------------------------------------- children (one measurement each)


def child_main(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run one measurement in this (child) process; return figures."""
    import sklearn.linear_model  # noqa: F401  (imports are not what is measured)
    import sklearn.pipeline  # noqa: F401

    started = time.perf_counter()
    if kind == "baseline":
        model = joblib.load(spec["model_path"])
        frame = pd.read_csv(spec["csv"], header=None, names=NAMES)
        predictions = model.predict(frame)
        pd.DataFrame(predictions).to_csv(spec["out"], header=False, index=False)
        seconds = time.perf_counter() - started
        step_seconds: dict[str, float] = {}
    else:
        from pipelines.local import run_definition

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
    return {"seconds": seconds, "steps": step_seconds, "peak_rss_mb": peak_rss_mb()}


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
    command = [sys.executable, "-m", "bench.bench_local", "--child", kind, json.dumps(spec)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


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
        model = train_model()
        joblib.dump(model, work / "model.joblib")
        s3.put_object(Bucket=BENCH_BUCKET, Key="model/model.tar.gz", Body=model_archive(model))
        sm.create_model_package_group(ModelPackageGroupName="bench")
        env = {
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        }
        container = {"Image": "sklearn", "ModelDataUrl": f"s3://{BENCH_BUCKET}/model/model.tar.gz"}
        arn = sm.create_model_package(
            ModelPackageGroupName="bench",
            InferenceSpecification={  # type: ignore[arg-type,misc]
                "Containers": [{**container, "Environment": env}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )["ModelPackageArn"]
        table: list[tuple[str, ...]] = []
        for count in sorted({rows, *rss_rows}):
            table += measure_size(
                count, count == rows, pipeline and count == rows, s3, endpoint, arn, work
            )
        return table
    finally:
        server.stop()


def measure_size(
    rows: int, timed: bool, pipeline: bool, s3: Any, endpoint: str, arn: str, work: Path
) -> list[tuple[str, ...]]:
    """Figures for one input size."""
    csv_path = work / f"features-{rows}.csv"
    size = write_rows(csv_path, rows, with_ids=False)
    key = f"transform-input-{rows}/features.csv"
    s3.upload_file(str(csv_path), BENCH_BUCKET, key)
    table: list[tuple[str, ...]] = []
    baseline = None
    if timed:
        spec = {
            "model_path": str(work / "model.joblib"),
            "csv": str(csv_path),
            "out": str(work / "b.csv"),
        }
        baseline = measure("baseline", spec, endpoint)
        table.append(
            _row(rows, size, "baseline: pandas + predict", baseline["seconds"], 1.0, baseline)
        )
    definition = transform_definition(
        f"s3://{BENCH_BUCKET}/transform-input-{rows}/", f"s3://{BENCH_BUCKET}/out-{rows}/"
    )
    figures = measure("transform", {"definition": definition, "arn": arn}, endpoint)
    seconds = figures["steps"]["Transform"]
    ratio = seconds / baseline["seconds"] if baseline else None
    table.append(_row(rows, size, "local Transform step", seconds, ratio, figures))
    csv_path.unlink()
    if pipeline and baseline:
        definition, input_url = real_definition(s3)
        input_path = work / f"input-{rows}.csv"
        write_rows(input_path, rows, with_ids=True)
        bucket, _, prefix = input_url[5:].partition("/")
        s3.upload_file(str(input_path), bucket, prefix + "part-0000.csv")
        input_path.unlink()
        whole = measure("pipeline", {"definition": definition, "arn": arn}, endpoint)
        total = sum(whole["steps"].values())
        steps = " + ".join(f"{name} {secs:.2f}" for name, secs in whole["steps"].items())
        table.append(
            _row(rows, size, f"whole pipeline ({steps})", total, total / baseline["seconds"], None)
        )
    return table


def _row(
    rows: int,
    size: int,
    what: str,
    seconds: float,
    ratio: float | None,
    figures: dict[str, Any] | None,
) -> tuple[str, ...]:
    rss = f"{figures['peak_rss_mb']:.0f}" if figures else "-"
    return (
        f"{rows:,}",
        f"{size / 1e6:.0f}",
        what,
        f"{seconds:.2f}",
        f"{ratio:.2f}x" if ratio else "-",
        rss,
    )


def print_table(table: list[tuple[str, ...]]) -> None:
    header = ("rows", "CSV MB", "measurement", "seconds", "vs baseline", "peak RSS MB")
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
