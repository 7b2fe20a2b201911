"""Restyle speed and memory, as whole transforms (decode, restyle, encode) through the public pipeline.

Speed: at 1280x720 on real footage (bikes.mp4 looped and resized, ``make_clip(..., footage="bikes")``),
each case is ``shotcraft.pipeline.transform`` of the same clip with default encode settings:

- **identity**: an empty ``TransformSpec`` (the pipeline's identity path: decoded frames re-encoded
  without a trip through RGB), the baseline every ratio is taken against;
- each built-in look (``RestyleOp(look=...)``: watercolour, pencil, cartoon, film_print), computed on every
  frame and kept steady along the flow;
- **keyframe restyle** with two keyframes, the first and last frame, each ``cv2.stylization`` of its frame,
  default settings (motion 5, structure 5).

Every transform gets a fresh ``SHOTCRAFT_CACHE``, so the flow is always computed (cold cache); one short
warm-up run of each kind comes first so numba's compilation is not timed. On a shared machine wall time
depends on the neighbours, so the process's CPU time per frame (user + sys, all threads,
``resource.getrusage``) is printed as well.

Memory (``--memory``): the keyframe restyle transform of a 10 s and a 40 s 720p clip (250 and 1000
frames at 25 fps), each in a fresh subprocess (``--rss-child``); the peak RSS is the child's
``ru_maxrss`` as its parent reaps it (``os.wait4``, the per-child form of ``RUSAGE_CHILDREN``, so the
ffmpeg processes that made the clips do not count), including any process the child itself waited for::

    .venv/bin/python bench/classic_restyle.py                  # speed, 60 frames at 720p
    .venv/bin/python bench/classic_restyle.py --frames 120 --repeats 3
    .venv/bin/python bench/classic_restyle.py --memory         # peak RSS, 10 s and 40 s clips (minutes)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from clock import median_seconds
from shotcraft.media.read import VideoReader
from shotcraft.media.synth import make_clip
from shotcraft.pipeline import transform
from shotcraft.spec import RestyleOp, TransformSpec

WIDTH, HEIGHT = 1280, 720
LOOKS = ("watercolour", "pencil", "cartoon", "film_print")


def stylised_keyframes(clip: Path, folder: Path) -> TransformSpec:
    """A spec with two keyframes, the clip's first and last frame through ``cv2.stylization``."""
    reader = VideoReader(clip)
    keyframes = []
    for index in (0, reader.info.video.frame_count - 1):
        frame: np.ndarray = reader.frame_at(index)
        path = folder / f"{clip.stem}-key{index}.png"
        Image.fromarray(cv2.stylization(np.ascontiguousarray(frame))).save(path)
        keyframes.append({"at": {"frame": index}, "image": path})
    return TransformSpec.model_validate({"keyframes": keyframes})


def whole_transform(clip: Path, spec: TransformSpec, folder: Path) -> Callable[[], None]:
    """A call that transforms ``clip`` by ``spec`` with a fresh flow cache and output name each time."""
    runs = iter(range(1_000_000))

    def run() -> None:
        n = next(runs)
        os.environ["SHOTCRAFT_CACHE"] = str(folder / f"cache-{n}")
        transform(clip, folder / f"out-{n}.mp4", spec)

    return run


def measure_speed(frames: int, repeats: int) -> list[tuple[str, float, float]]:
    """``(case, wall seconds, cpu seconds)`` for the identity, each look and keyframe restyle."""
    with tempfile.TemporaryDirectory(prefix="bench-restyle-") as tmp:
        folder = Path(tmp)
        clip = make_clip(folder / "clip.mp4", frames=frames, width=WIDTH, height=HEIGHT, footage="bikes")
        small = make_clip(folder / "warm.mp4", frames=6, width=WIDTH, height=HEIGHT, footage="bikes")
        cases: list[tuple[str, TransformSpec, TransformSpec]] = [
            ("identity", TransformSpec(), TransformSpec())
        ]
        for look in LOOKS:
            spec = TransformSpec(operations=[RestyleOp(look=look)])
            cases.append((look, spec, spec))
        cases.append(("keyframes (2)", stylised_keyframes(clip, folder), stylised_keyframes(small, folder)))
        results = []
        for name, spec, warm_spec in cases:
            whole_transform(
                small, warm_spec, folder / f"warm-{len(results)}"
            )()  # numba compiles, caches warm
            wall, cpu = median_seconds(whole_transform(clip, spec, folder / f"run-{len(results)}"), repeats)
            results.append((name, wall, cpu))
    return results


def rss_child(clip: Path, keys: list[str], output: Path) -> None:
    """The keyframe restyle transform of ``clip`` (keyframes ``frame:image``), run in this process."""
    keyframes = [{"at": {"frame": int(k.split(":", 1)[0])}, "image": k.split(":", 1)[1]} for k in keys]
    transform(clip, output, TransformSpec.model_validate({"keyframes": keyframes}))


def measure_memory(seconds: tuple[int, ...] = (10, 40)) -> list[tuple[int, float]]:
    """``(clip seconds, peak RSS in MB)`` of the keyframe restyle transform, each in a fresh process."""
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-restyle-rss-") as tmp:
        folder = Path(tmp)
        for length in seconds:
            frames = 25 * length
            clip = make_clip(
                folder / f"clip{length}s.mp4",
                frames=frames,
                width=WIDTH,
                height=HEIGHT,
                fps=Fraction(25),
                footage="bikes",
            )
            spec = stylised_keyframes(clip, folder)
            keys = [f"{k.at.frame}:{k.image}" for k in spec.keyframes]
            command = [
                sys.executable,
                __file__,
                "--rss-child",
                str(clip),
                "--out",
                str(folder / f"out{length}.mp4"),
            ]
            for key in keys:
                command += ["--key", key]
            env = {**os.environ, "SHOTCRAFT_CACHE": str(folder / f"cache{length}")}
            child = subprocess.Popen(command, env=env)
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
            if child.returncode:
                raise SystemExit(f"the {length} s child failed with exit status {child.returncode}")
            results.append((length, usage.ru_maxrss / 1024))  # ru_maxrss is in KiB on Linux
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--memory", action="store_true", help="peak RSS for 10 s and 40 s clips instead")
    parser.add_argument("--rss-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--key", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.key, args.out)
        return
    if args.memory:
        rows = measure_memory()
        for length, mb in rows:
            print(f"keyframe restyle, {length:>3} s 720p clip ({25 * length} frames): peak RSS {mb:7.0f} MB")
        print(f"ratio {rows[-1][0]} s / {rows[0][0]} s: {rows[-1][1] / rows[0][1]:.2f}")
        return
    rows = measure_speed(args.frames, args.repeats)
    base_fps = args.frames / rows[0][1]
    print(f"{WIDTH}x{HEIGHT}, {args.frames} frames, whole transforms, cold flow cache")
    print(f"{'case':>14}{'fps':>8}{'cpu ms/frame':>14}{'ratio to identity':>19}")
    for name, wall, cpu in rows:
        fps = args.frames / wall
        print(f"{name:>14}{fps:>8.1f}{1000 * cpu / args.frames:>14.1f}{fps / base_fps:>19.3f}")


if __name__ == "__main__":
    main()
