"""The general case: clips and settings nobody tuned for, through every classic operation.

Each kind of clip (other frame rates, several audio tracks and codecs in MP4/MOV/MKV, rotation, odd
sizes, 10-bit, VFR, 1-3 frames, non-ASCII names and prompts) goes through each classic operation
(identity, relight with a rect lock, restyle with a keyframe, product swap with corners, a people lock),
and the output contract is checked by numbers (:mod:`output_contract`), plus what each operation
promises: identity and locks exact on lossless output, the keyframe hit exactly, the swap on the right
pixels. Every coordinate and still is given as a player shows the clip (display orientation), so the
rotated clips check that rule end to end.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from output_contract import check_contract, display_frames
from shotcraft.errors import EngineUnavailable, MediaError
from shotcraft.media.orientation import to_storage_pixels, to_storage_points, to_storage_rect
from shotcraft.media.probe import probe
from shotcraft.media.synth import make_clip
from shotcraft.pipeline import transform
from shotcraft.plan import plan_transform
from shotcraft.spec import SpecError, TransformSpec

W, H, FRAMES = 96, 64, 12
LOSSLESS = {"format": "mp4_h264", "lossless": True, "preset": "ultrafast"}


@dataclass(frozen=True)
class Kind:
    """One kind of clip: how to make it, and its file suffix."""

    name: str
    suffix: str = ".mp4"
    make: dict[str, Any] = field(default_factory=dict)
    prompt: str = ""


KINDS = [
    Kind("23.976", make={"fps": Fraction(24000, 1001), "audio_codecs": ("aac",)}),
    Kind("24", make={"fps": Fraction(24), "audio_codecs": ("aac",), "audio_channels": 1}),
    Kind("29.97", make={"fps": Fraction(30000, 1001), "audio_codecs": ("aac", "aac")}),
    Kind("50", make={"fps": Fraction(50)}),
    Kind("59.94", make={"fps": Fraction(60000, 1001), "audio_codecs": ("aac",)}),
    Kind("60", make={"fps": Fraction(60), "audio_codecs": ("aac",)}),
    Kind("mov-aac-pcm", ".mov", {"audio_codecs": ("aac", "pcm_s16le")}),
    Kind("mkv-pcm-opus", ".mkv", {"fps": Fraction(30000, 1001), "audio_codecs": ("pcm_s16le", "libopus")}),
    Kind("rot90", make={"rotation": 90, "audio_codecs": ("aac",)}),
    Kind("rot180", make={"rotation": 180}),
    Kind("rot270", ".mkv", {"rotation": 270, "audio_codecs": ("libopus",)}),
    Kind("odd-95x63", make={"width": 95, "height": 63, "pix_fmt": "yuv444p"}),
    Kind("10bit", make={"pix_fmt": "yuv420p10le", "audio_codecs": ("aac",)}),
    Kind("vfr", make={"vfr": True, "audio_codecs": ("aac",)}),
    Kind("1-frame", make={"frames": 1, "audio_codecs": ("aac",)}),
    Kind("2-frames", make={"frames": 2}),
    Kind("3-frames", make={"frames": 3, "audio_codecs": ("aac",)}),
    Kind("unicode", make={"audio_codecs": ("aac",)}, prompt="夜の雨の街, neon — مطر ليلي, बारिश"),
]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("general")
    made = {}
    for kind in KINDS:
        settings = {"frames": FRAMES, "width": W, "height": H, **kind.make}
        name = (
            f"clip {kind.name} ünï 日本{kind.suffix}"
            if kind.name == "unicode"
            else f"{kind.name}{kind.suffix}"
        )
        made[kind.name] = make_clip(folder / name, **settings)
    return made


def _shown_size(path: Path) -> tuple[int, int]:
    return probe(path).require_video().display_size


def _rect(path: Path) -> tuple[int, int, int, int]:
    """A lock rectangle in the displayed frame's top-left quarter (off-centre, so a wrong turn shows)."""
    dw, dh = _shown_size(path)
    return dw // 8, dh // 10, dw // 3, dh // 4


def _spec(kind: Kind, data: dict[str, Any]) -> TransformSpec:
    if kind.prompt and data.get("operations"):
        data = {**data, "prompt": kind.prompt}
    return TransformSpec.model_validate({**data, "output": LOSSLESS})


# ---------------------------------------------------------------------------------------------------------
# The operations, each with what it promises beyond the contract


