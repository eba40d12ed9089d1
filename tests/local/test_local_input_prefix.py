"""The rendered pipeline, run end to end by the local runner, reads only its input prefix.

S3Prefix matches by key prefix (/work/shared/reference/batch-transform-semantics.md, pitfall 9;
SageMaker API reference, S3DataSource.S3Uri): an InputDataUrl without its trailing '/' would also
read sibling prefixes such as ``input-archive/``. The stage file refuses such a URL; the run-time
parameter can still be overridden, so Preprocess refuses it too.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import boto3

from bench import bench_local
from bench.bench_models import KINDS
from pipelines.local import run_definition
from pipelines.runs import results
from tests.local.local_helpers import BUCKET
from tests.local.test_bench_baseline import _package, rendered_stage, session  # noqa: F401

ROWS = 100


def test_an_input_url_without_its_slash_reads_no_sibling_prefix(
    session: boto3.Session,  # noqa: F811
    tmp_path: Path,
) -> None:
    # GIVEN a snapshot stage on s3://<bucket>/input/, 100 rows there and 100 in input-archive/
    config, definition = rendered_stage(session, tmp_path, "input-prefix")
    s3 = session.client("s3")
    rows = tmp_path / "rows.csv"
    bench_local.write_rows(rows, ROWS, with_ids=True)
    s3.upload_file(str(rows), BUCKET, "input/part-0000.csv")
    header, *lines = rows.read_text().splitlines()  # the archive's rows have their own ids
    archived = "\n".join([header, *(f"archive-{line}" for line in lines)]) + "\n"
    s3.put_object(Bucket=BUCKET, Key="input-archive/part-0000.csv", Body=archived.encode())
    kind = KINDS[0]
    arn = _package(session, kind, kind.train())
    # WHEN a run overrides InputDataUrl without the trailing '/'
    bad = run_definition(
        definition,
        parameters={"InputDataUrl": f"s3://{BUCKET}/input"},
        session=session,
        model_package_arn=arn,
        log=lambda _: None,
    )
    # THEN Preprocess fails in one line naming the parameter and the fix; nothing is published
    assert bad.status == "Failed"
    (failed,) = [step for step in bad.steps if step.status == "Failed"]
    reason = failed.failure_reason or ""
    assert failed.name == "Preprocess"
    assert f"InputDataUrl 's3://{BUCKET}/input' must end with '/'" in reason
    assert f"pass s3://{BUCKET}/input/" in reason
    # AND the stage's own URL scores exactly the 100 rows of input/
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    good = run_definition(
        definition, parameters={}, session=session, model_package_arn=arn, log=lambda _: None
    )
    assert good.status == "Succeeded", [step.failure_reason for step in good.steps]
    if results.date_result(s3, output_url=config.output_data_url, date=today).status == (
        results.MISSING
    ):  # the run started just before midnight (UTC)
        today = (datetime.date.fromisoformat(today) + datetime.timedelta(days=1)).isoformat()
    published = results.read_predictions(s3, output_url=config.output_data_url, date=today)
    assert published.num_rows == ROWS
