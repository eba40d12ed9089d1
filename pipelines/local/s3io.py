"""S3 plumbing of the local runner: prefixes, downloads, uploads and streaming writes."""

from __future__ import annotations

import os
import shutil
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from boto3.exceptions import S3UploadFailedError
from botocore.config import Config
from botocore.exceptions import ClientError

from pipelines.local.errors import StepError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PART_SIZE = 8 * 1024 * 1024  # >= the 5 MiB S3 minimum part size
READ_CHUNK = 1024 * 1024
# Processing outputs up to this size go up in one PutObject (S3 allows 5 GiB), larger ones
# through the transfer manager's multipart upload.
SINGLE_PUT_LIMIT = 1024 * 1024 * 1024
# Objects moved at once by a step's downloads and uploads (SageMaker moves a job's files in
# parallel too); the client's connection pool holds as many.
TRANSFER_THREADS = 4
# Checksums only where an operation requires one, as the processing image's boto3 1.28 did:
# newer clients add CRC32 to every upload and check it on every download, CPU spent on both
# sides of the local S3 for data that never leaves the machine.
CLIENT_CONFIG = Config(
    max_pool_connections=TRANSFER_THREADS + 6,
    request_checksum_calculation="when_required",
    response_checksum_validation="when_required",
)
# On a loopback endpoint (an S3 on this machine, such as the embedded one) the bytes never
# leave the machine: there botocore would hash every body with SHA-256 to sign it only because
# the endpoint is plain HTTP (over HTTPS, to AWS, the default signing stays). S3 accepts the
# literal UNSIGNED-PAYLOAD in x-amz-content-sha256:
# https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
LOOPBACK_CONFIG = CLIENT_CONFIG.merge(Config(s3={"payload_signing_enabled": False}))
MISSING_OBJECT_CODES = ("404", "NoSuchKey", "NotFound")


@dataclass(frozen=True)
class S3Uri:
    """A parsed ``s3://bucket/key`` address."""

    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        """Split an ``s3://`` URI; raise StepError for anything else."""
        if not isinstance(uri, str) or not uri.startswith("s3://") or len(uri) <= 5:
            raise StepError(f"expected an s3:// URI, got {uri!r}")
        bucket, _, key = uri[5:].partition("/")
        if not bucket:
            raise StepError(f"S3 URI {uri!r} names no bucket")
        return cls(bucket, key)

    def child(self, relative: str) -> S3Uri:
        """The URI of ``relative`` under this one taken as a folder."""
        base = self.key if not self.key or self.key.endswith("/") else self.key + "/"
        return S3Uri(self.bucket, base + relative)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class S3Object:
    """One object found under a prefix, with the name it gets locally (and its listed ETag)."""

    bucket: str
    key: str
    size: int
    relative: str
    etag: str = ""


@dataclass
class LocalCopies:
    """The files a run uploaded, by S3 location and the ETag S3 answered for each.

    A later step of the same run that reads such an object reads the local file instead, but
    only while S3 still lists the object with that ETag and the file has the listed size: the
    bytes are the same, and they need not travel through S3 twice on one machine.
    """

    files: dict[tuple[str, str], tuple[str, Path]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, bucket: str, key: str, etag: str, path: Path) -> None:
        """Remember that ``path`` holds ``s3://bucket/key`` as uploaded (ETag ``etag``)."""
        with self.lock:
            self.files[(bucket, key)] = (etag, path)

    def find(self, obj: S3Object) -> Path | None:
        """The local file holding ``obj`` exactly as listed, or None."""
        with self.lock:
            etag, path = self.files.get((obj.bucket, obj.key), ("", None))
        if path is None or not obj.etag or etag != obj.etag:
            return None
        return path if path.is_file() and path.stat().st_size == obj.size else None


def relative_name(prefix: str, key: str) -> str:
    """Name of ``key`` below an S3Prefix, as the service lays it out.

    A prefix that ends at a folder boundary (``data/train`` for ``data/train/x.csv``) is
    stripped with its ``/``; a partial match (``data/train`` for ``data/train-data.csv``) keeps
    the key's full basename, i.e. the path is taken relative to the prefix's last ``/``.
    """
    if key == prefix:
        return key.rsplit("/", 1)[-1]
    if prefix and not prefix.endswith("/") and key[len(prefix)] == "/":
        return key[len(prefix) + 1 :]
    return key[prefix.rfind("/") + 1 :]


