"""Every bad input Preprocess meets is one line naming the file and the fix (or is handled as
its twin is), never a traceback or a misleading reason."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.pipeline.test_step_scripts import rows_for, run_preprocess, write_csv

REPO = Path(__file__).resolve().parents[2]


def _fails_with(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    code, out = run_preprocess(tmp_path, *extra)
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.count("\n") == 1, err
    assert list((out / "shards").iterdir()) == []
    return err


def _gzip_rows(count: int) -> bytes:
    text = "record_id,f1,f2,f3\n" + "".join(f"r{i},{i},{i / 3},{-i}\n" for i in range(count))
    return gzip.compress(text.encode())


def test_a_csv_gz_that_is_not_gzip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in/a.csv.gz").write_text("record_id,f1,f2,f3\nr1,1,2,3\n")
    err = _fails_with(tmp_path, capsys)
    assert "a.csv.gz: not gzip data; compress it with gzip, or name it without .gz" in err


@pytest.mark.parametrize("rows", [10, 200_000])  # cut in the header, or while streaming rows
def test_a_truncated_csv_gz(tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: int) -> None:
    (tmp_path / "in").mkdir()
    data = _gzip_rows(rows)
    (tmp_path / "in/a.csv.gz").write_bytes(data[: len(data) // 2])
    err = _fails_with(tmp_path, capsys)
    assert "a.csv.gz: the gzip data is truncated or damaged" in err
    assert "upload the whole file again" in err


def test_a_parquet_id_column_that_is_a_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in").mkdir()
    table = pa.table({"record_id": [["a"], ["b"]], "f1": [1, 2], "f2": [1.0, 2.0], "f3": [0, 0]})
    pq.write_table(table, tmp_path / "in/a.parquet")
    err = _fails_with(tmp_path, capsys)
    assert "a.parquet: id column 'record_id' is list<element: string>" in err
    assert "ids must be text or numbers" in err


def test_a_feature_named_twice_in_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a header naming f2 twice (which one the model should read is ambiguous)
    (tmp_path / "in").mkdir()
    (tmp_path / "in/a.csv").write_text("record_id,f1,f2,f3,f2\nr1,1,2,3,9\n")
    err = _fails_with(tmp_path, capsys)
    assert "a.csv: column 'f2' appears 2 times; rename or drop the copies" in err


def test_a_feature_named_twice_in_parquet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in").mkdir()
    columns = [pa.array(["r1"]), pa.array([1.0]), pa.array([2.0]), pa.array([3.0]), pa.array([4.0])]
    table = pa.Table.from_arrays(columns, names=["record_id", "f1", "f2", "f3", "f1"])
    pq.write_table(table, tmp_path / "in/a.parquet")
    err = _fails_with(tmp_path, capsys)
    assert "a.parquet: column 'f1' appears 2 times" in err


def test_a_row_larger_than_a_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN a row whose features alone take more than a request may hold
    (tmp_path / "in").mkdir()
    tiny = "0." + "0" * 2000 + "1"
    (tmp_path / "in/a.csv").write_text(f"record_id,f1,f2,f3\nr1,1,2,3\nr2,{tiny},2,3\n")
    err = _fails_with(tmp_path, capsys, "--max-shard-bytes", "1024")
    assert "a.csv: a row's features take 2,008 bytes as CSV, more than the 512 a row" in err
    assert "request of at most 1,024 bytes (90 % of the stage key max_payload_mb)" in err
    assert "raise max_payload_mb to 1 or more" in err


def test_a_long_text_column_the_model_does_not_read_is_scored(tmp_path: Path) -> None:
    # GIVEN rows with a 3 MB text column (longer than Arrow's 1 MiB CSV block)
    (tmp_path / "in").mkdir()
    note = "x" * 3_000_000
    body = "".join(f"r{i},{i},{i},{i},{note if i == 2 else 'n'}\n" for i in range(5))
    (tmp_path / "in/a.csv").write_text("record_id,f1,f2,f3,notes\n" + body)
    # WHEN preprocessing  THEN every row is in the shards once, in order
    code, out = run_preprocess(tmp_path)
    assert code == 0
    shard = next((out / "shards").iterdir()).read_text()
    assert shard == "".join(f"{i},{i},{i}\n" for i in range(5))


@pytest.mark.parametrize("rows", [10, 60_000], ids=["one-block", "many-blocks"])
def test_a_quoted_line_break_in_a_column_the_model_does_not_read_is_scored(
    tmp_path: Path, rows: int
) -> None:
    # GIVEN a valid CSV whose notes hold quoted line breaks, smaller and larger than Arrow's 1 MiB
    # block (the larger one failed: "CSV parser got out of sync with chunker")
    (tmp_path / "in").mkdir()
    body = "".join(f'r{i},{i},{i},{i},"line one\nline two {i}"\n' for i in range(rows))
    (tmp_path / "in/a.csv").write_text("record_id,f1,f2,f3,notes\n" + body)
    # WHEN preprocessing  THEN every row is in the shards once, in order
    code, out = run_preprocess(tmp_path)
    assert code == 0
    shards = "".join(path.read_text() for path in sorted((out / "shards").iterdir()))
    assert shards == "".join(f"{i},{i},{i}\n" for i in range(rows))


def test_a_header_only_input_names_the_s3_prefix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the snapshot under s3://data/in/ holds one file with a header only
    write_csv(tmp_path / "in/a.csv", [], columns=["record_id", "f1", "f2", "f3"])
    partitions = REPO / "pipelines/steps/partitions.py"
    run = ["--partitions-lib", str(partitions), "--input-layout", "snapshot"]
    run += ["--input-url", "s3://data/in/", "--run-date", "2024-01-31"]
    # WHEN preprocessing  THEN the line names the S3 prefix, not a container path
    err = _fails_with(tmp_path, capsys, *run)
    assert "no data rows under s3://data/in/ (1 CSV or Parquet file(s)" in err
    assert str(tmp_path) not in err


def test_a_zero_byte_parquet_is_skipped_like_a_zero_byte_csv(tmp_path: Path) -> None:
    write_csv(tmp_path / "in/b.csv", rows_for(range(3)))
    (tmp_path / "in/a.parquet").write_bytes(b"")
    (tmp_path / "in/c.csv").write_bytes(b"")
    code, out = run_preprocess(tmp_path)
    assert code == 0
    manifest = (out / "ids/algo-1.manifest.json").read_text()
    assert '"rows": 3' in manifest


def test_a_file_that_is_not_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in/a.parquet").write_text("record_id,f1\n")
    err = _fails_with(tmp_path, capsys)
    assert "a.parquet: not a Parquet file" in err


def test_an_uppercase_csv_gz_is_read_as_gzip(tmp_path: Path) -> None:
    # GIVEN valid gzip named in capitals (Arrow picks compression by a lowercase extension)
    (tmp_path / "in").mkdir()
    (tmp_path / "in/DATA.CSV.GZ").write_bytes(_gzip_rows(10))
    # WHEN preprocessing  THEN its rows are in the shards, as for data.csv.gz
    code, out = run_preprocess(tmp_path)
    assert code == 0
    shard = next((out / "shards").iterdir()).read_text()
    assert shard == "".join(f"{i},{i / 3},{-i}\n" for i in range(10))