def identity(kind: Kind, source: Path, folder: Path) -> tuple[TransformSpec, Callable[[Path], None]]:
    def promise(output: Path) -> None:
        for out, src in zip(display_frames(output), display_frames(source), strict=True):
            assert np.array_equal(out, src)

    return _spec(kind, {}), promise


def relight_rect_lock(kind: Kind, source: Path, folder: Path) -> tuple[TransformSpec, Callable[[Path], None]]:
    x, y, w, h = _rect(source)
    spec = _spec(
        kind,
        {
            "operations": [{"op": "relight", "preset": "night"}],
            "locks": [{"kind": "rect", "x": x, "y": y, "width": w, "height": h, "feather": 2}],
        },
    )

    def promise(output: Path) -> None:
        for out, src in zip(display_frames(output), display_frames(source), strict=True):
            assert np.array_equal(out[y : y + h, x : x + w], src[y : y + h, x : x + w])
            # The night grade darkened what is not locked (below the lock, clear of its feather).
            assert out[y + h + 4 :].mean() < src[y + h + 4 :].mean() * 0.7

    return spec, promise


def restyle_keyframe(kind: Kind, source: Path, folder: Path) -> tuple[TransformSpec, Callable[[Path], None]]:
    frames = display_frames(source)
    at = len(frames) // 2
    key = 255 - frames[at]  # painted on the frame as shown
    key_path = folder / f"key-{kind.name}.png"
    Image.fromarray(key).save(key_path)
    spec = _spec(kind, {"keyframes": [{"at": {"frame": at}, "image": str(key_path)}]})

    def promise(output: Path) -> None:
        assert np.array_equal(display_frames(output)[at], key)

    return spec, promise


def swap_corners(kind: Kind, source: Path, folder: Path) -> tuple[TransformSpec, Callable[[Path], None]]:
    dw, dh = _shown_size(source)
    x0, y0, x1, y1 = dw // 4, dh // 4, dw * 3 // 4, dh * 3 // 4
    art = np.zeros((40, 60, 3), np.uint8)
    art[:, :30] = (250, 20, 20)  # red on the left half, blue on the right, as shown
    art[:, 30:] = (20, 20, 250)
    art_path = folder / f"art-{kind.name}.png"
    Image.fromarray(art).save(art_path)
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    spec = _spec(
        kind,
        {"operations": [{"op": "swap", "image": str(art_path), "corners": corners, "match_lighting": False}]},
    )

    def promise(output: Path) -> None:
        out, src = display_frames(output)[0], display_frames(source)[0]
        mid = (y0 + y1) // 2
        left, right = out[mid, x0 + 3].astype(int), out[mid, x1 - 4].astype(int)
        assert left[0] > 200 and left[2] < 60, left
        assert right[2] > 200 and right[0] < 60, right
        outside = np.ones((dh, dw), bool)
        outside[y0 - 1 : y1 + 2, x0 - 1 : x1 + 2] = False
        assert np.array_equal(out[outside], src[outside])

    return spec, promise


def people_lock(kind: Kind, source: Path, folder: Path) -> tuple[TransformSpec, Callable[[Path], None]]:
    spec = _spec(
        kind, {"operations": [{"op": "relight", "preset": "blue_hour"}], "locks": [{"kind": "people"}]}
    )
    return spec, lambda output: None  # no people in the pattern: the contract is the check


OPERATIONS = [identity, relight_rect_lock, restyle_keyframe, swap_corners, people_lock]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.__name__)
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_operation_keeps_the_output_contract(
    kind: Kind, operation: Callable, clips: dict[str, Path], tmp_path: Path
) -> None:
    source = clips[kind.name]
    spec, promise = operation(kind, source, tmp_path)
    output = tmp_path / f"out {kind.name}{source.suffix}"
    try:
        result = transform(source, output, spec)
    except EngineUnavailable as exc:
        if operation is people_lock:
            pytest.skip(f"people lock unavailable: {exc}")
        raise
    check_contract(source, output)
    promise(output)
    # The sidecar keeps the spec exactly as the user gave it (display coordinates, unicode prompt).
    record = json.loads(result.sidecar.read_text(encoding="utf-8"))
    assert record["spec"] == spec.model_dump(mode="json")
    assert Fraction(record["fps"]) == probe(source).require_video().fps


