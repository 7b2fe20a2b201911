"""Keyframe restyle speed: frames per second of ``restyle`` (flow included, cold cache) and with the flow
already cached, against plain decoding of the same clip measured in the same run.

The clip is real footage (bikes.mp4, looped and resized) with stylised keyframes on its first and last
frame; restyled frames are consumed, not encoded, so the numbers are the engine's own::

    .venv/bin/python bench/classic_restyle.py                 # 720p and 360p, 60 frames
    .venv/bin/python bench/classic_restyle.py --size 1280x720 --frames 120
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from shotcraft.engines.classic.looks import cartoon
from shotcraft.engines.classic.restyle import restyle
from shotcraft.media.read import VideoReader
from shotcraft.media.synth import make_clip
from shotcraft.plan import plan_transform
from shotcraft.spec import TransformSpec


def _timed(fn: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls."""
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def measure(width: int, height: int, frames: int, repeats: int = 1) -> dict[str, float]:
    """Restyle fps at ``width`` x ``height`` over ``frames`` frames: cold (flow computed) and warm (flow
    cached), and decode-only fps as the baseline."""
    with tempfile.TemporaryDirectory(prefix="bench-restyle-") as tmp:
        folder = Path(tmp)
        clip = make_clip(folder / "clip.mp4", frames=frames, width=width, height=height, footage="bikes")
        reader = VideoReader(clip)
        keyframes = []
        for index in (0, frames - 1):
            path = folder / f"key{index}.png"
            Image.fromarray(cartoon(reader.frame_at(index))).save(path)
            keyframes.append({"at": {"frame": index}, "image": path})
        plan = plan_transform(reader.info, TransformSpec.model_validate({"keyframes": keyframes}))

        def decode() -> None:
            for _ in reader.frames():
                pass

        def run(cache: Path) -> None:
            for _ in restyle(plan, None, reader, cache_root=cache):
                pass

        run(folder / "warm-up")  # compiles the numba kernels (cached on disk after the first run)
        caches = iter(range(repeats))
        cold = _timed(lambda: run(folder / f"cold-{next(caches)}"), repeats)
        warm = _timed(lambda: run(folder / "warm-up"), repeats)
        base = _timed(decode, repeats)
    return {
        "width": width,
        "height": height,
        "frames": frames,
        "restyle_fps": frames / cold,
        "restyle_cached_flow_fps": frames / warm,
        "decode_fps": frames / base,
        "ratio_to_decode": base / cold,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", action="append", help="WxH (repeatable); default 1280x720 and 640x360")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in (args.size or ["1280x720", "640x360"])]
    print(
        f"{'size':>10}{'frames':>8}{'restyle fps':>13}{'cached flow':>13}{'decode fps':>12}{'restyle/decode':>16}"
    )
    for width, height in sizes:
        r = measure(width, height, args.frames, args.repeats)
        print(
            f"{width}x{height:<5}{args.frames:>8}{r['restyle_fps']:>13.1f}{r['restyle_cached_flow_fps']:>13.1f}"
            f"{r['decode_fps']:>12.1f}{r['ratio_to_decode']:>16.3f}"
        )


if __name__ == "__main__":
    main()
