"""A Processing step: inputs downloaded, the entrypoint run as a subprocess, outputs uploaded.

Container paths under ``/opt/ml/`` are mapped into the step's work directory, in the entrypoint,
the arguments, the Environment values and the input/output LocalPaths; ``python3`` runs as this
interpreter.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3

from pipelines.local.errors import StepError
from pipelines.local.s3io import (
    LocalCopies,
    S3Uri,
    download_object,
    download_prefix,
    list_manifest,
    list_prefix,
    s3_client,
    upload_dir,
)

PROCESSING_ROOT = "/opt/ml/processing/"
_CONTAINER_PATH = re.compile(r"(?<![^\s=:,])/opt/ml/")
_PYTHONS = ("python", "python3", "/usr/bin/python3", "/usr/local/bin/python3", "/usr/bin/python")
STDERR_TAIL_LINES = 8
MESSAGE_LIMIT = 1024


def map_path(value: str, root: Path) -> str:
    """Rewrite every ``/opt/ml/...`` path inside ``value`` to live under ``root``."""
    return _CONTAINER_PATH.sub(lambda _m: f"{root}/opt/ml/", value)


def _local(path: str, root: Path, what: str) -> Path:
    if not path.startswith(PROCESSING_ROOT):
        raise StepError(f"{what} LocalPath {path} must start with {PROCESSING_ROOT}")
    return Path(map_path(path, root))


def _download_inputs(
    s3: Any,
    inputs: list[dict[str, Any]],
    root: Path,
    host_index: int = 0,
    hosts: int = 1,
    copies: LocalCopies | None = None,
) -> None:
    for item in inputs:
        name = item.get("InputName", "?")
        source = item.get("S3Input")
        if source is None:
            raise StepError(f"input {name}: only S3Input is supported locally")
        if source.get("S3CompressionType", "None") != "None":
            raise StepError(f"input {name}: S3CompressionType Gzip needs Pipe mode (unsupported)")
        target = _local(source["LocalPath"], root, f"input {name}")
        target.mkdir(parents=True, exist_ok=True)
        uri = S3Uri.parse(source["S3Uri"])
        if source.get("S3DataType", "S3Prefix") == "ManifestFile":
            for obj in list_manifest(s3, uri):
                path = target / obj.relative
                path.parent.mkdir(parents=True, exist_ok=True)
                download_object(s3, obj, path, copies)
        elif source.get("S3DataDistributionType") == "ShardedByS3Key" and hosts > 1:
            objects = list_prefix(s3, uri)
            if not objects:
                raise StepError(f"input {name}: no objects under {uri}")
            # Each instance gets a share of the objects; which one is SageMaker's choice.
            for obj in objects[host_index::hosts]:
                path = target / obj.relative
                path.parent.mkdir(parents=True, exist_ok=True)
                download_object(s3, obj, path, copies)
        elif download_prefix(s3, uri, target, copies) == 0:
            raise StepError(f"input {name}: no objects under {uri}")


def _write_config(
    args: dict[str, Any], root: Path, job_name: str, host: str = "algo-1", hosts: int = 1
) -> None:
    config = root / "opt/ml/config"
    config.mkdir(parents=True, exist_ok=True)
    echo = {**args, "ProcessingJobName": job_name}
    for item in echo.get("ProcessingInputs", []):
        if "S3Input" in item:
            item["S3Input"] = {**item["S3Input"], "S3DownloadMode": "StartOfJob"}
    (config / "processingjobconfig.json").write_text(json.dumps(echo, indent=2))
    names = [f"algo-{index + 1}" for index in range(hosts)]
    resource = {"current_host": host, "hosts": names}
    (config / "resourceconfig.json").write_text(json.dumps(resource))


def _command(app: dict[str, Any], root: Path) -> list[str]:
    entrypoint = list(app.get("ContainerEntrypoint") or [])
    if not entrypoint:
        raise StepError(
            "AppSpecification has no ContainerEntrypoint; image defaults cannot run locally"
        )
    command = [map_path(str(part), root) for part in entrypoint]
    command += [map_path(str(part), root) for part in app.get("ContainerArguments") or []]
    if command[0] in _PYTHONS:
        command[0] = sys.executable
    return command


def _tail(path: Path) -> str:
    lines = path.read_text(errors="replace").strip().splitlines()
    return " | ".join(lines[-STDERR_TAIL_LINES:])[-1500:]


def _property_files(step: dict[str, Any], outputs: dict[str, Path]) -> dict[str, Any]:
    files: dict[str, Any] = {}
    for spec in step.get("PropertyFiles") or []:
        directory = outputs.get(spec.get("OutputName", ""))
        if directory is None:
            raise StepError(f"property file {spec.get('PropertyFileName')} names no output")
        path = directory / spec["FilePath"]
        try:
            files[spec["PropertyFileName"]] = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise StepError(
                f"property file {spec['FilePath']} is not readable JSON: {err}"
            ) from err
    return files


def instance_count(args: dict[str, Any]) -> int:
    """ProcessingResources.ClusterConfig.InstanceCount (1 when absent)."""
    cluster = (args.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    return int(cluster.get("InstanceCount", 1))


def session_environment(session: boto3.Session) -> dict[str, str]:
    """The session's credentials and region for a step's process (the job's role, locally)."""
    env: dict[str, str] = {}
    if session.region_name:
        env["AWS_DEFAULT_REGION"] = env["AWS_REGION"] = str(session.region_name)
    credentials = session.get_credentials()
    if credentials is not None:
        frozen = credentials.get_frozen_credentials()
        env["AWS_ACCESS_KEY_ID"] = str(frozen.access_key)
        env["AWS_SECRET_ACCESS_KEY"] = str(frozen.secret_key)
        if frozen.token:
            env["AWS_SESSION_TOKEN"] = str(frozen.token)
    return env


def run_processing(
    step: dict[str, Any],
    args: dict[str, Any],
    *,
    session: boto3.Session,
    step_dir: Path,
    job_name: str,
    upload_on_failure: bool,
    log: Callable[[str], None],
    copies: LocalCopies | None = None,
) -> dict[str, Any]:
    """Run one processing job, one process per instance in turn; return extra properties.

    Raise StepError when an instance fails. Instances see ``algo-1``..``algo-N`` in their
    resource config and their share of every ShardedByS3Key input; the first one's property
    files are the step's.
    """
    hosts = instance_count(args)
    extras = []
    for index in range(hosts):
        host = f"algo-{index + 1}"
        root = step_dir / ("container" if hosts == 1 else f"container-{host}")
        extras.append(
            _run_instance(
                step,
                args,
                session=session,
                root=root,
                logs=step_dir if hosts == 1 else root,
                job_name=job_name,
                host=(index, hosts),
                upload_on_failure=upload_on_failure,
                log=log,
                copies=copies,
            )
        )
    return extras[0]


def _run_instance(
    step: dict[str, Any],
    args: dict[str, Any],
    *,
    session: boto3.Session,
    root: Path,
    logs: Path,
    job_name: str,
    host: tuple[int, int],
    upload_on_failure: bool,
    log: Callable[[str], None],
    copies: LocalCopies | None = None,
) -> dict[str, Any]:
    s3 = s3_client(session)
    index, hosts = host
    _download_inputs(s3, args.get("ProcessingInputs") or [], root, index, hosts, copies)
    outputs: dict[str, Path] = {}
    for item in (args.get("ProcessingOutputConfig") or {}).get("Outputs", []):
        path = _local(item["S3Output"]["LocalPath"], root, f"output {item.get('OutputName')}")
        path.mkdir(parents=True, exist_ok=True)
        outputs[item["OutputName"]] = path
    _write_config(args, root, job_name, f"algo-{index + 1}", hosts)
    (root / "opt/ml/output").mkdir(parents=True, exist_ok=True)
    command = _command(args.get("AppSpecification") or {}, root)
    step_env = args.get("Environment") or {}
    env = {**os.environ, **session_environment(session)}
    env.update({k: map_path(str(v), root) for k, v in step_env.items()})
    logs.mkdir(parents=True, exist_ok=True)
    stdout, stderr = logs / "stdout.log", logs / "stderr.log"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        code = subprocess.run(
            command, stdout=out, stderr=err, env=env, cwd=root, check=False
        ).returncode
    message_file = root / "opt/ml/output/message"
    message = message_file.read_bytes()[:MESSAGE_LIMIT] if message_file.exists() else b""
    if code == 0 or upload_on_failure:
        for item in (args.get("ProcessingOutputConfig") or {}).get("Outputs", []):
            count = upload_dir(
                s3, outputs[item["OutputName"]], S3Uri.parse(item["S3Output"]["S3Uri"]), copies
            )
            log(f"  output {item['OutputName']}: {count} files -> {item['S3Output']['S3Uri']}")
    if code != 0:
        exit_message = message.decode("utf-8", errors="replace").strip()
        tail = _tail(stderr)
        parts = [exit_message] if exit_message else []
        if tail and tail not in exit_message:
            parts.append(f"stderr: {tail}")
        detail = "; ".join(parts) or "no message, empty stderr"
        raise StepError(f"script exited with {code}: {detail} (logs: {logs})")
    extra: dict[str, Any] = {"PropertyFiles": _property_files(step, outputs)}
    if message:
        extra["ExitMessage"] = message.decode("utf-8", errors="replace")
    return extra
