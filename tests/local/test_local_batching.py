"""Line splitting and mini-batch packing limits (reference §2 and §5.10)."""

from __future__ import annotations

import gzip

import pytest

from pipelines.local import batching
from pipelines.local.errors import StepError


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


RECORDS = [f"{i},{'x' * (i % 7)}\n".encode() for i in range(200)]
DATA = b"".join(RECORDS)


@pytest.mark.parametrize("chunk", [1, 7, 64, 10_000])
@pytest.mark.parametrize("limit", [12, 50, 333])
def test_multi_record_batches_are_greedy_ordered_and_within_the_limit(
    chunk: int, limit: int
) -> None:
    # GIVEN 200 records of varying size, read in chunks of any size
    # WHEN packed with a payload limit
    batches = list(batching.multi_records(chunked(DATA, chunk), limit))
    # THEN nothing is lost or reordered, no batch exceeds the limit, no record is cut,
    assert b"".join(batches) == DATA
    assert all(len(b) <= limit and b.endswith(b"\n") for b in batches)
    # AND every batch is full: the next record would not have fitted (greedy)
    position = 0
    for batch in batches[:-1]:
        position += len(batch)
        next_record = DATA[position : DATA.index(b"\n", position) + 1]
        assert len(batch) + len(next_record) > limit


def test_record_larger_than_the_limit_fails() -> None:
    with pytest.raises(StepError, match="larger than MaxPayloadInMB"):
        list(batching.multi_records([b"short\n", b"x" * 40 + b"\n"], 20))
    with pytest.raises(StepError, match="larger than MaxPayloadInMB"):
        list(batching.single_records([b"x" * 40 + b"\n"], 20))


def test_last_record_without_newline_is_kept() -> None:
    assert list(batching.multi_records([b"a\nb\nc"], 4)) == [b"a\nb\n", b"c"]
    assert list(batching.single_records([b"a\nb", b"\nc"], None)) == [b"a\n", b"b\n", b"c"]


def test_record_exactly_at_the_limit_fits() -> None:
    assert list(batching.multi_records([b"abc\nde\n"], 4)) == [b"abc\n", b"de\n"]


def test_split_none_is_one_payload_within_the_limit() -> None:
    assert list(batching.payloads([b"a\n", b"b\n"], "None", "MultiRecord", 10)) == [b"a\nb\n"]
    with pytest.raises(StepError, match="SplitType"):
        list(batching.payloads([b"a" * 11], "None", "MultiRecord", 10))
    with pytest.raises(StepError, match="not supported"):
        list(batching.payloads([b"a"], "RecordIO", "MultiRecord", 10))


def test_no_limit_means_one_payload() -> None:
    assert list(batching.multi_records(chunked(DATA, 100), None)) == [DATA]


def test_gunzip_streams_multi_member_archives() -> None:
    data = gzip.compress(b"a,1\nb,2\n") + gzip.compress(b"c,3\n")
    assert b"".join(batching.gunzip(chunked(data, 5))) == b"a,1\nb,2\nc,3\n"
    with pytest.raises(StepError, match="gzip"):
        list(batching.gunzip([b"not gzip at all"]))


def test_pack_prepared_records() -> None:
    records = [(b"aa\n", 1), (b"bb\n", 2), (b"c\n", 3)]
    assert [[tag for _, tag in batch] for batch in batching.pack(records, 6)] == [[1, 2], [3]]
