"""DataProcessing of a transform: InputFilter, JoinSource and OutputFilter, record by record."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from pipelines.local import jsonpath
from pipelines.local.errors import StepError


def _kind(media_type: str | None) -> str:
    media = (media_type or "").split(";")[0].strip().lower()
    if media == "text/csv":
        return "csv"
    if "json" in media:
        return "json"
    return "other"


RESERVED_KEY = "SageMakerOutput"


def _csv_row(text: str) -> list[str]:
    try:
        return next(csv.reader([text]), [])
    except csv.Error as err:
        raise StepError(f"record is not a CSV row: {err}") from err


def _text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise StepError(f"{what} is not UTF-8: {err}") from err


def _csv_text(value: Any) -> str:
    row = value if isinstance(value, list) else [value]
    stream = io.StringIO()
    csv.writer(stream, lineterminator="").writerow(row)
    return stream.getvalue()


@dataclass(frozen=True)
class DataProcessing:
    """The parsed DataProcessing block of one transform job."""

    input_filter: list[jsonpath.Segment] | None
    output_filter: list[jsonpath.Segment] | None
    join: bool
    input_kind: str
    output_kind: str
    inclusive: bool

    @classmethod
    def from_request(
        cls,
        block: dict[str, Any] | None,
        *,
        content_type: str | None,
        accept: str | None,
        split_type: str,
        assemble_with: str,
        inclusive: bool,
    ) -> DataProcessing:
        """Parse and check the block; raise StepError for combinations the service rejects."""
        block = block or {}
        input_filter = block.get("InputFilter", "$")
        output_filter = block.get("OutputFilter", "$")
        join = block.get("JoinSource", "None")
        if join not in ("None", "Input"):
            raise StepError(f"JoinSource must be None or Input, got {join!r}")
        processing = cls(
            input_filter=None if input_filter == "$" else jsonpath.parse(input_filter),
            output_filter=None if output_filter == "$" else jsonpath.parse(output_filter),
            join=join == "Input",
            input_kind=_kind(content_type),
            output_kind=_kind(accept),
            inclusive=inclusive,
        )
        if processing.active:
            processing._check(content_type, accept, split_type, assemble_with)
        return processing

    def _check(
        self, content_type: str | None, accept: str | None, split: str, assemble: str
    ) -> None:
        if (
            self.input_kind == "other"
            or (self.output_filter or self.join)
            and self.output_kind == "other"
        ):
            raise StepError("DataProcessing supports only CSV and JSON content and accept types")
        if self.join and content_type != accept:
            raise StepError(
                f"JoinSource=Input needs Accept ({accept}) equal to ContentType ({content_type})"
            )
        if self.join and self.input_kind == "csv" and (split, assemble) != ("Line", "Line"):
            raise StepError("JoinSource=Input with CSV needs SplitType=Line and AssembleWith=Line")

    @property
    def active(self) -> bool:
        """False when every setting is the default (the fast path applies)."""
        return bool(self.input_filter or self.output_filter or self.join)

    @property
    def per_record_output(self) -> bool:
        """True when responses must be split into records (join or output filter)."""
        return bool(self.output_filter or self.join)

    def _parse(self, text: str, kind: str) -> Any:
        if kind == "csv":
            return _csv_row(text)
        try:
            return json.loads(text)
        except ValueError as err:
            raise StepError(f"record is not JSON: {err}") from err

    def _dump(self, value: Any, kind: str) -> str:
        return _csv_text(value) if kind == "csv" else json.dumps(value)

    def prepare(self, record: bytes) -> tuple[bytes, str]:
        """The payload bytes for one input record, and the record's text for joining."""
        text = _text(record, "a record").rstrip("\r\n")
        if self.input_filter is None:
            return record, text
        value = self._parse(text, self.input_kind)
        selected = jsonpath.select(value, self.input_filter, inclusive=self.inclusive)
        return (self._dump(selected, self.input_kind) + "\n").encode("utf-8"), text

    def _split_response(self, body: bytes, count: int) -> list[str]:
        text = _text(body, "the response")
        if self.output_kind == "csv" or count == 1 and self.output_kind != "json":
            parts = text.split("\n")
            if parts and parts[-1] == "":
                parts.pop()
            parts = [part.rstrip("\r") for part in parts]
        elif count == 1:
            parts = [text.strip()]
        else:
            parts = [line for line in text.split("\n") if line.strip()]
            if len(parts) != count:
                try:
                    doc = json.loads(text)
                except ValueError:
                    doc = None
                if isinstance(doc, list):
                    parts = [json.dumps(item) for item in doc]
        if len(parts) != count:
            raise StepError(
                f"the response has {len(parts)} records for {count} inputs; cannot join"
            )
        return parts

    def finish(self, inputs: list[str], body: bytes) -> list[bytes]:
        """Join and filter the response of one request; one output record per input record."""
        outputs = self._split_response(body, len(inputs))
        records: list[bytes] = []
        for source, output in zip(inputs, outputs, strict=True):
            if self.join and self.input_kind == "csv":
                value: Any = _csv_row(source + "," + output) if self.output_filter else None
                text = source + "," + output
            elif self.join:
                original = self._parse(source, "json")
                result = self._parse(output, "json")
                if isinstance(original, dict):
                    if RESERVED_KEY in original:
                        raise StepError(
                            f"an input record already has the reserved key {RESERVED_KEY}"
                        )
                    value = {**original, RESERVED_KEY: result}
                else:
                    value = {"SageMakerInput": original, RESERVED_KEY: result}
                text = json.dumps(value)
            else:
                value = self._parse(output, self.output_kind)
                text = output
            if self.output_filter is not None:
                value = jsonpath.select(value, self.output_filter, inclusive=self.inclusive)
                text = self._dump(value, self.input_kind if self.join else self.output_kind)
            records.append(text.encode("utf-8"))
        return records
