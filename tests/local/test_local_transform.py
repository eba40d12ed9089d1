"""The Transform step end to end on moto: outputs, packing, assembly and failure semantics."""

from __future__ import annotations

import gzip
from typing import Any

import boto3
import pytest

from pipelines.local import RunOptions, RunResult, run_definition
from tests.local.local_helpers import BUCKET, get, keys, put, register_package, transform_definition

ROWS = "3,0,0\n-3,0,0\n"


def run(
    session: boto3.Session, definition: dict[str, Any], arn: str | None, **options: Any
) -> RunResult:
    lines: list[str] = []
    result = run_definition(
        definition,
        parameters={},
        session=session,
        model_package_arn=arn,
        log=lines.append,
        options=RunOptions(**options),
    )
    assert any("Transform" in line for line in lines)
    return result


def test_one_out_per_object_and_failed_objects_get_none(
    session: boto3.Session, tiny_model: Any
) -> None:
    # GIVEN three objects: two good ones (one in a subfolder) and one with a header row
    arn = register_package(session, tiny_model)
    put(session, "input/a.csv", ROWS)
    put(session, "input/sub/b.csv", ROWS * 3)
    put(session, "input/bad.csv", "f1,f2,f3\n" + ROWS)
    # WHEN the transform runs with the default hooks
    result = run(session, transform_definition(), arn)
    # THEN the job fails, naming the failed object,
    assert result.status == "Failed"
    reason = result.steps[0].failure_reason or ""
    assert "1 of 3 objects failed" in reason
    assert f"{BUCKET}/input/bad.csv: ClientError: 500" in reason
    # AND only the good objects have an output, in the mirrored layout
    assert keys(session, "output/") == ["output/a.csv.out", "output/sub/b.csv.out"]
    assert get(session, "output/a.csv.out") == b"1\n0\n\n"
    # AND no multipart upload is left behind
    uploads = session.client("s3").list_multipart_uploads(Bucket=BUCKET)
    assert not uploads.get("Uploads")


@pytest.mark.parametrize(
    ("policy", "expected"), [("always", b"1\n0\n\n"), ("if_missing", b"1\n0\n")]
)
def test_assemble_line_newline_policy(
    session: boto3.Session, tiny_model: Any, policy: str, expected: bytes
) -> None:
    arn = register_package(session, tiny_model)
    put(session, "input/a.csv", ROWS)
    result = run(session, transform_definition(), arn, assemble_line_newline=policy)
    assert result.status == "Succeeded"
    assert get(session, "output/a.csv.out") == expected


def test_assemble_none_concatenates_bodies_and_missing_accept_gives_json(
    session: boto3.Session, tiny_model: Any
) -> None:
    arn = register_package(session, tiny_model)
    put(session, "input/a.csv", ROWS)
    definition = transform_definition(accept=None, assemble_with="None")
    assert run(session, definition, arn).status == "Succeeded"
    assert get(session, "output/a.csv.out") == b"[1, 0]"


def test_single_record_strategy_fails_with_default_hooks(
    session: boto3.Session, tiny_model: Any
) -> None:
    # GIVEN SingleRecord: every request holds one row, which the decoder squeezes to 1-D
    arn = register_package(session, tiny_model)
    put(session, "input/a.csv", ROWS)
    definition = transform_definition(
        BatchStrategy="SingleRecord", ModelClientConfig={"InvocationsMaxRetries": 0}
    )
    result = run(session, definition, arn)
    assert result.status == "Failed"
    assert "2D array" in (result.steps[0].failure_reason or "")
    assert keys(session, "output/") == []


def test_many_mini_batches_keep_order_with_parallel_workers(
    session: boto3.Session, tiny_model: Any
) -> None:
    # GIVEN a 2.7 MB object (three 1 MiB mini-batches) and four concurrent workers
    arn = register_package(session, tiny_model)
    rows = [f"{(i % 11) - 5},0.0000000000,0.0000000000\n" for i in range(100_000)]
    put(session, "input/big.csv", "".join(rows))
    definition = transform_definition(MaxPayloadInMB=1, MaxConcurrentTransforms=4)
    # WHEN it runs
    lines: list[str] = []
    options = RunOptions(assemble_line_newline="if_missing")
    result = run_definition(
        definition,
        parameters={},
        session=session,
        model_package_arn=arn,
        log=lines.append,
        options=options,
    )
    assert any("100000 records in 3 requests" in line for line in lines), lines[2]
    # THEN every row has its prediction, in input order
    assert result.status == "Succeeded"
    out = get(session, "output/big.csv.out").decode().splitlines()
    assert out == [str(int((i % 11) - 5 > 0)) for i in range(100_000)]


def test_join_with_input_filter_and_output_filter_csv(
    session: boto3.Session, tiny_model: Any
) -> None:
    # GIVEN rows "id,f1,f2,f3": the id must not reach the model but must reach the output
    arn = register_package(session, tiny_model)
    put(session, "input/a.csv", "id1,3,0,0\nid2,-3,0,0\n")
    definition = transform_definition(
        DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"},
    )
    result = run(session, definition, arn)
    assert result.status == "Succeeded", result.steps[0].failure_reason
    assert get(session, "output/a.csv.out") == b"id1,1\nid2,0\n"


