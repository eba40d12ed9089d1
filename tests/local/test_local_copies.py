"""A run reads back what it uploaded from its local copy, only while S3 holds those very bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest

from pipelines.local.s3io import LocalCopies, S3Uri, download_prefix, s3_client, upload_dir
from tests.local.local_helpers import BUCKET, put


def test_an_own_upload_is_read_locally_until_s3_changes(
    session: boto3.Session, tmp_path: Path
) -> None:
    # GIVEN two files a step uploaded, remembered with the ETags S3 answered
    s3 = s3_client(session)
    outputs = tmp_path / "out"
    outputs.mkdir()
    (outputs / "a.csv").write_bytes(b"1,2\n3,4\n")
    (outputs / "b.csv").write_bytes(b"5,6\n7,8\n")
    copies = LocalCopies()
    assert upload_dir(s3, outputs, S3Uri.parse(f"s3://{BUCKET}/run/shards/"), copies) == 2
    # WHEN someone replaces b.csv in S3, and a later step downloads the prefix
    put(session, "run/shards/b.csv", b"changed\n")
    reads: list[str] = []
    s3.meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: reads.append(params["Key"])
    )
    target = tmp_path / "in"
    assert download_prefix(s3, S3Uri.parse(f"s3://{BUCKET}/run/shards/"), target, copies) == 2
    # THEN a.csv came from the local copy, b.csv from S3 with its new bytes
    assert reads == ["run/shards/b.csv"]
    assert (target / "a.csv").read_bytes() == b"1,2\n3,4\n"
    assert (target / "b.csv").read_bytes() == b"changed\n"


class _Sent(Exception):
    """Raised by a hook instead of sending the request."""


def _payload_hash(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The x-amz-content-sha256 header of a PutObject the runner's client would send."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    session = boto3.Session(
        aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
    )
    s3 = s3_client(session)

    def stop(request: AWSPreparedRequest, **_: object) -> None:
        raise _Sent(request.headers["X-Amz-Content-SHA256"])

    s3.meta.events.register("before-send.s3.PutObject", stop)
    with pytest.raises(_Sent) as sent:
        s3.put_object(Bucket="bucket", Key="key", Body=b"1,2\n")
    value = sent.value.args[0]
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.mark.parametrize(
    ("endpoint", "signed"),
    [
        ("http://127.0.0.1:5000", False),
        ("http://localhost:5000", False),
        ("http://[::1]:5000", False),
        ("http://127.0.0.1.nip.io:5000", True),  # a name that only looks local
        ("http://s3.example.internal:9000", True),
        ("https://s3.us-east-1.amazonaws.com", True),
    ],
)
def test_bodies_are_hashed_for_signing_only_when_they_leave_the_machine(
    endpoint: str, signed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the runner's S3 client for an endpoint  WHEN it uploads
    header = _payload_hash(endpoint, monkeypatch)
    # THEN the body's SHA-256 is signed unless the endpoint is this machine
    assert header == (hashlib.sha256(b"1,2\n").hexdigest() if signed else "UNSIGNED-PAYLOAD")
