"""The soak benchmark's memory reading: a process and everything below it, from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from benchmarks.soak import resident_bytes

# A child that holds 64 MiB of touched memory (bytes(n) of a non-zero fill cannot share zero pages).
HOLD = "import time; data = b'x' * (64 * 2**20); print(1, flush=True); time.sleep(30)"


def test_resident_memory_counts_the_children() -> None:
    before = resident_bytes(os.getpid())
    with subprocess.Popen([sys.executable, "-c", HOLD], stdout=subprocess.PIPE) as child:
        try:
            assert child.stdout is not None
            child.stdout.readline()  # the child touched its 64 MiB
            time.sleep(0.1)
            assert resident_bytes(os.getpid()) - before > 60 * 2**20
            assert resident_bytes(child.pid) > 60 * 2**20
        finally:
            child.kill()
