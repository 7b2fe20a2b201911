"""Outputs that cannot carry a rotation tag are written upright: PNG frames of a rotated clip are the frames
as a player shows them, whichever path (decoded frames or engine arrays) reaches the writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shotcraft.media.orientation import to_storage_pixels
from shotcraft.media.probe import probe
from shotcraft.media.read import VideoReader
from shotcraft.media.synth import footage_frames, make_clip
from shotcraft.media.write import VideoWriter
from shotcraft.pipeline import transform
from shotcraft.spec import OutputSpec

FRAMES, WIDTH, HEIGHT = 4, 96, 64
MARK = (255, 0, 0)
#: Where the stored frame's top-left corner is shown, by the clip's rotation tag. ffmpeg's autorotate reads
#: VideoFrame.rotation (counter-clockwise degrees) 90 as "transpose=cclock": a quarter turn anticlockwise.
SHOWN_TOP_LEFT = {0: "top-left", 90: "bottom-left", 180: "bottom-right", 270: "top-right"}


def marked_footage() -> list[np.ndarray]:
    """Real footage with a red 16x16 block in the stored frame's top-left corner (aligned to the 4:2:0 grid,
    so the colour survives the chroma subsampling)."""
    frames = [f.copy() for f in footage_frames("carphone", FRAMES, WIDTH, HEIGHT)]
    for frame in frames:
        frame[:16, :16] = MARK
    return frames


@pytest.fixture(scope="module")
def rotated_clips(tmp_path_factory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("rotated")
    return {
        rotation: make_clip(folder / f"r{rotation}.mp4", frames=FRAMES, width=WIDTH, height=HEIGHT,
                            rotation=rotation, lossless=True, content=iter(marked_footage()))
        for rotation in SHOWN_TOP_LEFT
    }  # fmt: skip


def corner(image: np.ndarray, where: str) -> np.ndarray:
    """The 8x8 patch inside the named corner of an image."""
    rows = slice(0, 8) if where.startswith("top") else slice(-8, None)
    cols = slice(0, 8) if where.endswith("left") else slice(-8, None)
    return image[rows, cols].reshape(-1, 3)


def is_mark(patch: np.ndarray) -> bool:
    return bool((np.abs(patch.astype(int) - MARK) < 24).all())


def read_pngs(folder: Path) -> list[np.ndarray]:
    return [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))]


@pytest.mark.parametrize("rotation", sorted(SHOWN_TOP_LEFT))
def test_png_frames_are_written_as_shown(rotated_clips, rotation, tmp_path):
    clip = rotated_clips[rotation]
    video = probe(clip).require_video()
    assert video.rotation == rotation
    result = transform(clip, tmp_path / "frames")
    written = read_pngs(result.path)
    assert len(written) == FRAMES
    for png, stored in zip(written, VideoReader(clip).frames(), strict=True):
        assert png.shape[1::-1] == video.display_size
        # The stored frame's marked corner is where a player shows it, and nowhere else.
        assert [c for c in SHOWN_TOP_LEFT.values() if is_mark(corner(png, c))] == [SHOWN_TOP_LEFT[rotation]]
        # Pixel for pixel the displayed frame, and in step with how plans turn display coordinates.
        assert np.array_equal(png, np.rot90(stored, k=rotation // 90))
        dw, dh = video.display_size
        for x, y in ((5, 3), (dw - 7, 11), (13, dh - 2)):
            ((sx, sy),) = to_storage_pixels([(x, y)], video)
            assert np.array_equal(png[y, x], stored[round(sy), round(sx)])
    upright = [n for n in result.notices if "written upright" in n]
    assert len(upright) == (1 if rotation else 0)


def test_engine_arrays_are_turned_too(rotated_clips, tmp_path):
    # Engines hand the writer RGB arrays in storage orientation; they come out as shown, like decoded frames.
    clip = rotated_clips[270]
    info = probe(clip)
    with VideoWriter(tmp_path / "frames", info, OutputSpec(format="png_sequence")) as writer:
        writer.write_all(VideoReader(clip).frames())
    assert any("written upright" in n for n in writer.notices)
    stored = list(VideoReader(clip).frames())
    written = read_pngs(tmp_path / "frames")
    assert [p.shape for p in written] == [(WIDTH, HEIGHT, 3)] * FRAMES
    assert all(np.array_equal(p, np.rot90(s, k=3)) for p, s in zip(written, stored, strict=True))
