"""Bounded load on loopback: N concurrent clients create small jobs and poll them to the end.

Starts ``shotcraft serve`` (API + workers) on a free 127.0.0.1 port with a fresh studio folder, then
checks that no request failed and no job was lost or duplicated, and prints API latency percentiles
per request type, with the ratio against ``GET /api/health`` measured in the same run::

    .venv/bin/python bench/api_load.py --clients 50 --workers 2
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import httpx


@dataclass
class LoadReport:
    clients: int
    jobs_created: list[str] = field(default_factory=list)
    states: dict[str, str] = field(default_factory=dict)
    takes_per_job: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    seconds: float = 0.0

    def percentile(self, name: str, q: float) -> float:
        values = sorted(self.latencies[name])
        return values[min(len(values) - 1, round(q * (len(values) - 1)))] * 1000

    def summary(self) -> str:
        base = statistics.median(self.latencies["health"]) * 1000
        lines = [
            f"{self.clients} clients, {len(self.jobs_created)} jobs in {self.seconds:.1f} s, {len(self.errors)} errors"
        ]
        lines.append(f"{'request':<12}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}{'p50/health':>12}")
        for name in ("health", "create", "poll", "takes"):
            if self.latencies[name]:
                p50 = self.percentile(name, 0.5)
                lines.append(
                    f"{name:<12}{len(self.latencies[name]):>7}{p50:>9.1f}{self.percentile(name, 0.95):>9.1f}{p50 / base:>12.1f}"
                )
        return "\n".join(lines)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _client(
    base: str,
    headers: dict[str, str],
    body: dict,
    jobs: int,
    report: LoadReport,
    lock: threading.Lock,
    timeout: float,
) -> None:
    def timed(name: str, method: str, url: str, **kwargs) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = http.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            with lock:
                report.errors.append(f"{name}: {exc!r}")
            return None
        with lock:
            report.latencies[name].append(time.perf_counter() - started)
            if response.status_code >= 400:
                report.errors.append(f"{name}: HTTP {response.status_code} {response.text[:200]}")
        return response

    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        timed("health", "GET", "/api/health")
        for _ in range(jobs):
            created = timed("create", "POST", "/api/jobs", json=body)
            if created is None or created.status_code != 202:
                continue
            job_id = created.json()["id"]
            with lock:
                report.jobs_created.append(job_id)
            deadline = time.monotonic() + timeout
            state = "queued"
            while time.monotonic() < deadline:
                polled = timed("poll", "GET", f"/api/jobs/{job_id}")
                if polled is not None and polled.status_code == 200:
                    state = polled.json()["state"]
                    if state in ("succeeded", "failed", "cancelled"):
                        break
                time.sleep(0.2)
            takes = timed(
                "takes", "GET", f"/api/projects/{body['project_id']}/takes", params={"job_id": job_id}
            )
            with lock:
                report.states[job_id] = state
                report.takes_per_job[job_id] = (
                    len(takes.json()) if takes is not None and takes.status_code == 200 else -1
                )


def run_load(
    clients: int = 50,
    jobs_per_client: int = 1,
    workers: int = 2,
    timeout: float = 120.0,
    home: Path | None = None,
) -> LoadReport:
    """Run the load against a fresh server; the server and its workers are always stopped afterwards."""
    from shotcraft.media.synth import make_clip
    from shotcraft.studio.store import Store

    home = Path(home or tempfile.mkdtemp(prefix="shotcraft-load-"))
    store = Store.open(home / "studio")
    secret = store.create_key("load", max_concurrent_jobs=clients * jobs_per_client)[1]
    store.close()
    clip = make_clip(home / "small.mp4", frames=8, width=64, height=48, fps=Fraction(25), footage="bikes")
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "shotcraft",
        "serve",
        "--home",
        str(home / "studio"),
        "--host",
        "127.0.0.1",
    ]
    command += ["--port", str(port), "--workers", str(workers)]
    log = open(home / "server.log", "wb")  # noqa: SIM115 - closed in the finally below
    server = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {secret}"}
    report = LoadReport(clients)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"the server did not start; see {home / 'server.log'}")
            time.sleep(0.2)
        with httpx.Client(base_url=base, headers=headers) as http:
            project = http.post("/api/projects", json={"name": "load"}).json()
            asset = http.post(
                f"/api/projects/{project['id']}/assets",
                params={"filename": "small.mp4"},
                content=clip.read_bytes(),
            ).json()
        # The lightest transform that changes something (one that changes nothing is refused).
        spec = {"operations": [{"op": "relight", "exposure": 0.5}]}
        body = {
            "project_id": project["id"],
            "kind": "transform",
            "source_asset_id": asset["id"],
            "spec": spec,
        }
        lock = threading.Lock()
        threads = [
            threading.Thread(
                target=_client, args=(base, headers, body, jobs_per_client, report, lock, timeout)
            )
            for _ in range(clients)
        ]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        report.seconds = time.perf_counter() - started
        with httpx.Client(base_url=base, headers=headers) as http:
            listed = [j["id"] for j in http.get(f"/api/projects/{project['id']}/jobs").json()]
        if sorted(listed) != sorted(report.jobs_created):
            report.errors.append(
                f"the server lists {len(listed)} jobs, the clients created {len(report.jobs_created)}"
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the workers it started
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--jobs-per-client", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    report = run_load(args.clients, args.jobs_per_client, args.workers)
    print(report.summary())
    bad = [j for j, s in report.states.items() if s != "succeeded" or report.takes_per_job[j] != 1]
    print(
        f"jobs not succeeded with exactly one take: {len(bad)}; unique job ids: {len(set(report.jobs_created))}"
    )
    for error in report.errors[:10]:
        print("error:", error)


if __name__ == "__main__":
    main()
