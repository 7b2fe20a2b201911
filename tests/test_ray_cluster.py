"""A real two-node Ray cluster on loopback (a head and one more node, each started with ``ray start``):
``shotcraft transform --ray ADDRESS`` renders its parts there and writes the one-process take."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.ray_nodes import ENV, start_node, stop_group
from tests.studio.conftest import free_port

from shotcraft.media.read import VideoReader
from shotcraft.media.synth import make_clip
from shotcraft.pipeline import transform
from shotcraft.spec import TransformSpec

pytest.importorskip("ray", reason="Ray is not installed (the 'scale' extra; make test installs it)")


@pytest.fixture
def two_nodes() -> Iterator[str]:
    # Short: Ray's unix sockets live under it, and socket paths are limited to ~107 characters.
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    address = f"127.0.0.1:{free_port()}"
    head = ["--head", "--port", address.split(":")[1], "--include-dashboard", "false", "--temp-dir", temp]
    started = [start_node(*head, "--num-cpus", "1")]
    try:
        time.sleep(5)
        started.append(start_node("--address", address, "--num-cpus", "1"))
        check = (
            f"import ray; ray.init(address='{address}', logging_level='ERROR'); assert len(ray.nodes()) == 2"
        )
        deadline = time.monotonic() + 90
        while subprocess.run([sys.executable, "-c", check], env=ENV, capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, "the two-node Ray cluster did not come up"
            time.sleep(2)
        yield address
    finally:
        for process in reversed(started):
            stop_group(process)
        shutil.rmtree(temp, ignore_errors=True)


def test_transform_on_a_two_node_cluster(two_nodes, tmp_path):
    source = make_clip(
        tmp_path / "bikes.mp4", frames=48, width=320, height=136, footage="bikes", audio_channels=2
    )
    spec = {"operations": [{"op": "restyle", "look": "cartoon"}], "output": {"segment_seconds": 0.25}}
    whole = transform(source, tmp_path / "whole.mp4", TransformSpec.model_validate(spec))
    out = tmp_path / "ray.mp4"
    cmd = [sys.executable, "-m", "shotcraft", "transform", str(source), "-o", str(out), "--look", "cartoon",
           "--segment-seconds", "0.25", "--ray", two_nodes, "--parallel", "4", "-q"]  # fmt: skip
    result = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(Path(f"{out}.json").read_text())["parts"] == 4
    pairs = zip(VideoReader(whole.path).frames(), VideoReader(out).frames(), strict=True)
    assert all(np.array_equal(a, b) for a, b in pairs)
