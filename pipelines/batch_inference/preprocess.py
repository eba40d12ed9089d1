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
import gzip
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

DEFAULT_INPUT_DIR = "/opt/ml/processing/input/data"
DEFAULT_SHARDS_DIR = "/opt/ml/processing/output/shards"
DEFAULT_IDS_DIR = "/opt/ml/processing/output/ids"
DEFAULT_RESOURCE_CONFIG = "/opt/ml/config/resourceconfig.json"
DEFAULT_FAILURE_FILE = "/opt/ml/output/message"
# 90 % of the default MaxPayloadInMB (6 MB): the pipeline passes the value for its own setting.
DEFAULT_MAX_SHARD_BYTES = 5_400_000
BATCH_ROWS = 16_384
# pyarrow's streaming CSV reader reads about 32 blocks ahead: 1 MiB blocks keep that ~35 MiB.
CSV_BLOCK_BYTES = 1 << 20
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
SOURCE_FILE = "source_file"
ROW_NUMBER = "row_number"
MANIFEST_SUFFIX = ".manifest.json"
ID_POLICIES = ("fail", "count")


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
        if not path.name.lower().endswith(CSV_SUFFIXES + PARQUET_SUFFIXES):
            raise InputError(
                f"{relative.as_posix()}: unsupported file type; expected CSV or Parquet"
            )
        files.append(path)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _csv_header(path: Path) -> list[str] | None:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle), None)


def _check_columns(name: str, present: Sequence[str], wanted: Sequence[str]) -> None:
    missing = [column for column in wanted if column not in set(present)]
    if missing:
        raise InputError(f"{name}: missing column(s) {', '.join(missing)}")


def read_batches(
    path: Path, name: str, features: Sequence[str], id_column: str | None
) -> Iterator[pa.RecordBatch]:
    """Stream the wanted columns of one file: features as float64, the id column as string."""
    wanted = [*features, *([id_column] if id_column else [])]
    if path.name.lower().endswith(CSV_SUFFIXES):
        header = _csv_header(path)
        if header is None:
            return
        _check_columns(name, header, wanted)
        types = {column: pa.float64() for column in features}
        if id_column:
            types[id_column] = pa.string()
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
            convert_options=pacsv.ConvertOptions(
                include_columns=wanted, column_types=types, strings_can_be_null=False
            ),
        )
        yield from reader
        return
    parquet = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
    schema = parquet.schema_arrow
    _check_columns(name, schema.names, wanted)
    for column in features:
        kind = schema.field(column).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)) and not (
            pa.types.is_boolean(kind) or pa.types.is_decimal(kind) or pa.types.is_null(kind)
        ):
            raise InputError(f"{name}: feature column {column!r} is {kind}, not numeric")
    yield from parquet.iter_batches(batch_size=BATCH_ROWS, columns=wanted)


def feature_table(
    batch: pa.RecordBatch, features: Sequence[str], where: str, first_row: int
) -> pa.Table:
    """The features as float64, refusing missing and non-finite values."""
    arrays = []
    for column in features:
        array = pc.cast(batch.column(column), pa.float64())
        finite = pc.fill_null(pc.is_finite(array), False)
        if not pc.all(finite).as_py():
            index = pc.index(finite, False).as_py()
            value = array[index].as_py()
            what = "missing" if value is None or value != value else "non-finite"  # NaN != NaN
            row = first_row + index + 1
            raise InputError(f"{where}: {what} value in feature column {column!r} at row {row}")
        arrays.append(array)
    return pa.Table.from_arrays(arrays, names=list(features))


class ShardWriter:
    """Cut a stream of CSV rows into shards of at most ``max_bytes`` bytes, with their ids."""

    def __init__(self, shards_dir: Path, ids_dir: Path, prefix: str, max_bytes: int) -> None:
        self.shards_dir, self.ids_dir = shards_dir, ids_dir
        self.prefix, self.max_bytes = prefix, max_bytes
        self.pending = bytearray()
        self.pending_ids: list[pa.Table] = []
        self.pending_rows = 0
        self.shards: list[dict[str, Any]] = []
        self.written: list[Path] = []

    def add(self, rows: pa.Table, ids: pa.Table) -> None:
        """Append rows (features) and their ids; write every shard that is full."""
        sink = pa.BufferOutputStream()
        pacsv.write_csv(rows, sink, write_options=pacsv.WriteOptions(include_header=False))
        self.pending += memoryview(sink.getvalue())
        self.pending_ids.append(ids)
        self.pending_rows += ids.num_rows
        while len(self.pending) > self.max_bytes:
            cut = self.pending.rfind(b"\n", 0, self.max_bytes) + 1
            if cut == 0:
                raise InputError(
                    f"a row is larger than the shard limit of {self.max_bytes} bytes "
                    "(MaxPayloadInMB); raise max_payload_mb"
                )
            self._emit(cut, self.pending.count(b"\n", 0, cut))

    def close(self) -> None:
        """Write the last, partial shard."""
        if self.pending_rows:
            self._emit(len(self.pending), self.pending_rows)

    def _emit(self, cut: int, rows: int) -> None:
        ids = pa.concat_tables(self.pending_ids)
        data = bytes(self.pending[:cut])
        del self.pending[:cut]
        self.pending_ids = [ids.slice(rows)]
        self.pending_rows -= rows
        padding = 1 if rows == 1 else 0
        name = f"{self.prefix}part-{len(self.shards):05d}.csv"
        ids_name = f"{self.prefix}part-{len(self.shards):05d}.parquet"
        shard_path, ids_path = self.shards_dir / name, self.ids_dir / ids_name
        self.written += [shard_path, ids_path]
        shard_path.write_bytes(data * (1 + padding))
        pq.write_table(ids.slice(0, rows).combine_chunks(), ids_path)
        self.shards.append({"shard": name, "ids": ids_name, "rows": rows, "padding": padding})


