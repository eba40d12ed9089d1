"""Postprocess publishes its own result: files, then ``_SUCCESS``, then the one manifest.

A kill at any S3 write leaves the date's previous result authoritative and complete (or, after
the last write, the new one); a retry of the step finishes the job; a publish that cannot verify
its files is refused and leaves the previous manifest untouched.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from pipelines.runs import results
from pipelines.steps import partitions, postprocess
from tests.pipeline.test_step_scripts import fake_transform, rows_for, run_preprocess, write_csv

BUCKET = "publish-tests"
OUTPUT = f"s3://{BUCKET}/predictions/"
DATE = "2024-05-06"
WRITES = ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload")


class Killed(BaseException):  # noqa: N818 (a kill, not an error: nothing may catch it)
    """The process died here: no handler of the step runs."""


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _scored_run(tmp_path: Path, rows: int = 120) -> Path:
    """Preprocess and a fake transform of ``rows`` rows; the run.json Preprocess would write."""
    write_csv(tmp_path / "in/a.csv", rows_for(range(rows)))
    code, out = run_preprocess(tmp_path, "--max-shard-bytes", "1024")
    assert code == 0
    fake_transform(out)
    run = {"date": DATE, "layout": "snapshot", "input_prefix": "s3://x/", "status": "scored"}
    (out / "ids/run.json").write_text(json.dumps(run))
    return out


def _postprocess(out: Path, execution: str, staging: str, started: str) -> int:
    """One attempt of the step, in a fresh container (its own staging folder), of an execution
    that started at ``started``."""
    return postprocess.main(
        [
            f"--start-time={started}",
            *("--ids-dir", str(out / "ids"), "--predictions-dir", str(out / "predictions")),
            *("--output-dir", str(out / staging), "--model-package-version", "7"),
            *("--run-file", str(out / "ids/run.json"), "--rows-per-file", "50"),
            *("--failure-file", str(out / "message"), f"--execution-id={execution}"),
            f"--output-url={OUTPUT}",
            *("--partitions-lib", partitions.__file__, "--region", "us-east-1"),
        ]
    )


def _hooked(monkeypatch: pytest.MonkeyPatch, hook: Callable[..., None]) -> None:
    """Every S3 client the step builds calls ``hook`` before each request."""
    real = boto3.client

    def client(*args: Any, **kwargs: Any) -> Any:
        made = real(*args, **kwargs)
        made.meta.events.register("provide-client-params.s3.*", hook)
        return made

    monkeypatch.setattr(boto3, "client", client)


def _at(minute: int) -> str:
    """An execution's start as SageMaker's StartDateTime gives it, ``minute`` minutes in."""
    return f"{DATE}T03:{minute:02d}:00.000Z"


def _history(s3: Any) -> list[tuple[str | None, str]]:
    """(replaced, publisher) of each publication of the date, oldest first."""
    body = s3.get_object(Bucket=BUCKET, Key=f"predictions/_history/dt={DATE}.json")["Body"]
    return [(entry["replaced"], entry["execution_id"]) for entry in json.loads(body.read())]


def _authoritative(s3: Any) -> results.DateResult:
    """The date's published result, checked complete: every listed file exists."""
    found = results.date_result(s3, output_url=OUTPUT, date=DATE)
    table = results.read_predictions(s3, output_url=OUTPUT, date=DATE)  # every file readable
    assert table.num_rows == found.rows == 120
    assert set(table["execution_id"].to_pylist()) == {found.execution_id}
    return found


