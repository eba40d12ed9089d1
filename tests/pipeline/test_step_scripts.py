"""The step scripts on CSV and Parquet: shards, ids, the join, and every refusal."""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.definition import layout
from pipelines.steps import postprocess, preprocess
from promotion.config import OWN_OUTPUT_COLUMNS, ROW_ID_COLUMNS

FEATURES = ["f1", "f2", "f3"]


def write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = columns or list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def rows_for(ids: range) -> list[dict[str, Any]]:
    """Rows whose features encode the id, so a wrong join shows."""
    return [{"record_id": f"r{i}", "f1": i, "f2": i * 0.5, "f3": -i, "other": "x"} for i in ids]


def run_preprocess(tmp_path: Path, *extra: str, id_column: bool = True) -> tuple[int, Path]:
    out = tmp_path / "out"
    argv = ["--input-dir", str(tmp_path / "in"), "--shards-dir", str(out / "shards")]
    argv += ["--ids-dir", str(out / "ids"), "--feature-columns", ",".join(FEATURES)]
    argv += ["--failure-file", str(tmp_path / "message"), *extra]
    if id_column:
        argv += ["--id-column", "record_id"]
    return preprocess.main(argv), out


def fake_transform(out: Path, *, width: int = 1, blank_line: bool = True) -> Path:
    """What batch transform + the sklearn container write: ``<shard>.out``, one line per row.

    The prediction is f1 (and f1 * k for further columns); a blank line after each body
    mimics AssembleWith=Line adding a newline after a body that ends with one.
    """
    predictions = out / "predictions"
    predictions.mkdir(parents=True, exist_ok=True)
    for shard in sorted((out / "shards").iterdir()):
        lines = shard.read_text(encoding="utf-8").splitlines()
        assert lines and all(line.count(",") == len(FEATURES) - 1 for line in lines)
        body = "".join(
            ",".join(str(float(line.split(",")[0]) * (k + 1)) for k in range(width)) + "\n"
            for line in lines
        )
        (predictions / f"{shard.name}.out").write_text(body + ("\n" if blank_line else ""))
    return predictions


def run_postprocess(out: Path, *extra: str) -> tuple[int, Path]:
    argv = ["--ids-dir", str(out / "ids"), "--predictions-dir", str(out / "predictions")]
    argv += ["--output-dir", str(out / "final"), "--model-package-version", "7"]
    argv += ["--execution-id=exec123", "--start-time=2024-05-06T03:00:00.000Z"]
    argv += ["--failure-file", str(out / "message"), *extra]
    return postprocess.main(argv), out / "final"


def test_csv_and_parquet_round_trip_in_order(tmp_path: Path) -> None:
    # GIVEN CSV (one gzipped, one with columns in another order) and Parquet files, plus a marker
    write_csv(tmp_path / "in/a.csv", rows_for(range(0, 5)))
    (tmp_path / "in/b").mkdir()
    order = ["f3", "record_id", "f2", "f1"]
    with gzip.open(tmp_path / "in/b/c.csv.gz", "wt", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=order)
        writer.writeheader()
        writer.writerows({key: row[key] for key in order} for row in rows_for(range(5, 9)))
    pq.write_table(pa.Table.from_pylist(rows_for(range(9, 12))), tmp_path / "in/b/d.parquet")
    (tmp_path / "in/_SUCCESS").write_text("")
    # WHEN preprocessing, transforming and postprocessing
    code, out = run_preprocess(tmp_path)
    assert code == 0
    manifest = json.loads((out / "ids/algo-1.manifest.json").read_text())
    fake_transform(out)
    code, final = run_postprocess(out)
    # THEN every row comes back once, in input file order, with its own prediction
    assert code == 0
    assert [f["path"] for f in manifest["files"]] == ["a.csv", "b/c.csv.gz", "b/d.parquet"]
    result = pd.read_parquet(final)
    assert list(result["record_id"]) == [f"r{i}" for i in range(12)]
    assert list(result["prediction"]) == [float(i) for i in range(12)]
    assert set(result["model_package_version"]) == {7}
    assert set(result["execution_id"]) == {"exec123"}
    assert str(result["run_date"].iloc[0]) == "2024-05-06"
    success = json.loads((final / "2024-05-06/exec123/_SUCCESS").read_text())
    assert (success["input_rows"], success["prediction_rows"]) == (12, 12)
    assert success["files"] == [{"path": "part-00000.parquet", "rows": 12}]


