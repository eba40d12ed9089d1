"""Run a command; append its peak RSS and CPU seconds to a file (bench_local's step probe).

    python -m bench.peak_rss RECORD_FILE COMMAND...

Peak RSS comes from ``wait4`` (the child's ``ru_maxrss``). Linux carries a process's peak over
fork and exec, so the command runs under this small interpreter rather than under the large
local runner, whose size would otherwise be reported. Imports only the standard library.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def main(argv: list[str]) -> int:
    record, command = argv[0], argv[1:]
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    with open(record, "a", encoding="utf-8") as out:
        cpu = usage.ru_utime + usage.ru_stime
        figures = {"command": command[:2], "peak_rss_mb": usage.ru_maxrss / 1024, "cpu": cpu}
        out.write(json.dumps(figures))
        out.write("\n")
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
