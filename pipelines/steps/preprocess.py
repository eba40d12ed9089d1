"""Preprocess step: every CSV or Parquet object under the input directory becomes headerless CSV
shards for batch transform, plus the ids of their rows in the same order.

It never fits anything: it selects the model's feature columns in the model's order, checks that
every value is a finite number, and writes them as they are. Runs in the scikit-learn processing
image (Python 3.10, pyarrow) and locally; it imports nothing from this repository.

Shards are cut by bytes so that each one fits in ONE batch-transform request (MaxPayloadInMB):
the service then never splits a shard into mini-batches, so no request holds a single record,
which the scikit-learn container's CSV decoder rejects. A shard that would hold one row (the whole
input of this host is one row) is padded with a copy of that row; the manifest records the
padding and the postprocess step drops the extra prediction.
"""

from __future__ import annotations

import argparse
import csv
import functools
import gzip
import importlib.util
import json
import math
import sys
import tempfile
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

DEFAULT_INPUT_DIR = "/opt/ml/processing/input/data"
DEFAULT_SHARDS_DIR = "/opt/ml/processing/output/shards"
DEFAULT_IDS_DIR = "/opt/ml/processing/output/ids"
DEFAULT_RESOURCE_CONFIG = "/opt/ml/config/resourceconfig.json"
DEFAULT_FAILURE_FILE = "/opt/ml/output/message"
# The share of MaxPayloadInMB a shard fills (pipelines.definition.layout reads it from here).
PAYLOAD_FILL = 0.9
# Transform's largest MaxPayloadInMB (CreateTransformJob API reference: MaxPayloadInMB).
MAX_PAYLOAD_MB = 100
# 90 % of the default MaxPayloadInMB (6 MB): the pipeline passes the value for its own setting.
DEFAULT_MAX_SHARD_BYTES = int(6 * 1_000_000 * PAYLOAD_FILL)
BATCH_ROWS = 16_384
# Threads that check and format batches while the next ones are read (the processing
# instance's cores do that work; Arrow's reader parses ahead on its own threads).
WORKERS = 2
# pyarrow's streaming CSV reader reads about 32 blocks ahead: 1 MiB blocks keep that ~35 MiB.
CSV_BLOCK_BYTES = 1 << 20
# A row longer than a block (a long text column the model does not read) is read again with
# larger blocks and no read-ahead, up to this size.
MAX_CSV_BLOCK_BYTES = 1 << 28
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
DELIMITERS = (";", "\t", "|")  # what a spreadsheet writes instead of commas
GZIP_MAGIC = b"\x1f\x8b"  # the first two bytes of every gzip stream (RFC 1952)
PARQUET_MAGIC = b"PAR1"  # the first four bytes of a Parquet file
SOURCE_FILE = "source_file"
ROW_NUMBER = "row_number"
MANIFEST_SUFFIX = ".manifest.json"
RUN_FILE = "run.json"  # the run's date and status; the pipeline's property file
ID_POLICIES = ("fail", "count")
# Arrow's CSV spellings of a missing value: a feature holding one of them is refused as missing.
MISSING_TEXT = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
)  # fmt: skip
# The shards' CSV: no header (it is data to the container), values never quoted (numbers).
SHARD_CSV = pacsv.WriteOptions(include_header=False, quoting_style="none")