def _unique_names(objects: list[S3Object]) -> list[S3Object]:
    """Refuse two objects that get the same local name: one would overwrite the other."""
    seen: dict[str, str] = {}
    for obj in objects:
        if obj.relative in seen:
            raise StepError(
                f"s3://{obj.bucket}/{seen[obj.relative]} and s3://{obj.bucket}/{obj.key} both "
                f"map to the local name {obj.relative!r}; one would overwrite the other"
            )
        seen[obj.relative] = obj.key
    return objects


def list_prefix(s3: S3Client, uri: S3Uri) -> list[S3Object]:
    """Every object whose key starts with the prefix (folder markers skipped), in key order."""
    found: list[S3Object] = []
    paginator = s3.get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=uri.bucket, Prefix=uri.key):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith("/"):
                    continue
                relative = relative_name(uri.key, key)
                etag = str(item.get("ETag", ""))
                found.append(S3Object(uri.bucket, key, item["Size"], relative, etag))
    except ClientError as err:
        raise StepError(f"cannot list {uri}: {err}") from err
    return _unique_names(found)


def list_manifest(s3: S3Client, uri: S3Uri) -> list[S3Object]:
    """Objects named by a ManifestFile: ``[{"prefix": "s3://..."}, "key", ...]``."""
    import json

    body = read_small(s3, uri)
    try:
        entries = json.loads(body)
        prefix = S3Uri.parse(entries[0]["prefix"])
        keys = [prefix.key + str(rel) for rel in entries[1:]]
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise StepError(f"manifest {uri} is not [{{'prefix': ...}}, keys...]: {err}") from err
    objects = []
    for key in keys:
        try:
            head = s3.head_object(Bucket=prefix.bucket, Key=key)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in MISSING_OBJECT_CODES:
                raise
            raise StepError(
                f"manifest {uri} names s3://{prefix.bucket}/{key}, which does not exist"
            ) from err
        rel = relative_name(prefix.key, key)
        objects.append(S3Object(prefix.bucket, key, head["ContentLength"], rel))
    return _unique_names(objects)


def read_small(s3: S3Client, uri: S3Uri) -> bytes:
    """Read a small object (a manifest or a config file) into memory."""
    try:
        return s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    except ClientError as err:
        raise StepError(f"cannot read {uri}: {err}") from err


def stream_object(
    s3: S3Client, bucket: str, key: str, local: Path | None = None
) -> Iterator[bytes]:
    """Yield an object's bytes in chunks (from ``local``, its `LocalCopies` file, when given);
    never holds the whole object."""
    if local is not None:
        with local.open("rb") as handle:
            yield from iter(lambda: handle.read(READ_CHUNK), b"")
        return
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as err:
        raise StepError(f"cannot read s3://{bucket}/{key}: {err}") from err
    try:
        yield from body.iter_chunks(READ_CHUNK)
    finally:
        body.close()


def download_object(
    s3: S3Client, obj: S3Object, target: Path, copies: LocalCopies | None = None
) -> None:
    """Stream one object to a file: a single GET (no ranged parts, which moto serves slowly),
    or a copy of the run's own local file of it."""
    local = copies.find(obj) if copies is not None else None
    if local is not None:
        shutil.copyfile(local, target)
        return
    with target.open("wb") as out:
        for chunk in stream_object(s3, obj.bucket, obj.key):
            out.write(chunk)


def s3_client(session: boto3.Session) -> S3Client:
    """The runner's S3 client (`CLIENT_CONFIG`; `LOOPBACK_CONFIG` for an S3 on this machine)."""
    client = session.client("s3", config=CLIENT_CONFIG)
    if urllib.parse.urlsplit(client.meta.endpoint_url).hostname in LOOPBACK_HOSTS:
        return session.client("s3", config=LOOPBACK_CONFIG)
    return client


def in_parallel(tasks: list[Callable[[], None]]) -> None:
    """Run ``tasks`` on `TRANSFER_THREADS` threads; the first failure is raised."""
    with ThreadPoolExecutor(max_workers=TRANSFER_THREADS, thread_name_prefix="s3") as pool:
        for future in [pool.submit(task) for task in tasks]:
            future.result()


