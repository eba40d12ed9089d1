"""Postprocess step: join the ids written by Preprocess with the batch-transform predictions into
Parquet, prove that no record was lost, and (with ``--output-url``) publish the result.

For every shard listed in the Preprocess manifests, ``<shard>.out`` must hold exactly as many
prediction lines as the shard had input rows (blank lines are ignored: AssembleWith=Line may add
one after a body that already ends with a newline). The result is written to
``<output-dir>/<run date>/<execution id>/`` as ``part-NNNNN.parquet`` files plus a ``_SUCCESS``
JSON manifest written last; no run overwrites another. On failure nothing is left there.

With ``--output-url`` the step then uploads that folder to
``<output-url><run date>/<execution id>/`` itself (the Parquet files first, ``_SUCCESS`` last)
and makes the execution the authoritative result of its date (partitions.py `publish`, which
reads ``_SUCCESS`` back from S3 and checks every listed file before it replaces the one
manifest, and leaves it alone when it names an execution that started later). Killed at any
moment, the step leaves at most an unpublished folder of its own execution; a retry of the step
finds its ``_SUCCESS`` and only publishes.
The run's date comes from ``--run-file`` (the ``run.json`` Preprocess wrote into its ids output,
which this step downloads with the ids), else ``--run-date``, else ``--start-time``.
The directories are deliberately not Hive-style (``run_date=...``): the files carry ``run_date``
and ``execution_id`` columns, and a Hive partition of the same name makes pyarrow, pandas and
Athena refuse the dataset. Runs in the scikit-learn processing image (Python 3.10, pyarrow,
boto3 1.28) and locally.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import importlib.util
import json
import re
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

DEFAULT_IDS_DIR = "/opt/ml/processing/input/ids"
DEFAULT_PREDICTIONS_DIR = "/opt/ml/processing/input/predictions"
DEFAULT_OUTPUT_DIR = "/opt/ml/processing/output/predictions"
DEFAULT_FAILURE_FILE = "/opt/ml/output/message"
DEFAULT_ROWS_PER_FILE = 1_000_000
MANIFEST_SUFFIX = ".manifest.json"
SUCCESS_FILE = "_SUCCESS"
RESERVED_COLUMNS = ("model_package_version", "execution_id", "run_date")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")
_EXECUTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


class WithoutPandas:
    """An import finder that refuses pandas. pyarrow imports pandas (a quarter of a second and
    30 MB) the first time it converts a Python value, only to ask whether the value is a pandas
    object; this script never hands it one. Installed only when the file runs as a script (the
    same finder as preprocess.py's: each step script stands alone)."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        """Raise for pandas and its modules; let the other finders answer for the rest."""
        if name.partition(".")[0] == "pandas":
            raise ModuleNotFoundError(f"No module named {name!r} (not used here)", name=name)


class OutputError(Exception):
    """The predictions cannot be trusted or written; the message is one line."""


def resolve_run_date(run_date: str, start_time: str) -> str:
    """``run_date`` (YYYY-MM-DD) when given, else the date part of the execution's start time."""
    value = run_date.strip() or start_time.strip()
    source = "--run-date" if run_date.strip() else "--start-time"
    match = _DATE.match(value)
    if not match:
        raise OutputError(f"{source} {value!r} does not start with a YYYY-MM-DD date")
    if source == "--run-date" and value != match.group(1):
        raise OutputError(f"--run-date {value!r} must be a date like 2024-01-31")
    try:
        datetime.date.fromisoformat(match.group(1))
    except ValueError as error:
        raise OutputError(f"{source} {value!r} is not a valid date") from error
    return match.group(1)


def read_run_file(path: Path) -> str:
    """The date of the ``run.json`` Preprocess wrote; refuses a run it recorded as skipped."""
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise OutputError(f"{path}: cannot read the run's date ({error})") from error
    if run.get("status") != "scored":
        raise OutputError(f"{path}: Preprocess recorded status {run.get('status')!r}, not scored")
    date = str(run.get("date", ""))
    try:
        return datetime.date.fromisoformat(date).isoformat()
    except ValueError as error:
        raise OutputError(f"{path}: date {date!r} is not a YYYY-MM-DD date") from error


def load_manifests(ids_dir: Path) -> list[dict[str, Any]]:
    """The manifests of every Preprocess instance, sorted by host."""
    paths = sorted(ids_dir.glob(f"*{MANIFEST_SUFFIX}")) if ids_dir.is_dir() else []
    if not paths:
        raise OutputError(f"no preprocess manifest (*{MANIFEST_SUFFIX}) in {ids_dir}")
    manifests = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
    id_columns = {tuple(manifest["id_columns"]) for manifest in manifests}
    if len(id_columns) != 1:
        raise OutputError(f"preprocess manifests disagree on the id columns: {sorted(id_columns)}")
    if sum(int(manifest["rows"]) for manifest in manifests) == 0:
        raise OutputError("the preprocess step found no input rows")
    return manifests


# Types a prediction column may declare (`name:type` in --prediction-columns, the stage key
# prediction_columns; promotion/config.py PREDICTION_TYPES, held equal by a test): the Glue
# table declares the same type, so the Parquet files and the table always agree.
PREDICTION_TYPES = {
    "double": pa.float64(),
    "bigint": pa.int64(),
    "string": pa.string(),
    "boolean": pa.bool_(),
    "array<double>": pa.list_(pa.float64()),
    "array<bigint>": pa.list_(pa.int64()),
    "array<string>": pa.list_(pa.string()),
}
DEFAULT_TYPE = "double"
_LINES = pacsv.ParseOptions(delimiter="\x1f", quote_char=False, ignore_empty_lines=True)


def parse_prediction_columns(given: Sequence[str]) -> list[tuple[str, str]]:
    """``name`` or ``name:type`` -> (name, type); the type defaults to double."""
    columns = []
    for entry in given:
        name, _, kind = entry.partition(":")
        kind = kind.strip().lower() or DEFAULT_TYPE
        if not name or kind not in PREDICTION_TYPES:
            raise OutputError(
                f"prediction column {entry!r}: write name or name:type, type one of "
                f"{', '.join(PREDICTION_TYPES)}"
            )
        columns.append((name, kind))
    return columns


def _lines(data: bytes) -> pa.Array:
    """The non-blank lines of a response file, as one string array."""
    table = pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(column_names=["line"]),
        parse_options=_LINES,
        convert_options=pacsv.ConvertOptions(column_types={"line": pa.string()}),
    )
    return table.column(0).combine_chunks()


