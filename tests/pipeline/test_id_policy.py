"""Duplicate and empty ids: Preprocess fails by default; ``id_policy: count`` counts them.

End to end: the rendered pipeline of a stage runs on the local runner against moto's S3 and
SageMaker, with a tiny registered model. The step scripts are also driven directly for the case
one local host cannot show (duplicates split across Preprocess instances).
"""

from __future__ import annotations

import json
import random
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression

from errors import ConfigError
from pipelines.definition.step_code import upload_step_scripts
from pipelines.local import RunResult, run_definition
from pipelines.steps import postprocess, preprocess
from promotion.config import load_stage_config
from testbed.local_aws import local_aws
from tests.local.local_helpers import BUCKET, REGION, register_package
from tests.pipeline.conftest import write_config
from utils import new_session

FEATURES = ["f0", "f1", "f2"]


def sample(ids: list[str]) -> pd.DataFrame:
    """One row per id, features from a fixed pattern."""
    rows = range(len(ids))
    return pd.DataFrame(
        {"record_id": ids, **{name: [(i % 7) - k for i in rows] for k, name in enumerate(FEATURES)}}
    )


DUPLICATED = [f"r{i % 1000}" for i in range(1100)]  # 1,100 rows, 1,000 distinct ids


@pytest.fixture(scope="module")
def model() -> LogisticRegression:
    frame = sample([str(i) for i in range(50)])
    return LogisticRegression().fit(frame[FEATURES].to_numpy(), (frame["f0"] > 2).astype(int))


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # A moto server, not mock_aws: the Publish step's process reaches S3 only over the network.
    with local_aws() as endpoint:
        try:
            session = new_session(region_name=REGION)
            session.client("s3").create_bucket(Bucket=BUCKET)
            yield session
        finally:  # moto's state outlives its server within this process
            reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
            urllib.request.urlopen(reset).close()


_RENDERED: dict[str, tuple[Any, dict[str, Any]]] = {}


def stage(tmp_path: Path, id_policy: str) -> tuple[Any, dict[str, Any]]:
    """The stage config and its rendered definition (a render takes seconds: one per policy)."""
    from pipelines.definition.pipeline import pipeline_name_for, render_definition

    if id_policy not in _RENDERED:
        config = load_stage_config(
            write_config(
                tmp_path,
                region=REGION,
                artifacts_bucket=BUCKET,
                input_data_url=f"s3://{BUCKET}/input/",
                output_data_url=f"s3://{BUCKET}/predictions/",
                id_policy=id_policy,
            )
        )
        rendered = render_definition(
            config=config,
            pipeline_name=pipeline_name_for(config),
            model_name="absent-model",
            model_package_version=3,
            feature_columns=FEATURES,
        )
        _RENDERED[id_policy] = (config, json.loads(rendered))
    return _RENDERED[id_policy]


def run_stage(
    session: boto3.Session,
    tmp_path: Path,
    model: LogisticRegression,
    ids: list[str],
    id_policy: str = "fail",
) -> RunResult:
    """Run the stage's rendered pipeline locally on rows with ``ids``."""
    config, definition = stage(tmp_path, id_policy)
    s3 = session.client("s3")
    upload_step_scripts(s3, config=config)
    s3.put_object(Bucket=BUCKET, Key="input/part.csv", Body=sample(ids).to_csv(index=False))
    arn = register_package(session, model)
    return run_definition(
        definition, parameters={}, session=session, model_package_arn=arn, log=lambda _: None
    )


def success_manifest(session: boto3.Session, result: RunResult) -> dict[str, Any]:
    s3 = session.client("s3")
    keys = [
        item["Key"]
        for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="predictions/").get("Contents", [])
        if item["Key"].endswith(f"/{result.execution_id}/_SUCCESS")
    ]
    [key] = keys
    manifest: dict[str, Any] = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    return manifest


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (DUPLICATED, "100 duplicate and 0 empty id(s) in 1100 rows (for example 'r0')"),
        ([""] * 20, "0 duplicate and 20 empty id(s) in 20 rows"),
    ],
    ids=["1100-rows-1000-ids", "all-empty"],
)
def test_bad_ids_fail_preprocess_with_one_line(
    aws: boto3.Session,
    tmp_path: Path,
    model: LogisticRegression,
    ids: list[str],
    message: str,
) -> None:
    # GIVEN a stage with an id column and the default id policy
    # WHEN its pipeline runs on rows whose ids repeat or are empty
    result = run_stage(aws, tmp_path, model, ids)

    # THEN Preprocess fails with one line naming the counts and the fix; nothing is scored
    assert result.status == "Failed"
    assert [(s.name, s.status) for s in result.steps][0] == ("Preprocess", "Failed")
    reason = result.steps[0].failure_reason or ""
    assert message in reason and 'id_policy to "count"' in reason
    assert (
        not aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="predictions/").get("Contents")
    )


