"""The studio's jobs as Ray tasks on a real cluster on loopback (a head started with ``ray start``), the store
on PostgreSQL: one take per job, files the spec names shipped to the task, cancelling, and the cluster
stopped mid-job and started again."""

from __future__ import annotations

import json
import os
import signal
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from tests.ray_nodes import Head
from tests.studio.conftest import add_video_asset, free_port, wait_for

from shotcraft.media.read import VideoReader
from shotcraft.pipeline import transform
from shotcraft.spec import TransformSpec
from shotcraft.studio import jobs
from shotcraft.studio.models import Asset, Take

#: Long enough (a few seconds of rendering) to be caught mid-job.
SLOW = {"operations": [{"op": "relight", "preset": "night"}]}


@pytest.fixture(scope="module")
def head():
    pytest.importorskip("ray", reason="Ray is not installed (the 'scale' extra; make test installs it)")
    node = Head(free_port(), cpus=2)
    node.start()
    yield node
    node.remove()


@pytest.fixture
def ray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The processes a test starts reach the throw-away cluster without Ray's token (see tests/ray_nodes)."""
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")


@pytest.fixture(scope="module")
def long_clip(clip_factory) -> Path:
    return clip_factory("ray-long.mp4", frames=48, width=320, height=240, fps=Fraction(25), footage="bikes")


def _takes(store, job_id: str) -> list[Take]:
    with store.read() as s:
        return list(s.scalars(select(Take).where(Take.job_id == job_id)).all())


def _running_on_ray(store, job_id: str) -> bool:
    job = store.job(job_id)
    return job.state == "running" and job.lease_owner.startswith("ray:") and job.progress > 0


