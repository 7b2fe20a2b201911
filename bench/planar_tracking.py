"""Planar tracking accuracy and speed: shotcraft's tracker against OpenCV's box trackers (CSRT, KCF) and a
per-frame feature-matching baseline (SIFT to the reference, MAGSAC homography, no memory), in one run.

    python bench/planar_tracking.py            # the hard ground truth (640x360, 120 frames) and the bikes plate
    python bench/planar_tracking.py --quick    # the bikes plate (and its robustness rows) and the leaving card only

The ground truth is :func:`shotcraft.media.synth.planar_scene`: a label swinging at up to 40 px per frame
over bikes.mp4, motion-blurred, under changing light, partly behind a pole, hidden on frames 70-77 and leaving
the picture at the end. The bikes plate is shot 1 (frames 0-27): corners given by hand on frame 0, scored against the plate's
outline measured on every frame (``tests/data/bikes_plate.json``, :func:`plate_errors`; while it leaves the
picture, the corners still in it). Per method: median and 95th percentile of the mean corner error and of the
centre error (px) on the frames where the surface is visible (synthetic: half of it or more; the plate: any
of it, frames 0-13; the leaving card: its corners in the picture, every frame) and the method reports it, the share of those frames it reports, how many frames where the surface is gone it still reports, and frames
per second (shotcraft's includes decoding the clip, which it reads itself; the others get decoded
frames). Box trackers give no corners: only their centre error is defined.

Robustness (shotcraft only): the bikes plate again, its frames changed as another decoder, a re-encode, grain or a
grade would change them (:data:`PERTURBATIONS`): per change, the median and worst corner error on frames 1-13,
the frames it is followed on among those where the plate shows, those it is reported on after it is gone, and
the tracker's CPU seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import av
import cv2
import numpy as np
from av.video.reformatter import Interpolation
from skimage import data

from shotcraft.media import read
from shotcraft.media.probe import VideoInfo
from shotcraft.media.read import VideoReader
from shotcraft.media.synth import footage_frames, leaving_card_scene, make_clip, planar_scene
from shotcraft.signals.track import track_region

PLATE = Path(__file__).resolve().parents[1] / "tests" / "data" / "bikes_plate.json"
#: What a method returns per frame: four corners, or a box's four corners (centre only is meaningful), or None.
Result = list[np.ndarray | None]


def shotcraft_tracker(clip: Path, frames: list[np.ndarray], corners: np.ndarray) -> Result:
    track = track_region(VideoReader(clip), corners, 0)
    return [track.corners_at(i) for i in range(len(frames))]


def per_frame_sift(clip: Path, frames: list[np.ndarray], corners: np.ndarray) -> Result:
    """Every frame matched to the reference alone: SIFT, Lowe's ratio test, MAGSAC homography."""
    sift = cv2.SIFT_create(nfeatures=2000)
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    region = np.zeros(grey[0].shape, np.uint8)
    cv2.fillConvexPoly(region, np.round(corners).astype(np.int32), 1)
    ref_kp, ref_desc = sift.detectAndCompute(grey[0], region)
    ref_pts = np.array([k.pt for k in ref_kp], np.float32)
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    out: Result = [corners]
    for image in grey[1:]:
        kp, desc = sift.detectAndCompute(image, None)
        found = None
        if desc is not None and len(kp) >= 10:
            pairs = matcher.knnMatch(ref_desc, desc, k=2)
            good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.75 * p[1].distance]
            if len(good) >= 10:
                src = ref_pts[[m.queryIdx for m in good]]
                dst = np.array([kp[m.trainIdx].pt for m in good], np.float32)
                h, mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, 3.0)
                if h is not None and mask.sum() >= 10:
                    found = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), h).reshape(4, 2)
        out.append(found)
    return out


def box_tracker(make: Callable[[], cv2.Tracker]) -> Callable[[Path, list[np.ndarray], np.ndarray], Result]:
    def run(clip: Path, frames: list[np.ndarray], corners: np.ndarray) -> Result:
        tracker = make()
        x0, y0 = corners.min(axis=0)
        x1, y1 = corners.max(axis=0)
        tracker.init(frames[0][..., ::-1].copy(), (int(x0), int(y0), int(x1 - x0), int(y1 - y0)))
        out: Result = [corners]
        for frame in frames[1:]:
            ok, (x, y, w, h) = tracker.update(frame[..., ::-1].copy())
            out.append(np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float64) if ok else None)
        return out

    return run