def test_the_count_policy_scores_and_counts_in_the_manifest(
    aws: boto3.Session, tmp_path: Path, model: LogisticRegression
) -> None:
    # GIVEN the relaxed policy, 1,100 rows with 1,000 distinct ids and 5 empty ones
    ids = DUPLICATED[:-5] + ["", " ", "", "", ""]

    # WHEN the pipeline runs
    result = run_stage(aws, tmp_path, model, ids, id_policy="count")

    # THEN every row is scored and _SUCCESS counts the duplicates and the empty ids
    assert result.status == "Succeeded", [s.failure_reason for s in result.steps]
    manifest = success_manifest(aws, result)
    assert manifest["prediction_rows"] == 1100
    assert (manifest["duplicate_ids"], manifest["empty_ids"]) == (95, 5)


def test_the_stage_key_is_validated_and_rendered(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="id_policy"):
        load_stage_config(write_config(tmp_path, id_policy="ignore"))
    assert load_stage_config(write_config(tmp_path)).id_policy == "fail"


# --- duplicates across Preprocess instances: only Postprocess sees them ---------------------


def preprocess_host(tmp_path: Path, host: str, ids: list[str], policy: str) -> Path:
    """Run Preprocess as instance ``host`` of two; fake the transform output of its shards."""
    data = tmp_path / host / "in"
    data.mkdir(parents=True)
    sample(ids).to_csv(data / "part.csv", index=False)
    config = tmp_path / host / "resourceconfig.json"
    config.write_text(json.dumps({"current_host": host, "hosts": ["algo-1", "algo-2"]}))
    out = tmp_path / "out"
    argv = ["--input-dir", str(data), "--shards-dir", str(out / "shards")]
    argv += ["--ids-dir", str(out / "ids"), "--feature-columns", ",".join(FEATURES)]
    argv += ["--resource-config", str(config), "--failure-file", str(tmp_path / "message")]
    argv += ["--id-column", "record_id", "--id-policy", policy]
    assert preprocess.main(argv) == 0
    predictions = out / "predictions"
    predictions.mkdir(exist_ok=True)
    for shard in (out / "shards").glob(f"{host}-*.csv"):
        rows = shard.read_text().splitlines()
        (predictions / f"{shard.name}.out").write_text("".join("0.5\n" for _ in rows))
    return out


@pytest.mark.parametrize("policy", ["fail", "count"])
def test_duplicates_across_instances_are_caught_by_postprocess(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], policy: str
) -> None:
    # GIVEN two Preprocess instances, each with distinct ids, sharing two ids between them
    preprocess_host(tmp_path, "algo-1", ["a", "b", "c"], policy)
    out = preprocess_host(tmp_path, "algo-2", ["c", "b", "d"], policy)

    # WHEN Postprocess joins them
    argv = ["--ids-dir", str(out / "ids"), "--predictions-dir", str(out / "predictions")]
    argv += ["--output-dir", str(out / "final"), "--model-package-version", "3"]
    argv += ["--execution-id=e1", "--run-date=2024-05-06", "--failure-file", str(tmp_path / "m")]
    code = postprocess.main(argv)

    # THEN the fail policy fails in one line; the count policy writes the counts
    if policy == "fail":
        assert code == 1
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "2 duplicate and 0 empty id(s) across" in err
        assert not (out / "final" / "2024-05-06" / "e1").exists()
    else:
        assert code == 0
        manifest = json.loads((out / "final" / "2024-05-06" / "e1" / "_SUCCESS").read_text())
        assert (manifest["duplicate_ids"], manifest["empty_ids"]) == (2, 0)


def test_null_ids_in_parquet_count_as_empty(tmp_path: Path) -> None:
    # GIVEN Parquet ids with a null  WHEN counted
    table = pa.table({"record_id": pa.array(["a", None, "a"], pa.string())})
    path = tmp_path / "part-00000.parquet"
    pq.write_table(table, path)
    check = preprocess.IdCheck("record_id")
    check.add(table.column(0))
    # THEN the null is empty and the repeat a duplicate
    assert check.finish([path], "count") == {"duplicate_ids": 1, "empty_ids": 1}


