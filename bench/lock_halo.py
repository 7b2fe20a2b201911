"""Ungraded light round a people lock under a strong grade: the locked take against the fully graded one,
just outside the person.

    python bench/lock_halo.py                          # this tree, night, on bikes
    python bench/lock_halo.py --before ../main/src     # ... and another tree's people lock beside it
    python bench/lock_halo.py --relight golden-hour

For each frame drawn by hand in tests/data/people_bikes: the mean |locked - graded| (levels, averaged over
RGB) in the ring 3..40 px outside the drawn person, and the share of that ring more than 8 levels off; then
the same mean 1..3 px outside (a thin pale line of background left ungraded along the person's edge).
``feather 0`` is the lock with a hard edge: what the person model itself locks beyond the drawn outline,
the floor no blend band goes under. Each take is rendered whole (lossless) by ``shotcraft transform`` in a
child process with the tree's own imports.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from shotcraft.media.read import VideoReader
from shotcraft.media.samples import sample_clip

ROOT = Path(__file__).resolve().parent.parent
TRUTH = ROOT / "tests" / "data" / "people_bikes"
FRAMES = (30, 31, 44, 103, 125, 200)


def _render(src: Path, output: Path, relight: str, lock: str | None) -> Path:
    """``shotcraft transform`` of bikes by the tree at ``src`` (a lossless take)."""
    command = [sys.executable, "-m", "shotcraft", "transform", str(sample_clip("bikes")), "-o", str(output)]
    command += ["--relight", relight, "--lossless", "-y", *(["--lock", lock] if lock else [])]
    subprocess.run(command, env={**os.environ, "PYTHONPATH": str(src)}, check=True, capture_output=True)
    return output


def _ring(frame: int, near: float, far: float) -> np.ndarray:
    person = np.asarray(Image.open(TRUTH / f"f{frame:03d}.png").convert("L")) > 127
    outside = cv2.distanceTransform((~person).astype(np.uint8), cv2.DIST_L2, 5)
    return (outside >= near) & (outside <= far)


def _halo(locked: Path, graded: Path, near: float, far: float) -> dict[int, tuple[float, float]]:
    """Per drawn frame: mean levels off the graded take in the ring ``near..far`` px outside the drawn
    person, and the share more than 8 levels off."""
    a, b = VideoReader(locked), VideoReader(graded)
    figures = {}
    for frame in FRAMES:
        off = np.abs(a.frame_at(frame).astype(int) - b.frame_at(frame)).mean(axis=2)[_ring(frame, near, far)]
        figures[frame] = (float(off.mean()), float((off > 8).mean()))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--relight", default="night", help="the relight preset (as the CLI spells it)")
    parser.add_argument("--before", type=Path, help="another tree's src/, its people lock measured too")
    args = parser.parse_args()
    here = ROOT / "src"
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        graded = _render(here, tmp / "graded.mp4", args.relight, None)
        takes = {"feather 0": _render(here, tmp / "hard.mp4", args.relight, "people@0")}
        if args.before:
            takes["before"] = _render(args.before.resolve(), tmp / "before.mp4", args.relight, "people")
        takes["this tree"] = _render(here, tmp / "locked.mp4", args.relight, "people")
        for near, far in ((3, 40), (1, 3)):
            print(
                f"bikes, --relight {args.relight} --lock people: levels off the graded take {near:g}..{far} px outside"
            )
            print(f"{'take':<10}" + "".join(f"{'f' + str(f):>14}" for f in FRAMES) + f"{'mean':>8}")
            for name, path in takes.items():
                figures = _halo(path, graded, near, far)
                cells = "".join(f"{m:>7.2f} ({s:>4.0%})" for m, s in figures.values())
                print(f"{name:<10}{cells}{np.mean([m for m, _ in figures.values()]):>8.2f}")


if __name__ == "__main__":
    main()
