"""A run reads back what it uploaded from its local copy, only while S3 holds those very bytes."""

from __future__ import annotations

from pathlib import Path

import boto3

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