def test_the_manifest_is_written_last_after_success_is_read_back(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a scored run  WHEN Postprocess publishes it, recording every S3 request
    out = _scored_run(tmp_path)
    calls: list[tuple[str, str]] = []
    _hooked(
        monkeypatch, lambda model, params, **_: calls.append((model.name, params.get("Key", "")))
    )
    assert _postprocess(out, "new", "attempt-1", _at(0)) == 0
    # THEN the parts go up first, _SUCCESS after them, then _SUCCESS is read back and the folder
    # listed, and the manifest is written last but for the date's history
    folder = f"predictions/{DATE}/new/"
    writes = [key for name, key in calls if name == "PutObject"]
    parts = writes[:-3]
    assert len(parts) >= 2 and parts == [f"{folder}part-{n:05d}.parquet" for n in range(len(parts))]
    assert writes[-3:] == [
        f"{folder}_SUCCESS",
        f"predictions/_authoritative/dt={DATE}/symlink.txt",
        f"predictions/_history/dt={DATE}.json",
    ]
    success_put = calls.index(("PutObject", f"{folder}_SUCCESS"))
    checks = [name for name, _ in calls[success_put + 1 : -1]]
    assert "GetObject" in checks and "ListObjectsV2" in checks
    assert _authoritative(s3).execution_id == "new"
    assert _history(s3) == [(None, "new")]


def test_a_kill_at_any_write_leaves_a_complete_authoritative_result(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a date already published by execution "old", and the writes a clean run makes
    out = _scored_run(tmp_path)
    assert _postprocess(out, "old", "old", _at(0)) == 0
    count: list[int] = []
    _hooked(monkeypatch, lambda model, **_: count.append(1) if model.name in WRITES else None)
    assert _postprocess(out, "probe", "probe", _at(1)) == 0
    monkeypatch.undo()
    writes = len(count)
    assert writes >= 5  # at least two parts, _SUCCESS, the manifest, the history
    previous = "probe"
    for kill_at in range(writes):
        # WHEN a newer execution is killed just before its write number kill_at
        execution = f"new-{kill_at}"
        seen: list[int] = []

        def kill(model: Any, seen: list[int] = seen, kill_at: int = kill_at, **_: Any) -> None:
            if model.name in WRITES:
                if len(seen) == kill_at:
                    raise Killed
                seen.append(1)

        _hooked(monkeypatch, kill)
        with pytest.raises(Killed):
            _postprocess(out, execution, f"killed-{kill_at}", _at(2 + kill_at))
        monkeypatch.undo()
        # THEN the previous result is still the authoritative one, and complete (unless only the
        # history was left to write)
        expected = execution if kill_at == writes - 1 else previous
        assert _authoritative(s3).execution_id == expected, f"killed before write {kill_at}"
        # AND a retry of the step (a fresh container) publishes it completely, history included
        assert _postprocess(out, execution, f"retry-{kill_at}", _at(2 + kill_at)) == 0
        assert _authoritative(s3).execution_id == execution
        assert _history(s3)[-1] == (previous, execution)
        previous = execution
    assert len(_history(s3)) == 2 + writes


def test_a_retry_after_success_was_uploaded_only_publishes(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an attempt killed after _SUCCESS, before the manifest
    out = _scored_run(tmp_path)

    def kill_manifest(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name == "PutObject" and params["Key"].endswith(partitions.MANIFEST):
            raise Killed

    _hooked(monkeypatch, kill_manifest)
    with pytest.raises(Killed):
        _postprocess(out, "new", "attempt-1", _at(0))
    monkeypatch.undo()
    assert results.date_result(s3, output_url=OUTPUT, date=DATE).status == results.MISSING
    # WHEN the step is retried  THEN it finds its _SUCCESS, writes no part again, and publishes
    calls: list[str] = []
    _hooked(monkeypatch, lambda model, **_: calls.append(model.name))
    assert _postprocess(out, "new", "attempt-2", _at(0)) == 0
    assert calls.count("PutObject") == 2  # the manifest and the history
    assert "already uploaded" in capsys.readouterr().out
    assert _authoritative(s3).execution_id == "new"


def test_a_refused_publish_leaves_the_previous_manifest_untouched(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN "old" published, and a newer "new" killed before its manifest, whose folder then
    # lost a part
    out = _scored_run(tmp_path)
    assert _postprocess(out, "old", "old", _at(0)) == 0
    before = s3.get_object(Bucket=BUCKET, Key=f"predictions/_authoritative/dt={DATE}/symlink.txt")
    before_body = before["Body"].read()

    def kill_manifest(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name == "PutObject" and params["Key"].endswith(partitions.MANIFEST):
            raise Killed

    _hooked(monkeypatch, kill_manifest)
    with pytest.raises(Killed):
        _postprocess(out, "new", "new", _at(5))
    monkeypatch.undo()
    s3.delete_object(Bucket=BUCKET, Key=f"predictions/{DATE}/new/part-00001.parquet")
    # WHEN "new" is retried (it finds its _SUCCESS and only publishes)
    code = _postprocess(out, "new", "retry", _at(5))
    # THEN the publish is refused with one line, and the manifest still names "old"'s files
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "publish refused" in err and "part-00001.parquet" in err
    after = s3.get_object(Bucket=BUCKET, Key=f"predictions/_authoritative/dt={DATE}/symlink.txt")
    assert after["Body"].read() == before_body
    assert _authoritative(s3).execution_id == "old"
