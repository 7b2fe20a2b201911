"""A transform split into parts (local processes) gives the same take as a one-process render: the same
video packets (so the same decoded frames, lossy codecs included), and the output contract (frame count,
timestamps, fps, audio packets) held exactly. The parts' segments are joined without decoding them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from tests.output_contract import check_contract, video_packets
from typer.testing import CliRunner

from shotcraft.cli import app
from shotcraft.executors import LocalExecutor, PartsJob, segment_name
from shotcraft.media.output_path import remove_stale_partials
from shotcraft.media.probe import probe
from shotcraft.media.read import VideoReader
from shotcraft.media.synth import make_clip
from shotcraft.pipeline import transform
from shotcraft.progress import Progress
from shotcraft.render import Part, clip_grid, render_part, slice_info
from shotcraft.signals.cache import FlowCache, clip_identity
from shotcraft.spec import TransformSpec

RELIGHT = {"operations": [{"op": "relight", "preset": "night", "light": {"azimuth": 60, "intensity": 0.6}}]}
CARTOON = {"operations": [{"op": "restyle", "look": "cartoon"}], "motion_adherence": 9}
LOSSLESS = {"format": "mp4_h264", "lossless": True}
#: A feathered lock under a grade that changes from frame to frame: its blend band follows it (not at the
#: widest the band may be, so a change shows).
LOCKED = {
    "operations": [{"op": "relight", "light": {"azimuth": 60, "intensity": 0.4}}],
    "locks": [{"kind": "rect", "x": 100, "y": 30, "width": 90, "height": 60, "feather": 4}],
}
#: The 30-frame clips below last 1.2 s: 0.3 s segments make 4 of them, so 3 parts can be made.
SHORT_SEGMENTS = {"segment_seconds": 0.3}


@pytest.fixture(scope="module")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real footage (bikes), short and small, with a stereo AAC track whose packets must come through."""
    folder = tmp_path_factory.mktemp("parts")
    return make_clip(
        folder / "bikes.mp4", frames=30, width=320, height=136, footage="bikes", audio_channels=2
    )


def _frames(path: Path) -> list[np.ndarray]:
    return list(VideoReader(path).frames())


class InProcess:
    """Parts rendered one after another in this process (cheap; and what this process decodes is seen)."""

    def render(self, job: PartsJob, progress: Progress) -> list[str]:
        return [
            render_part(job.source, job.spec, part, job.folder / segment_name(i), job.options)
            for i, part in enumerate(job.parts)
        ]


@pytest.mark.parametrize(
    ("spec", "output"),
    [(RELIGHT, {}), (CARTOON, LOSSLESS), (LOCKED, LOSSLESS)],
    ids=["relight-lossy", "cartoon-lossless", "feathered-lock-lossless"],
)
def test_parts_render_the_same_take_as_one_process(footage, tmp_path, spec, output):
    spec = TransformSpec.model_validate({**spec, "output": {**output, **SHORT_SEGMENTS}})
    whole = transform(footage, tmp_path / "whole.mp4", spec)
    split = transform(footage, tmp_path / "split.mp4", spec, parts=3, executor=LocalExecutor(2))
    assert split.frame_count == whole.frame_count == 30
    assert video_packets(split.path) == video_packets(whole.path)
    pairs = zip(_frames(whole.path), _frames(split.path), strict=True)
    assert all(np.array_equal(a, b) for a, b in pairs)
    check_contract(footage, split.path)
    assert json.loads(split.sidecar.read_text())["parts"] == 3
    # The parts were temporaries: only the two takes and their sidecars are left.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "split.mp4",
        "split.mp4.json",
        "whole.mp4",
        "whole.mp4.json",
    ]


