"""Parts as Ray tasks on an in-process Ray cluster (2 CPUs): the same take as a one-process render, and a
worker killed mid-part costs a retry, not the take."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from tests.output_contract import check_contract, video_packets

from shotcraft.executors import RayExecutor
from shotcraft.media.read import VideoReader
from shotcraft.media.synth import make_clip
from shotcraft.pipeline import transform
from shotcraft.spec import TransformSpec

ray = pytest.importorskip("ray", reason="Ray is not installed (the 'scale' extra; make test installs it)")

#: The 48-frame clip lasts 1.92 s: 0.25 s encode segments make 8 of them, enough for 4 parts.
SEGMENTS = {"segment_seconds": 0.25}
RELIGHT = {"operations": [{"op": "relight", "preset": "golden_hour"}], "output": SEGMENTS}
CARTOON = {"operations": [{"op": "restyle", "look": "cartoon"}], "output": {"lossless": True, **SEGMENTS}}


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ray")
    return make_clip(
        folder / "bikes.mp4", frames=48, width=320, height=136, footage="bikes", audio_channels=2
    )


def _same_frames(a: Path, b: Path) -> bool:
    pairs = zip(VideoReader(a).frames(), VideoReader(b).frames(), strict=True)
    return all(np.array_equal(x, y) for x, y in pairs)


@pytest.fixture(scope="module")
def minute(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60 s clip (small and at 4 fps, so the suite stays quick) with stereo audio: 32 encode segments of the
    default 2 s grid."""
    folder = tmp_path_factory.mktemp("ray-minute")
    return make_clip(
        folder / "minute.mp4", frames=240, fps=4, width=192, height=80, footage="bikes", audio_channels=2
    )


@pytest.mark.parametrize("spec", [RELIGHT, CARTOON], ids=["relight", "cartoon"])
def test_ray_parts_render_the_same_take_as_one_process(cluster, minute, tmp_path, spec):
    output = {key: value for key, value in spec["output"].items() if key != "segment_seconds"}
    spec = TransformSpec.model_validate({**spec, "output": output})
    whole = transform(minute, tmp_path / "whole.mp4", spec)
    split = transform(minute, tmp_path / "ray.mp4", spec, parts=4, executor=RayExecutor())
    assert split.frame_count == whole.frame_count == 240
    assert video_packets(split.path) == video_packets(whole.path)
    assert _same_frames(whole.path, split.path)
    check_contract(minute, split.path)
    assert json.loads(split.sidecar.read_text())["parts"] == 4


def test_a_spec_naming_files_ships_them_with_the_parts(cluster, footage, tmp_path):
    """A still mask lock: its bytes travel to the tasks through the object store, not as a path."""
    import cv2

    mask = np.zeros((136, 320), np.uint8)
    mask[20:100, 40:200] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    # Feathered (the default): the blend band follows the grade over the last frames (SeamGuard), which
    # each part renders again in its overlap.
    lock = {"kind": "mask", "path": str(tmp_path / "mask.png")}
    spec = TransformSpec.model_validate({**RELIGHT, "locks": [lock]})
    whole = transform(footage, tmp_path / "whole.mp4", spec)
    split = transform(footage, tmp_path / "ray.mp4", spec, parts=2, executor=RayExecutor())
    assert json.loads(split.sidecar.read_text())["parts"] == 2
    assert _same_frames(whole.path, split.path)


def _part_workers() -> list[int]:
    """Ray worker processes running a part now (Ray titles a busy worker ``ray::<task>``)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"ray::_render_on_node"):
                pids.append(int(entry))
    return pids


def test_a_worker_killed_mid_part_is_retried_and_the_take_is_whole(cluster, footage, tmp_path):
    spec = TransformSpec.model_validate(CARTOON)
    whole = transform(footage, tmp_path / "whole.mp4", spec)
    killed: list[int] = []
    done = threading.Event()

    def kill_one() -> None:
        while not done.is_set() and not killed:
            pids = _part_workers()
            if pids:
                time.sleep(0.5)  # let it get into the part
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one)
    killer.start()
    try:
        split = transform(footage, tmp_path / "ray.mp4", spec, parts=2, executor=RayExecutor(max_retries=2))
    finally:
        done.set()
        killer.join()
    assert killed, "no part was running to kill"
    assert _same_frames(whole.path, split.path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ray.mp4",
        "ray.mp4.json",
        "whole.mp4",
        "whole.mp4.json",
    ]


def test_cli_ray(cluster, footage, tmp_path):
    from typer.testing import CliRunner

    from shotcraft.cli import app

    out = tmp_path / "cli.mp4"
    args = ["transform", str(footage), "-o", str(out), "--relight", "night", "--ray", "auto", "-q"]
    args += ["--segment-seconds", "0.5"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(Path(f"{out}.json").read_text())["parts"] == 2  # one part per CPU of the cluster