def test_shards_fit_the_payload_and_never_hold_one_row(tmp_path: Path) -> None:
    # GIVEN 1001 rows and a shard limit of about 40 rows
    write_csv(tmp_path / "in/a.csv", rows_for(range(1001)))
    # WHEN preprocessing without an id column
    code, out = run_preprocess(tmp_path, "--max-shard-bytes", "1024", id_column=False)
    # THEN shards are within the limit, hold >= 2 lines, and concatenate to the input in order
    assert code == 0
    shards = sorted((out / "shards").iterdir())
    assert len(shards) > 10
    assert all(s.stat().st_size <= 1024 or s.read_text().count("\n") == 2 for s in shards)
    assert all(s.read_text().count("\n") >= 2 for s in shards)
    fake_transform(out, width=2, blank_line=False)
    names = "--prediction-columns=p0,p1"
    code, final = run_postprocess(out, "--run-date=2024-01-31", "--rows-per-file", "300", names)
    assert code == 0
    result = pd.read_parquet(final / "2024-01-31/exec123")
    assert list(result["row_number"]) == list(range(1001))
    assert set(result["source_file"]) == {"a.csv"}
    assert list(result["p1"]) == [2.0 * i for i in range(1001)]
    assert list(result.columns[:4]) == ["source_file", "row_number", "p0", "p1"]
    assert len(list((final / "2024-01-31/exec123").glob("part-*.parquet"))) >= 3


def test_a_single_row_is_padded_and_the_copy_dropped(tmp_path: Path) -> None:
    # GIVEN one input row
    write_csv(tmp_path / "in/a.csv", rows_for(range(41, 42)))
    # WHEN running the steps
    code, out = run_preprocess(tmp_path)
    shard = next((out / "shards").iterdir()).read_text()
    fake_transform(out)
    code_post, final = run_postprocess(out)
    # THEN the shard holds the row twice (the container rejects one row) and the output once
    assert (code, code_post) == (0, 0)
    assert shard == "41,20.5,-41\n41,20.5,-41\n"
    assert list(pd.read_parquet(final)["record_id"]) == ["r41"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "record_id,f1,f2\nr1,1,2\n",
            "a.csv lacks 1 of the model's 4 columns (3 feature column(s) and the id column): f3",
        ),
        ("record_id,f1,f2,f3\nr1,1,abc,3\n", "malformed or non-numeric"),
        (
            "record_id,f1,f2,f3\nr1,1,2,3\nr2,1,,3\n",
            "missing value in feature column 'f2' at row 2",
        ),
        ("record_id,f1,f2,f3\nr1,1,inf,3\n", "non-finite value in feature column 'f2'"),
        ("record_id,f1,f2,f3\n", "no data rows"),
    ],
)
def test_malformed_csv_fails_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    # GIVEN a malformed CSV file
    (tmp_path / "in").mkdir()
    (tmp_path / "in/a.csv").write_text(content)
    # WHEN preprocessing  THEN exit 1, one line on stderr and in the failure file, no shard left
    code, out = run_preprocess(tmp_path)
    err = capsys.readouterr().err
    assert code == 1
    assert message in err and err.count("\n") == 1
    assert (tmp_path / "message").read_text() == err.strip()
    assert list((out / "shards").iterdir()) == []


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pa.table({"record_id": ["a"], "f1": ["1"], "f2": [1.0], "f3": [1]}), "'f1' is string"),
        (pa.table({"record_id": ["a"], "f1": [float("nan")], "f2": [1.0], "f3": [1]}), "missing"),
        (pa.table({"record_id": ["a"], "f1": [None], "f2": [1.0], "f3": [1]}), "missing"),
        (
            pa.table({"record_id": ["a", "b"], "f1": [1, 2], "f2": [1.0, None], "f3": [1, 1]}),
            "row 2",
        ),
    ],
)
def test_malformed_parquet_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table: pa.Table, message: str
) -> None:
    # GIVEN a Parquet file with a text feature, a NaN or a null
    (tmp_path / "in").mkdir()
    pq.write_table(table, tmp_path / "in/a.parquet")
    # WHEN preprocessing  THEN it fails naming the column
    code, _ = run_preprocess(tmp_path)
    assert code == 1
    assert message in capsys.readouterr().err