def _tasks_alive() -> list[int]:
    """Ray worker processes running a studio job now (Ray titles a busy worker ``ray::<task>``)."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and Path(f"/proc/{entry}/cmdline").read_bytes().startswith(
                b"ray::run_on_node"
            ):
                pids.append(int(entry))
        except OSError:
            continue
    return pids


def test_jobs_on_ray_one_take_each_and_a_cancelled_one_none(
    head, ray_env, store, secret, processes, tmp_path, tiny_clip, long_clip
):
    key = store.key_for_secret(secret)
    project = jobs.create_project(store, key.id, "ray")
    long_asset = add_video_asset(store, key, project.id, long_clip)
    asset = add_video_asset(store, key, project.id, tiny_clip)
    # A mask still (an image asset) the spec names: its bytes must reach the task.
    mask = np.zeros((48, 64), np.uint8)
    mask[8:32, 16:48] = 255
    mask_file = tmp_path / "mask.png"
    import cv2

    cv2.imwrite(str(mask_file), mask)
    mask_asset = add_video_asset(store, key, project.id, mask_file)
    with store.write() as s:
        s.get(Asset, mask_asset.id).kind = "image"
    spec = {
        **SLOW,
        "locks": [{"kind": "mask", "path": f"asset:{mask_asset.id}"}],
        "output": {"lossless": True},
    }
    doomed = jobs.enqueue(store, key, project.id, "transform", SLOW, source_asset_id=long_asset.id)
    job = jobs.enqueue(store, key, project.id, "transform", spec, source_asset_id=asset.id)

    storage = tmp_path / "storage"
    args = ["worker", "--home", str(store.home), "--ray", head.address, "--storage", storage.as_uri(),
            "--poll-seconds", "0.2"]  # fmt: skip
    processes.start(*args, log=tmp_path / "dispatcher.log")
    wait_for(lambda: _running_on_ray(store, doomed.id), 120, "the long job to run on Ray")
    jobs.request_cancel(store, doomed.id)

    final = wait_for(lambda: (j := store.job(job.id)).state in ("succeeded", "failed") and j, 120, "the job")
    assert final.state == "succeeded", final.error
    assert final.lease_owner.startswith("ray:")
    [take] = _takes(store, job.id)
    made = store.take_path(take)
    assert made.parent == store.job_output_dir(job.id) and take.frame_count == 12
    # The same frames as a one-process render with the mask: the task had the mask's bytes.
    local_spec = TransformSpec.model_validate({**spec, "locks": [{"kind": "mask", "path": str(mask_file)}]})
    whole = transform(tiny_clip, tmp_path / "whole.mp4", local_spec)
    pairs = zip(VideoReader(whole.path).frames(), VideoReader(made).frames(), strict=True)
    assert all(np.array_equal(a, b) for a, b in pairs)
    # Its record names the studio's files, not the node's copies.
    record = (store.home / take.info["sidecar"]).read_text()
    assert json.loads(record)["output"] == str(made) and "shotcraft-ray" not in record

    cancelled = wait_for(
        lambda: (j := store.job(doomed.id)).state in ("cancelled", "succeeded") and j, 60, "cancel"
    )
    assert cancelled.state == "cancelled" and _takes(store, doomed.id) == []
    assert not store.job_output_dir(doomed.id).exists()
    wait_for(lambda: not _tasks_alive(), 30, "the cancelled task's worker to end")
    left = lambda: [p for p in (storage / "outputs").rglob("*") if p.is_file()]  # noqa: E731
    wait_for(lambda: not left(), 10, "the storage's outputs to be removed")


def test_a_job_outlives_its_cluster_stopping_and_finishes_when_it_returns(
    head, ray_env, store, secret, processes, tmp_path, long_clip
):
    key = store.key_for_secret(secret)
    project = jobs.create_project(store, key.id, "ray")
    asset = add_video_asset(store, key, project.id, long_clip)
    job = jobs.enqueue(store, key, project.id, "transform", SLOW, source_asset_id=asset.id)
    log = tmp_path / "dispatcher.log"
    args = ["worker", "--home", str(store.home), "--ray", head.address, "--lease-seconds", "5",
            "--poll-seconds", "0.2", "--chunk-frames", "8"]  # fmt: skip
    processes.start(*args, log=log)
    wait_for(lambda: _running_on_ray(store, job.id), 120, "the job to run on Ray")

    head.stop()  # the whole cluster, mid-job
    back = wait_for(
        lambda: (j := store.job(job.id)).state != "running" and j, 60, "the job to be handed back"
    )
    assert back.state == "queued" and back.attempts == 0 and _takes(store, job.id) == []

    head.start()
    final = wait_for(lambda: (j := store.job(job.id)).state in ("succeeded", "failed") and j, 180, "the job")
    assert final.state == "succeeded", final.error
    assert [t.frame_count for t in _takes(store, job.id)] == [48]
    assert log.read_text().count(f"job {job.id} (transform) attempt 1 submitted to Ray") == 2


def test_serve_ray_hands_the_jobs_to_one_dispatcher(monkeypatch, tmp_path):
    """`serve --ray ADDRESS --storage URL` starts one `worker --ray ADDRESS --storage URL` beside the API."""
    pytest.importorskip("ray", reason="Ray is not installed (the 'scale' extra; make test installs it)")
    import uvicorn
    from typer.testing import CliRunner

    from shotcraft.cli import app
    from shotcraft.cli import studio as cli

    started = []
    monkeypatch.setattr(cli._Supervisor, "start", lambda self: started.append((self.command, self.count)))
    monkeypatch.setattr(cli._Supervisor, "stop", lambda self: None)
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # serve's SIGTERM handler is not for pytest
    storage = (tmp_path / "shared").as_uri()
    args = ["serve", "--home", str(tmp_path / "studio"), "--workers", "3", "--ray", "10.0.0.5:6379", "--storage",
            storage]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    [(command, count)] = started
    assert count == 1 and command[command.index("--ray") + 1] == "10.0.0.5:6379"
    assert command[command.index("--storage") + 1] == storage and (tmp_path / "shared").is_dir()


def test_serve_ray_without_ray_says_how_to_install(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from shotcraft.cli import app

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    result = CliRunner().invoke(app, ["serve", "--ray", "auto", "--home", str(tmp_path / "studio")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["error: --ray needs Ray: pip install 'shotcraft[scale]'"]
    assert not (tmp_path / "studio").exists()  # refused before anything started