METHODS: dict[str, tuple[Callable[[Path, list[np.ndarray], np.ndarray], Result], bool]] = {
    "shotcraft": (shotcraft_tracker, True),
    "per-frame SIFT": (per_frame_sift, True),
    "CSRT (box)": (box_tracker(cv2.TrackerCSRT_create), False),
    "KCF (box)": (box_tracker(cv2.TrackerKCF_create), False),
}


#: Scores one reported frame: (mean corner error or None, centre error or None), or None where there is no truth.
Score = Callable[[int, np.ndarray, bool], tuple[float | None, float | None] | None]


def evaluate(
    clip: Path, reference: np.ndarray, score: Score, visible: np.ndarray, gone: np.ndarray
) -> dict[str, dict[str, float]]:
    frames = list(VideoReader(clip).frames())
    results = {}
    for name, (method, quads) in METHODS.items():
        start = time.perf_counter()
        found = method(clip, frames, reference)
        fps = (len(frames) - 1) / (time.perf_counter() - start)
        corner, centre = [], []
        for index in range(1, len(frames)):
            scored = None if found[index] is None else score(index, found[index], quads)
            if scored is not None:
                corner += [] if scored[0] is None else [scored[0]]
                centre += [] if scored[1] is None else [scored[1]]
        reported = np.array([f is not None for f in found])
        results[name] = {
            "corner_median": float(np.median(corner)) if corner else float("nan"),
            "corner_p95": float(np.percentile(corner, 95)) if corner else float("nan"),
            "centre_median": float(np.median(centre)) if centre else float("nan"),
            "tracked_share": float(reported[visible].mean()),
            "reported_when_gone": int(reported[gone].sum()),
            "fps": fps,
        }
    return results


def hard_scene(folder: Path) -> tuple[Path, np.ndarray, Score, np.ndarray, np.ndarray]:
    label = cv2.resize(data.coffee(), (160, 120), interpolation=cv2.INTER_AREA)
    scene = planar_scene(label, footage_frames("bikes", 120, 640, 360), 120)
    clip = make_clip(folder / "scene.mp4", frames=120, width=640, height=360, content=iter(scene.frames))
    seen = scene.visible >= 0.5

    def score(index: int, found: np.ndarray, quad: bool) -> tuple[float | None, float | None] | None:
        if not seen[index]:
            return None
        truth = scene.corners[index]
        corner = float(np.linalg.norm(found - truth, axis=1).mean()) if quad else None
        return corner, float(np.linalg.norm(found.mean(axis=0) - truth.mean(axis=0)))

    return clip, scene.corners[0], score, seen, scene.visible == 0


def leaving_card(folder: Path) -> tuple[Path, np.ndarray, Score, np.ndarray, np.ndarray]:
    """A plain card sliding out through the bottom edge (:func:`leaving_card_scene`): the corners still in the
    picture are scored, on every frame (whole on 0-9, then 90 % down to a quarter of it in the picture)."""
    scene = leaving_card_scene(next(footage_frames("bikes", 1, 320, 240)))
    clip = make_clip(folder / "card.mp4", frames=len(scene.frames), width=320, height=240,
                     content=iter(scene.frames), lossless=True)  # fmt: skip

    def score(index: int, found: np.ndarray, quad: bool) -> tuple[float | None, float | None] | None:
        truth = scene.corners[index]
        inside = truth[:, 1] < 240
        corner = float(np.linalg.norm(found - truth, axis=1)[inside].mean()) if quad else None
        return corner, float(np.linalg.norm(found.mean(axis=0) - truth.mean(axis=0)))

    return clip, scene.corners[0], score, scene.visible > 0, scene.visible == 0