def test_empty_input_and_unknown_files_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an empty input directory, then one holding a JSON file
    (tmp_path / "in").mkdir()
    assert run_preprocess(tmp_path)[0] == 1
    assert "no data rows" in capsys.readouterr().err
    (tmp_path / "in/data.json").write_text("{}")
    # WHEN preprocessing  THEN both fail with a clear message
    assert run_preprocess(tmp_path)[0] == 1
    assert "data.json: unsupported file type" in capsys.readouterr().err


@pytest.mark.parametrize("change", ["drop", "add", "missing", "stray"])
def test_prediction_count_mismatch_fails_and_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: str
) -> None:
    # GIVEN transform output with a line lost or added, a shard's output missing, or a stray file
    write_csv(tmp_path / "in/a.csv", rows_for(range(100)))
    assert run_preprocess(tmp_path, "--max-shard-bytes", "1024")[0] == 0
    predictions = fake_transform(tmp_path / "out")
    first = sorted(predictions.iterdir())[0]
    lines = first.read_text().splitlines(keepends=True)
    if change == "drop":
        first.write_text("".join(lines[1:]))
    elif change == "add":
        first.write_text("".join(lines) + "1.0\n")
    elif change == "missing":
        first.unlink()
    else:
        (predictions / "other.csv.out").write_text("1\n2\n")
    # WHEN postprocessing  THEN it fails with one line and writes no output for the run
    code, final = run_postprocess(tmp_path / "out")
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    expected = {"drop": "records were lost", "add": "records were lost", "missing": "is missing"}
    assert expected.get(change, "unexpected prediction file") in err
    assert not (final / "2024-05-06/exec123").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--run-date=2024-13-01"], "not a valid date"),
        (["--run-date=yesterday"], "YYYY-MM-DD"),
        (["--start-time="], "YYYY-MM-DD"),
    ],
)
def test_bad_run_dates_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    # GIVEN a good run  WHEN the run date is unusable  THEN postprocess fails
    write_csv(tmp_path / "in/a.csv", rows_for(range(3)))
    assert run_preprocess(tmp_path)[0] == 0
    fake_transform(tmp_path / "out")
    assert run_postprocess(tmp_path / "out", *extra)[0] == 1
    assert message in capsys.readouterr().err


def test_a_run_never_overwrites_another(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a finished run
    write_csv(tmp_path / "in/a.csv", rows_for(range(3)))
    assert run_preprocess(tmp_path)[0] == 0
    fake_transform(tmp_path / "out")
    assert run_postprocess(tmp_path / "out")[0] == 0
    # WHEN the same execution writes again  THEN it refuses and keeps the first output
    code, final = run_postprocess(tmp_path / "out")
    assert code == 1 and "already exists" in capsys.readouterr().err
    assert (final / "2024-05-06/exec123/_SUCCESS").is_file()


def test_csv_shards_keep_the_inputs_own_text(tmp_path: Path) -> None:
    # GIVEN numbers written in several ways, one with spaces around it
    (tmp_path / "in").mkdir()
    (tmp_path / "in/a.csv").write_text("record_id,f1,f2,f3\nr1,1e3, 2.5 ,+3\nr2,0.1,-0,7\n")
    # WHEN preprocessing
    code, out = run_preprocess(tmp_path)
    # THEN the shard holds the same text (no float is parsed and formatted again), trimmed
    assert code == 0
    assert next((out / "shards").iterdir()).read_text() == "1e3,2.5,+3\n0.1,-0,7\n"


@pytest.mark.parametrize("value", ["NA", "null", " ", "#N/A"])
def test_missing_value_spellings_in_csv_are_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    # GIVEN a feature value spelled as missing  WHEN preprocessing  THEN it is refused as missing
    (tmp_path / "in").mkdir()
    (tmp_path / "in/a.csv").write_text(f"record_id,f1,f2,f3\nr1,1,2,3\nr2,1,{value},3\n")
    assert run_preprocess(tmp_path)[0] == 1
    assert "missing value in feature column 'f2' at row 2" in capsys.readouterr().err


def test_the_stage_names_the_models_output_columns(tmp_path: Path) -> None:
    # GIVEN a model with two outputs and a stage that names them
    write_csv(tmp_path / "in/a.csv", rows_for(range(6)))
    code, out = run_preprocess(tmp_path)
    fake_transform(out, width=2)
    # WHEN postprocessing with prediction_columns' arguments
    arguments = layout.prediction_arguments(["p_stay", "p_churn"])
    code, final = run_postprocess(out, "--run-date=2024-01-31", *arguments)
    # THEN the results carry those names, in order
    assert code == 0
    result = pd.read_parquet(final / "2024-01-31/exec123")
    assert list(result.columns[:3]) == ["record_id", "p_stay", "p_churn"]
    assert list(result["p_churn"]) == [2.0 * i for i in range(6)]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["score"], "the model answered 2 column(s) but prediction_columns names 1 (score)"),
        (["score", "run_date"], "prediction column(s) run_date are the step's own columns"),
    ],
)
def test_prediction_columns_that_do_not_fit_fail_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], names: list[str], message: str
) -> None:
    write_csv(tmp_path / "in/a.csv", rows_for(range(4)))
    code, out = run_preprocess(tmp_path)
    fake_transform(out, width=2)
    capsys.readouterr()
    code, final = run_postprocess(out, "--run-date=2024-01-31", *layout.prediction_arguments(names))
    err = capsys.readouterr().err
    assert code == 1
    assert message in err and err.count("\n") == 1
    assert not (final / "2024-01-31").exists()