class WithoutPandas:
    """An import finder that refuses pandas. pyarrow imports pandas (a quarter of a second and
    30 MB) the first time it converts a Python value, only to ask whether the value is a pandas
    object; this script never hands it one. Installed only when the file runs as a script."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        """Raise for pandas and its modules; let the other finders answer for the rest."""
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError(f"No module named {name!r} (not used here)", name=name)


class InputError(Exception):
    """The input data cannot be scored as it is; the message is one line."""


def list_input_files(root: Path) -> list[Path]:
    """Every data file under ``root``, recursively, sorted by relative path.

    Names starting with ``_`` or ``.`` (``_SUCCESS``, ``.crc``) are skipped at any depth.
    """
    if not root.is_dir():
        raise InputError(f"input directory {root} does not exist")
    files = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if not path.is_file() or any(part[:1] in "_." for part in relative.parts):
            continue
        check_file_name(path.name, relative.as_posix())
        files.append(path)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def check_file_name(name: str, where: str) -> None:
    """Refuse a file whose name says neither CSV nor Parquet (the reader is chosen by name)."""
    if not name.lower().endswith(CSV_SUFFIXES + PARQUET_SUFFIXES):
        raise InputError(
            f"{where}: unsupported file type; expected CSV or Parquet: write it as CSV named "
            ".csv (.csv.gz when gzip-compressed) or as Parquet named .parquet or .pq"
        )


def _csv_header(path: Path, where: str) -> list[str] | None:
    gzipped = path.name.lower().endswith(".gz")
    if not gzipped:
        with path.open("rb") as handle:
            start = handle.read(len(PARQUET_MAGIC))
        if start.startswith(GZIP_MAGIC):
            raise InputError(
                f"{where}: gzip-compressed data in a file not named .csv.gz; name it "
                f"{path.name}.gz (or upload it uncompressed)"
            )
        if start == PARQUET_MAGIC:
            raise InputError(f"{where}: Parquet data in a file named as CSV; name it .parquet")
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            return next(csv.reader(handle), None)
    except gzip.BadGzipFile as error:
        raise InputError(
            f"{where}: not gzip data; compress it with gzip, or name it without .gz"
        ) from error
    except (EOFError, zlib.error) as error:
        raise _damaged_gzip(where, error) from error


def _damaged_gzip(where: str, error: BaseException) -> InputError:
    detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return InputError(
        f"{where}: the gzip data is truncated or damaged ({detail}); upload the whole file again"
    )


def header_hint(present: Sequence[str], missing: Sequence[str]) -> str:
    """Why a header that looks right misses columns: another delimiter, or spaces around names."""
    if len(present) == 1 and any(mark in present[0] for mark in DELIMITERS):
        return (f"; it has one column, {present[0][:60]!r}: it looks delimited by something "
                "else than commas; write it as CSV (commas), or as Parquet")  # fmt: skip
    spaced = [name for name in present if name != name.strip() and name.strip() in missing]
    if spaced:
        return f"; the header writes {spaced[0]!r} with spaces around the name: remove them"
    return ""


def check_columns(
    where: str, present: Sequence[str], features: Sequence[str], id_column: str | None,
    source: str = "",
) -> None:  # fmt: skip
    """Refuse a header that lacks a column the model reads, or names one of them twice.
    ``source`` says where the feature columns come from, for the message."""
    wanted = list(dict.fromkeys([*features, *([id_column] if id_column else [])]))
    missing = [column for column in wanted if column not in set(present)]
    if missing:
        shown = ", ".join(missing[:8]) + (
            f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        )
        reads = f"{len(features)} feature column(s)" + (" and the id column" if id_column else "")
        raise InputError(
            f"{where} lacks {len(missing)} of the model's {len(wanted)} columns ({reads}): {shown}"
            + (f" (from {source})" if source else "")
            + header_hint(present, missing)
            + f"; fix {where}: its header must name every feature column"
            + (f" and the id column {id_column}" if id_column else "")
        )
    twice = [column for column in wanted if list(present).count(column) > 1]
    if twice:
        raise InputError(
            f"{where}: column {twice[0]!r} appears {list(present).count(twice[0])} times; "
            "rename or drop the copies (which one holds the values is ambiguous)"
        )


def _csv_batches(path: Path, wanted: list[str], where: str) -> Iterator[pa.RecordBatch]:
    """Every row once, in order; a row longer than the block is read again with larger
    blocks (restarting the file and skipping the rows already given)."""
    block, given = CSV_BLOCK_BYTES, 0
    # Explicit: given a path, Arrow picks compression by a lowercase extension (not .CSV.GZ).
    compression = "gzip" if path.name.lower().endswith(".gz") else None
    while True:
        try:
            with pa.input_stream(str(path), compression=compression) as source:
                reader = pacsv.open_csv(
                    source,
                    read_options=pacsv.ReadOptions(
                        block_size=block, use_threads=block == CSV_BLOCK_BYTES
                    ),
                    # A quoted value may hold a line break (RFC 4180); without this Arrow reads
                    # such a file only while it fits one block, and refuses a larger one.
                    parse_options=pacsv.ParseOptions(newlines_in_values=True),
                    convert_options=pacsv.ConvertOptions(
                        include_columns=wanted,
                        column_types=dict.fromkeys(wanted, pa.string()),
                        strings_can_be_null=False,
                    ),
                )
                seen = 0
                for batch in reader:
                    start = max(0, given - seen)
                    seen += batch.num_rows
                    if start < batch.num_rows:
                        given += batch.num_rows - start
                        yield batch.slice(start) if start else batch
            return
        except pa.ArrowInvalid as error:
            if "straddling" not in str(error) or block >= MAX_CSV_BLOCK_BYTES:
                raise
            block *= 8
        except OSError as error:
            if not path.name.lower().endswith(".gz"):
                raise
            raise _damaged_gzip(where, error) from error


def open_input(
    path: Path, where: str, features: Sequence[str], id_column: str | None, source: str = ""
) -> tuple[list[str] | None, pq.ParquetFile | None]:
    """Everything Preprocess checks of a file before its rows: its name, its header or schema,
    the columns the model reads, Parquet's column types (pre-checks apply it too:
    pipelines.evidence.model_inputs).

    Returns:
        The header's names (None for a zero-byte or empty file: no rows) and the opened
        Parquet file (None for CSV).
    """
    check_file_name(path.name, where)
    if path.stat().st_size == 0:
        return None, None
    if path.name.lower().endswith(CSV_SUFFIXES):
        header = _csv_header(path, where)
        if header is not None:
            check_columns(where, header, features, id_column, source)
        return header, None
    try:
        parquet = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
    except pa.ArrowInvalid as error:
        detail = str(error).strip().splitlines()[0]
        raise InputError(
            f"{where}: not a Parquet file ({detail}); write it as Parquet or name it .csv"
        ) from error
    schema = parquet.schema_arrow
    check_columns(where, schema.names, features, id_column, source)
    for column in features:
        kind = schema.field(column).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)) and not (
            pa.types.is_boolean(kind) or pa.types.is_decimal(kind) or pa.types.is_null(kind)
        ):
            raise InputError(f"{where}: feature column {column!r} is {kind}, not numeric")
    if id_column:
        kind = schema.field(id_column).type
        if pa.types.is_nested(kind) or pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            raise InputError(
                f"{where}: id column {id_column!r} is {kind}; ids must be text or numbers, one "
                "per row"
            )
    return list(schema.names), parquet


def read_batches(
    path: Path, where: str, features: Sequence[str], id_column: str | None
) -> Iterator[pa.RecordBatch]:
    """Stream the wanted columns of one file (``where`` names it in messages), once each (the
    id column may be a feature too).

    CSV: every wanted column as text (`feature_table` checks and keeps the features' own text,
    so no float is formatted again). Parquet: the features as stored, the id column as is.
    A zero-byte file has no rows, whatever its type.
    """
    header, parquet = open_input(path, where, features, id_column)
    wanted = list(dict.fromkeys([*features, *([id_column] if id_column else [])]))
    if parquet is not None:
        yield from parquet.iter_batches(batch_size=BATCH_ROWS, columns=wanted)
    elif header is not None:
        yield from _csv_batches(path, wanted, where)


def check_rows(path: Path, where: str, features: Sequence[str], id_column: str | None) -> int:
    """Every row of one file read and checked as Preprocess does (the pre-checks of a team's
    small inputs apply it: pipelines.evidence.model_inputs): rows as wide as the header, the
    features' values numbers, present and finite. Returns the number of rows."""
    rows = 0
    try:
        for batch in read_batches(path, where, features, id_column):
            feature_table(batch, features, where, rows)
            rows += batch.num_rows
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as error:
        raise _malformed(where, error) from error
    return rows