def plate_outline(reference: np.ndarray, found: np.ndarray, outline: dict) -> np.ndarray:
    """The bikes plate (``tests/data/bikes_plate.json``): where the tracked quad ``found`` (frame 0's
    ``reference`` corners, tracked) puts the plate's outline, frame 0's outline carried by the homography from
    the reference corners to ``found``; to compare with the outline measured on that frame."""
    carry = cv2.getPerspectiveTransform(np.float32(reference), np.float32(found))
    return cv2.perspectiveTransform(np.asarray(outline["0"], np.float64).reshape(-1, 1, 2), carry).reshape(
        4, 2
    )


def plate_errors(reference: np.ndarray, outline: dict, found: dict[int, np.ndarray]) -> list[float]:
    """Per frame of ``found`` (frame → tracked corners), the mean distance (px) between the plate's outline
    carried by the track (:func:`plate_outline`) and the one measured there, over the corners in the picture."""
    errors = []
    for index, corners in found.items():
        carried = plate_outline(reference, corners, outline)
        measured = [(k, c) for k, c in enumerate(outline[str(index)]) if c is not None]
        errors.append(float(np.mean([np.linalg.norm(carried[k] - c) for k, c in measured])))
    return errors


def bikes_plate(folder: Path) -> tuple[Path, np.ndarray, Score, np.ndarray, np.ndarray]:
    notes = json.loads(PLATE.read_text())
    clip = make_clip(folder / "shot1.mp4", frames=28, width=640, height=272, footage="bikes", lossless=True)
    reference, outline = np.asarray(notes["reference"], np.float64), notes["outline"]

    def score(index: int, found: np.ndarray, quad: bool) -> tuple[float | None, float | None] | None:
        if str(index) not in outline:
            return None
        measured = outline[str(index)]
        carried = plate_outline(reference, found, outline) if quad else None
        corner = plate_errors(reference, outline, {index: found})[0] if quad else None
        if None in measured:
            return corner, None  # the outline's centre is known where all four corners are
        # A box tracker's centre is its box's.
        centre = (carried if carried is not None else found).mean(axis=0) - np.mean(measured, axis=0)
        return corner, float(np.linalg.norm(centre))

    frames = np.arange(28)
    first, last = notes["whole"][0], notes["leaving"][1]
    gone = notes["gone"]
    return (
        clip,
        reference,
        score,
        (frames >= first) & (frames <= last),
        (frames >= gone[0]) & (frames <= gone[1]),
    )


def accurate_rgb(frame: av.VideoFrame, video: VideoInfo) -> np.ndarray:
    """A frame converted to RGB by swscale's accurate path (full chroma interpolation, accurate rounding)
    instead of its default: ~1.2 grey levels brighter, edges' chroma slightly different."""
    flags = (
        Interpolation.BILINEAR
        | Interpolation.ACCURATE_RND
        | Interpolation.FULL_CHR_H_INT
        | Interpolation.BITEXACT
    )
    return frame.to_ndarray(
        format="rgb24", threads=1, interpolation=flags, **read._colour_args(video, to_rgb=True)
    )


@contextlib.contextmanager
def decoded(accurately: bool) -> Iterator[None]:
    """Within: every clip read as :func:`accurate_rgb` converts it, when ``accurately``."""
    default = read.to_rgb
    read.to_rgb = accurate_rgb if accurately else default
    try:
        yield
    finally:
        read.to_rgb = default