def test_postprocess_and_the_stage_file_reserve_the_same_columns() -> None:
    assert postprocess.RESERVED_COLUMNS == OWN_OUTPUT_COLUMNS
    assert (preprocess.SOURCE_FILE, preprocess.ROW_NUMBER) == ROW_ID_COLUMNS


def test_long_prediction_column_lists_fit_container_arguments() -> None:
    names = [f"class_probability_{index:03d}" for index in range(40)]
    arguments = layout.prediction_arguments(names)
    assert max(len(argument) for argument in arguments) <= 256
    assert arguments.count("--prediction-columns") > 1
    parsed = postprocess.parse_args(["--model-package-version=1", "--execution-id=e1", *arguments])
    assert parsed.prediction_columns == names
    assert layout.prediction_arguments(None) == []


def _loaded_modules(script: Path, argv: list[str]) -> set[str]:
    """The modules a step script loads when it runs as a script (python -X importtime)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(script), *argv],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    times = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[1].strip() for line in times[1:]}


def test_the_step_scripts_run_without_loading_pandas(tmp_path: Path) -> None:
    # GIVEN an input pyarrow converts Python values for (ids, CSV text, Parquet writes)
    write_csv(tmp_path / "in/a.csv", rows_for(range(5)))
    out = tmp_path / "out"
    argv = ["--input-dir", str(tmp_path / "in"), "--shards-dir", str(out / "shards")]
    argv += ["--ids-dir", str(out / "ids"), "--feature-columns", ",".join(FEATURES)]
    argv += ["--id-column", "record_id", "--failure-file", str(tmp_path / "message")]
    # WHEN both steps run as scripts, as the processing jobs start them
    before = _loaded_modules(Path(preprocess.__file__), argv)
    fake_transform(out)
    argv = ["--ids-dir", str(out / "ids"), "--predictions-dir", str(out / "predictions")]
    argv += ["--output-dir", str(out / "final"), "--execution-id=exec123"]
    argv += ["--model-package-version", "7"]
    argv += ["--start-time=2024-05-06T03:00:00.000Z", "--failure-file", str(out / "message")]
    after = _loaded_modules(Path(postprocess.__file__), argv)
    # THEN neither loads pandas (pyarrow would, a quarter of a second each, to ask whether a value
    # is a pandas object), and both did their work
    assert "pyarrow.compute" in before and "pyarrow.parquet" in after
    assert not {name for name in before | after if name.startswith("pandas.")}
    assert pd.read_parquet(out / "final")["record_id"].tolist() == [f"r{i}" for i in range(5)]


def test_the_first_bad_shard_in_order_is_the_one_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN many shards, the fourth one short of a line and every later one with an extra line
    write_csv(tmp_path / "in/a.csv", rows_for(range(1000)))
    assert run_preprocess(tmp_path, "--max-shard-bytes", "1024")[0] == 0
    outputs = sorted(fake_transform(tmp_path / "out").iterdir())
    assert len(outputs) > 6
    outputs[3].write_text("".join(outputs[3].read_text().splitlines(keepends=True)[1:]))
    for later in outputs[4:]:
        later.write_text(later.read_text() + "1.0\n")
    # WHEN postprocessing (later shards are joined ahead of the writer)
    code, final = run_postprocess(tmp_path / "out")
    # THEN the line names the fourth shard, as a shard-by-shard run would, and nothing is left
    err = capsys.readouterr().err
    assert code == 1 and f"shard {outputs[3].name.removesuffix('.out')}:" in err
    assert not (final / "2024-05-06/exec123").exists()
