"""Ray nodes started with ``ray start`` for the tests that need a real cluster on loopback, each in its own
process group so stopping one stops everything it started, and nothing else."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
#: Ray 2.60 turns token authentication on for `ray start`; on loopback in a test every node would need the
#: same token file, so it is off for these throw-away clusters.
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled"}
#: What every node of a test cluster is started with.
COMMON = ["--node-ip-address", "127.0.0.1", "--disable-usage-stats", "--block"]


def stop_group(process: subprocess.Popen[bytes], *, at_once: bool = False) -> None:
    """Stop one `ray start --block` and everything it started (its own process group), and nothing else;
    ``at_once`` kills it without the grace a SIGTERM gives (a machine lost, and no waiting in a test)."""
    steps = ((signal.SIGKILL, 5),) if at_once else ((signal.SIGTERM, 15), (signal.SIGKILL, 5))
    for sig, wait in steps:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        time.sleep(1)  # its children leave after it


def start_node(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([RAY, "start", *args, *COMMON], env=ENV, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


class Head:
    """A one-node cluster (``ray start --head``) on a fixed loopback port: it can be stopped mid-test and
    started again at the same address, as a cluster that goes away and comes back."""

    def __init__(self, port: int, cpus: int):
        self.address, self.cpus = f"127.0.0.1:{port}", cpus
        # Short: Ray's unix sockets live under it, and socket paths are limited to ~107 characters.
        self.temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> None:
        """Start the head; with ``wait``, return once its address accepts connections."""
        port = self.address.rsplit(":", 1)[1]
        self.process = start_node("--head", "--port", port, "--include-dashboard", "false",
                                  "--num-cpus", str(self.cpus), "--temp-dir", self.temp)  # fmt: skip
        if wait:
            self.wait()

    def wait(self) -> None:
        deadline = time.monotonic() + 90
        while not self.answers():
            assert time.monotonic() < deadline, "the Ray head did not come up"
            time.sleep(0.5)

    def answers(self) -> bool:
        host, port = self.address.rsplit(":", 1)
        try:
            with socket.create_connection((host, int(port)), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """Kill the head: the cluster is gone at once (its Ray workers leave when their raylet dies)."""
        if self.process is not None:
            stop_group(self.process, at_once=True)
            self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.temp, ignore_errors=True)
