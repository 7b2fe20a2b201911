"""Planar tracking and product swap throughput, against the identity transform measured in the same run.

    python bench/classic_track.py                 # 1280x720, 100 frames, 3 runs each
    python bench/classic_track.py --quick         # 640x360, 30 frames, 1 run (a smoke test)

The clip is a photo label moving in perspective over bikes.mp4 (the tests' ground-truth clip). ``track``
times the tracker alone (decode included, forwards from frame 0); ``swap`` times a whole transform that
tracks the label from four corners and swaps it with lighting match (decode, track, swap, encode);
``identity`` times the same transform with no operation (decode and encode only). Medians are printed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import cv2
from PIL import Image
from skimage import data

from shotcraft.media.read import VideoReader
from shotcraft.media.synth import footage_frames, make_clip, planar_label_frames, planar_label_path
from shotcraft.pipeline import transform
from shotcraft.signals.track import track_region
from shotcraft.spec import OutputSpec, SwapOp, TransformSpec


def _timed(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(width: int = 1280, height: int = 720, frames: int = 100, runs: int = 3) -> dict[str, float]:
    """Frames per second of tracking, of a full swap transform and of the identity transform, and the
    ratios of the first two to the identity."""
    with tempfile.TemporaryDirectory(prefix="shotcraft-bench-track-") as folder:
        root = Path(folder)
        size = (round(width * 0.3), round(width * 0.3 * 0.75))
        label = cv2.resize(data.coffee(), size, interpolation=cv2.INTER_AREA)
        truth = planar_label_path(frames, width, height, size)
        content = planar_label_frames(truth, label, footage_frames("bikes", frames, width, height))
        clip = make_clip(root / "label.mp4", frames=frames, width=width, height=height, content=content)
        art = root / "art.png"
        Image.fromarray(data.rocket()).save(art)
        output = OutputSpec(crf=18, preset="veryfast")
        swap_spec = TransformSpec(
            operations=[SwapOp(image=art, corners=[tuple(p) for p in truth[0].astype(float)])], output=output
        )
        identity = _timed(lambda: transform(clip, root / "identity.mp4", TransformSpec(output=output)), runs)
        tracking = _timed(lambda: track_region(VideoReader(clip), truth[0], 0), runs)
        swapping = _timed(lambda: transform(clip, root / "swap.mp4", swap_spec), runs)
    fps = {name: frames / seconds for name, seconds in (("identity", identity), ("track", tracking),
                                                       ("swap", swapping))}  # fmt: skip
    return {
        "identity_fps": fps["identity"],
        "track_fps": fps["track"],
        "swap_fps": fps["swap"],
        "track_ms_per_frame": 1000 / fps["track"],
        "track_ratio": fps["track"] / fps["identity"],
        "swap_ratio": fps["swap"] / fps["identity"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="640x360, 30 frames, one run")
    args = parser.parse_args()
    width, height, frames, runs = (640, 360, 30, 1) if args.quick else (1280, 720, 100, 3)
    result = measure(width, height, frames, runs)
    print(
        f"# classic tracking and swap, {width}x{height}, {frames} frames, median of {runs} ({date.today()})"
    )
    for key, value in result.items():
        print(f"{key:>20}: {value:8.2f}")


if __name__ == "__main__":
    main()
