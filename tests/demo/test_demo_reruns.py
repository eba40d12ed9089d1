"""`make demo` as a newcomer runs it: interrupted while Terraform runs, then twice in a row in the
same output directory. Each run is its own process (`python -m demo`), as from a shell."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parents[2]
PROVIDER = "terraform-provider-aws"
# What legitimately differs between two runs: ports, times, ids, durations, padding.
_VARYING = [
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    (re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+(\+00:00|Z)?"), "TIME"),
    # moto's execution ids: 12 lowercase letters or digits, letters only about once in 50 runs
    # (a word of 12 letters becomes ID in both runs alike)
    (re.compile(r"\b[a-z0-9]{12}\b"), "ID"),
    (re.compile(r"\d+(\.\d+)? ?s\b"), "N s"),
    (re.compile(r"\b\d+\.\d\d\b"), "N"),  # seconds in the steps' table
    (re.compile(r"[ -]+"), " "),
]


# `python -m demo` with SIGINT at Python's default, as in a terminal's foreground job: a test run
# started in the background (`make test &`, some CI runners) hands its children SIGINT ignored,
# which Python keeps, so Ctrl-C would never reach the demo.
_AS_FROM_A_TERMINAL = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('demo', run_name='__main__', alter_sys=True)"
)


def demo(output: Path) -> subprocess.Popen[str]:
    """`python -m demo` in a process group of its own (as a shell's job)."""
    command = [sys.executable, "-c", _AS_FROM_A_TERMINAL]
    command += ["--rows", "300", "--output-dir", str(output)]
    return subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip


def story(stdout: str) -> str:
    """The run's output with what varies between runs masked."""
    for pattern, replacement in _VARYING:
        stdout = pattern.sub(replacement, stdout)
    return stdout


def started_by(process: subprocess.Popen[str], seen: dict[int, tuple[float, str]]) -> None:
    """Record the process's descendants (pid -> creation time, name)."""
    for child in psutil.Process(process.pid).children(recursive=True):
        try:
            seen.setdefault(child.pid, (child.create_time(), child.name()))
        except psutil.NoSuchProcess:
            continue


def survivors(seen: dict[int, tuple[float, str]]) -> list[str]:
    """Those of `seen` still running (same pid and creation time)."""
    alive = []
    for pid, (created, name) in seen.items():
        try:
            process = psutil.Process(pid)
            if process.create_time() == created and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{name} ({pid})")
        except psutil.NoSuchProcess:
            continue
    return alive


def test_an_interrupted_demo_leaves_nothing_running_and_two_runs_in_a_row_tell_one_story(
    tmp_path: Path,
) -> None:
    output = tmp_path / "demo-output"
    # GIVEN a demo whose Terraform is applying pre-prod (its provider is running)
    first = demo(output)
    seen: dict[int, tuple[float, str]] = {}
    deadline = time.monotonic() + 600
    try:
        while not any(name.startswith(PROVIDER) for _, name in seen.values()):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the demo never started the AWS provider"
            started_by(first, seen)
            time.sleep(0.2)
        time.sleep(1)
        started_by(first, seen)

        # WHEN Ctrl-C is pressed (SIGINT to the terminal's foreground process group)
        pressed = time.monotonic()
        os.killpg(first.pid, signal.SIGINT)
        _, stderr = first.communicate(timeout=60)
        seconds = time.monotonic() - pressed
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()

    # THEN it ended within seconds, said so in one line, and nothing it started runs any more:
    # not Terraform, not the provider
    assert first.returncode == 130, stderr
    assert seconds < 20, seconds
    assert stderr.strip().splitlines()[-1].startswith("python -m demo: interrupted; stopped")
    assert PROVIDER in stderr
    assert survivors(seen) == []
    assert not (output / "terraform").exists()

    # WHEN the demo runs twice more in the same output directory
    runs = []
    for _ in range(2):
        run = demo(output)
        stdout, stderr = run.communicate(timeout=900)
        runs.append((run.returncode, stdout, stderr))

    # THEN both pass and tell the same story, and leave only their outputs behind
    assert [code for code, _, _ in runs] == [0, 0], [err[-2000:] for _, _, err in runs]
    assert story(runs[0][1]) == story(runs[1][1])
    assert "rollback" in runs[1][1]
    # ... each stage deployed by the real Terraform: the whole module first, then the rollback
    # replacing the model and updating what refers to it (tags name the version); and the
    # status reads what Terraform deployed: pre-prod runs the rolled-back version
    printed = runs[1][1]
    assert "terraform (pre-prod): 20 to add, 0 to change, 0 to destroy" in printed
    assert "terraform (prod): 20 to add, 0 to change, 0 to destroy" in printed
    assert re.search(r"terraform \(pre-prod\): 1 to add, \d+ to change, 1 to destroy", printed)
    status = printed[printed.index("Status of pre-prod (account") :]
    for resource in ("pipeline breast-cancer-classifier-pre-prod-batch-inference [Active]",
                     "schedule breast-cancer-classifier-pre-prod-batch-inference [ENABLED "
                     "cron(0 3 * * ? *)]"):  # fmt: skip
        model = r"breast-cancer-classifier-pre-prod-v1-[0-9a-f]{8}"
        assert re.search(f"{re.escape(resource)}: model {model} -> version 2 "
                         r"\(source version 1\)", status), status  # fmt: skip
    assert sorted(p.name for p in output.iterdir()) == [
        ".made-by-demo", "build", "daily", "evidence", "kinds", "predictions.csv",
    ]  # fmt: skip