def _malformed(where: str, error: BaseException) -> InputError:
    detail = str(error).strip().splitlines()[0]
    return InputError(f"{where}: malformed or non-numeric data ({detail})")


def _refuse(values: pa.Array, column: str, where: str, first_row: int) -> None:
    """Raise for the first missing (null, NaN, empty, NA...) or infinite value, if any."""
    finite = pc.fill_null(pc.is_finite(values), False)
    if pc.all(finite).as_py():
        return
    index = pc.index(finite, False).as_py()
    value = values[index].as_py()
    what = "missing" if value is None or value != value else "non-finite"  # NaN != NaN
    raise InputError(
        f"{where}: {what} value in feature column {column!r} at row {first_row + index + 1}"
    )


@functools.cache
def _missing_text() -> pa.Array:
    """MISSING_TEXT as an Arrow array, made once, at its first use (made at import, it would
    load pandas before `WithoutPandas` is in place)."""
    return pa.array(MISSING_TEXT, pa.string())


def _parse_text(text: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Numbers of a CSV column read as text, and the text the shard keeps.

    The fast path is one cast. Text the cast refuses is retried without surrounding spaces
    (as Arrow's own CSV number parsing does); what is still no number stays a refusal, and the
    usual missing-value spellings ("", NA, null...) count as missing.
    """
    try:
        return pc.cast(text, pa.float64()), text
    except pa.ArrowInvalid:
        trimmed = pc.utf8_trim_whitespace(text)
        missing = pc.is_in(trimmed, value_set=_missing_text())
        numbers = pc.if_else(missing, pa.scalar("nan"), trimmed)
        return pc.cast(numbers, pa.float64()), trimmed


def feature_table(
    batch: pa.RecordBatch, features: Sequence[str], where: str, first_row: int
) -> tuple[pa.RecordBatch, pa.RecordBatch]:
    """The features as float64 (for the checks and the data-quality gate) and as the shards
    will hold them: the input's own text for CSV, the float64 values otherwise. Missing and
    non-finite values are refused."""
    values, shard = [], []
    for column in features:
        array = batch.column(column)
        if pa.types.is_string(array.type):
            numbers, text = _parse_text(array)
        else:
            numbers = text = pc.cast(array, pa.float64())
        if numbers.null_count or not pc.all(pc.is_finite(numbers)).as_py():
            _refuse(numbers, column, where, first_row)
        values.append(numbers)
        shard.append(text)
    names = list(features)
    return (
        pa.RecordBatch.from_arrays(values, names=names),
        pa.RecordBatch.from_arrays(shard, names=names),
    )


class ShardWriter:
    """Cut a stream of CSV rows into shards of at most ``max_bytes`` bytes, with their ids.

    Rows go straight into the open shard file (no copy of the stream is held); a shard is cut
    at the last whole row that fits, so each is the longest run of rows within ``max_bytes``.
    """

    def __init__(self, shards_dir: Path, ids_dir: Path, prefix: str, max_bytes: int) -> None:
        self.shards_dir, self.ids_dir = shards_dir, ids_dir
        self.prefix, self.max_bytes = prefix, max_bytes
        self.pending_ids: list[pa.Table] = []  # ids of the open shard's rows, and beyond
        self.shards: list[dict[str, Any]] = []
        self.written: list[Path] = []
        self._out: BinaryIO | None = None  # the open shard
        self._bytes = self._rows = 0  # in the open shard
        self.where = self._shard_where = "input"  # the file of the rows added, of the shard's
        # The ids of every shard, one row group each, in one file: one object to upload.
        self.ids_path = ids_dir / f"{prefix}ids.parquet"
        self._ids: pq.ParquetWriter | None = None

    def add(self, rows: bytes | pa.Buffer, ids: pa.Table, where: str = "input") -> None:
        """Append rows (headerless CSV, see `csv_rows`) and their ids; write every full shard.
        A row that cannot fit one request is refused, naming ``where`` it comes from."""
        data = rows if isinstance(rows, bytes) else memoryview(rows).tobytes()
        self.pending_ids.append(ids)
        self.where = where
        start = 0
        while len(data) - start > self.max_bytes - self._bytes:
            cut = data.rfind(b"\n", start, start + self.max_bytes - self._bytes) + 1
            if cut:
                self._write(data, start, cut)
                start = cut
            elif not self._bytes:
                size = data.find(b"\n", start) + 1 - start or len(data) - start
                raise self._too_wide(size, self.where)
            self._emit()
        if start < len(data):
            self._write(data, start, len(data))

    def _too_wide(self, size: int, where: str) -> InputError:
        """The refusal of a row of ``size`` bytes that one request cannot take with its copy."""
        needed = math.ceil(2 * size / (PAYLOAD_FILL * 1_000_000))
        while int(needed * 1_000_000 * PAYLOAD_FILL) < 2 * size:  # the pipeline's own rounding
            needed += 1
        fix = (
            f"raise max_payload_mb to {needed} or more"
            if needed <= MAX_PAYLOAD_MB
            else f"no max_payload_mb can ({MAX_PAYLOAD_MB} at most): score fewer or narrower "
            "feature columns"
        )
        return InputError(
            f"{where}: a row's features take {size:,} bytes as CSV, more than the "
            f"{self.max_bytes // 2:,} a row may take: a shard of one row is sent with a copy of "
            f"it (the container refuses one-row requests) in one request of at most "
            f"{self.max_bytes:,} bytes (90 % of the stage key max_payload_mb); {fix}"
        )

    def close(self) -> None:
        """Write the last, partial shard, and finish the ids file."""
        if self._rows:
            self._emit()
        if self._ids is not None:
            self._ids.close()
            self._ids = None

    def discard(self) -> None:
        """Remove every file written (after a refusal): nothing partial stays."""
        for handle in (self._out, self._ids):
            if handle is not None:
                handle.close()
        for path in self.written:
            path.unlink(missing_ok=True)

    def _write(self, data: bytes, start: int, end: int) -> None:
        if self._out is None:
            path = self.shards_dir / f"{self.prefix}part-{len(self.shards):05d}.csv"
            self.written.append(path)
            self._out = path.open("wb")
            self._shard_where = self.where
        self._out.write(memoryview(data)[start:end])
        self._bytes += end - start
        self._rows += data.count(b"\n", start, end)

    def _emit(self) -> None:
        assert self._out is not None
        rows, padding = self._rows, 1 if self._rows == 1 else 0
        shard_path = Path(self._out.name)
        if padding and 2 * self._bytes > self.max_bytes:  # the copy would split the request
            raise self._too_wide(self._bytes, self._shard_where)
        if padding:  # the shard is that one row: write it again
            self._out.flush()
            self._out.write(shard_path.read_bytes())
        self._out.close()
        self._out, self._bytes, self._rows = None, 0, 0
        ids = pa.concat_tables(self.pending_ids)
        self.pending_ids = [ids.slice(rows)]
        if self._ids is None:
            self.written.append(self.ids_path)
            self._ids = pq.ParquetWriter(self.ids_path, ids.schema)
        self._ids.write_table(ids.slice(0, rows), row_group_size=rows)
        self.shards.append({
            "shard": shard_path.name, "rows": rows, "padding": padding,
            "ids": self.ids_path.name, "ids_row_group": len(self.shards),
        })  # fmt: skip


# The duplicate-id check holds up to this many 64-bit hashes (2 MiB), then moves them to disk in
# 2**HASH_BUCKET_BITS files by their top bits: memory stays flat (each bucket holds 1/256 of the
# ids when it is sorted) however many rows come.
HELD_HASHES = 1 << 18
HASH_BUCKET_BITS = 8
_HASH_MULTIPLIER = np.uint64(0x100000001B3)  # FNV's 64-bit prime: odd, so powers never vanish
_LENGTH_MIX = np.uint64(0x9E3779B97F4A7C15)


def hash64(strings: pa.Array) -> np.ndarray:
    """A 64-bit hash of every string of a null-free array of non-empty strings, vectorised over
    Arrow's buffers (no Python object per string): a polynomial over the bytes, mixed with the
    length. Not collision-proof; `IdCheck` confirms equal hashes on the strings."""
    strings = pc.cast(strings, pa.string())
    if len(strings) == 0:
        return np.empty(0, np.uint64)
    offsets = np.frombuffer(strings.buffers()[1], np.int32)[
        strings.offset : strings.offset + len(strings) + 1
    ]
    data = np.frombuffer(strings.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    lengths = np.diff(offsets)
    starts = offsets[:-1] - offsets[0]
    position = np.arange(len(data)) - np.repeat(starts, lengths)
    powers = np.cumprod(np.full(int(lengths.max()), _HASH_MULTIPLIER, np.uint64))
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64 is the point
        hashes = np.add.reduceat(data.astype(np.uint64) * powers[position], starts)
        return hashes ^ (lengths.astype(np.uint64) * _LENGTH_MIX)


class IdCheck:
    """Duplicate and empty ids (null or only spaces) over every batch, in memory that does not
    grow with the input: each non-empty id is kept as its 64-bit hash, and past `HELD_HASHES`
    of them the hashes go to `HASH_BUCKETS` files on disk by their top bits, each bucket then
    sorted on its own. Equal hashes are confirmed on the ids themselves, read back from the ids
    files, so a collision never counts as a duplicate.

    ``duplicate_ids`` is the number of rows whose non-empty id an earlier row already had.
    """

    def __init__(self, column: str) -> None:
        self.column = column
        self.rows = 0
        self.empty = 0
        self.hashes: list[np.ndarray] = []  # not yet on disk
        self.held = 0
        self._buckets: tempfile.TemporaryDirectory[str] | None = None

    @staticmethod
    def _present(ids: pa.Array) -> tuple[pa.Array, int]:
        empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(ids), ""), True)
        return ids.filter(pc.invert(empty)), pc.sum(empty).as_py() or 0

    def add(self, ids: pa.ChunkedArray) -> None:
        """The ids of one batch."""
        present, empty = self._present(pc.cast(ids, pa.string()).combine_chunks())
        self.rows += len(ids)
        self.empty += empty
        self.hashes.append(hash64(present))
        self.held += len(present)
        if self.held >= HELD_HASHES:
            self._spill()

    def _spill(self) -> None:
        """Append the held hashes to their bucket files (top bits of the hash)."""
        if self._buckets is None:
            self._buckets = tempfile.TemporaryDirectory(prefix="id-hashes-")
        hashes = np.concatenate(self.hashes) if self.hashes else np.empty(0, np.uint64)
        self.hashes, self.held = [], 0
        buckets = (hashes >> np.uint64(64 - HASH_BUCKET_BITS)).astype(np.intp)
        hashes = hashes[np.argsort(buckets, kind="stable")]
        counts = np.bincount(buckets, minlength=1 << HASH_BUCKET_BITS)
        ends = np.cumsum(counts)
        for bucket in np.flatnonzero(counts):
            with open(Path(self._buckets.name) / f"{bucket:03x}", "ab") as out:
                out.write(hashes[ends[bucket] - counts[bucket] : ends[bucket]].tobytes())

    def _repeated(self) -> np.ndarray:
        """Every hash seen more than once (each once)."""
        parts: Iterable[np.ndarray] = []
        if self._buckets is None:
            parts = [np.concatenate(self.hashes)] if self.hashes else []
        else:
            self._spill()
            folder = Path(self._buckets.name)
            parts = (np.fromfile(path, np.uint64) for path in sorted(folder.iterdir()))
        repeated = []
        for hashes in parts:
            hashes.sort()
            repeated.append(np.unique(hashes[1:][hashes[1:] == hashes[:-1]]))
        self.hashes, self.held = [], 0
        if self._buckets is not None:
            self._buckets.cleanup()
            self._buckets = None
        return np.concatenate(repeated) if repeated else np.empty(0, np.uint64)

    def finish(self, ids_files: Sequence[Path], policy: str) -> dict[str, int]:
        """The counts for the manifest; under the ``fail`` policy, InputError when any."""
        repeated = self._repeated()
        duplicate_ids, example = 0, ""
        if len(repeated):
            candidates = []
            for path in ids_files:
                for batch in pq.ParquetFile(path).iter_batches(columns=[self.column]):
                    present, _ = self._present(pc.cast(batch.column(0), pa.string()))
                    candidates.append(present.filter(np.isin(hash64(present), repeated)))
            suspects = pa.chunked_array(candidates, pa.string())
            duplicate_ids = len(suspects) - pc.count_distinct(suspects).as_py()
            if duplicate_ids:
                counts = pc.value_counts(suspects)
                first = counts.filter(pc.greater(counts.field("counts"), 1))[0]["values"]
                example = f" (for example {str(first.as_py())[:40]!r})"
        if policy == "fail" and (duplicate_ids or self.empty):
            raise InputError(
                f"id column {self.column!r}: {duplicate_ids} duplicate and {self.empty} empty"
                f" id(s) in {self.rows} rows{example}; fix the input or set the stage key"
                ' id_policy to "count"'
            )
        return {"duplicate_ids": duplicate_ids, "empty_ids": self.empty}


def current_host(resource_config: Path) -> tuple[str, int]:
    """This instance's name and the number of instances (``algo-1``, 1 when run locally)."""
    if not resource_config.is_file():
        return "algo-1", 1
    config = json.loads(resource_config.read_text(encoding="utf-8"))
    return str(config["current_host"]), len(config.get("hosts", [])) or 1


def csv_rows(batch: pa.RecordBatch, features: Sequence[str], where: str, first_row: int
             ) -> tuple[pa.RecordBatch, pa.Buffer]:  # fmt: skip
    """The checked features of one batch as float64 and as headerless shard CSV."""
    values, shard = feature_table(batch, features, where, first_row)
    sink = pa.BufferOutputStream()
    pacsv.write_csv(shard, sink, write_options=SHARD_CSV)
    return values, sink.getvalue()


def id_text(ids: pa.Array) -> pa.Array:
    """Ids as text. Floats (pandas writes integer ids with a missing one as float64) that are
    whole numbers become their integer text (``10000000000000000``, not ``1e+16``); the others
    Arrow's shortest text that reads back as the same float; missing ones stay missing."""
    text = pc.cast(ids, pa.string())
    if not (pa.types.is_float32(ids.type) or pa.types.is_float64(ids.type)):
        return text
    whole = pc.fill_null(pc.and_(pc.is_finite(ids), pc.equal(pc.floor(ids), ids)), False)
    if not pc.any(whole).as_py():
        return text
    small = pc.and_(whole, pc.less(pc.abs(ids), 2.0**63))  # within int64: cast in Arrow
    as_int = pc.cast(pc.if_else(small, ids, pa.scalar(0, ids.type)), pa.int64())
    text = pc.if_else(small, pc.cast(as_int, pa.string()), text)
    if pc.all(pc.equal(small, whole)).as_py():
        return text
    values, texts = ids.to_pylist(), text.to_pylist()  # whole beyond int64: rare, in Python
    large = pc.and_(whole, pc.invert(small)).to_pylist()
    return pa.array(
        [str(int(v)) if big else t for v, t, big in zip(values, texts, large, strict=True)],
        pa.string(),
    )


def _ids(batch: pa.RecordBatch, id_column: str | None, name: str, first_row: int) -> pa.Table:
    """The ids of a batch: the id column as text, else the file and the 0-based row number."""
    if id_column:
        return pa.Table.from_arrays([id_text(batch.column(id_column))], names=[id_column])
    numbers = pa.array(np.arange(first_row, first_row + batch.num_rows, dtype=np.int64))
    source = pa.repeat(pa.scalar(name, pa.string()), batch.num_rows)
    return pa.Table.from_arrays([source, numbers], names=[SOURCE_FILE, ROW_NUMBER])


def preprocess(
    args: argparse.Namespace,
    writer: ShardWriter,
    host: str,
    hosts: int,
    observe: Callable[[pa.RecordBatch], None] | None = None,
) -> dict[str, Any]:
    """Read every input file into ``writer`` (each batch's float64 values seen by ``observe``).

    Checking and formatting a batch (`csv_rows`: Arrow casts and its CSV writer, which release
    the GIL) runs on `WORKERS` threads while the next batches are read; results are taken in
    order, so the shards are what a sequential run writes.
    """
    features: list[str] = args.feature_columns
    input_dir = Path(args.input_dir)
    source = getattr(args, "source_prefix", "") or ""
    if source and not source.endswith("/"):
        source += "/"
    files: list[dict[str, Any]] = []
    id_check = IdCheck(args.id_column) if args.id_column else None
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="shards") as pool:
        for path in list_input_files(input_dir):
            name = path.relative_to(input_dir).as_posix()
            where = source + name
            window: deque[tuple[Future[tuple[pa.RecordBatch, pa.Buffer]], pa.Table]] = deque()

            def take(window: deque[Any] = window, where: str = where) -> None:
                prepared, ids = window.popleft()
                values, rows_csv = prepared.result()
                if observe:
                    observe(values)
                writer.add(rows_csv, ids, where)

            rows = 0
            try:
                for batch in read_batches(path, where, features, args.id_column):
                    ids = _ids(batch, args.id_column, name, rows)
                    if id_check:
                        id_check.add(ids.column(0))
                    window.append((pool.submit(csv_rows, batch, features, where, rows), ids))
                    rows += batch.num_rows
                    while len(window) > WORKERS:
                        take()
                while window:
                    take()
            except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as error:
                raise _malformed(where, error) from error
            files.append({"path": name, "rows": rows})
    writer.close()
    total = sum(int(entry["rows"]) for entry in files)
    if total == 0 and hosts == 1:
        raise InputError(
            f"no data rows under {source or input_dir} ({len(files)} CSV or Parquet file(s), "
            "each empty or a header only); put the rows to score there"
        )
    id_columns = [args.id_column] if args.id_column else [SOURCE_FILE, ROW_NUMBER]
    id_counts = (
        id_check.finish([writer.ids_path] if writer.shards else [], args.id_policy)
        if id_check
        else {}
    )
    return {
        **id_counts,
        "id_policy": args.id_policy,
        "host": host,
        "rows": total,
        "files": files,
        "shards": writer.shards,
        "feature_columns": features,
        "id_columns": id_columns,
    }


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The run's date and input partition (see partitions.py); off without --partitions-lib."""
    parser.add_argument("--partitions-lib", default=None, help="path of partitions.py")
    parser.add_argument("--input-layout", default="snapshot")
    parser.add_argument("--input-url", default="")
    parser.add_argument("--lag-days", type=int, default=1)
    parser.add_argument("--schedule-timezone", default="UTC", help="IANA zone of the schedule")
    parser.add_argument("--missing-input", choices=("fail", "skip"), default="fail")
    parser.add_argument("--run-date", default="")
    parser.add_argument("--scheduled-time", default="")
    parser.add_argument("--start-time", default="")
    parser.add_argument("--output-url", default="")
    parser.add_argument("--execution-id", default="")
    parser.add_argument("--pipeline-name", default="")
    parser.add_argument("--kms-key-arn", default="")
    parser.add_argument("--region", default=None, help="of the S3 and CloudWatch clients")


def _load_partitions(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("partitions", path)
    if spec is None or spec.loader is None:
        raise InputError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _host_index(resource_config: Path, host: str) -> int:
    if not resource_config.is_file():
        return 0
    hosts = json.loads(resource_config.read_text(encoding="utf-8")).get("hosts") or [host]
    return sorted(hosts).index(host)


def prepare_run(args: argparse.Namespace, host: str, hosts: int) -> dict[str, Any] | None:
    """Decide the run's date; for a daily layout, fetch this host's share of its partition.

    Returns:
        The run record written as ``run.json`` (date, layout, input prefix, status ``scored``
        or ``skipped``), or None when the step runs without --partitions-lib.
    """
    if not args.partitions_lib:
        return None
    lib = _load_partitions(Path(args.partitions_lib))
    if args.input_url and not args.input_url.endswith("/"):  # S3 prefixes match siblings too
        raise InputError(
            f"InputDataUrl {args.input_url!r} must end with '/': without it S3 also reads "
            f"sibling prefixes ({args.input_url}-archive/...); pass {args.input_url}/"
        )
    try:
        date = lib.resolve_date(
            run_date=args.run_date,
            scheduled_time=args.scheduled_time,
            start_time=args.start_time,
            lag_days=args.lag_days,
            layout=args.input_layout,
            timezone=args.schedule_timezone,
        )
        expected = lib.partition_url(args.input_url, args.input_layout, date)
    except lib.PartitionError as error:
        raise InputError(str(error)) from error
    record = {"date": date, "layout": args.input_layout, "input_prefix": expected,
              "started_at": args.start_time or None}  # fmt: skip
    if args.input_layout == "snapshot":
        return {**record, "status": "scored"}
    import boto3  # the processing image's; only daily layouts read S3 themselves

    s3 = boto3.client("s3", region_name=args.region)
    objects = lib.list_partition(s3, expected)
    if not any(size for _, size in objects):
        if args.missing_input != "skip":
            raise InputError(f"no input for {date}: no data objects under {expected}")
        if _host_index(Path(args.resource_config), host) == 0:
            lib.record_skip(
                s3,
                boto3.client("cloudwatch", region_name=args.region),
                output_url=args.output_url,
                date=date,
                execution_id=args.execution_id,
                expected=expected,
                pipeline_name=args.pipeline_name,
                kms_key_arn=args.kms_key_arn or None,
            )
        return {**record, "status": "skipped"}
    index = _host_index(Path(args.resource_config), host)
    mine = lib.shard([key for key, _ in objects], index, hosts)
    lib.download(s3, expected, mine, Path(args.input_dir))
    return {**record, "status": "scored"}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments; directories default to the processing container's paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dir", default=DEFAULT_INPUT_DIR)
    parser.add_argument("--shards-dir", default=DEFAULT_SHARDS_DIR)
    parser.add_argument("--ids-dir", default=DEFAULT_IDS_DIR)
    parser.add_argument("--resource-config", default=DEFAULT_RESOURCE_CONFIG)
    parser.add_argument("--failure-file", default=DEFAULT_FAILURE_FILE)
    parser.add_argument(
        "--feature-columns",
        action="append",
        required=True,
        help="comma-separated feature columns in model order; repeat to continue the list",
    )
    parser.add_argument("--id-column", default=None)
    parser.add_argument(
        "--id-policy",
        choices=ID_POLICIES,
        default="fail",
        help="duplicate or empty ids: fail the step (default) or count them in the manifest",
    )
    parser.add_argument("--max-shard-bytes", type=int, default=DEFAULT_MAX_SHARD_BYTES)
    parser.add_argument("--quality-code", help="quality.py: check the batch against a baseline")
    parser.add_argument("--quality-option", action="append", default=[], help="KEY=VALUE")
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    args.feature_columns = [c for chunk in args.feature_columns for c in chunk.split(",") if c]
    if not args.feature_columns:
        parser.error("--feature-columns names no column")
    if args.max_shard_bytes < 1024:
        parser.error("--max-shard-bytes must be at least 1024")
    return args


def quality_gate(args: argparse.Namespace, host: str) -> Any:
    """The data-quality gate of quality.py (shipped as its own input), or None when off."""
    if not args.quality_code:
        return None
    spec = importlib.util.spec_from_file_location("data_quality", args.quality_code)
    if spec is None or spec.loader is None:
        raise InputError(f"cannot load the data-quality module {args.quality_code}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    options = dict(option.split("=", 1) for option in args.quality_option)
    return module.Gate(args.feature_columns, options, host)


class GuardedGate:
    """The data-quality gate, kept from failing the run by an error of its own (a bug, a
    baseline it cannot read): under policy ``warn`` that error is a warning and the batch goes
    on unchecked; under ``fail`` (or an unknown policy) it is the step's one-line failure."""

    def __init__(self, args: argparse.Namespace, host: str) -> None:
        options = [option.partition("=") for option in args.quality_option]
        self.policy = {key: value for key, _, value in options}.get("policy", "warn")
        self.gate: Any = None
        try:
            self.gate = quality_gate(args, host)
        except Exception as error:  # noqa: BLE001 - any error of the gate, see the docstring
            self._broke(error, during="loading")

    def __bool__(self) -> bool:
        return self.gate is not None

    def _broke(self, error: BaseException, *, during: str, stop: bool = True) -> None:
        self.gate = None
        line = f"data-quality gate error while {during}: {type(error).__name__}: {error}"
        line = " ".join(line.split())
        if self.policy != "warn" and stop:
            raise InputError(line) from error
        print(f"WARNING {line} (policy {self.policy}: the run continues unchecked)")

    def observe(self, batch: Any) -> None:
        """Profile one batch (see quality.Gate.observe)."""
        if self.gate is not None:
            try:
                self.gate.observe(batch)
            except Exception as error:  # noqa: BLE001
                self._broke(error, during="profiling the batch")

    def finish(self, *, error: str | None = None) -> str | None:
        """The gate's verdict (see quality.Gate.finish); never raises while reporting ``error``."""
        if self.gate is None:
            return None
        try:
            return cast("str | None", self.gate.finish(error=error))
        except Exception as failure:  # noqa: BLE001
            self._broke(failure, during="judging the batch", stop=error is None)
            return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the step; print one line and return 1 when the input cannot be scored."""
    args = parse_args(argv)
    host, hosts = current_host(Path(args.resource_config))
    shards_dir, ids_dir = Path(args.shards_dir), Path(args.ids_dir)
    shards_dir.mkdir(parents=True, exist_ok=True)
    ids_dir.mkdir(parents=True, exist_ok=True)
    writer = ShardWriter(shards_dir, ids_dir, f"{host}-", args.max_shard_bytes)
    gate: GuardedGate | None = None
    try:
        gate = GuardedGate(args, host)
        run = prepare_run(args, host, hosts)
        args.source_prefix = run["input_prefix"] if run else ""
        if run is not None:
            Path(args.input_dir).mkdir(parents=True, exist_ok=True)
            (ids_dir / RUN_FILE).write_text(json.dumps(run, sort_keys=True) + "\n", "utf-8")
            if run["status"] == "skipped":
                print(
                    f"preprocess: SKIPPED, no input for {run['date']} under {run['input_prefix']}"
                )
                return 0
        manifest = preprocess(args, writer, host, hosts, gate.observe if gate else None)
        failure = gate.finish() if gate else None
        if failure:  # policy "fail": nothing of this batch goes on
            raise InputError(failure)
    except InputError as error:
        if gate:
            gate.finish(error=str(error))
        writer.discard()
        message = f"preprocess failed: {error}"
        print(message, file=sys.stderr)
        failure_file = Path(args.failure_file)
        if failure_file.parent.is_dir():
            failure_file.write_text(message[:1024], encoding="utf-8")
        return 1
    except BaseException:  # our bug: its traceback, and no shard of this run left behind
        writer.discard()
        raise
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    (ids_dir / f"{host}{MANIFEST_SUFFIX}").write_text(text, encoding="utf-8")
    print(
        f"preprocess: {manifest['rows']} rows from {len(manifest['files'])} file(s) "
        f"into {len(writer.shards)} shard(s)"
    )
    return 0


if __name__ == "__main__":
    sys.meta_path.insert(0, WithoutPandas())
    sys.exit(main())
