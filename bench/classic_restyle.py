"""Keyframe restyle speed: frames per second of ``restyle`` (flow included, cold cache) and with the flow
already cached, against plain decoding of the same clip measured in the same run.

The clip is real footage (bikes.mp4, looped and resized) with stylised keyframes on its first and last
frame, default settings (motion 5, structure 5); restyled frames are consumed, not encoded, so the numbers
are the engine's own (decoding included). On a shared machine wall time depends on the neighbours, so the
process's CPU time per frame (user + sys, all threads, ``resource.getrusage``) is printed as well::

    .venv/bin/python bench/classic_restyle.py                 # 720p and 360p, 60 frames
    .venv/bin/python bench/classic_restyle.py --size 1280x720 --size 1920x1080 --frames 120
    .venv/bin/python bench/classic_restyle.py --size 1280x720 --frames 120
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image

from clock import median_seconds
from shotcraft.engines.classic.looks import cartoon
from shotcraft.engines.classic.restyle import restyle
from shotcraft.media.read import VideoReader
from shotcraft.media.synth import make_clip
from shotcraft.plan import plan_transform
from shotcraft.spec import TransformSpec


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
        cold, cold_cpu = median_seconds(lambda: run(folder / f"cold-{next(caches)}"), repeats)
        warm, _ = median_seconds(lambda: run(folder / "warm-up"), repeats)
        base, base_cpu = median_seconds(decode, repeats)
    return {
        "width": width,
        "height": height,
        "frames": frames,
        "restyle_fps": frames / cold,
        "restyle_cpu_ms": 1000 * cold_cpu / frames,
        "restyle_cached_flow_fps": frames / warm,
        "decode_fps": frames / base,
        "decode_cpu_ms": 1000 * base_cpu / frames,
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
        f"{'size':>10}{'frames':>8}{'restyle fps':>13}{'cpu ms/frame':>14}{'cached flow':>13}"
        f"{'decode fps':>12}{'decode cpu ms':>15}{'restyle/decode':>16}"
    )
    for width, height in sizes:
        r = measure(width, height, args.frames, args.repeats)
        print(
            f"{width}x{height:<5}{args.frames:>8}{r['restyle_fps']:>13.1f}{r['restyle_cpu_ms']:>14.1f}"
            f"{r['restyle_cached_flow_fps']:>13.1f}{r['decode_fps']:>12.1f}{r['decode_cpu_ms']:>15.1f}"
            f"{r['ratio_to_decode']:>16.3f}"
        )


if __name__ == "__main__":
    main()