def download_prefix(
    s3: S3Client, uri: S3Uri, local_dir: Path, copies: LocalCopies | None = None
) -> int:
    """Download every object under an S3Prefix into ``local_dir``; return the count."""
    objects = list_prefix(s3, uri)

    def fetch(obj: S3Object) -> Callable[[], None]:
        def task() -> None:
            target = local_dir / obj.relative
            target.parent.mkdir(parents=True, exist_ok=True)
            download_object(s3, obj, target, copies)

        return task

    in_parallel([fetch(obj) for obj in objects])
    return len(objects)


def upload_dir(s3: S3Client, local_dir: Path, uri: S3Uri, copies: LocalCopies | None = None) -> int:
    """Upload the regular files under ``local_dir`` (symlinks not followed); return the count.

    Files up to `SINGLE_PUT_LIMIT` go up in one PutObject each, whose ETag `copies` records.
    """
    paths = [
        Path(root) / name
        for root, _dirs, files in os.walk(local_dir, followlinks=False)
        for name in sorted(files)
    ]
    paths = [path for path in paths if not path.is_symlink() and path.is_file()]

    def send(path: Path) -> Callable[[], None]:
        def task() -> None:
            target = uri.child(path.relative_to(local_dir).as_posix())
            try:
                if path.stat().st_size > SINGLE_PUT_LIMIT:
                    s3.upload_file(str(path), target.bucket, target.key)
                    return
                with path.open("rb") as body:
                    sent = s3.put_object(Bucket=target.bucket, Key=target.key, Body=body)
            except (ClientError, S3UploadFailedError) as err:  # the transfer manager wraps errors
                raise StepError(f"cannot upload {path} to {target}: {err}") from err
            if copies is not None:
                copies.add(target.bucket, target.key, str(sent.get("ETag", "")), path)

        return task

    in_parallel([send(path) for path in paths])
    return len(paths)


class MultipartWriter:
    """Write one S3 object from a stream of chunks, multipart when it grows past one part.

    Nothing is visible in S3 until ``close()``; ``abort()`` removes the uploaded parts.
    """

    def __init__(
        self,
        s3: S3Client,
        uri: S3Uri,
        *,
        part_size: int = PART_SIZE,
        keep: tuple[Path, LocalCopies] | None = None,
    ) -> None:
        self._s3 = s3
        self._uri = uri
        self._part_size = part_size
        self._keep = keep  # where a single-part object is also kept for later steps
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.bytes_written = 0

    def write(self, data: bytes) -> None:
        """Append bytes; upload a part whenever a full one is buffered."""
        self._buffer += data
        self.bytes_written += len(data)
        if len(self._buffer) >= self._part_size:
            self._flush_part()

    def _flush_part(self) -> None:
        if self._upload_id is None:
            created = self._s3.create_multipart_upload(Bucket=self._uri.bucket, Key=self._uri.key)
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        part = self._s3.upload_part(
            Bucket=self._uri.bucket,
            Key=self._uri.key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=bytes(self._buffer),
        )
        self._parts.append({"ETag": part["ETag"], "PartNumber": number})
        self._buffer = bytearray()

    def close(self) -> None:
        """Make the object visible."""
        if self._upload_id is None:
            body = bytes(self._buffer)
            sent = self._s3.put_object(Bucket=self._uri.bucket, Key=self._uri.key, Body=body)
            self._buffer = bytearray()  # closes may wait in a queue: hold no bytes there
            if self._keep is not None:
                path, copies = self._keep
                path.write_bytes(body)
                copies.add(self._uri.bucket, self._uri.key, str(sent.get("ETag", "")), path)
            return
        if self._buffer:
            self._flush_part()
        self._s3.complete_multipart_upload(
            Bucket=self._uri.bucket,
            Key=self._uri.key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},  # type: ignore[typeddict-item]
        )

    def abort(self) -> None:
        """Drop everything written so far; no object appears."""
        self._buffer = bytearray()
        if self._upload_id is not None:
            self._s3.abort_multipart_upload(
                Bucket=self._uri.bucket, Key=self._uri.key, UploadId=self._upload_id
            )
            self._upload_id = None
