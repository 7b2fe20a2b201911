"""Diffusion windows on Ray actors that keep the model loaded (an in-process cluster of 2 CPUs, the tiny
models): the frames of a one-process render, one load for every window of two jobs, and an actor killed
mid-window restarted with its window run again."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from tests.diffusion.conftest import use_tiny_models

from shotcraft import executors
from shotcraft.errors import EngineUnavailable
from shotcraft.executors import RayExecutor
from shotcraft.media.read import VideoReader
from shotcraft.pipeline import transform
from shotcraft.spec import TransformSpec

ray = pytest.importorskip("ray", reason="Ray is not installed (the 'scale' extra; make test installs it)")

SPEC = {
    "prompt": "a red car at night", "engine": "diffusion", "model": "wan2.1-vace-1.3b", "seed": 7,
    "output": {"lossless": True},
}  # fmt: skip


@pytest.fixture(scope="module")
def settings(tiny_models: Path) -> Iterator[None]:
    """The tiny models, with 9-frame windows: 17 frames at the model's 16 fps are 3 windows."""
    with pytest.MonkeyPatch.context() as patch:
        use_tiny_models(patch, tiny_models)
        patch.setenv("SHOTCRAFT_WINDOW", "9")
        yield


@pytest.fixture(scope="module")
def cluster(settings: None, tiny_models: Path) -> Iterator[None]:
    # An actor's process finds the weights through its node's environment, as on a real cluster.
    env = {"SHOTCRAFT_MODELS": str(tiny_models)}
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
             runtime_env={"env_vars": env})  # fmt: skip
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def executor(cluster: None) -> Iterator[RayExecutor]:
    """One executor for the module: its actor (one, on a CPU) starts once, as a studio's would."""
    ex = RayExecutor(max_retries=2)
    yield ex
    ex.window_runner.close()


@pytest.fixture(scope="module")
def clip(clip_factory) -> Path:
    return clip_factory("actors.mp4", frames=17, width=32, height=32, fps=Fraction(16), footage="bikes")


@pytest.fixture(scope="module")
def in_process(settings: None, clip: Path, tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    """The take's frames rendered in this process, on one thread as a CPU actor (Ray gives it one core):
    CPU sums come out in the last bit differently on 1 and 2 threads, and a frame by one level."""
    import torch

    out = tmp_path_factory.mktemp("local") / "local.mp4"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _frames(transform(clip, out, TransformSpec.model_validate(SPEC)).path)
    finally:
        torch.set_num_threads(threads)


def _frames(path: Path) -> list[np.ndarray]:
    return list(VideoReader(path).frames())


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_actor_windows_match_this_process_and_load_the_model_once(
    executor, clip, in_process, tmp_path, monkeypatch
):
    from typer.testing import CliRunner

    from shotcraft.cli import app

    before = sum(s["windows"] for s in executor.window_runner.stats())
    first = transform(clip, tmp_path / "api.mp4", TransformSpec.model_validate(SPEC), executor=executor)
    # The second job comes through the CLI's --ray, handed this executor so its actor's loads add up.
    monkeypatch.setattr(executors, "RayExecutor", lambda address: executor)
    out = tmp_path / "cli.mp4"
    args = ["transform", str(clip), "-o", str(out), "--prompt", SPEC["prompt"], "--engine", "diffusion",
            "--model", SPEC["model"], "--seed", "7", "--lossless", "--ray", "auto", "-q"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert _same(_frames(first.path), in_process)
    assert _same(_frames(out), in_process)
    assert "the Ray cluster has no GPU: windows generated on one CPU actor" in first.notices
    [stats] = executor.window_runner.stats()
    assert stats["loads"] == 1 and stats["windows"] - before == 6 and stats["device"] == "cpu"
    # weights missing where the actor runs: the one line a user can act on, not the actor's traceback
    spec = TransformSpec.model_validate({**SPEC, "model": "wan2.1-vace-14b"})
    with pytest.raises(EngineUnavailable, match="wan2.1-vace-14b") as missing:
        transform(clip, tmp_path / "big.mp4", spec, executor=executor)
    assert "\n" not in str(missing.value)


def _actor_process() -> int:
    """The process of the one window actor (Ray titles it ``ray::WindowActor``, with ``.run`` while in a
    window)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/cmdline").read_bytes().startswith(b"ray::WindowActor"):
                    return int(entry)
            except OSError:
                continue
    raise AssertionError("no window actor is running")


def test_an_actor_killed_mid_window_is_restarted_and_the_window_run_again(
    executor, clip, in_process, tmp_path
):
    killed: list[int] = []
    started, done = threading.Event(), threading.Event()

    def kill_in_a_window() -> None:
        started.wait()
        pid = _actor_process()
        while not done.is_set() and not killed:
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::WindowActor.run"):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            except OSError:
                return
            time.sleep(0.001)

    def progress(stage: str, finished: int, total: int) -> None:
        if stage == "window":
            started.set()  # the actor is up and has its model: kill it in one of the later windows

    killer = threading.Thread(target=kill_in_a_window)
    killer.start()
    try:
        result = transform(clip, tmp_path / "ray.mp4", TransformSpec.model_validate(SPEC), executor=executor,
                           progress=progress)  # fmt: skip
        stats = executor.window_runner.stats()
    finally:
        done.set()
        started.set()
        killer.join()
    assert killed, "no window was running to kill"
    assert _same(_frames(result.path), in_process)
    # the restarted actor loaded the model again and ran the killed window and any after it
    assert stats[0]["loads"] == 1 and stats[0]["windows"] < 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ray.mp4", "ray.mp4.json"]
