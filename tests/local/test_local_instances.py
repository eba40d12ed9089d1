"""Processing steps with several instances and Condition steps in the local runner."""

from __future__ import annotations

import io
from typing import Any

import boto3
import pyarrow.parquet as pq

from pipelines.definition import layout
from pipelines.definition.step_code import SCRIPTS_DIR
from pipelines.local import run_definition
from tests.local.local_helpers import BUCKET, get, keys, put


def _input(name: str, uri: str, local: str, distribution: str) -> dict[str, Any]:
    source = {
        "S3Uri": uri,
        "LocalPath": local,
        "S3DataType": "S3Prefix",
        "S3InputMode": "File",
        "S3DataDistributionType": distribution,
    }
    return {"InputName": name, "S3Input": source}


def _preprocess_step(instances: int) -> dict[str, Any]:
    outputs = [
        {
            "OutputName": name,
            "S3Output": {
                "S3Uri": f"s3://{BUCKET}/run/{name}",
                "LocalPath": local,
                "S3UploadMode": "EndOfJob",
            },
        }  # fmt: skip
        for name, local in (("shards", layout.SHARDS_DIR), ("ids", layout.IDS_DIR))
    ]
    arguments = layout.preprocess_arguments(
        feature_columns=["a", "b"], id_column="id", max_shard_bytes=10_000
    )
    return {
        "Name": "Preprocess",
        "Type": "Processing",
        "Arguments": {
            "AppSpecification": {
                "ImageUri": "sklearn:1.4",
                "ContainerEntrypoint": ["python3", f"{layout.CODE_DIR}/preprocess.py"],
                "ContainerArguments": arguments,
            },
            "ProcessingResources": {
                "ClusterConfig": {"InstanceCount": instances, "InstanceType": "ml.m5.xlarge"}
            },
            "ProcessingInputs": [
                _input("data", f"s3://{BUCKET}/input/", layout.DATA_DIR, "ShardedByS3Key"),
                _input(
                    "code", f"s3://{BUCKET}/code/preprocess.py", layout.CODE_DIR, "FullyReplicated"
                ),
            ],  # fmt: skip
            "ProcessingOutputConfig": {"Outputs": outputs},
        },
    }


def test_two_preprocess_instances_score_every_row_once(session: boto3.Session) -> None:
    # GIVEN a snapshot input of five CSV objects and the real Preprocess script
    put(session, "code/preprocess.py", (SCRIPTS_DIR / "preprocess.py").read_bytes())
    expected = []
    for part in range(5):
        rows = [f"p{part}-{n},{n},{part}" for n in range(3)]
        expected += [row.split(",")[0] for row in rows]
        put(session, f"input/part-{part}.csv", "id,a,b\n" + "\n".join(rows) + "\n")
    definition = {"Version": "2020-12-01", "Parameters": [], "Steps": [_preprocess_step(2)]}
    # WHEN Preprocess runs on two instances (ShardedByS3Key)
    result = run_definition(definition, parameters={}, session=session, log=lambda _: None)
    # THEN each instance wrote its own manifest, and every row was taken exactly once
    assert result.status == "Succeeded", result.steps
    ids_keys = keys(session, "run/ids/")
    assert [k for k in ids_keys if k.endswith(".manifest.json")] == [
        "run/ids/algo-1.manifest.json",
        "run/ids/algo-2.manifest.json",
    ]
    per_host: dict[str, list[str]] = {"algo-1": [], "algo-2": []}
    for key in ids_keys:
        if key.endswith(".parquet"):
            table = pq.read_table(io.BytesIO(get(session, key)))
            per_host[key.split("/")[-1].split("-part")[0]] += table["id"].to_pylist()
    assert per_host["algo-1"] and per_host["algo-2"]
    assert not set(per_host["algo-1"]) & set(per_host["algo-2"])
    assert sorted(per_host["algo-1"] + per_host["algo-2"]) == sorted(expected)


def test_a_condition_step_runs_only_its_chosen_branch(session: boto3.Session) -> None:
    # GIVEN a condition on a parameter with one Fail-free step in each branch
    def marker(name: str) -> dict[str, Any]:
        step = _preprocess_step(1)
        step["Name"] = name
        return step

    condition = {
        "Name": "Gate",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [
                {"Type": "Equals", "LeftValue": {"Get": "Parameters.Mode"}, "RightValue": "x"}
            ],
            "IfSteps": [marker("IfBranch")],
            "ElseSteps": [],
        },
    }
    definition = {
        "Version": "2020-12-01",
        "Parameters": [{"Name": "Mode", "Type": "String", "DefaultValue": "x"}],
        "Steps": [condition],
    }
    put(session, "code/preprocess.py", (SCRIPTS_DIR / "preprocess.py").read_bytes())
    put(session, "input/part.csv", "id,a,b\nr1,1,2\nr2,3,4\n")
    # WHEN the condition holds, and then when it does not
    taken = run_definition(definition, parameters={}, session=session, log=lambda _: None)
    skipped = run_definition(
        definition, parameters={"Mode": "y"}, session=session, log=lambda _: None
    )
    # THEN only the chosen branch ran, and both executions succeeded
    assert [(s.name, s.status) for s in taken.steps] == [
        ("Gate", "Succeeded"),
        ("IfBranch", "Succeeded"),
    ]
    assert [(s.name, s.status) for s in skipped.steps] == [("Gate", "Succeeded")]
    assert taken.status == skipped.status == "Succeeded"