def _first_bad(text: pa.Array, valid: pa.Array) -> tuple[int, Any]:
    index = int(pc.index(pc.fill_null(valid, True), False).as_py())
    return index, text[index].as_py()


def _quoted_fields(lines: pa.Array, where: str) -> list[pa.Array]:
    """The text columns of CSV lines with quoted fields, read by Arrow's CSV reader (XGBoost's
    selectable output writes a list field as ``1,"[0.13, 0.87]"``: serve_utils'
    ``_encode_selected_predictions_csv``)."""
    width = len(next(csv.reader([str(lines[0].as_py())])))
    names = [f"f{i}" for i in range(width)]
    data = ("\n".join(str(line) for line in lines.to_pylist()) + "\n").encode("utf-8")
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=names),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as error:
        detail = str(error).strip().splitlines()[0]
        raise OutputError(
            f"{where}: prediction lines with quoted fields do not parse ({detail})"
        ) from error
    return [table.column(name).combine_chunks() for name in names]


def _convert(text: pa.Array, kind: str, name: str, where: str, declared: bool) -> pa.Array:
    """One column of prediction text as its declared type; one line naming the first value
    that is not one. Empty text is a null."""
    target = PREDICTION_TYPES[kind]
    text = pc.utf8_trim_whitespace(text)
    if kind == "string":
        return text
    if kind.startswith("array<"):
        return _json_lists(text, kind, name, where)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    if kind == "boolean":
        text = pc.utf8_lower(text)
    try:
        if kind == "bigint":
            try:
                return pc.cast(text, target)
            except pa.ArrowInvalid:
                numbers = pc.cast(text, pa.float64())
                if not pc.all(pc.fill_null(pc.equal(pc.floor(numbers), numbers), True)).as_py():
                    raise
                return pc.cast(numbers, target)
        return pc.cast(text, target)
    except pa.ArrowInvalid as error:
        fix = (
            "the model's output does not fit the type prediction_columns declares"
            if declared
            else f'declare its type in the stage key prediction_columns, e.g. "{name}:string"'
        )
        index, value = _find_invalid(text, target)
        raise OutputError(
            f"{where} line {index + 1}: {str(value)[:40]!r} in column {name} is not a {kind}; {fix}"
        ) from error