# ---------------------------------------------------------------------------------------------------------
# Display orientation in detail


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_display_points_and_rects_land_on_the_same_pixels(rotation: int, tmp_path: Path) -> None:
    """Each mapping agrees with turning the displayed frame back with ``np.rot90`` (what a player undoes)."""
    clip = make_clip(tmp_path / "r.mp4", frames=1, width=W, height=H, rotation=rotation)
    video = probe(clip).require_video()
    dw, dh = video.display_size
    k = rotation // 90
    x, y, w, h = 5, 9, 20, 30
    shown = np.zeros((dh, dw), np.uint8)
    shown[y : y + h, x : x + w] = 1
    stored = np.rot90(shown, -k)
    sx, sy, sw, sh = to_storage_rect(x, y, w, h, video)
    expected = np.zeros((H, W), np.uint8)
    expected[sy : sy + sh, sx : sx + sw] = 1
    assert np.array_equal(stored, expected)
    # Pixel centres (polygons) and continuous points (corners) map the same pixel to the same place.
    ((px, py),) = to_storage_pixels([(x, y)], video)
    assert stored[round(py), round(px)] == 1 and shown[y, x] == 1
    ((cx, cy),) = to_storage_points([(x + 0.5, y + 0.5)], video)
    assert (cx - 0.5, cy - 0.5) == (px, py)


def test_rotated_polygon_and_mask_locks_are_exact_where_shown(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "rot.mp4", frames=6, width=W, height=H, rotation=90, audio_codecs=("aac",))
    dw, dh = _shown_size(clip)  # 64 x 96
    mask = np.zeros((dh, dw), np.uint8)
    mask[60:90, 30:60] = 255  # bottom-right as shown
    mask_path = tmp_path / "mask.png"
    Image.fromarray(mask).save(mask_path)
    polygon = [(2, 2), (30, 2), (30, 40), (2, 40)]  # top-left as shown, pixel centres
    spec = TransformSpec.model_validate(
        {
            "operations": [{"op": "relight", "preset": "night"}],
            "locks": [
                {"kind": "polygon", "points": polygon, "feather": 0},
                {"kind": "mask", "path": str(mask_path), "feather": 0},
            ],
            "output": LOSSLESS,
        }
    )
    out = tmp_path / "out.mp4"
    transform(clip, out, spec)
    check_contract(clip, out)
    for o, s in zip(display_frames(out), display_frames(clip), strict=True):
        assert np.array_equal(o[2:41, 2:31], s[2:41, 2:31])
        assert np.array_equal(o[60:90, 30:60], s[60:90, 30:60])
        assert o[45:55].mean() < s[45:55].mean() * 0.7


def test_rotated_track_box_follows_the_region_shown(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "rot.mp4", frames=8, width=W, height=H, rotation=270)
    box = (8, 10, 24, 30)  # as shown (64 wide, 96 tall)
    spec = TransformSpec.model_validate(
        {
            "operations": [{"op": "relight", "preset": "night"}],
            "locks": [{"kind": "track", "box": box, "feather": 0}],
            "output": LOSSLESS,
        }
    )
    out = tmp_path / "out.mp4"
    transform(clip, out, spec)
    x, y, w, h = box
    first_out, first_src = display_frames(out)[0], display_frames(clip)[0]
    # On the reference frame the box is the region itself: exact there, darkened well outside it.
    assert np.array_equal(first_out[y : y + h, x : x + w], first_src[y : y + h, x : x + w])
    assert first_out[60:].mean() < first_src[60:].mean() * 0.7


def test_rotated_light_comes_from_the_side_shown(tmp_path: Path) -> None:
    """A light 'from the top' brightens the top of the frame as a player shows it, whatever the rotation."""
    grey = (np.full((H, W, 3), 110, np.uint8) for _ in range(2))
    clip = make_clip(tmp_path / "grey.mp4", frames=2, width=W, height=H, rotation=90, content=grey)
    light = {"azimuth": 90, "elevation": 0, "colour": (1, 1, 1), "intensity": 1.5, "softness": 1}
    spec = TransformSpec.model_validate(
        {"operations": [{"op": "relight", "light": light}], "output": LOSSLESS}
    )
    out = tmp_path / "lit.mp4"
    transform(clip, out, spec)
    shown = display_frames(out)[0].astype(float)
    third = shown.shape[0] // 3
    # (The light is graded inside the tone curve, as a preset's key: the top is ~19 levels brighter here.)
    assert shown[:third].mean() > shown[-third:].mean() + 12
    # Left and right as shown stay balanced: the light is not from the side.
    half = shown.shape[1] // 2
    assert abs(shown[:, :half].mean() - shown[:, half:].mean()) < 5


