"""Preprocess's ShardWriter: rows go straight into shard files, cut where a greedy split of the
rows cuts them, whatever the sizes of the pieces the rows arrive in."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.steps import preprocess

MAX = 1024


def greedy(rows: list[bytes], limit: int) -> list[list[int]]:
    """Row indexes of each shard: the longest run of whole rows within ``limit`` bytes."""
    shards: list[list[int]] = [[]]
    size = 0
    for index, row in enumerate(rows):
        if shards[-1] and size + len(row) > limit:
            shards.append([])
            size = 0
        shards[-1].append(index)
        size += len(row)
    return shards


def write(tmp_path: Path, rows: list[bytes], pieces: list[int]) -> preprocess.ShardWriter:
    """Feed ``rows`` to a writer in groups of ``pieces`` rows, each with its ids."""
    (tmp_path / "s").mkdir()
    (tmp_path / "i").mkdir()
    writer = preprocess.ShardWriter(tmp_path / "s", tmp_path / "i", "algo-1-", MAX)
    start = 0
    for count in pieces:
        ids = pa.table({"record_id": [f"r{i}" for i in range(start, start + count)]})
        writer.add(b"".join(rows[start : start + count]), ids)
        start += count
    writer.close()
    return writer


@pytest.mark.parametrize("seed", range(6))
def test_shards_are_the_greedy_split_however_rows_arrive(tmp_path: Path, seed: int) -> None:
    # GIVEN rows of random sizes (two of them exactly filling a shard, none wider than half a
    # shard: a one-row shard holds its row twice) arriving in random groups
    rng = random.Random(seed)
    sizes = [rng.choice([1, 2, 30, 200, 511, 512]) for _ in range(300)]
    rows = [b"7" * (size - 1) + b"\n" for size in sizes]
    pieces: list[int] = []
    while sum(pieces) < len(rows):
        pieces.append(min(rng.randint(1, 40), len(rows) - sum(pieces)))
    # WHEN written
    writer = write(tmp_path, rows, pieces)
    # THEN each shard holds the rows a greedy split gives it, a one-row shard twice, and its
    # ids are its row group of the ids file
    expected = greedy(rows, MAX)
    assert [shard["rows"] for shard in writer.shards] == [len(run) for run in expected]
    for shard, run in zip(writer.shards, expected, strict=True):
        data = (tmp_path / "s" / shard["shard"]).read_bytes()
        body = b"".join(rows[i] for i in run)
        assert data == body * (2 if len(run) == 1 else 1)
        assert shard["padding"] == (1 if len(run) == 1 else 0)
        ids_file = pq.ParquetFile(tmp_path / "i" / shard["ids"])
        ids = ids_file.read_row_group(shard["ids_row_group"]).column(0).to_pylist()
        assert ids == [f"r{i}" for i in run]
    # one ids file for every shard, a row group each: one object to upload, not one per shard
    assert [path.name for path in (tmp_path / "i").iterdir()] == ["algo-1-ids.parquet"]
    assert pq.ParquetFile(tmp_path / "i/algo-1-ids.parquet").num_row_groups == len(expected)


def test_a_row_larger_than_a_shard_is_refused_and_discard_leaves_nothing(tmp_path: Path) -> None:
    rows = [b"1,2\n"] * 300 + [b"9" * MAX + b"\n"]
    with pytest.raises(preprocess.InputError, match="a row's features take 1,025 bytes"):
        write(tmp_path, rows, [100, 100, 101])
    # the writer of the failed run removes its shards and ids, including the open one
    writer = preprocess.ShardWriter(tmp_path / "s", tmp_path / "i", "x-", MAX)
    writer.add(b"1,2\n" * 300, pa.table({"record_id": [str(i) for i in range(300)]}))
    assert list((tmp_path / "s").glob("x-*")) and list((tmp_path / "i").glob("x-*"))
    writer.discard()
    assert not list((tmp_path / "s").glob("x-*")) and not list((tmp_path / "i").glob("x-*"))


@pytest.mark.parametrize("width", [MAX // 2 + 1, MAX])
def test_a_row_whose_copy_would_not_fit_one_request_is_refused(tmp_path: Path, width: int) -> None:
    # GIVEN narrow rows, then a row wider than half a shard alone in its shard (its neighbours
    # do not fit beside it): padded with its copy it would be split into one-row requests
    rows = [b"1,2\n"] * 200 + [b"9" * (width - 1) + b"\n"] + [b"3" * 600 + b"\n"]
    # WHEN written  THEN refused, naming the row's size, the limit and the fix; nothing stays
    with pytest.raises(preprocess.InputError) as refused:
        write(tmp_path, rows, [150, 52])
    message = str(refused.value)
    assert f"a row's features take {width:,} bytes as CSV, more than the 512 a row may" in message
    assert "90 % of the stage key max_payload_mb); raise max_payload_mb to 1 or more" in message


def test_the_fix_names_the_max_payload_mb_that_holds_the_row_twice(tmp_path: Path) -> None:
    # GIVEN the pipeline's limit for max_payload_mb 1 (900,000 bytes) and a 600,000-byte row
    writer = preprocess.ShardWriter(tmp_path, tmp_path, "x-", 900_000)
    row = b"0." + b"1" * 599_997 + b"\n"
    # WHEN added alone  THEN refused: twice 600,000 bytes needs 1,200,000 / 0.9 = 2 MB
    writer.add(row, pa.table({"record_id": ["a"]}), "in/wide.csv")
    with pytest.raises(preprocess.InputError, match=r"in/wide.csv: .*600,000 bytes.*450,000 a "
                       r"row may take.*raise max_payload_mb to 2 or more$"):  # fmt: skip
        writer.close()
    writer.discard()
    # and a row no max_payload_mb can take says so
    huge = preprocess.ShardWriter(tmp_path, tmp_path, "y-", 1024)
    with pytest.raises(preprocess.InputError, match="no max_payload_mb can .100 at most."):
        huge.add(b"1" * 45_000_001 + b"\n", pa.table({"record_id": ["a"]}), "w.csv")
