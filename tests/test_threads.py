"""Threads: idle OpenMP threads (numba's parallel kernels) sleep instead of spinning, and a part's process
keeps to its share of the cores. Each check runs in a fresh interpreter: OpenMP reads its settings once,
when it loads, and the share is process-wide."""

from __future__ import annotations

import os
import subprocess
import sys


def _run(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    result = subprocess.run(
        [sys.executable, "-c", code], env={**environ, **env}, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_importing_shotcraft_makes_idle_openmp_threads_sleep():
    assert _run("import os, shotcraft; print(os.environ['OMP_WAIT_POLICY'])") == "PASSIVE"


def test_a_wait_policy_the_user_set_is_kept():
    code = "import os, shotcraft; print(os.environ['OMP_WAIT_POLICY'])"
    assert _run(code, OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"


def test_a_share_of_the_cores_holds_for_every_thread_pool():
    code = (
        "from shotcraft.threads import cores_share, share_cores\n"
        "before = cores_share()\n"
        "share_cores(1)\n"
        "import os, cv2, numba\n"
        "print(before, cores_share(), cv2.getNumThreads(), numba.get_num_threads(), os.environ['OMP_NUM_THREADS'])"
    )
    assert _run(code).split() == ["0", "1", "1", "1", "1"]