# --- the id check in bounded memory: 64-bit hashes, confirmed on the ids ---------------------


def test_equal_ids_hash_equal_wherever_they_sit_and_others_apart() -> None:
    ids = pa.array(["r1", "r2", "a much longer id of its own", "r1", "ř1", "1r", "r10"])
    hashes = preprocess.hash64(ids)
    assert hashes[0] == hashes[3]
    assert len(set(hashes.tolist())) == 6
    # a slice (an offset into the same buffers) hashes each id as the whole array does
    assert preprocess.hash64(ids.slice(3, 3)).tolist() == hashes[3:6].tolist()
    many = pa.array([f"id-{index}" for index in range(200_000)])
    assert len(set(preprocess.hash64(many).tolist())) == 200_000


def run_id_check(tmp_path: Path, batches: list[list[str]], policy: str) -> dict[str, int]:
    """IdCheck over ``batches``, each also written as an ids file, as ShardWriter does."""
    check = preprocess.IdCheck("record_id")
    files = []
    for index, batch in enumerate(batches):
        column = pa.chunked_array([pa.array(batch, pa.string())])
        check.add(column)
        files.append(tmp_path / f"part-{index:05d}.parquet")
        pq.write_table(pa.table({"record_id": column}), files[-1])
    return check.finish(files, policy)


def test_duplicates_across_batches_are_counted_exactly(tmp_path: Path) -> None:
    batches = [[f"r{i}" for i in range(500)], ["r7", "r8", "", "  ", "new"], ["r7", "x"]]
    assert run_id_check(tmp_path, batches, "count") == {"duplicate_ids": 3, "empty_ids": 2}
    with pytest.raises(preprocess.InputError, match=r"3 duplicate and 2 empty id\(s\) in 507 rows"):
        run_id_check(tmp_path, batches, "fail")


def test_a_hash_collision_is_never_a_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a hash under which every id collides with every other
    monkeypatch.setattr(preprocess, "hash64", lambda strings: np.zeros(len(strings), np.uint64))
    # THEN distinct ids still count no duplicate, and a real one is still found
    assert run_id_check(tmp_path, [["a", "b"], ["c"]], "fail")["duplicate_ids"] == 0
    assert run_id_check(tmp_path, [["a", "b"], ["b"]], "count")["duplicate_ids"] == 1


def expected_counts(batches: list[list[str]]) -> dict[str, int]:
    """Duplicate and empty ids counted the plain way."""
    ids = [i for batch in batches for i in batch]
    present = [i for i in ids if i.strip()]
    return {"duplicate_ids": len(present) - len(set(present)), "empty_ids": len(ids) - len(present)}


@pytest.mark.parametrize("held", [3, 50, 1 << 20])
def test_hashes_moved_to_disk_count_exactly_what_memory_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, held: int
) -> None:
    # GIVEN ids with repeats within and across batches, and a check that moves its hashes to
    # bucket files every `held` ids (1 << 20: never, for these few)
    monkeypatch.setattr(preprocess, "HELD_HASHES", held)
    rng = random.Random(held)
    pick = [lambda: f"id-{rng.randrange(400)}", lambda: "", lambda: " "]
    batches = [[rng.choice(pick)() for _ in range(rng.randrange(1, 60))] for _ in range(30)]
    batches[0].append("first-and-last")
    batches.append(["first-and-last"])  # still held in memory when the check finishes
    made: list[str] = []
    monkeypatch.setattr(preprocess.tempfile, "TemporaryDirectory", recording(made))
    # WHEN checked  THEN the counts are exact, and no bucket file outlives the check
    assert run_id_check(tmp_path, batches, "count") == expected_counts(batches)
    assert bool(made) == (held < 1 << 20)
    assert all(not Path(folder).exists() for folder in made)


def test_a_collision_in_the_bucket_files_is_never_a_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(preprocess, "HELD_HASHES", 2)
    monkeypatch.setattr(preprocess, "hash64", lambda strings: np.zeros(len(strings), np.uint64))
    assert run_id_check(tmp_path, [["a", "b"], ["c", "d"], ["e"]], "fail")["duplicate_ids"] == 0
    assert run_id_check(tmp_path, [["a", "b"], ["c", "a"], ["b"]], "count")["duplicate_ids"] == 2


def recording(made: list[str]) -> Any:
    """tempfile.TemporaryDirectory that notes every folder it makes."""
    real = tempfile.TemporaryDirectory

    def make(*args: Any, **kwargs: Any) -> Any:
        folder = real(*args, **kwargs)
        made.append(folder.name)
        return folder

    return make
