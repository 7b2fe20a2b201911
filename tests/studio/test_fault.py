"""Kill a worker in the middle of a job: a new worker finishes it from its last finished chunk, and the
job has exactly one output."""

from __future__ import annotations

import json
import os
import signal

from sqlalchemy import select
from tests.studio.conftest import add_video_asset, start_serve_with_worker, wait_for

from shotcraft.media.probe import probe
from shotcraft.studio import jobs
from shotcraft.studio.models import Take

CHUNK = 25


def test_killed_worker_job_resumes_from_its_last_chunk(store, secret, bikes, processes, tmp_path):
    key = store.key_for_secret(secret)
    project = jobs.create_project(store, key.id, "fault")
    asset = add_video_asset(store, key, project.id, bikes)
    spec = {
        "operations": [{"op": "relight", "preset": "night"}],
        "locks": [{"kind": "rect", "x": 0, "y": 0, "width": 200, "height": 100}],
        "output": {
            "segment_seconds": 1
        },  # 8 encode segments of 31-32 frames: a chunk of CHUNK frames holds one
    }
    job = jobs.enqueue(store, key, project.id, "transform", spec, source_asset_id=asset.id)
    args = [
        "worker",
        "--home",
        str(store.home),
        "--lease-seconds",
        "2",
        "--poll-seconds",
        "0.1",
        "--chunk-frames",
        str(CHUNK),
    ]
    manifest = store.job_work_dir(job.id) / "chunks.json"

    first = processes.start(*args, log=tmp_path / "worker1.log")
    wait_for(lambda: manifest.exists() and json.loads(manifest.read_text())["chunks"], 90, "the first chunk")
    first.send_signal(signal.SIGKILL)
    first.wait()
    done_at_kill = set(json.loads(manifest.read_text())["chunks"])  # what the dead worker left behind
    assert store.job(job.id).state == "running"  # still leased to the dead worker

    processes.start(*args, log=tmp_path / "worker2.log")
    final = wait_for(
        lambda: (j := store.job(job.id)).state in ("succeeded", "failed") and j, 120, "the job to finish"
    )
    assert final.state == "succeeded", final.error
    assert final.attempts == 2

    with store.read() as s:
        takes = s.scalars(select(Take).where(Take.job_id == job.id)).all()
    assert len(takes) == 1
    outputs = [p for p in store.job_output_dir(job.id).iterdir() if p.suffix == ".mp4"]
    assert outputs == [store.take_path(takes[0])]
    sidecar = json.loads((store.home / takes[0].info["sidecar"]).read_text())
    attempts = sidecar["chunk_attempts"]
    assert len(attempts) == 8
    kept = {str(i) for i, a in enumerate(attempts) if a == 1}
    assert kept == done_at_kill and 1 <= len(kept) < 8  # nothing finished was redone
    assert all(a == 2 for i, a in enumerate(attempts) if str(i) not in kept)
    video = probe(outputs[0]).video
    assert video.frame_count == 250 and video.fps == 25
    assert not store.job_work_dir(job.id).exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stopping_serve_stops_its_workers(store, processes, tmp_path):
    """SIGTERM to ``serve`` (what a service manager sends) ends its worker processes too, rather than
    leaving them running with no supervisor."""
    store.close()
    server, worker_pid = start_serve_with_worker(store, processes, tmp_path / "serve.log")
    server.send_signal(signal.SIGTERM)
    try:
        # 143 (128 + SIGTERM) is serve exiting after a clean shutdown; -15 would be the signal killing it.
        assert server.wait(timeout=30) == 128 + signal.SIGTERM
        assert not _alive(worker_pid), f"worker {worker_pid} outlived serve"
    finally:
        if _alive(worker_pid):  # never leak it, whatever the outcome
            os.kill(worker_pid, signal.SIGKILL)