def test_local_parts_run_on_their_share_of_the_cores_and_say_what_they_cost(footage, tmp_path):
    spec = TransformSpec.model_validate({**RELIGHT, "output": SHORT_SEGMENTS})
    with LocalExecutor(2) as executor:
        transform(footage, tmp_path / "split.mp4", spec, parts=2, executor=executor)
        costs, dispatched = executor.costs, executor.dispatched
    assert len(costs) == 2
    for cost in costs:
        assert cost.cores == max(1, (os.cpu_count() or 1) // 2)
        assert dispatched <= cost.started <= cost.finished
        assert 0 < cost.first_frame < cost.thread <= cost.cpu
        assert 0 < cost.frames < cost.thread


def test_a_look_part_needs_the_frame_before_it(footage, tmp_path):
    """Without its one frame of overlap, a part's first frame misses the previous frame's steadying pull."""
    spec = TransformSpec.model_validate({**CARTOON, "output": LOSSLESS})
    whole = _frames(transform(footage, tmp_path / "whole.mp4", spec).path)
    for overlap, same in ((0, False), (1, True)):
        segment = tmp_path / f"overlap{overlap}.mov"
        render_part(footage, spec, Part(10, 14, overlap), segment)
        assert np.array_equal(_frames(segment)[0], whole[10]) is same


def test_a_feathered_lock_part_needs_the_frames_before_it(footage, tmp_path):
    """The seam guard averages the grade over its last frames: a part renders them again before its start."""
    from shotcraft.finishing.locks import RAMP_FRAMES

    spec = TransformSpec.model_validate({**LOCKED, "output": LOSSLESS})
    whole = _frames(transform(footage, tmp_path / "whole.mp4", spec).path)
    for overlap, same in ((0, False), (RAMP_FRAMES - 1, True)):
        segment = tmp_path / f"overlap{overlap}.mov"
        render_part(footage, spec, Part(10, 14, overlap), segment)
        assert np.array_equal(_frames(segment)[0], whole[10]) is same


def test_a_look_with_shot_long_state_renders_as_one_part(footage, tmp_path):
    spec = TransformSpec.model_validate({"operations": [{"op": "restyle", "look": "pencil"}]})
    result = transform(footage, tmp_path / "pencil.mp4", spec, parts=2, executor=LocalExecutor(2))
    assert any("rendered as one part: the pencil look carries its grain" in n for n in result.notices)
    assert "parts" not in json.loads(result.sidecar.read_text())


def test_stale_parts_of_a_dead_process_are_removed(tmp_path):
    stale = tmp_path / ".take.partial-999999.parts"
    stale.mkdir()
    (stale / "part-00000.mov").write_bytes(b"x")
    (stale / ".part-00001.partial-999999.mov").write_bytes(b"x")
    kept = tmp_path / ".other.partial-999999.parts"
    kept.mkdir()
    (kept / "notes.txt").write_bytes(b"the user's")
    assert remove_stale_partials(tmp_path) == [stale]
    assert (kept / "notes.txt").exists()


def test_cli_parallel(footage, tmp_path):
    out = tmp_path / "cli.mp4"
    result = CliRunner().invoke(
        app,
        [
            "transform",
            str(footage),
            "-o",
            str(out),
            "--relight",
            "golden_hour",
            "--parallel",
            "2",
            "--segment-seconds",
            "0.5",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(Path(f"{out}.json").read_text())["parts"] == 2


def test_cli_ray_without_ray_says_how_to_install_it(footage, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)
    result = CliRunner().invoke(
        app,
        [
            "transform",
            str(footage),
            "-o",
            str(tmp_path / "r.mp4"),
            "--relight",
            "night",
            "--ray",
            "auto",
            "-q",
        ],
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].endswith("pip install 'shotcraft[scale]'")


def test_flow_cache_tells_parts_apart_and_gives_the_same_numbers_fresh_or_cached(footage, tmp_path):
    info = probe(footage)
    assert clip_identity(slice_info(info, 0, 10)) != clip_identity(slice_info(info, 10, 20))
    reader = VideoReader(footage)
    a, b = reader.frame_at(0), reader.frame_at(1)
    cache = FlowCache(info, root=tmp_path)
    fresh = cache.pair(0, a, b)
    cached = cache.get(0)
    assert np.array_equal(fresh.forward, cached.forward) and np.array_equal(fresh.backward, cached.backward)


OUTPUTS = [
    {},
    {"format": "mp4_h265"},
    {"format": "mov_prores"},
    {"format": "mp4_h264", "lossless": True},
]


@pytest.mark.parametrize("output", OUTPUTS, ids=["h264", "h265", "prores", "h264-lossless"])
def test_segments_are_joined_packet_for_packet_without_decoding(footage, tmp_path, monkeypatch, output):
    """Each segment starts on a keyframe of a fresh encoder where the one-process writer restarts its own;
    joining copies its packets and decodes nothing."""
    suffix = ".mov" if output.get("format") == "mov_prores" else ".mp4"
    spec = TransformSpec.model_validate({**RELIGHT, "output": {**output, **SHORT_SEGMENTS}})
    whole = transform(footage, tmp_path / f"whole{suffix}", spec)
    decoded: list[Path] = []
    av_frames = VideoReader.av_frames

    def seen(reader: VideoReader, *args, **kwargs):
        decoded.append(Path(reader.path))
        return av_frames(reader, *args, **kwargs)

    monkeypatch.setattr(VideoReader, "av_frames", seen)
    split = transform(footage, tmp_path / f"split{suffix}", spec, parts=3, executor=InProcess())
    assert decoded and all(path == footage for path in decoded)  # the parts decoded the source, nothing else
    assert json.loads(split.sidecar.read_text())["parts"] == 3
    packets = video_packets(split.path)
    assert packets == video_packets(whole.path)
    check_contract(footage, split.path)
    # A keyframe opens every segment of the grid, in display order.
    shown = sorted(packets, key=lambda p: p[0])
    starts = clip_grid(probe(footage).require_video(), spec.output).starts()[:-1]
    assert starts == [0, 8, 15, 23] and all(shown[i][2] for i in starts)


def test_rotated_variable_rate_clip_in_parts(tmp_path):
    """The source's own times (variable frame rate) and rotation tag come back on joined segments."""
    source = make_clip(
        tmp_path / "vfr.mp4", frames=24, width=96, height=64, vfr=True, rotation=90, audio_channels=2,
        footage="bikes",
    )  # fmt: skip
    spec = TransformSpec.model_validate({**RELIGHT, "output": {"segment_seconds": 0.2}})
    whole = transform(source, tmp_path / "whole.mp4", spec)
    split = transform(source, tmp_path / "split.mp4", spec, parts=2, executor=InProcess())
    assert json.loads(split.sidecar.read_text())["parts"] == 2
    assert video_packets(split.path) == video_packets(whole.path)
    check_contract(source, split.path)


def test_a_clip_of_one_encode_segment_renders_in_one_process(footage, tmp_path):
    """Parts are whole encode segments: 1.2 s holds one 2 s segment, so it is not split, and a notice says so."""
    spec = TransformSpec.model_validate(RELIGHT)
    result = transform(footage, tmp_path / "one.mp4", spec, parts=2, executor=InProcess())
    assert any("rendered as 1 part(s), not 2" in notice for notice in result.notices)
    assert "parts" not in json.loads(result.sidecar.read_text())
