"""`make demo` twice in one output directory: the time of each run, what it leaves on disk, and
whether any process it started outlived it.

    python -m bench.bench_demo [--rows N]

Disk is counted as `du` does (a file with several hard links once), and apparent sizes too.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]


def disk_bytes(path: Path) -> tuple[int, int]:
    """(bytes of disk blocks, apparent bytes) below `path`, each inode once."""
    seen: set[tuple[int, int]] = set()
    blocks = apparent = 0
    for root, _, files in os.walk(path):
        for name in files:
            info = os.lstat(Path(root) / name)
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            blocks += info.st_blocks * 512
            apparent += info.st_size
    return blocks, apparent


def tmp_entries() -> set[str]:
    """What the temporary directory holds (a run should add nothing)."""
    return set(os.listdir(tempfile.gettempdir()))


def run_demo(output: Path, rows: int) -> tuple[int, float, list[str]]:
    """One `python -m demo` run: exit code, seconds, processes of it still running after it."""
    started = time.monotonic()
    demo = subprocess.Popen(
        [sys.executable, "-m", "demo", "--rows", str(rows), "--output-dir", str(output)],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen: dict[int, float] = {}
    while demo.poll() is None:
        for child in psutil.Process(demo.pid).children(recursive=True):
            try:
                seen.setdefault(child.pid, child.create_time())
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.5)
    seconds = time.monotonic() - started
    left = []
    for pid, created in seen.items():
        try:
            process = psutil.Process(pid)
            if process.create_time() == created and process.status() != psutil.STATUS_ZOMBIE:
                left.append(process.name())
        except psutil.NoSuchProcess:
            continue
    return demo.returncode, seconds, left


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_demo", description=__doc__)
    parser.add_argument("--rows", type=int, default=5000, help="rows the demo scores")
    args = parser.parse_args()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as scratch:
        output = Path(scratch) / "demo-output"
        before = tmp_entries()
        for number in (1, 2):
            code, seconds, left = run_demo(output, args.rows)
            blocks, apparent = disk_bytes(output)
            failed += code != 0
            print(f"run {number}: exit {code}, {seconds:.1f} s (load average "
                  f"{os.getloadavg()[0]:.1f}); demo-output {blocks / 2**20:.1f} MiB on disk "
                  f"({apparent / 2**20:.1f} MiB apparent); processes left running: "
                  f"{', '.join(left) or 'none'}")  # fmt: skip
        added = sorted(tmp_entries() - before - {Path(scratch).name})
        print(f"left in {tempfile.gettempdir()}: {', '.join(added) or 'nothing'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
