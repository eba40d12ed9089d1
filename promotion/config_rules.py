"""The value rules of the stage config that a regular expression alone cannot state.

Each check takes a value and returns it, or raises ValueError with the text that follows
"key '<name>'" in the one-line error (promotion/config.py adds the file and key). Pure: no AWS call.
"""

from __future__ import annotations

import argparse
import json
import re
import zoneinfo
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import botocore.session

from errors import ConfigError

# https://docs.aws.amazon.com/tag-editor/latest/userguide/best-practices-and-strats.html
MAX_TAGS = 50
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
_TAG_TEXT = re.compile(r"^[\w\s.:/=+\-@]*$")
# https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_AT = re.compile(r"^at\((.*)\)$")
# minutes, hours, day-of-month, month, day-of-week, year: (allowed characters, low, high)
_CRON_FIELDS = (
    ("minutes", r"[0-9,\-*/]", 0, 59),
    ("hours", r"[0-9,\-*/]", 0, 23),
    ("day-of-month", r"[0-9,\-*/?LW]", 1, 31),
    ("month", r"[0-9A-Za-z,\-*/]", 1, 12),
    ("day-of-week", r"[0-9A-Za-z,\-*/?L#]", 1, 7),
    ("year", r"[0-9,\-*/]", 1970, 2199),
)
_ARN = re.compile(r"^arn:([a-z-]+):([a-z0-9-]+):([a-z0-9-]*):(\d{12})?:(.+)$")
MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 4  # object > vpc_config > list > string
CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


@lru_cache(maxsize=1)
def _partitions() -> dict[str, str]:
    """Every region botocore knows, with its partition (from botocore's bundled endpoints)."""
    session = botocore.session.get_session()
    return {
        region: partition
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("sts", partition_name=partition)
    }


def partition_of(region: str) -> str:
    """The partition of a known region (aws, aws-cn, aws-us-gov, ...)."""
    return _partitions()[region]


def check_region(value: str) -> str:
    """A region botocore knows."""
    if value not in _partitions():
        raise ValueError(
            f"{value!r} is not an AWS region this boto3 knows (such as eu-west-1); "
            "fix the name, or upgrade boto3 if the region is new"
        )
    return value


def check_timezone(value: str) -> str:
    """An IANA time zone name present in the zoneinfo database."""
    if value not in zoneinfo.available_timezones():
        raise ValueError(f"{value!r} is not an IANA time zone (such as UTC or Europe/Paris)")
    return value