def check_ids(chunks: Sequence[pa.ChunkedArray], column: str, policy: str) -> dict[str, int]:
    """Count duplicate and empty ids (null or only spaces); fail under the ``fail`` policy.

    ``duplicate_ids`` is the number of rows whose non-empty id an earlier row already had.
    """
    ids = pa.chunked_array([chunk for part in chunks for chunk in part.chunks], pa.string())
    empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(ids), ""), True)
    empty_ids = pc.sum(empty).as_py() or 0
    present = ids.filter(pc.invert(empty))
    duplicate_ids = len(present) - pc.count_distinct(present).as_py()
    if policy == "fail" and (duplicate_ids or empty_ids):
        example = ""
        if duplicate_ids:
            counts = pc.value_counts(present)
            repeated = counts.filter(pc.greater(counts.field("counts"), 1))
            example = f" (for example {str(repeated[0]['values'].as_py())[:40]!r})"
        raise InputError(
            f"id column {column!r}: {duplicate_ids} duplicate and {empty_ids} empty id(s) in"
            f' {len(ids)} rows{example}; fix the input or set the stage key id_policy to "count"'
        )
    return {"duplicate_ids": duplicate_ids, "empty_ids": empty_ids}


def current_host(resource_config: Path) -> tuple[str, int]:
    """This instance's name and the number of instances (``algo-1``, 1 when run locally)."""
    if not resource_config.is_file():
        return "algo-1", 1
    config = json.loads(resource_config.read_text(encoding="utf-8"))
    return str(config["current_host"]), len(config.get("hosts", [])) or 1


def preprocess(
    args: argparse.Namespace, writer: ShardWriter, host: str, hosts: int
) -> dict[str, Any]:
    """Read every input file into ``writer``; return the manifest of this host."""
    features: list[str] = args.feature_columns
    input_dir = Path(args.input_dir)
    files: list[dict[str, Any]] = []
    id_chunks: list[pa.ChunkedArray] = []
    for path in list_input_files(input_dir):
        name = path.relative_to(input_dir).as_posix()
        rows = 0
        try:
            for batch in read_batches(path, name, features, args.id_column):
                if args.id_column:
                    ids = pa.table(
                        {args.id_column: pc.cast(batch.column(args.id_column), pa.string())}
                    )
                    id_chunks.append(ids.column(0))
                else:
                    numbers = pa.array(range(rows, rows + batch.num_rows), pa.int64())
                    source = pa.array([name] * batch.num_rows, pa.string())
                    ids = pa.table({SOURCE_FILE: source, ROW_NUMBER: numbers})
                writer.add(feature_table(batch, features, name, rows), ids)
                rows += batch.num_rows
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as error:
            detail = str(error).strip().splitlines()[0]
            raise InputError(f"{name}: malformed or non-numeric data ({detail})") from error
        files.append({"path": name, "rows": rows})
    writer.close()
    total = sum(int(entry["rows"]) for entry in files)
    if total == 0 and hosts == 1:
        raise InputError(f"no data rows in any CSV or Parquet file under {input_dir}")
    id_columns = [args.id_column] if args.id_column else [SOURCE_FILE, ROW_NUMBER]
    id_counts = check_ids(id_chunks, args.id_column, args.id_policy) if args.id_column else {}
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
    args = parser.parse_args(argv)
    args.feature_columns = [c for chunk in args.feature_columns for c in chunk.split(",") if c]
    if not args.feature_columns:
        parser.error("--feature-columns names no column")
    if args.max_shard_bytes < 1024:
        parser.error("--max-shard-bytes must be at least 1024")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the step; print one line and return 1 when the input cannot be scored."""
    args = parse_args(argv)
    host, hosts = current_host(Path(args.resource_config))
    shards_dir, ids_dir = Path(args.shards_dir), Path(args.ids_dir)
    shards_dir.mkdir(parents=True, exist_ok=True)
    ids_dir.mkdir(parents=True, exist_ok=True)
    writer = ShardWriter(shards_dir, ids_dir, f"{host}-", args.max_shard_bytes)
    try:
        manifest = preprocess(args, writer, host, hosts)
    except InputError as error:
        for path in writer.written:
            path.unlink(missing_ok=True)
        message = f"preprocess failed: {error}"
        print(message, file=sys.stderr)
        failure_file = Path(args.failure_file)
        if failure_file.parent.is_dir():
            failure_file.write_text(message[:1024], encoding="utf-8")
        return 1
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    (ids_dir / f"{host}{MANIFEST_SUFFIX}").write_text(text, encoding="utf-8")
    print(
        f"preprocess: {manifest['rows']} rows from {len(manifest['files'])} file(s) "
        f"into {len(writer.shards)} shard(s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
