"""Studio jobs on a local worker against the same jobs handed to Ray by the dispatcher (``serve --ray auto``).

    python bench/studio_ray.py            # 4 timed jobs per mode (relight, 48 frames at 320x240)
    python bench/studio_ray.py --runs 1   # a smoke test

Both modes run in this process on one SQLite store: ``local`` is a :class:`~shotcraft.studio.worker.Worker`,
``ray`` a :class:`~shotcraft.studio.cluster.RayDispatcher` on an in-process Ray cluster of 2 CPUs (the
source in the object store, the take back the same way). A first, uncounted job of each mode warms them up
(imports, numba; a Ray worker process per CPU); timed jobs alternate between modes, so load from other
work falls on each alike. A job's time runs from enqueueing to its take being registered; every job must
end with exactly one take.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from sqlalchemy import func, select

from shotcraft.media.synth import make_clip
from shotcraft.studio import jobs
from shotcraft.studio.cluster import RayDispatcher
from shotcraft.studio.models import Asset, Take
from shotcraft.studio.store import Store
from shotcraft.studio.worker import Worker

SPEC = {"operations": [{"op": "relight", "preset": "night"}]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="studio-ray-"))
    clip = make_clip(folder / "clip.mp4", frames=48, width=320, height=240, fps=Fraction(25), footage="bikes")
    store = Store.open(folder / "studio")
    key, _ = store.create_key("bench", max_concurrent_jobs=100)
    project = jobs.create_project(store, key.id, "bench")
    data = clip.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    store.blob_path(sha256).parent.mkdir(parents=True, exist_ok=True)
    store.blob_path(sha256).write_bytes(data)
    asset = Asset(project_id=project.id, owner_key_id=key.id, sha256=sha256, kind="video",
                  media_type="video/mp4", name=clip.name, size_bytes=len(data))  # fmt: skip
    with store.write() as s:
        s.add(asset)

    def one_job(runner: Worker) -> float:
        job = jobs.enqueue(store, key, project.id, "transform", SPEC, source_asset_id=asset.id)
        started = time.perf_counter()
        while store.job(job.id).state not in ("succeeded", "failed"):
            if not runner.run_once():
                time.sleep(0.02)
        took = time.perf_counter() - started
        with store.read() as s:
            takes = s.scalar(select(func.count()).select_from(Take).where(Take.job_id == job.id))
        assert store.job(job.id).state == "succeeded" and takes == 1, store.job(job.id).error
        return took

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    local = Worker(store, chunk_frames=64)
    started = time.perf_counter()
    ray = RayDispatcher(store, "auto", poll_seconds=0.02, chunk_frames=64)
    ray.run_once()  # connects: starts the in-process cluster
    print(f"starting an in-process Ray cluster: {time.perf_counter() - started:.1f} s")
    print(f"first job (uncounted): local {one_job(local):.2f} s, ray {one_job(ray):.2f} s")
    times: dict[str, list[float]] = {"local": [], "ray": []}
    for _ in range(args.runs):
        times["local"].append(one_job(local))
        times["ray"].append(one_job(ray))
    medians = {mode: statistics.median(values) for mode, values in times.items()}
    for mode, values in times.items():
        print(f"{mode:<6} median {medians[mode]:.2f} s per job  ({', '.join(f'{v:.2f}' for v in values)})")
    print(f"ray / local: {medians['ray'] / medians['local']:.2f}  (load average {os.getloadavg()[0]:.1f})")
    ray.close()


if __name__ == "__main__":
    main()
