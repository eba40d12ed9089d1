"""Only a newer execution replaces a date's authoritative result, and each replacement is kept.

An execution that started earlier than the one the manifest names (a retry of an old run after a
backfill) leaves it alone with one line; two publishers at once are settled by S3's conditional
PutObject (If-Match / If-None-Match: 412 to the loser, which reads again and decides again); the
same execution publishing twice changes nothing.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from pipelines.runs import results
from pipelines.steps import partitions
from tests.pipeline import test_publish
from tests.pipeline.test_publish import (
    BUCKET,
    DATE,
    OUTPUT,
    _at,
    _history,
    _postprocess,
    _scored_run,
)

s3 = test_publish.s3  # the fixture: a bucket in moto

MANIFEST_KEY = f"predictions/_authoritative/dt={DATE}/symlink.txt"


def _manifest(s3: Any) -> dict[str, str]:
    return dict(s3.head_object(Bucket=BUCKET, Key=MANIFEST_KEY)["Metadata"])


def _finished(s3: Any, execution: str, started: str) -> None:
    """An execution's folder as Postprocess leaves it: one part, then ``_SUCCESS``."""
    folder = f"predictions/{DATE}/{execution}/"
    body = io.BytesIO()
    pd.DataFrame({"id": ["r1", "r2"], "execution_id": execution}).to_parquet(body, index=False)
    s3.put_object(Bucket=BUCKET, Key=folder + "part-00000.parquet", Body=body.getvalue())
    success = {"files": [{"path": "part-00000.parquet"}], "prediction_rows": 2}
    s3.put_object(Bucket=BUCKET, Key=folder + "_SUCCESS", Body=json.dumps(success | {
        "started_at": started}))  # fmt: skip


def _publish(client: Any, execution: str) -> partitions.Publication:
    return partitions.publish(client, output_url=OUTPUT, date=DATE, execution_id=execution)


def test_a_retry_of_an_older_execution_leaves_the_newer_result_authoritative(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN execution A (started 03:00) published the date, then a backfill B (03:30) did
    out = _scored_run(tmp_path)
    assert _postprocess(out, "execA", "a", _at(0)) == 0
    assert _postprocess(out, "execB", "b", _at(30)) == 0
    capsys.readouterr()
    # WHEN a retry of A's Postprocess runs (it finds its _SUCCESS and only publishes)
    assert _postprocess(out, "execA", "a-retry", _at(0)) == 0
    # THEN B stays authoritative, A's retry says so in one line naming both, and the history
    # shows A's first publication and B replacing it
    line = capsys.readouterr().out.strip()
    assert "not published: execA" in line and "older than execB" in line
    assert _manifest(s3)["execution-id"] == "execB"
    assert results.date_result(s3, output_url=OUTPUT, date=DATE).execution_id == "execB"
    assert _history(s3) == [(None, "execA"), ("execA", "execB")]
    # AND A's files stay where A wrote them
    keys = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"predictions/{DATE}/execA/")["KeyCount"]
    assert keys >= 3


@pytest.mark.parametrize("first", ["older", "newer"])
def test_two_publishers_at_once_end_with_the_newer(s3: Any, first: str) -> None:
    # GIVEN A (03:00) and B (03:30) finished; one of them reads the manifest, and the other
    # publishes before the first one's PutObject reaches S3
    _finished(s3, "execA", _at(0))
    _finished(s3, "execB", _at(30))
    slow, fast = ("execA", "execB") if first == "older" else ("execB", "execA")
    other = boto3.client("s3", region_name="us-east-1")
    puts: list[str] = []

    def interleave(params: dict[str, Any], **_: Any) -> None:
        if params["url_path"].endswith("symlink.txt"):
            puts.append(params["headers"].get("If-Match") or params["headers"]["If-None-Match"])
            if len(puts) == 1:
                _publish(other, fast)

    s3.meta.events.register("before-call.s3.PutObject", interleave)
    # WHEN the slow one publishes
    done = _publish(s3, slow)
    # THEN its conditional PutObject failed (412) and it read again: the newer one is
    # authoritative whichever came first, and the history has each replacement once
    assert puts[0] == "*"
    assert done.authoritative == _manifest(s3)["execution-id"] == "execB"
    expected = [(None, "execA"), ("execA", "execB")] if fast == "execA" else [(None, "execB")]
    assert _history(s3) == expected


def test_a_conflict_while_writing_reads_again(s3: Any) -> None:
    # GIVEN A published, and S3 answering B's first manifest write 409 ConditionalRequestConflict
    # (S3 API Reference, PutObject: a conflicting operation during the upload; moto never does)
    _finished(s3, "execA", _at(0))
    _finished(s3, "execB", _at(30))
    _publish(s3, "execA")
    answered: list[int] = []

    def conflict(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not params["url_path"].endswith("symlink.txt") or answered:
            return None
        answered.append(409)
        error = {"Code": "ConditionalRequestConflict", "Message": "A conflicting operation"}
        response = AWSResponse("https://aws.invalid", 409, HTTPHeaders(), None)
        return response, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 409}}

    s3.meta.events.register("before-call.s3.PutObject", conflict)
    # WHEN B publishes  THEN it reads again, decides again, and replaces A
    assert _publish(s3, "execB").authoritative == "execB" and answered == [409]
    assert _manifest(s3)["execution-id"] == "execB"
    assert _history(s3) == [(None, "execA"), ("execA", "execB")]


def test_the_same_execution_publishing_again_changes_nothing(s3: Any) -> None:
    # GIVEN A published
    _finished(s3, "execA", _at(0))
    first = _publish(s3, "execA")
    etag = s3.head_object(Bucket=BUCKET, Key=MANIFEST_KEY)["ETag"]
    puts: list[str] = []
    s3.meta.events.register(
        "before-call.s3.PutObject", lambda params, **_: puts.append(params["url_path"])
    )
    # WHEN A publishes again  THEN nothing is written and A is still authoritative, once
    again = _publish(s3, "execA")
    assert (first.authoritative, again.authoritative) == ("execA", "execA")
    assert puts == [] and s3.head_object(Bucket=BUCKET, Key=MANIFEST_KEY)["ETag"] == etag
    assert _history(s3) == [(None, "execA")]


def test_an_execution_without_a_start_time_is_refused(s3: Any) -> None:
    # GIVEN a finished folder whose _SUCCESS records no start  THEN it cannot be ordered
    _finished(s3, "execA", "")
    with pytest.raises(partitions.PartitionError, match="records no started_at"):
        _publish(s3, "execA")
