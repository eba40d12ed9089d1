"""Preprocess reads the same data the same way whatever its form: an id column that is also a
feature, float ids from Parquet, and a gzip file named like plain CSV (refused by name)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from pipelines.steps import preprocess

# Not the demo's model: a meter-reading model whose numeric meter id is one of its features.
FEATURES = ["meter_id", "kwh", "peak_kw"]
TABLE = pa.table({
    "meter_id": [7001, 7002, 7003], "kwh": [12.5, 0.25, 3.0], "peak_kw": [1.0, 2.0, 0.5],
    "site": ["a", "b", "c"],
})  # fmt: skip


def _run(tmp_path: Path, name: str, data: bytes, id_column: str = "meter_id",
         features: list[str] = FEATURES) -> tuple[int, Path]:  # fmt: skip
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / name).write_bytes(data)
    out = tmp_path / "out"
    argv = ["--input-dir", str(tmp_path / "in"), "--shards-dir", str(out / "shards"),
            "--ids-dir", str(out / "ids"), "--failure-file", str(tmp_path / "message"),
            "--feature-columns", ",".join(features), "--id-column", id_column]  # fmt: skip
    return preprocess.main(argv), out


def _parquet(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue())


def _csv(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, write_options=pacsv.WriteOptions(quoting_style="none"))
    return bytes(sink.getvalue())


def _ids(out: Path, column: str) -> list[str | None]:
    return pq.read_table(out / "ids/algo-1-ids.parquet").column(column).to_pylist()


@pytest.mark.parametrize(("name", "encode"), [("m.csv", _csv), ("m.parquet", _parquet)])
def test_an_id_column_that_is_also_a_feature(
    tmp_path: Path, name: str, encode: object, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a meter id the model reads as a feature, and the stage's id column too
    data = encode(TABLE)  # type: ignore[operator]
    # WHEN preprocessing  THEN CSV as Parquet: every row scored, its id kept beside
    code, out = _run(tmp_path, name, data)
    assert code == 0, capsys.readouterr().err
    shard = (out / "shards/algo-1-part-00000.csv").read_text()
    assert [line.split(",")[0] for line in shard.splitlines()] == ["7001", "7002", "7003"]
    assert _ids(out, "meter_id") == ["7001", "7002", "7003"]


def test_parquet_float_ids_are_written_as_their_numbers(tmp_path: Path) -> None:
    # GIVEN account ids pandas wrote as float64 (an integer column with a missing id)
    ids = [10000000000000000.0, 12345678901234567.0, 3.0, None, 0.1, 2.5e-7, 4.0e20, -8.0]
    table = pa.table({"account": pa.array(ids, pa.float64()), "kwh": [1.0] * 8})
    # WHEN preprocessing (the missing id counted, as before)
    (tmp_path / "in").mkdir()
    (tmp_path / "in/a.parquet").write_bytes(_parquet(table))
    out = tmp_path / "out"
    argv = ["--input-dir", str(tmp_path / "in"), "--shards-dir", str(out / "shards"),
            "--ids-dir", str(out / "ids"), "--feature-columns", "kwh",
            "--id-column", "account", "--id-policy", "count"]  # fmt: skip
    assert preprocess.main(argv) == 0
    # THEN whole numbers are their integer text, others text that reads back as the same
    # float, and the missing id stays missing
    written = _ids(out, "account")
    assert written[:4] == ["10000000000000000", "12345678901234568", "3", None]
    assert written[6:] == ["400000000000000000000", "-8"]
    assert written[4] == "0.1" and float(written[5] or "") == 2.5e-7


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("m.csv", gzip.compress(_csv(TABLE)),
         "m.csv: gzip-compressed data in a file not named .csv.gz; name it m.csv.gz "
         "(or upload it uncompressed)"),
        ("m.csv", _parquet(TABLE), "m.csv: Parquet data in a file named as CSV; name it .parquet"),
    ],
    ids=["gzip", "parquet"],
)  # fmt: skip
def test_data_in_another_form_than_its_name_says_is_named(
    tmp_path: Path, name: str, data: bytes, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN gzip (or Parquet) data in a file named .csv
    # WHEN preprocessing  THEN one line names the real cause and the fix, not a decode error
    code, out = _run(tmp_path, name, data)
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert message in err and "codec" not in err
    assert list((out / "shards").iterdir()) == []
