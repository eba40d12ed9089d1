"""The benchmark's baseline produces exactly what the pipeline produces (bench/bench_local.py).

Same rows, same model output per row (the demo model's ``predict_fn`` on float32 features, as
the serving container computes it), same columns and types: the ratio the benchmark prints
compares equal work. Both baselines: from the local CSV, and from the pipeline's S3 input object
to an S3 object.
"""

from __future__ import annotations

import datetime
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bench import bench_local
from bench.bench_models import KINDS, ModelKind
from pipelines.definition.step_code import upload_step_scripts
from pipelines.local import run_definition
from pipelines.runs import results
from promotion.config import StageConfig, load_stage_config
from testbed.local_aws import local_aws
from tests.local.local_helpers import BUCKET, REGION
from tests.pipeline.conftest import write_config
from utils import new_session

ROWS = 3_000


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # A moto server: the step scripts reach S3 from their own processes.
    with local_aws() as endpoint:
        try:
            sess = new_session(region_name=REGION)
            sess.client("s3").create_bucket(Bucket=BUCKET)
            yield sess
        finally:
            reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
            urllib.request.urlopen(reset).close()


def _package(session: boto3.Session, kind: ModelKind, model: Any) -> str:
    key = f"models/bench/{kind.name}/model.tar.gz"
    session.client("s3").put_object(Bucket=BUCKET, Key=key, Body=kind.archive(model))
    sm = session.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="bench")
    return sm.create_model_package(
        ModelPackageGroupName="bench",
        InferenceSpecification={  # type: ignore[arg-type,misc]
            "Containers": [kind.container(f"s3://{BUCKET}/{key}")],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]


def rendered_stage(
    session: boto3.Session, tmp_path: Path, pipeline_name: str
) -> tuple[StageConfig, dict[str, Any]]:
    """A snapshot stage on s3://<BUCKET>/input/ for the benchmark's columns: its config, and its
    definition rendered with the step scripts uploaded."""
    from pipelines.definition.pipeline import render_definition

    config = load_stage_config(
        write_config(
            tmp_path,
            region=REGION,
            artifacts_bucket=BUCKET,
            input_data_url=f"s3://{BUCKET}/input/",
            output_data_url=f"s3://{BUCKET}/predictions/",
        )
    )
    upload_step_scripts(session.client("s3"), config=config)
    definition = render_definition(
        config=config,
        pipeline_name=pipeline_name,
        model_name="absent-model",
        model_package_version=3,
        feature_columns=bench_local.NAMES,
    )
    return config, json.loads(definition)


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
def test_the_baseline_writes_what_the_pipeline_writes(
    session: boto3.Session, tmp_path: Path, kind: ModelKind
) -> None:
    # GIVEN one of the benchmark's models and its input rows, and a stage rendered for them
    config, definition = rendered_stage(session, tmp_path, "bench-equivalence")
    s3 = session.client("s3")
    csv_path = tmp_path / "input.csv"
    bench_local.write_rows(csv_path, ROWS, with_ids=True)
    s3.upload_file(str(csv_path), BUCKET, "input/part-0000.csv")
    model = kind.train()
    # WHEN the pipeline runs locally (a snapshot: its date is the start's), and the baseline
    # runs on the same file
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    run = run_definition(
        definition,
        parameters={},
        session=session,
        model_package_arn=_package(session, kind, model),
        log=lambda _: None,
    )
    assert run.status == "Succeeded", [step.failure_reason for step in run.steps]
    scored = results.date_result(s3, output_url=config.output_data_url, date=today)
    if scored.status == results.MISSING:  # the run started just before midnight (UTC)
        today = (datetime.date.fromisoformat(today) + datetime.timedelta(days=1)).isoformat()
    pipeline = results.read_predictions(s3, output_url=config.output_data_url, date=today)
    baseline = bench_local.baseline_table(
        csv_path,
        model,
        version=3,
        execution_id=run.execution_id,
        run_date=pipeline["run_date"][0].as_py(),
        kind=kind,
    )
    # and the baseline that starts and ends in S3 as the pipeline does
    bench_local.baseline_s3(
        bench_local.s3_client(session),
        f"s3://{BUCKET}/input/part-0000.csv",
        f"s3://{BUCKET}/baseline/{kind.name}.parquet",
        model,
        version=3,
        execution_id=run.execution_id,
        run_date=pipeline["run_date"][0].as_py(),
        kind=kind,
    )
    body = s3.get_object(Bucket=BUCKET, Key=f"baseline/{kind.name}.parquet")["Body"].read()
    from_s3 = pq.read_table(pa.BufferReader(body))
    # THEN the tables are equal: schema, ids in order, and every score to the last bit
    assert pipeline.schema == baseline.schema
    assert pipeline.num_rows == ROWS
    assert pipeline.equals(baseline)
    assert pipeline.equals(from_s3)
