"""Turn an object's byte stream into request payloads: Line splitting and mini-batches.

Everything here streams: at most one payload plus one read chunk is held at a time.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator

from pipelines.local.errors import StepError

MIB = 1024 * 1024


def gunzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Decompress a (possibly multi-member) gzip stream chunk by chunk."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        for chunk in chunks:
            while chunk:
                out = decompressor.decompress(chunk)
                if out:
                    yield out
                if decompressor.eof:
                    chunk = decompressor.unused_data
                    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
                else:
                    chunk = b""
        tail = decompressor.flush()
        if tail:
            yield tail
    except zlib.error as err:
        raise StepError(f"input is not valid gzip: {err}") from err


def _too_large(limit: int) -> StepError:
    return StepError(f"a record is larger than MaxPayloadInMB ({limit // MIB} MB)")


def lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Yield records split on ``\\n``, each with its newline (the last one may lack it)."""
    rest = b""
    for chunk in chunks:
        data = rest + chunk if rest else chunk
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            yield data[start : end + 1]
            start = end + 1
        rest = data[start:]
    if rest:
        yield rest


def single_records(chunks: Iterable[bytes], limit: int | None) -> Iterator[bytes]:
    """SingleRecord: one line per payload."""
    for record in lines(chunks):
        if limit is not None and len(record) > limit:
            raise _too_large(limit)
        yield record


def multi_records(chunks: Iterable[bytes], limit: int | None) -> Iterator[bytes]:
    """MultiRecord: greedy runs of consecutive whole lines of at most ``limit`` bytes."""
    if limit is None:
        yield from whole(chunks, None)
        return
    pending: list[bytes] = []
    size = 0
    for chunk in chunks:
        pending.append(chunk)
        size += len(chunk)
        if size > limit:
            data = b"".join(pending)
            start = 0
            while len(data) - start > limit:
                cut = data.rfind(b"\n", start, start + limit)
                if cut < 0:
                    raise _too_large(limit)
                yield data[start : cut + 1]
                start = cut + 1
            pending, size = [data[start:]], len(data) - start
    data = b"".join(pending)
    start = 0
    while len(data) - start > limit:  # only when the last record has no newline
        cut = data.rfind(b"\n", start, start + limit)
        if cut < 0:
            raise _too_large(limit)
        yield data[start : cut + 1]
        start = cut + 1
    if start < len(data):
        yield data[start:]


def whole(chunks: Iterable[bytes], limit: int | None) -> Iterator[bytes]:
    """SplitType None: the whole object is one payload."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        if limit is not None and len(buffer) > limit:
            raise StepError(
                f"the object is larger than MaxPayloadInMB ({limit // MIB} MB) and SplitType "
                "is None; use SplitType Line"
            )
    if buffer:
        yield bytes(buffer)


def pack(
    records: Iterable[tuple[bytes, object]], limit: int | None
) -> Iterator[list[tuple[bytes, object]]]:
    """Greedy MultiRecord packing of prepared records (payload bytes, attached data)."""
    batch: list[tuple[bytes, object]] = []
    size = 0
    for record in records:
        length = len(record[0])
        if limit is not None and length > limit:
            raise _too_large(limit)
        if batch and limit is not None and size + length > limit:
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += length
    if batch:
        yield batch


def payloads(
    chunks: Iterable[bytes], split_type: str, strategy: str, limit: int | None
) -> Iterator[bytes]:
    """Payloads of one object for the fast path (no DataProcessing)."""
    if split_type == "None":
        return whole(chunks, limit)
    if split_type != "Line":
        raise StepError(f"SplitType {split_type} is not supported locally; use Line or None")
    if strategy == "SingleRecord":
        return single_records(chunks, limit)
    return multi_records(chunks, limit)