def test_reframe_aspect_and_anchor_are_meant_as_shown(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "rot.mp4", frames=1, width=W, height=H, rotation=90)  # shown 64x96
    spec = TransformSpec.model_validate({"prompt": "x", "reframe": {"aspect": "1:1", "anchor": "right"}})
    canvas = plan_transform(clip, spec).canvas
    assert canvas is not None
    # Shown: a 96x96 canvas with the 64-wide frame against its right edge. Stored, that edge is the bottom.
    assert (canvas.width, canvas.height, canvas.x, canvas.y) == (96, 96, 0, 32)


def test_mask_of_the_wrong_size_names_the_shown_size(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "rot.mp4", frames=2, width=W, height=H, rotation=90)
    Image.fromarray(np.zeros((50, 50), np.uint8)).save(tmp_path / "m.png")
    spec = TransformSpec.model_validate({"locks": [{"kind": "mask", "path": str(tmp_path / "m.png")}]})
    with pytest.raises(SpecError, match="50x50 but the clip is 64x96 as shown"):
        plan_transform(clip, spec)


# ---------------------------------------------------------------------------------------------------------
# Default (lossy) output into each container


#: (audio codec, source container suffix, output suffix) the writer cannot copy today, and why.
def _container_cases() -> list[Any]:
    return [
        pytest.param(kind, suffix, id=f"{kind.name}->{suffix}")
        for kind in KINDS
        for suffix in (".mp4", ".mov", ".mkv")
    ]


@pytest.mark.parametrize(("kind", "suffix"), _container_cases())
def test_default_output_into_each_container(
    kind: Kind, suffix: str, clips: dict[str, Path], tmp_path: Path
) -> None:
    """What users run most: a relight with default settings (lossy H.264, or ProRes for .mov). Audio the
    container cannot hold is refused in one plain sentence, with nothing left behind."""
    source = clips[kind.name]
    spec = TransformSpec.model_validate({"operations": [{"op": "relight", "preset": "golden_hour"}]})
    output = tmp_path / f"take{suffix}"
    try:
        transform(source, output, spec)
    except MediaError as exc:
        assert not list(tmp_path.iterdir())
        assert "cannot be copied" in str(exc) and "partial" not in str(exc), str(exc)
        return
    check_contract(source, output)


# ---------------------------------------------------------------------------------------------------------
# People on a rotated clip


def test_people_are_found_upright_on_a_rotated_clip(tmp_path: Path) -> None:
    """The person model sees frames as shown: a phone clip stored sideways gets the same people mask."""
    pytest.importorskip("cv2")
    from skimage import data

    from shotcraft.media.read import VideoReader
    from shotcraft.signals.masks import lock_masks

    try:
        from shotcraft.signals.mediapipe_models import SELFIE_MODEL, model_path

        model_path(SELFIE_MODEL)
    except EngineUnavailable as exc:
        pytest.skip(str(exc))
    photo = np.asarray(Image.fromarray(data.astronaut()).resize((160, 160)))
    masks = {}
    for rotation in (0, 90, 270):
        stored = np.ascontiguousarray(np.rot90(photo, -(rotation // 90)))
        clip = make_clip(
            tmp_path / f"p{rotation}.mp4", frames=2, width=160, height=160, rotation=rotation,
            lossless=True, content=iter([stored, stored]),
        )  # fmt: skip
        plan = plan_transform(
            clip, TransformSpec.model_validate({"locks": [{"kind": "people", "feather": 0}]})
        )
        last = list(lock_masks(plan, VideoReader(clip)))[-1]
        masks[rotation] = np.rot90(last, rotation // 90) > 0.5

    def iou(a: np.ndarray, b: np.ndarray) -> float:
        return float((a & b).sum() / (a | b).sum())

    # The stored frames are chroma-subsampled in another orientation, so the edge-fitted masks differ by a
    # pixel along the outline (0.945-0.946 at 90 and 270 degrees); a mask turned the wrong way overlaps 0.29
    # (measured), which is what this test is for.
    for rotation in (90, 270):
        assert iou(masks[rotation], masks[0]) > 0.92, rotation
        assert iou(np.rot90(masks[rotation], 2), masks[0]) < 0.8, rotation