def _json_lists(text: pa.Array, kind: str, name: str, where: str) -> pa.Array:
    """Lines like ``[0.1, 0.7]`` or ``["a,x", "b"]`` as JSON lists of the declared items:
    splitting on commas would cut quoted text and make ``[]`` a list of one null."""
    wrapped = pc.binary_join_element_wise('{"v":', text, "}", "")
    one_list = pa.ListArray.from_arrays(pa.array([0, len(wrapped)], pa.int32()), wrapped)
    document = pc.binary_join(one_list, "\n")[0].as_buffer()
    schema = pa.schema([("v", PREDICTION_TYPES[kind])])
    try:
        table = pajson.read_json(
            pa.BufferReader(document), parse_options=pajson.ParseOptions(explicit_schema=schema)
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        index, value = _first_non_list(text, PREDICTION_TYPES[kind])
        raise OutputError(
            f"{where} line {index + 1}: {str(value)[:40]!r} in column {name} is not a JSON list "
            f"of {kind[6:-1]}; answer JSON lists (text in double quotes) or declare the column "
            f'"{name}:string"'
        ) from error
    return table.column("v").combine_chunks()


def _no_constant(token: str) -> None:
    raise ValueError(f"{token} is not JSON")


def _first_non_list(text: pa.Array, target: pa.DataType) -> tuple[int, Any]:
    for index, value in enumerate(text.to_pylist()):
        try:
            pa.array([json.loads(value, parse_constant=_no_constant)], target)
        except (ValueError, TypeError, pa.ArrowInvalid, pa.ArrowTypeError):
            return index, value
    return 0, text[0].as_py()


def _find_invalid(text: pa.Array, target: pa.DataType) -> tuple[int, Any]:
    for index, value in enumerate(text.to_pylist()):
        try:
            pc.cast(pa.array([value], pa.string()), target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return index, value
    return 0, text[0].as_py()


def _columns_of(lines: pa.Array, width: int | None, where: str) -> tuple[list[pa.Array], str]:
    """Text columns of one shard's responses, and their shape (csv, list or object)."""
    first = str(lines[0].as_py()).lstrip()
    if first.startswith("{"):
        return [lines], "object"
    if first.startswith("["):
        shaped = pc.and_(pc.starts_with(pc.utf8_ltrim_whitespace(lines), "["),
                         pc.ends_with(pc.utf8_rtrim_whitespace(lines), "]"))  # fmt: skip
        if not pc.all(shaped).as_py():
            index, value = _first_bad(lines, shaped)
            raise OutputError(f"{where} line {index + 1}: {str(value)[:40]!r} is not a list "
                              "like the lines before it")  # fmt: skip
        if width == 1:
            return [lines], "list"
        inner = pc.utf8_trim(lines, "[] ")
    else:
        inner = lines
    shape = "csv" if inner is lines else "list"
    if pc.any(pc.match_substring(inner, '"')).as_py():
        if shape == "list":
            raise OutputError(f"{where}: quoted text inside a prediction list is not supported")
        return _quoted_fields(lines, where), shape
    if not pc.any(pc.match_substring(inner, ",")).as_py():
        return [inner], shape  # one value per line: nothing to split
    fields = pc.split_pattern(inner, ",")
    lengths = pc.list_value_length(fields)
    found = int(pc.max(lengths).as_py())
    if pc.min(lengths).as_py() != found:
        index, value = _first_bad(lines, pc.equal(lengths, found))
        raise OutputError(f"{where} line {index + 1}: {str(value)[:40]!r} does not have the "
                          f"{found} values of the other lines")  # fmt: skip
    values = pc.list_flatten(fields)  # every line has `found` values: column i is every found-th
    return [values.take(np.arange(i, len(values), found)) for i in range(found)], shape


def read_shard_predictions(
    path: Path, declared: list[tuple[str, str]] | None, where: str
) -> pa.Table:
    """One ``.out`` file as typed, named columns: CSV lines, JSON lists (``[0.1, 0.7]``: one
    column per element, or one array column) or JSON objects (a column per declared key)."""
    data = path.read_bytes()
    if not data.strip():
        return pa.table({name: pa.array([], PREDICTION_TYPES[kind])
                         for name, kind in declared or [("prediction", DEFAULT_TYPE)]})  # fmt: skip
    fast = _numbers(data, declared)
    if fast is not None:
        return fast
    lines = _lines(data)
    array_column = (
        declared is not None and len(declared) == 1 and declared[0][1].startswith("array")
    )
    columns, shape = _columns_of(lines, 1 if array_column else None, where)
    if shape == "object":
        return _objects(data, lines, declared, where)
    names = declared or ([("prediction", DEFAULT_TYPE)] if len(columns) == 1 else [])
    if len(names) != len(columns):
        given = (
            f"{len(declared)} ({', '.join(name for name, _ in declared)})"
            if declared
            else "none (the results table then declares one column, prediction)"
        )
        raise OutputError(
            f"the model answered {len(columns)} column(s) but prediction_columns names "
            f"{given}: name every output column, in order"
        )
    return pa.table({
        name: _convert(column, kind, name, where, declared is not None)
        for (name, kind), column in zip(names, columns, strict=True)
    })  # fmt: skip


def _numbers(data: bytes, declared: list[tuple[str, str]] | None) -> pa.Table | None:
    """Plain numeric CSV lines into double columns in one parse (the common shape), or None
    when the lines are anything else (then they are read as text and typed one by one)."""
    kinds = {kind for _, kind in declared or [("prediction", DEFAULT_TYPE)]}
    if kinds != {DEFAULT_TYPE} or data.lstrip()[:1] in (b"[", b"{"):
        return None
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True),
            parse_options=pacsv.ParseOptions(ignore_empty_lines=True),
            # only "" is missing: "nan" is a float, "NA" is refused (as the text path does)
            convert_options=pacsv.ConvertOptions(null_values=[""]),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    names = [name for name, _ in declared or [("prediction", DEFAULT_TYPE)]]
    numeric = all(
        pa.types.is_floating(c.type) or pa.types.is_integer(c.type) for c in table.columns
    )
    if not numeric or table.num_columns != len(names):
        return None
    columns = zip(names, table.columns, strict=True)
    return pa.table({name: pc.cast(column, pa.float64()) for name, column in columns})


def _objects(
    data: bytes, lines: pa.Array, declared: list[tuple[str, str]] | None, where: str
) -> pa.Table:
    keys = list(json.loads(str(lines[0].as_py())))
    if declared is None or sorted(keys) != sorted(name for name, _ in declared):
        named = ", ".join(name for name, _ in declared or [])
        raise OutputError(
            f"{where}: the model answers JSON objects with keys {', '.join(keys)} but "
            f"prediction_columns names {named or 'none'}; name every key (name:type), in order"
        )
    schema = pa.schema([(name, PREDICTION_TYPES[kind]) for name, kind in declared])
    try:
        table = pajson.read_json(
            pa.BufferReader(data),
            parse_options=pajson.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="error"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        detail = str(error).strip().splitlines()[0]
        raise OutputError(
            f"{where}: the JSON objects do not fit prediction_columns ({detail})"
        ) from error
    return table.select([name for name, _ in declared])


def check_prediction_files(shards: list[dict[str, Any]], predictions_dir: Path) -> None:
    """Every shard has its ``.out`` and nothing else is there (before anything is read)."""
    expected = {f"{shard['shard']}.out" for shard in shards}
    present = {p.relative_to(predictions_dir).as_posix() for p in predictions_dir.rglob("*.out")}
    unexpected = sorted(present - expected)
    if unexpected:
        raise OutputError(f"unexpected prediction file(s) {', '.join(unexpected[:5])}")
    for shard in shards:
        if not (predictions_dir / f"{shard['shard']}.out").is_file():
            raise OutputError(
                f"no predictions for shard {shard['shard']}: {shard['shard']}.out is missing"
            )


def shard_predictions(
    shard: dict[str, Any], predictions_dir: Path, declared: list[tuple[str, str]] | None
) -> pa.Table:
    """One shard's predictions, typed, one per input row (the padding row dropped)."""
    path = predictions_dir / f"{shard['shard']}.out"
    wanted = int(shard["rows"]) + int(shard["padding"])
    try:
        table = read_shard_predictions(path, declared, path.name)
    except OutputError:
        _refuse_one_list_per_request(path, wanted, shard["shard"])
        raise
    if table.num_rows != wanted:
        _refuse_one_list_per_request(path, wanted, shard["shard"])
        raise OutputError(
            f"shard {shard['shard']}: {table.num_rows} prediction(s) for {shard['rows']} "
            "input row(s); records were lost or added (the model must answer one line per row)"
        )
    return complete(table.slice(0, int(shard["rows"])), f"shard {shard['shard']}")


def _refuse_one_list_per_request(path: Path, wanted: int, shard: str) -> None:
    """Name the usual cause of a count that does not fit: one JSON list answering the whole
    request (an ``output_fn`` returning ``json.dumps(predictions)``), not one line per row."""
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]
    if wanted > 1 and len(lines) == 1 and lines[0].lstrip().startswith(b"["):
        try:
            values = json.loads(lines[0])
        except ValueError:
            return
        if isinstance(values, list) and len(values) == wanted:
            raise OutputError(
                f"shard {shard}: the model answered one JSON list of {wanted} values for "
                f"{wanted} input rows: it must answer one line per row (AssembleWith Line "
                "joins the responses; make its output_fn write a line for each prediction)"
            )


def complete(table: pa.Table, where: str) -> pa.Table:
    """The table, if every prediction has every column, each number finite; else one line
    naming the first gap (a NaN or a missing value published as a result is silently wrong)."""
    for name in table.column_names:
        column = table.column(name).combine_chunks()
        values, rows = column, None
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            values, rows = pc.list_flatten(column), pc.list_parent_indices(column)
        gaps = [pc.is_null(column)]
        if pa.types.is_floating(values.type):
            finite = pc.is_finite(values)
            gaps.append(
                pc.invert(finite)
                if rows is None
                else _rows_with(pc.invert(finite), rows, len(column))
            )
        for gap in gaps:
            if pc.any(pc.fill_null(gap, True)).as_py():
                index = int(pc.index(pc.fill_null(gap, True), True).as_py())
                value = column[index].as_py()
                shown = "no value" if value is None else f"{value!r}"
                raise OutputError(
                    f"{where}: prediction {index + 1} has {shown} for {name}; every "
                    "prediction must be a finite number or text (fix the model's output)"
                )
    return table


def _rows_with(flags: pa.Array, rows: pa.Array, count: int) -> pa.Array:
    """Per row, whether any of its list elements is flagged."""
    marked = np.zeros(count, dtype=bool)
    marked[np.asarray(rows)[np.asarray(flags.fill_null(True), dtype=bool)]] = True
    return pa.array(marked)


class PartWriter:
    """Parquet files of at most about ``rows_per_file`` rows each (whole shards per file)."""

    def __init__(self, directory: Path, rows_per_file: int) -> None:
        self.directory, self.rows_per_file = directory, rows_per_file
        self.files: list[dict[str, Any]] = []
        self._writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        """Append one shard's rows, starting a new file when the current one is full."""
        if self._writer is not None and int(self.files[-1]["rows"]) >= self.rows_per_file:
            self.close()
        if self._writer is None:
            name = f"part-{len(self.files):05d}.parquet"
            self._writer = pq.ParquetWriter(self.directory / name, table.schema)
            self.files.append({"path": name, "rows": 0})
        self._writer.write_table(table)
        self.files[-1]["rows"] = int(self.files[-1]["rows"]) + table.num_rows

    def close(self) -> None:
        """Finish the current file."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def id_counts(manifests: list[dict[str, Any]], ids_dir: Path) -> dict[str, int]:
    """Duplicate and empty ids over every Preprocess instance (each one checked only its own).

    Empty when the rows have no id column. Under the ``fail`` id policy any is refused.
    """
    if "duplicate_ids" not in manifests[0]:
        return {}
    counts = {name: sum(int(m[name]) for m in manifests) for name in ("duplicate_ids", "empty_ids")}
    if len(manifests) > 1:
        [column] = manifests[0]["id_columns"]
        shard_ids = (shard["ids"] for manifest in manifests for shard in manifest["shards"])
        files = dict.fromkeys(ids_dir / str(name) for name in shard_ids)
        ids = pa.chunked_array(
            [pq.read_table(path, columns=[column]).column(0).cast(pa.string()) for path in files],
            pa.string(),
        )
        empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(ids), ""), True)
        present = ids.filter(pc.invert(empty))
        counts = {
            "duplicate_ids": len(present) - pc.count_distinct(present).as_py(),
            "empty_ids": pc.sum(empty).as_py() or 0,
        }
        if manifests[0].get("id_policy", "fail") == "fail" and any(counts.values()):
            raise OutputError(
                f"id column {column!r}: {counts['duplicate_ids']} duplicate and"
                f" {counts['empty_ids']} empty id(s) across the Preprocess instances; fix the"
                ' input or set the stage key id_policy to "count"'
            )
    return counts


def postprocess(args: argparse.Namespace, run_date: str, run_dir: Path) -> dict[str, Any]:
    """Check and join everything into ``run_dir``; return the ``_SUCCESS`` manifest."""
    manifests = load_manifests(Path(args.ids_dir))
    shards = [shard for manifest in manifests for shard in manifest["shards"]]
    id_columns = list(manifests[0]["id_columns"])
    ids_found = id_counts(manifests, Path(args.ids_dir))
    declared = (
        parse_prediction_columns(args.prediction_columns) if args.prediction_columns else None
    )
    names = [name for name, _ in declared] if declared else ["prediction"]
    clash = sorted(set(id_columns) & set(names + list(RESERVED_COLUMNS)))
    if clash:
        raise OutputError(f"id column(s) {', '.join(clash)} clash with the output columns")
    reserved = sorted(set(names) & set(RESERVED_COLUMNS))
    if reserved:
        raise OutputError(f"prediction column(s) {', '.join(reserved)} are the step's own columns")
    check_prediction_files(shards, Path(args.predictions_dir))
    run_dir.mkdir(parents=True)
    writer = PartWriter(run_dir, args.rows_per_file)
    date = datetime.date.fromisoformat(run_date)
    version = args.model_package_version
    for shard in shards:
        rows = int(shard["rows"])
        ids_file = pq.ParquetFile(Path(args.ids_dir) / str(shard["ids"]))
        ids = ids_file.read_row_group(int(shard["ids_row_group"]))
        if ids.num_rows != rows:
            raise OutputError(f"shard {shard['shard']}: {ids.num_rows} ids for {rows} rows")
        predictions = shard_predictions(shard, Path(args.predictions_dir), declared)
        columns = {name: ids.column(name) for name in id_columns}
        columns.update(zip(names, predictions.columns, strict=True))
        columns["model_package_version"] = pa.repeat(pa.scalar(version, pa.int64()), rows)
        columns["execution_id"] = pa.repeat(pa.scalar(args.execution_id, pa.string()), rows)
        columns["run_date"] = pa.repeat(pa.scalar(date, pa.date32()), rows)
        writer.write(pa.table(columns))
    writer.close()
    total = sum(int(manifest["rows"]) for manifest in manifests)
    return {
        "status": "SUCCEEDED",
        "model_package_version": args.model_package_version,
        "execution_id": args.execution_id,
        "run_date": run_date,
        "input_rows": total,
        "prediction_rows": total,
        "shards": len(shards),
        "id_columns": id_columns,
        **ids_found,
        "prediction_columns": names,
        "prediction_types": [kind for _, kind in declared or [("", DEFAULT_TYPE)]],
        "files": writer.files,
        "input_files": [entry for manifest in manifests for entry in manifest["files"]],
        # When the execution started (its StartDateTime) and when this step wrote the run: what
        # `build.py --status` shows of a run SageMaker does not list (a local one).
        "started_at": args.start_time or None,
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line arguments; directories default to the processing container's paths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids-dir", default=DEFAULT_IDS_DIR)
    parser.add_argument("--predictions-dir", default=DEFAULT_PREDICTIONS_DIR)
    parser.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR)
    parser.add_argument("--failure-file", default=DEFAULT_FAILURE_FILE)
    parser.add_argument("--model-package-version", type=int, required=True)
    parser.add_argument("--execution-id", required=True)
    parser.add_argument("--run-file", default="", help="run.json of Preprocess (the run's date)")
    parser.add_argument("--run-date", default="", help="YYYY-MM-DD; empty = from --start-time")
    parser.add_argument("--start-time", default="", help="the execution's start (ISO 8601)")
    parser.add_argument("--rows-per-file", type=int, default=DEFAULT_ROWS_PER_FILE)
    parser.add_argument("--output-url", default="", help="s3:// prefix to upload and publish to")
    parser.add_argument("--partitions-lib", default="", help="path of partitions.py (publish)")
    parser.add_argument("--kms-key-arn", default="")
    parser.add_argument("--region", default=None, help="of the S3 client")
    parser.add_argument(
        "--prediction-columns", action="append", default=[],
        help="names of the model's output columns, comma-separated (repeatable)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.prediction_columns = [
        c for chunk in args.prediction_columns for c in chunk.split(",") if c
    ]
    if not _EXECUTION_ID.match(args.execution_id):
        parser.error(f"--execution-id {args.execution_id!r} is not a pipeline execution id")
    if args.rows_per_file < 1:
        parser.error("--rows-per-file must be at least 1")
    if args.output_url and not args.partitions_lib:
        parser.error("--output-url needs --partitions-lib (partitions.py publishes)")
    return args


def _load_partitions(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("partitions", path)
    if spec is None or spec.loader is None:
        raise OutputError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Publisher:
    """Upload a finished run folder to S3, ``_SUCCESS`` last, then publish it (partitions.py)."""

    def __init__(self, args: argparse.Namespace, run_date: str) -> None:
        import boto3  # the processing image's; only a publishing run talks to S3
        from botocore.exceptions import BotoCoreError, ClientError

        self.aws_errors = (BotoCoreError, ClientError)
        self.lib = _load_partitions(args.partitions_lib)
        self.s3 = boto3.client("s3", region_name=args.region)
        self.output_url, self.date, self.execution_id = args.output_url, run_date, args.execution_id
        self.kms_key_arn = args.kms_key_arn or None
        self.folder = self.lib.run_url(self.output_url, run_date, args.execution_id)

    @contextlib.contextmanager
    def _s3(self, what: str) -> Iterator[None]:
        try:
            yield
        except self.aws_errors as error:  # denied, unreachable, retries exhausted
            raise OutputError(f"{what} {self.folder}: {error}") from error

    def finished(self) -> bool:
        """Whether an earlier attempt of this step already uploaded the folder's ``_SUCCESS``."""
        bucket, key = self.lib.split_url(self.folder + SUCCESS_FILE)
        with self._s3("cannot list"):
            listing = self.s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
        return any(item["Key"] == key for item in listing.get("Contents", []))

    def upload(self, run_dir: Path, manifest: dict[str, Any]) -> None:
        """The listed Parquet files, then ``_SUCCESS``: a folder without it is never published."""
        bucket, prefix = self.lib.split_url(self.folder)
        extra = self.lib.encryption(self.kms_key_arn)
        # One PutObject per file, in order (a part of ~1M rows is far below PutObject's 5 GB).
        with self._s3("cannot upload to"):
            for name in [str(entry["path"]) for entry in manifest["files"]] + [SUCCESS_FILE]:
                with (run_dir / name).open("rb") as body:
                    self.s3.put_object(Bucket=bucket, Key=prefix + name, Body=body, **extra)

    def publish(self) -> str:
        """Replace the date's manifest unless a newer execution published it (partitions.py
        checks the folder in S3 and decides); one line saying which happened."""
        try:
            with self._s3("cannot publish"):
                done = self.lib.publish(
                    self.s3,
                    output_url=self.output_url,
                    date=self.date,
                    execution_id=self.execution_id,
                    kms_key_arn=self.kms_key_arn,
                )
        except self.lib.PartitionError as error:
            raise OutputError(f"publish refused: {error}") from error
        return str(done.line)


def _fail(args: argparse.Namespace, error: Exception) -> int:
    message = f"postprocess failed: {error}"
    print(message, file=sys.stderr)
    failure_file = Path(args.failure_file)
    if failure_file.parent.is_dir():
        failure_file.write_text(message[:1024], encoding="utf-8")
    return 1


def run(args: argparse.Namespace) -> str:
    """Join, write, and with ``--output-url`` upload and publish; return the summary line."""
    if args.run_file:
        run_date = read_run_file(Path(args.run_file))
        recorded = json.loads(Path(args.run_file).read_text(encoding="utf-8")).get("started_at")
        args.start_time = args.start_time or recorded or ""  # for the manifest
    else:
        run_date = resolve_run_date(args.run_date, args.start_time)
    publisher = Publisher(args, run_date) if args.output_url else None
    if publisher is not None and publisher.finished():
        return f"postprocess: {args.execution_id} was already uploaded; {publisher.publish()}"
    target = Path(args.output_dir) / run_date / args.execution_id
    if target.exists():
        raise OutputError(f"{target} already exists; outputs of a run are never overwritten")
    try:
        manifest = postprocess(args, run_date, target)
    except OutputError:
        shutil.rmtree(target, ignore_errors=True)
        with contextlib.suppress(OSError):  # the date's folder, unless another run is in it
            target.parent.rmdir()
        raise
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    (target / SUCCESS_FILE).write_text(text, encoding="utf-8")
    files = len(manifest["files"])
    line = f"postprocess: {manifest['prediction_rows']} predictions in {files} file(s)"
    if publisher is None:
        return line
    publisher.upload(target, manifest)
    return f"{line}; {publisher.publish()}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the step; print one line and return 1 when the predictions cannot be trusted."""
    args = parse_args(argv)
    try:
        print(run(args))
    except OutputError as error:
        return _fail(args, error)
    return 0


if __name__ == "__main__":
    sys.meta_path.insert(0, WithoutPandas())
    sys.exit(main())
