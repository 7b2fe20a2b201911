"""The queue's guarantees: leases, stale-lease sweeps, bounded retries, cancellation, chunked resume."""

from __future__ import annotations

import time
from datetime import timedelta

import numpy as np
import pytest
from tests.output_contract import video_packets
from tests.studio.conftest import add_video_asset

from shotcraft.media.read import VideoReader
from shotcraft.pipeline import transform
from shotcraft.render import split_refusal
from shotcraft.spec import TransformSpec
from shotcraft.studio import jobs
from shotcraft.studio.chunks import ChunkedTransform
from shotcraft.studio.models import Job, utcnow

RELIGHT_LOCKED = {
    "operations": [{"op": "relight", "preset": "golden_hour"}],
    "locks": [{"kind": "rect", "x": 4, "y": 4, "width": 20, "height": 16}],
    "output": {"lossless": True},
}


@pytest.fixture
def key(store, secret):
    return store.key_for_secret(secret)


@pytest.fixture
def queued(store, key, tiny_clip):
    project = jobs.create_project(store, key.id, "q")
    asset = add_video_asset(store, key, project.id, tiny_clip)

    def make(spec=None, **kwargs):
        return jobs.enqueue(
            store, key, project.id, "transform", spec or {}, source_asset_id=asset.id, **kwargs
        )

    return make


def test_a_job_is_claimed_once_and_a_stale_lease_is_swept_back(store, queued):
    job = queued()
    first = jobs.claim(store, "a", lease_seconds=0.2)
    assert first.id == job.id and jobs.claim(store, "b", lease_seconds=5) is None
    time.sleep(0.3)  # worker "a" went silent
    second = jobs.claim(store, "b", lease_seconds=5)
    assert second.id == job.id and second.attempts == 2 and second.lease_token != first.lease_token
    with pytest.raises(jobs.LeaseLost):  # the old worker can no longer touch the job
        jobs.report_progress(store, first.lease_token, "render", 0.5)
    with pytest.raises(jobs.LeaseLost):
        jobs.finish(store, first.lease_token, [])
    assert jobs.heartbeat(store, second.lease_token, 5) is False


def test_out_of_attempts_fails_with_a_reason(store, queued):
    job = queued(max_attempts=1)
    jobs.claim(store, "a", lease_seconds=0.1)
    time.sleep(0.2)
    assert jobs.claim(store, "b", lease_seconds=5) is None
    final = store.job(job.id)
    assert final.state == "failed" and "stopped responding 1 times" in final.error


def test_bounded_retries_then_failure(store, queued):
    job = queued(max_attempts=2)
    token = jobs.claim(store, "a", 5).lease_token
    assert jobs.fail(store, token, "boom", retry=True) == "queued"
    assert jobs.claim(store, "a", 5) is None  # waits out its retry delay
    with store.write() as s:
        s.get(Job, job.id).run_after = utcnow() - timedelta(seconds=1)
    token = jobs.claim(store, "a", 5).lease_token
    assert jobs.fail(store, token, "boom again", retry=True) == "failed"
    assert store.job(job.id).error == "boom again"


def test_cancel_a_running_job_stops_it_at_its_next_step(store, queued, worker, monkeypatch):
    job = queued(RELIGHT_LOCKED)
    monkeypatch.setattr("shotcraft.studio.worker.PROGRESS_INTERVAL", 0.0)
    report = jobs.report_progress

    def cancel_midway(store_, token, stage, progress):  # the user presses Cancel a third of the way in
        if progress > 0.3:
            jobs.request_cancel(store_, job.id)
        return report(store_, token, stage, progress)

    monkeypatch.setattr(jobs, "report_progress", cancel_midway)
    assert worker.run_once()
    final = store.job(job.id)
    assert final.state == "cancelled" and final.progress < 1 and final.finished_at is not None
    assert not store.job_output_dir(job.id).exists() and not store.job_work_dir(job.id).exists()


def test_user_errors_fail_at_once_without_retry(store, queued, worker):
    job = queued({"keyframes": [{"at": {"frame": 500}, "image": "/nowhere.png"}]})
    assert worker.run_once()
    final = store.job(job.id)
    assert final.state == "failed" and final.attempts == 1 and "frame 500" in final.error


def test_chunked_relight_matches_one_pass_and_resumes(tiny_clip, tmp_path):
    # Lossy, in 0.12 s encode segments: the 12 frames (0.48 s) make 4 segments of 3 frames, and chunks of at
    # most 5 frames hold one each. The chunks' packets are joined as they are: the one-pass file's packets.
    spec = TransformSpec.model_validate({**RELIGHT_LOCKED, "output": {"segment_seconds": 0.12}})
    assert split_refusal(spec) is None
    whole = transform(tiny_clip, tmp_path / "whole.mp4", spec)
    chunked = ChunkedTransform(tiny_clip, tmp_path / "chunked.mp4", spec, tmp_path / "work", chunk_frames=5)
    # Interrupt after the first chunk, as a dying worker would.
    calls = []

    def interrupt(stage, done, total):
        calls.append(done)
        if stage == "render" and done > 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        chunked.run(interrupt, attempt=1)
    assert list(chunked.manifest()["chunks"]) == ["0"]
    result = chunked.run(attempt=2)
    attempts = {k: v["attempt"] for k, v in chunked.manifest()["chunks"].items()}
    assert attempts == {"0": 1, "1": 2, "2": 2, "3": 2}
    assert result.frame_count == whole.frame_count == 12
    assert video_packets(result.path) == video_packets(whole.path)
    pairs = zip(VideoReader(whole.path).frames(), VideoReader(result.path).frames(), strict=True)
    assert all(np.array_equal(a, b) for a, b in pairs)


def test_specs_that_follow_the_clip_over_time_are_not_chunked():
    assert "keyframes" in split_refusal(
        TransformSpec.model_validate({"keyframes": [{"at": {"frame": 0}, "image": "k.png"}]})
    )
    assert "track" in split_refusal(
        TransformSpec.model_validate({"locks": [{"kind": "track", "box": [0, 0, 4, 4]}]})
    )
    assert split_refusal(TransformSpec.model_validate({"locks": [{"kind": "mask", "path": "m.png"}]})) is None
    assert (
        split_refusal(TransformSpec.model_validate({"locks": [{"kind": "mask", "path": "m.mp4"}]}))
        is not None
    )
