"""owned_processes ends every process started inside it, however the block ends: a process group
of its own (as Terraform runs), an orphan whose parent died first (as a provider whose Terraform
was killed), on a failure and on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from testbed.processes import Interrupted, Owned, owned_processes


def alive(pids: list[int]) -> list[int]:
    """Those of `pids` still running (zombies excluded)."""
    running = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                running.append(pid)
        except psutil.NoSuchProcess:
            continue
    return running


def test_a_failed_block_ends_its_process_groups_and_orphans() -> None:
    # GIVEN a block that starts a child in a session of its own, with a child of its own (as
    # Terraform and its provider), and an orphan (its parent exits at once, as a killed Terraform
    # leaves its provider)
    owned = Owned()
    started: list[int] = []
    with pytest.raises(RuntimeError), owned_processes(owned):
        group = subprocess.Popen(["sh", "-c", "sleep 60 & exec sleep 61"], start_new_session=True)
        orphaning = subprocess.run(["sh", "-c", "sleep 62 >/dev/null 2>&1 & echo $!"],
                                   capture_output=True, text=True, check=True)  # fmt: skip
        time.sleep(0.3)
        started = [group.pid, int(orphaning.stdout)]
        started += [child.pid for child in psutil.Process(group.pid).children()]
        assert len(alive(started)) == 3
        # WHEN the block fails
        raise RuntimeError("a phase failed")

    # THEN every one of them has ended, and the record names them
    assert alive(started) == []
    assert owned.stopped.count("sleep") == 3
    assert owned.describe() == "3 processes (sleep)"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGTERM to ourselves: Linux")
def test_sigterm_ends_the_block_as_a_ctrl_c() -> None:
    # GIVEN a block with a running child  WHEN the process receives SIGTERM
    with pytest.raises(Interrupted), owned_processes() as owned:
        child = subprocess.Popen(["sleep", "60"])
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
    # THEN the block ended as interrupted, and its child with it
    assert alive([child.pid]) == [] and owned.stopped == ["sleep"]
    assert signal.getsignal(signal.SIGTERM) is not None  # the previous handler is back