def reencoded(path: Path, frames: list[np.ndarray], crf: int) -> Path:
    """``frames`` encoded as H.264 at ``crf`` (x264's default preset), as a user's export would be."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt, stream.options = "yuv420p", {"crf": str(crf)}
        for image in frames:
            container.mux(
                stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p"))
            )
        container.mux(stream.encode(None))
    return path


def _levels(offset: float, gain: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda frame: np.clip(frame.astype(np.float32) * gain + offset, 0, 255).round().astype(np.uint8)


def _noise(sigma: float) -> Callable[[np.ndarray], np.ndarray]:
    """Sensor-like grain: Gaussian, ``sigma`` grey levels, new on every frame (seeded: the same each run)."""
    rng = np.random.default_rng(0)
    return lambda frame: np.clip(frame + rng.normal(0, sigma, frame.shape), 0, 255).round().astype(np.uint8)


#: Changes to the bikes plate's frames: a function of the decoded frame (the clip rewritten losslessly), a crf
#: (re-encoded at it), or ``"accurate"`` (the same clip decoded by :func:`accurate_rgb`).
PERTURBATIONS: dict[str, Callable[[np.ndarray], np.ndarray] | int | str | None] = {
    "as decoded": None,
    "accurate decode": "accurate",
    "+2 levels": _levels(2, 1),
    "-2 levels": _levels(-2, 1),
    "gain x0.97": _levels(0, 0.97),
    "gain x1.03": _levels(0, 1.03),
    "crf 23": 23,
    "crf 26": 26,
    "crf 28": 28,
    "blur sigma 0.5": lambda frame: cv2.GaussianBlur(frame, (0, 0), 0.5),
    "blur sigma 0.7": lambda frame: cv2.GaussianBlur(frame, (0, 0), 0.7),
    "noise sigma 2": _noise(2),
    "noise sigma 4": _noise(4),
}


def plate_robustness(folder: Path) -> None:
    """The robustness table (see the module docstring)."""
    notes = json.loads(PLATE.read_text())
    reference, outline = np.asarray(notes["reference"], np.float64), notes["outline"]
    first, last = notes["whole"][0], notes["leaving"][1]
    gone = range(notes["gone"][0], notes["gone"][1] + 1)
    print(
        f"{'change':>16} {'corner med':>10} {'corner max':>10} {'tracked':>8} {'when gone':>9} {'cpu s':>6}"
    )
    for name, change in PERTURBATIONS.items():
        accurately = change == "accurate"
        with decoded(accurately):
            clip = make_clip(folder / f"plate-{accurately}.mp4", frames=28, width=640, height=272, footage="bikes",
                             lossless=True)  # fmt: skip
        if isinstance(change, int):
            clip = reencoded(folder / "plate-crf.mp4", list(VideoReader(clip).frames()), change)
        elif callable(change):
            changed = [change(frame) for frame in VideoReader(clip).frames()]
            clip = make_clip(folder / "plate-changed.mp4", frames=28, width=640, height=272, lossless=True,
                             content=iter(changed))  # fmt: skip
        with decoded(accurately):
            start = time.process_time()
            track = track_region(VideoReader(clip), reference, 0)
            cpu = time.process_time() - start
        found = {i: track.corners_at(i) for i in range(first + 1, last + 1)}
        errors = plate_errors(reference, outline, {i: c for i, c in found.items() if c is not None})
        tracked = sum(c is not None for c in found.values())
        when_gone = sum(track.corners_at(i) is not None for i in gone)
        print(f"{name:>16} {np.median(errors):10.2f} {max(errors):10.2f} {tracked:>5}/{len(found):<2} "
              f"{when_gone:9d} {cpu:6.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the bikes plate and the leaving card only")
    args = parser.parse_args()
    cases = {"bikes plate (f0-27)": bikes_plate, "plain card leaving (320x240, 16 frames)": leaving_card}
    if not args.quick:
        cases = {"ground truth (640x360, 120 frames)": hard_scene, **cases}
    print(f"# planar tracking ({date.today()}); errors in px on visible frames the method reports")
    with tempfile.TemporaryDirectory(prefix="shotcraft-bench-planar-") as folder:
        for title, make in cases.items():
            clip, reference, score, visible, gone = make(Path(folder))
            print(f"\n## {title}")
            print(f"{'method':>16} {'corner med':>10} {'corner p95':>10} {'centre med':>10} {'tracked':>8} "
                  f"{'when gone':>9} {'fps':>6}")  # fmt: skip
            for name, r in evaluate(clip, reference, score, visible, gone).items():
                print(f"{name:>16} {r['corner_median']:10.2f} {r['corner_p95']:10.2f} {r['centre_median']:10.2f} "
                      f"{r['tracked_share']:8.1%} {r['reported_when_gone']:9d} {r['fps']:6.1f}")  # fmt: skip
        print("\n## bikes plate (f0-27), its frames changed; shotcraft only, errors on frames 1-13")
        plate_robustness(Path(folder))


if __name__ == "__main__":
    main()