def check_schedule(value: str) -> str:
    """`rate(N unit)`, a six-field `cron(...)` or `at(yyyy-mm-ddThh:mm:ss)`."""
    if rate := _RATE.match(value):
        amount, unit = int(rate.group(1)), rate.group(2)
        if amount < 1:
            raise ValueError(f"{value!r}: the rate must be a positive number")
        if (amount == 1) != (not unit.endswith("s")):
            raise ValueError(f"{value!r}: use the singular unit for 1 and the plural otherwise")
        return value
    if cron := _CRON.match(value):
        _check_cron(value, cron.group(1).split(" "))
        return value
    if at := _AT.match(value):
        try:
            datetime.strptime(at.group(1), "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            raise ValueError(f"{value!r}: at(...) takes yyyy-mm-ddThh:mm:ss") from None
        return value
    raise ValueError(f"{value!r} is not rate(N unit), cron(six fields) or at(yyyy-mm-ddThh:mm:ss)")


def _check_cron(value: str, fields: list[str]) -> None:
    if len(fields) != len(_CRON_FIELDS):
        raise ValueError(
            f"{value!r}: cron(...) takes six fields separated by single spaces "
            "(minutes hours day-of-month month day-of-week year)"
        )
    for text, (name, allowed, low, high) in zip(fields, _CRON_FIELDS, strict=True):
        bad = not text or not re.fullmatch(f"{allowed}+", text)
        numbers = [int(n) for n in re.findall(r"\d+", text.split("#")[0].split("/")[0])]
        if bad or any(not low <= n <= high for n in numbers):
            raise ValueError(f"{value!r}: the {name} field {text!r} is not valid")
    if (fields[2] == "?") == (fields[4] == "?"):
        raise ValueError(f"{value!r}: exactly one of day-of-month and day-of-week must be '?'")


def check_tags(value: dict[str, str]) -> dict[str, str]:
    """AWS tag limits: at most 50 tags, keys 1-128 and values 0-256 characters, no `aws:`."""
    if len(value) > MAX_TAGS:
        raise ValueError(f"has {len(value)} tags; AWS allows at most {MAX_TAGS}")
    for key, text in value.items():
        if not 1 <= len(key) <= MAX_TAG_KEY or not _TAG_TEXT.match(key):
            raise ValueError(
                f"tag key {key[:40]!r} must be 1-{MAX_TAG_KEY} letters, digits, spaces or _.:/=+-@"
            )
        if key.lower().startswith("aws:"):
            raise ValueError(f"tag key {key!r} starts with 'aws:', which AWS reserves")
        if len(text) > MAX_TAG_VALUE or not _TAG_TEXT.match(text):
            raise ValueError(
                f"tag {key!r} has a value of {len(text)} characters; values are at most "
                f"{MAX_TAG_VALUE} letters, digits, spaces or _.:/=+-@"
            )
    return value


def check_arn_home(
    key: str, arn: str, *, account_id: str, account_key: str, region: str | None, home: str
) -> None:
    """Refuse an ARN outside the expected account, the stage's partition or (when given) region.

    Args:
        key: the config key holding the ARN.
        arn: its value (already matched against the key's pattern).
        account_id: the account the ARN must belong to; `account_key` names where it came from.
        region: the region the ARN must name, or None for global resources such as IAM roles.
        home: the stage's region, whose partition the ARN must use.
    """
    match = _ARN.match(arn)
    if not match:
        raise ValueError(f"key '{key}' {arn!r} is not an ARN")
    partition, _, arn_region, arn_account, _ = match.groups()
    expected = partition_of(home)
    if partition != expected:
        raise ValueError(
            f"key '{key}' is in partition {partition} but region {home} is in {expected}; "
            f"use a resource of that partition"
        )
    if region is not None and arn_region != region:
        raise ValueError(
            f"key '{key}' is in region {arn_region} but the stage's region is {region}; "
            "use a resource of the stage's region"
        )
    if arn_account != account_id:
        raise ValueError(
            f"key '{key}' belongs to account {arn_account} but '{account_key}' is {account_id}; "
            "use a resource of that account"
        )


def read_text(path: Path) -> str:
    """The file as UTF-8 text, at most MAX_FILE_BYTES long."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the stage config ({error.strerror})") from error
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: {len(data)} bytes is too big for a stage config (max 256 KiB)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: byte {error.start} is not UTF-8; save the file as UTF-8"
        ) from None


def refuse_control_characters(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse any command-line value with a control character, as the stage file does.

    A value pasted with its trailing newline (`--target-role-arn $'arn...\\n'`) would otherwise
    pass a `$`-anchored pattern and reach AWS. Exits 2 through `parser.error`.
    """
    for name, value in vars(args).items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str | Path) and CONTROL.search(str(item)):
                parser.error(
                    f"--{name.replace('_', '-')} {str(item)!r} contains a control character "
                    "(a newline?); remove it"
                )


def parse_json_object(path: Path, text: str) -> dict[str, Any]:
    """A JSON object without duplicate keys, deep nesting or control characters."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        for key in keys:
            if keys.count(key) > 1:
                raise ConfigError(f"{path}: key '{key}' appears twice; keep one")
        return dict(pairs)

    try:
        raw = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{path}:{error.lineno}:{error.colno}: malformed JSON ({error.msg}); fix the syntax"
        ) from None
    except RecursionError:
        raise ConfigError(f"{path}: the JSON is nested too deeply for a stage config") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the stage config must be a JSON object of keys")
    _check_strings(path, raw, (), 1)
    return raw


def _check_strings(path: Path, value: Any, where: tuple[str, ...], depth: int) -> None:
    """Refuse absurd nesting and control characters (a trailing newline too) anywhere."""
    name = ".".join(where) or "(top level)"
    if depth > MAX_DEPTH:
        raise ConfigError(f"{path}: key '{name}' is nested too deeply for a stage config")
    items: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if CONTROL.search(key):
                raise ConfigError(f"{path}: a key in '{name}' contains a control character")
            items.append((key, item))
    elif isinstance(value, list):
        items = [(str(index), item) for index, item in enumerate(value)]
    elif isinstance(value, str) and CONTROL.search(value):
        raise ConfigError(
            f"{path}: key '{name}' contains a control character (a newline?); remove it"
        )
    for key, item in items:
        _check_strings(path, item, (*where, key), depth + 1)