def test_join_json_records_adds_sagemaker_output(session: boto3.Session, tiny_model: Any) -> None:
    module = (
        "import json, os, joblib, numpy as np\n"
        "def model_fn(d):\n    return joblib.load(os.path.join(d, 'model.joblib'))\n"
        "def input_fn(body, ct):\n"
        "    return np.array([json.loads(l)['x'] for l in body.splitlines()], dtype=float)\n"
        "def output_fn(pred, accept):\n"
        "    return ''.join(json.dumps(int(p)) + '\\n' for p in pred)\n"
    )
    arn = register_package(session, tiny_model, module)
    put(session, "input/a.jsonl", '{"id": 1, "x": [3, 0, 0]}\n{"id": 2, "x": [-3, 0, 0]}\n')
    definition = transform_definition(
        content_type="application/json",
        accept="application/json",
        DataProcessing={"JoinSource": "Input", "OutputFilter": "$['id','SageMakerOutput']"},
    )
    result = run(session, definition, arn)
    assert result.status == "Succeeded", result.steps[0].failure_reason
    assert get(session, "output/a.jsonl.out") == (
        b'{"id": 1, "SageMakerOutput": 1}\n{"id": 2, "SageMakerOutput": 0}\n'
    )


def test_join_requires_accept_equal_to_content_type(
    session: boto3.Session, tiny_model: Any
) -> None:
    arn = register_package(session, tiny_model)
    put(session, "input/a.csv", ROWS)
    definition = transform_definition(
        accept="application/json", DataProcessing={"JoinSource": "Input"}
    )
    result = run(session, definition, arn)
    assert "Accept (application/json) equal to ContentType" in (
        result.steps[0].failure_reason or ""
    )


@pytest.mark.parametrize(
    ("policy", "status", "outputs"),
    [
        ("request", "Failed", ["output/a.csv.out"]),
        ("empty_output", "Succeeded", ["output/a.csv.out", "output/empty.csv.out"]),
        ("fail", "Failed", ["output/a.csv.out"]),
    ],
)
def test_empty_object_policy(
    session: boto3.Session, tiny_model: Any, policy: str, status: str, outputs: list[str]
) -> None:
    arn = register_package(session, tiny_model)
    put(session, "input/a.csv", ROWS)
    put(session, "input/empty.csv", b"")
    result = run(session, transform_definition(), arn, empty_object=policy)
    assert result.status == status
    assert keys(session, "output/") == outputs


@pytest.mark.parametrize(
    ("naming", "key"),
    [("keep_suffix", "output/a.csv.gz.out"), ("strip_suffix", "output/a.csv.out")],
)
def test_gzip_input_is_decompressed_before_splitting(
    session: boto3.Session, tiny_model: Any, naming: str, key: str
) -> None:
    arn = register_package(session, tiny_model)
    put(session, "input/a.csv.gz", gzip.compress(ROWS.encode()))
    definition = transform_definition()
    definition["Steps"][0]["Arguments"]["TransformInput"]["CompressionType"] = "Gzip"
    result = run(session, definition, arn, gzip_output_name=naming)
    assert result.status == "Succeeded"
    assert get(session, key) == b"1\n0\n\n"


def test_model_name_resolves_through_the_model_to_its_package(
    session: boto3.Session, tiny_model: Any
) -> None:
    # GIVEN a SageMaker model whose container names the package, and no fallback ARN
    arn = register_package(session, tiny_model)
    session.client("sagemaker").create_model(
        ModelName="scoring-model",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/x",
        Containers=[{"ModelPackageName": arn}],
    )
    put(session, "input/a.csv", ROWS)
    definition = transform_definition()
    definition["Parameters"][0]["DefaultValue"] = "scoring-model"
    result = run(session, definition, None)
    assert result.status == "Succeeded"
    # AND without the model and without an ARN, the failure says what to do
    definition["Parameters"][0]["DefaultValue"] = "other-model"
    failed = run(session, definition, None)
    assert "--model-package-arn" in (failed.steps[0].failure_reason or "")


def test_transform_environment_overrides_the_model_by_default(
    session: boto3.Session, tiny_model: Any
) -> None:
    module = (
        "import os\n"
        "def model_fn(d):\n    return None\n"
        "def transform_fn(model, body, ct, accept):\n"
        "    return os.environ['WHO'] + ',' + os.environ['SAGEMAKER_BATCH'] + '\\n'\n"
    )
    arn = register_package(session, tiny_model, module, environment={"WHO": "model"})
    put(session, "input/a.csv", ROWS)
    definition = transform_definition(Environment={"WHO": "transform"})
    assert run(session, definition, arn).status == "Succeeded"
    assert get(session, "output/a.csv.out") == b"transform,true\n\n"
    assert run(session, definition, arn, environment_precedence="model").status == "Succeeded"
    assert get(session, "output/a.csv.out") == b"model,true\n\n"


def test_manifest_input_reads_objects_from_the_manifest_prefix(
    session: boto3.Session, tiny_model: Any
) -> None:
    # GIVEN a manifest in one bucket naming objects in another
    arn = register_package(session, tiny_model)
    session.client("s3").create_bucket(Bucket="other-bucket")
    session.client("s3").put_object(Bucket="other-bucket", Key="data/x/a.csv", Body=ROWS.encode())
    put(session, "manifest.json", '[{"prefix": "s3://other-bucket/data/"}, "x/a.csv"]')
    definition = transform_definition(input_uri=f"s3://{BUCKET}/manifest.json")
    source = definition["Steps"][0]["Arguments"]["TransformInput"]["DataSource"]["S3DataSource"]
    source["S3DataType"] = "ManifestFile"
    # WHEN it runs THEN the output mirrors the key relative to the manifest's prefix
    assert run(session, definition, arn).status == "Succeeded"
    assert keys(session, "output/") == ["output/x/a.csv.out"]
