"""A lease on one promotion, held through S3 conditional writes, so that concurrent runs of
build.py for the same source version and stage create exactly one target package.

The lease is a small JSON object in the stage's artifacts bucket. It is taken with
`PutObject If-None-Match: *` (only one writer can create a key), renewed and released with
`PutObject If-Match: <ETag>` (compare-and-swap), and taken over the same way once it has expired
or, on the same host, once its holder's process is gone. A holder renews it every `renew_seconds`
from a background thread, so a killed run blocks others for at most `ttl_seconds`.
https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from errors import PromotionError, WaitTimeoutError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOG = logging.getLogger(__name__)
LEASE_PREFIX = "promotion-leases/"
# 412: the condition failed; 409: a concurrent conditional write to the same key won.
_LOST_RACE = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})


@dataclass(frozen=True)
class LeaseSettings:
    """Timing of the lease; every value must be positive.

    Attributes:
        ttl_seconds: how long a lease lives without renewal.
        renew_seconds: how often the holder renews it (well below the TTL).
        poll_seconds: how often a waiting run looks again.
        max_wait_seconds: how long a run waits for another before giving up.
    """

    ttl_seconds: float = 120
    renew_seconds: float = 30
    poll_seconds: float = 2
    max_wait_seconds: float = 3600

    def __post_init__(self) -> None:
        for name in ("ttl_seconds", "renew_seconds", "poll_seconds", "max_wait_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"LeaseSettings.{name} must be positive")
        if self.renew_seconds >= self.ttl_seconds:
            raise ValueError("LeaseSettings.renew_seconds must be below ttl_seconds")


def lease_key(group: str, version: int) -> str:
    """The key of the lease on promoting version `version` of `group`."""
    return f"{LEASE_PREFIX}{group}/v{version}.json"


@dataclass
class Lease:
    """A held lease: the key and the ETag of our last write."""

    s3: S3Client
    bucket: str
    key: str
    etag: str
    owner: dict[str, Any]
    settings: LeaseSettings
    lost: bool = False

    @property
    def uri(self) -> str:
        """The lease object's s3:// URI."""
        return f"s3://{self.bucket}/{self.key}"

    def renew(self) -> None:
        """Extend the lease; if another run took it over, remember that it is lost."""
        try:
            self.etag = _put(self.s3, self.bucket, self.key, self._record(), if_match=self.etag)
        except ClientError as error:
            if _code(error) not in _LOST_RACE:
                raise
            self.lost = True

    def check(self) -> None:
        """Raise unless the lease is still ours (called before each irreversible write)."""
        if self.lost:
            raise PromotionError(
                f"the promotion lease {self.uri} was taken over by another run while this one "
                "held it (this run stalled past its expiry); re-run to reuse that run's result"
            )

    def release(self) -> None:
        """Mark the lease free (an overwrite, so no s3:DeleteObject permission is needed)."""
        try:
            _put(self.s3, self.bucket, self.key, self._record(released=True), if_match=self.etag)
        except ClientError as error:
            if _code(error) not in _LOST_RACE:
                raise

    def _record(self, *, released: bool = False) -> dict[str, Any]:
        return {**self.owner, "expires_at": time.time() + self.settings.ttl_seconds,
                "released": released}  # fmt: skip


def owner_record(description: str) -> dict[str, Any]:
    """Who holds a lease: this host and process, and what for."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "holder": description}


@contextmanager
def hold(
    s3: S3Client,
    *,
    bucket: str,
    key: str,
    owner: dict[str, Any],
    settings: LeaseSettings,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[dict[str, Any]], None] | None = None,
) -> Iterator[Lease]:
    """Acquire the lease (waiting while another live run holds it), renew it while the block
    runs, release it afterwards.

    Raises:
        WaitTimeoutError: another run held it for longer than `max_wait_seconds`.
    """
    lease = acquire(s3, bucket=bucket, key=key, owner=owner, settings=settings, sleep=sleep,
                    on_wait=on_wait)  # fmt: skip
    stop = threading.Event()

    def renew_until_stopped() -> None:
        while not stop.wait(settings.renew_seconds) and not lease.lost:
            try:
                lease.renew()
            except Exception:  # a failed renewal is retried at the next beat
                LOG.warning("could not renew the promotion lease %s", lease.uri, exc_info=True)

    beat = threading.Thread(target=renew_until_stopped, name="lease-renewal", daemon=True)
    beat.start()
    try:
        yield lease
    finally:
        stop.set()
        beat.join()
        lease.release()


def acquire(
    s3: S3Client,
    *,
    bucket: str,
    key: str,
    owner: dict[str, Any],
    settings: LeaseSettings,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[dict[str, Any]], None] | None = None,
) -> Lease:
    """Take the lease: create it if absent, take it over if free, else wait and look again."""
    lease = Lease(s3, bucket, key, "", owner, settings)
    waited, told = 0.0, False
    while True:
        try:
            lease.etag = _put(s3, bucket, key, lease._record(), if_none_match=True)
            return lease
        except ClientError as error:
            if _code(error) not in _LOST_RACE:
                raise
        current = _read(s3, bucket, key)
        if current is not None and is_free(current[0]):
            try:
                lease.etag = _put(s3, bucket, key, lease._record(), if_match=current[1])
                return lease
            except ClientError as error:
                if _code(error) not in _LOST_RACE:
                    raise
            continue  # another run took it over first: look again
        if current is None:
            continue  # deleted in between: try to create it again
        if waited >= settings.max_wait_seconds:
            raise WaitTimeoutError(
                f"s3://{bucket}/{key} is held by {current[0].get('holder')} on "
                f"{current[0].get('host')} for more than {settings.max_wait_seconds:.0f} s; if "
                "that run is dead, wait for the lease to expire (or delete it) and re-run"
            )
        if on_wait and not told:
            on_wait(current[0])
            told = True
        sleep(settings.poll_seconds)
        waited += settings.poll_seconds


def is_free(record: dict[str, Any], *, now: float | None = None) -> bool:
    """Released, expired, or held by a process of this host that no longer runs."""
    if record.get("released") or float(record.get("expires_at", 0)) < (now or time.time()):
        return True
    if record.get("host") != socket.gethostname() or not isinstance(record.get("pid"), int):
        return False
    try:
        os.kill(record["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by another user
    return False


def _put(
    s3: S3Client,
    bucket: str,
    key: str,
    record: dict[str, Any],
    *,
    if_match: str | None = None,
    if_none_match: bool = False,
) -> str:
    condition: dict[str, Any] = {"IfMatch": if_match} if if_match else {}
    if if_none_match:
        condition["IfNoneMatch"] = "*"
    body = json.dumps(record, sort_keys=True).encode()
    response = s3.put_object(
        Bucket=bucket, Key=key, Body=body, ContentType="application/json", **condition
    )
    return str(response["ETag"])


def _read(s3: S3Client, bucket: str, key: str) -> tuple[dict[str, Any], str] | None:
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if _code(error) in ("NoSuchKey", "404"):
            return None
        raise
    try:
        record = json.loads(response["Body"].read())
    except ValueError:
        record = {}  # unreadable: treated as expired, taken over with If-Match
    return (record if isinstance(record, dict) else {}), str(response["ETag"])


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
