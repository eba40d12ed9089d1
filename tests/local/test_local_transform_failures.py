"""Transform failures stay per object and end as a Failed step, never as a traceback."""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from pipelines.local import RunOptions, RunResult, run_definition
from pipelines.local.errors import StepError
from pipelines.local.model import resolve_model
from pipelines.local.s3io import S3Uri, download_prefix, list_manifest
from tests.local.local_helpers import BUCKET, get, keys, put, register_package, transform_definition

ROWS = "3,0,0\n-3,0,0\n"
# Returns whatever follows "reply:" in the body as the response, as raw bytes.
ECHO_MODULE = (
    "def model_fn(d):\n    return None\n"
    "def transform_fn(model, body, ct, accept):\n"
    "    return bytes.fromhex(body.split('reply:')[1].strip()), 'text/csv'\n"
)


def run(session: boto3.Session, definition: dict[str, Any], arn: str | None) -> RunResult:
    return run_definition(
        definition,
        parameters={},
        session=session,
        model_package_arn=arn,
        log=lambda _: None,
        options=RunOptions(assemble_line_newline="if_missing"),
    )


@pytest.mark.parametrize(
    ("bad_object", "reason"),
    [
        (b"3,0,0\n\xff\xfe,0,0\n", "a record is not UTF-8"),
        (b'3,0,0\n"' + b"x" * 200_000 + b'",0,0\n', "record is not a CSV row"),
    ],
)
def test_a_bad_record_fails_only_its_object(
    session: boto3.Session, tiny_model: Any, bad_object: bytes, reason: str
) -> None:
    # GIVEN an InputFilter and three objects, the middle one with a record it cannot parse
    arn = register_package(session, tiny_model)
    put(session, "input/a.csv", ROWS)
    put(session, "input/b.csv", bad_object)
    put(session, "input/c.csv", ROWS)
    definition = transform_definition(DataProcessing={"InputFilter": "$[0:2]"})
    # WHEN the transform runs
    result = run(session, definition, arn)
    # THEN the step fails, naming the object and the reason
    assert result.status == "Failed"
    failure = result.steps[0].failure_reason or ""
    assert f"1 of 3 objects failed; first: {BUCKET}/input/b.csv: {reason}" in failure
    # AND the good objects are still written
    assert keys(session, "output/") == ["output/a.csv.out", "output/c.csv.out"]
    assert get(session, "output/c.csv.out") == b"1\n0\n"


def test_a_response_that_is_not_utf8_fails_its_object_when_filtered(
    session: boto3.Session, tiny_model: Any
) -> None:
    # GIVEN an OutputFilter, and a container that answers one object with non-UTF-8 bytes
    arn = register_package(session, tiny_model, ECHO_MODULE)
    put(session, "input/a.csv", "reply:" + b"1\n".hex() + "\n")
    put(session, "input/b.csv", "reply:" + b"\xff\n".hex() + "\n")
    definition = transform_definition(DataProcessing={"OutputFilter": "$[0]"})
    # WHEN the transform runs
    result = run(session, definition, arn)
    # THEN only that object fails
    assert result.status == "Failed"
    assert "input/b.csv: the response is not UTF-8" in (result.steps[0].failure_reason or "")
    assert keys(session, "output/") == ["output/a.csv.out"]


def test_json_join_refuses_an_input_that_has_the_reserved_key(
    session: boto3.Session, tiny_model: Any
) -> None:
    # GIVEN a JSON join and an object whose record already carries SageMakerOutput
    module = (
        "def model_fn(d):\n    return None\ndef transform_fn(m, body, ct, a):\n    return '1'\n"
    )
    arn = register_package(session, tiny_model, module)
    put(session, "input/a.json", '{"id": 1}\n')
    put(session, "input/b.json", '{"id": 2, "SageMakerOutput": "old"}\n')
    definition = transform_definition(
        content_type="application/json",
        accept="application/json",
        DataProcessing={"JoinSource": "Input"},
    )
    # WHEN the transform runs
    result = run(session, definition, arn)
    # THEN that object fails instead of having its value silently replaced
    assert result.status == "Failed"
    assert "reserved key SageMakerOutput" in (result.steps[0].failure_reason or "")
    assert keys(session, "output/") == ["output/a.json.out"]
    assert get(session, "output/a.json.out") == b'{"id": 1, "SageMakerOutput": 1}\n'


