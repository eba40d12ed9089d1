"""`make bench`: every benchmark in turn, each printing its own figures."""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = (
    "bench.bench_promotion",
    "bench.bench_images",
    "bench.bench_pipeline",
    "bench.bench_local",
    "bench.bench_quality",
    "bench.bench_trigger",
    "bench.bench_demo",
)


def main() -> int:
    failed = 0
    for module in BENCHMARKS:
        print(f"\n=== {module} ===", flush=True)
        failed += subprocess.run([sys.executable, "-m", module], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