def test_two_keys_with_the_same_local_name_are_refused(
    session: boto3.Session, tiny_model: Any
) -> None:
    # GIVEN the prefix in/s: in/s/ss/x.csv (below the folder) and in/ss/x.csv (partial
    # match) would both become ss/x.csv
    arn = register_package(session, tiny_model)
    put(session, "in/s/ss/x.csv", ROWS)
    put(session, "in/ss/x.csv", ROWS * 2)
    # WHEN the transform runs
    result = run(session, transform_definition(input_uri=f"s3://{BUCKET}/in/s"), arn)
    # THEN it fails naming both keys, and writes nothing
    assert result.status == "Failed"
    reason = result.steps[0].failure_reason or ""
    assert f"s3://{BUCKET}/in/s/ss/x.csv and s3://{BUCKET}/in/ss/x.csv" in reason
    assert keys(session, "output/") == []


def test_processing_download_refuses_colliding_names(session: boto3.Session, tmp_path: Any) -> None:
    # GIVEN two keys under one prefix that map to the same local file
    put(session, "in/s/ss/x.csv", "1")
    put(session, "in/ss/x.csv", "2")
    # WHEN the prefix is downloaded THEN nothing is silently overwritten
    with pytest.raises(StepError, match="both map to the local name 'ss/x.csv'"):
        download_prefix(session.client("s3"), S3Uri(BUCKET, "in/s"), tmp_path)


def test_a_manifest_entry_that_does_not_exist_fails_the_step(
    session: boto3.Session, tiny_model: Any
) -> None:
    # GIVEN a manifest naming one existing and one missing object
    arn = register_package(session, tiny_model)
    put(session, "input/a.csv", ROWS)
    put(session, "m.json", json.dumps([{"prefix": f"s3://{BUCKET}/input/"}, "a.csv", "gone.csv"]))
    definition = transform_definition(input_uri=f"s3://{BUCKET}/m.json")
    source = definition["Steps"][0]["Arguments"]["TransformInput"]["DataSource"]["S3DataSource"]
    source["S3DataType"] = "ManifestFile"
    # WHEN the transform runs THEN the step fails naming the missing key
    result = run(session, definition, arn)
    assert result.status == "Failed"
    assert f"names s3://{BUCKET}/input/gone.csv, which does not exist" in (
        result.steps[0].failure_reason or ""
    )


def _manifest_client(code: str, status: int) -> tuple[Any, Stubber]:
    s3 = boto3.client("s3", region_name="us-east-1")
    stubber = Stubber(s3)
    manifest = json.dumps([{"prefix": "s3://b/p/"}, "a.csv"]).encode()
    body = StreamingBody(io.BytesIO(manifest), len(manifest))
    stubber.add_response("get_object", {"Body": body}, {"Bucket": "b", "Key": "m.json"})
    stubber.add_client_error("head_object", code, http_status_code=status)
    return s3, stubber


def test_manifest_head_errors_other_than_not_found_are_re_raised(fake_credentials: None) -> None:
    # GIVEN S3 answers the HEAD of a manifest entry with 403
    s3, stubber = _manifest_client("403", 403)
    # WHEN the manifest is listed THEN the ClientError is not disguised as a missing object
    with stubber, pytest.raises(ClientError):
        list_manifest(s3, S3Uri("b", "m.json"))
    stubber.assert_no_pending_responses()


def test_manifest_head_not_found_is_a_step_error(fake_credentials: None) -> None:
    s3, stubber = _manifest_client("404", 404)
    with stubber, pytest.raises(StepError, match="names s3://b/p/a.csv, which does not exist"):
        list_manifest(s3, S3Uri("b", "m.json"))
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "expected"), [("ValidationException", StepError), ("ThrottlingException", ClientError)]
)
def test_describe_model_errors(fake_credentials: None, code: str, expected: type) -> None:
    # GIVEN a model that is listed but cannot be described
    sm = boto3.client("sagemaker", region_name="us-east-1")
    stubber = Stubber(sm)
    listed = {"ModelName": "m", "ModelArn": "arn:aws:sagemaker:us-east-1:1:model/m"}
    stubber.add_response("list_models", {"Models": [{**listed, "CreationTime": 0}]})
    stubber.add_client_error("describe_model", code, expected_params={"ModelName": "m"})
    # WHEN the model is resolved THEN only the missing-model code becomes a StepError
    with stubber, pytest.raises(expected):
        resolve_model(sm, "m", None)
    stubber.assert_no_pending_responses()
