"""Localization throughput: one market version of a clip with a moving sign, against the identity
transform of the same clip measured in the same run (so the ratio holds across machines).

    python bench/classic_localize.py                 # 720p, 100 frames, 3 runs each
    python bench/classic_localize.py --quick         # 360p, 30 frames, 1 run (a smoke test)

The localize time includes the OCR pass (text detection every 8th frame at 25 fps, spaced out to every
32nd while the tracks hold), tracking, inpainting, typesetting and encoding; each run uses a fresh clip
file so the OCR cache never hides that pass. CPU seconds (this process, all threads) are printed beside
the wall time: on a shared machine they are the steadier number.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from shotcraft.markets import localize, signage_frames
from shotcraft.media.synth import make_clip
from shotcraft.pipeline import transform
from shotcraft.spec import TransformSpec


def measure(width: int = 1280, height: int = 720, frames: int = 100, runs: int = 3) -> dict:
    """Median fps of ``localize`` (one market) and of the identity transform on the same footage."""
    localize_s: list[float] = []
    localize_cpu: list[float] = []
    identity_s: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        table = folder / "strings.csv"
        table.write_text("source,de\nSUMMER SALE,SOMMERSCHLUSSVERKAUF\n", encoding="utf-8")
        for run in range(runs):
            clip = make_clip(
                folder / f"sign{run}.mp4", frames=frames, width=width, height=height, fps=25, audio_channels=2,
                content=signage_frames("SUMMER SALE", frames, width, height, appear=3),
            )  # fmt: skip
            started = time.perf_counter()
            transform(clip, folder / f"identity{run}.mp4", TransformSpec())
            identity_s.append(time.perf_counter() - started)
            started, cpu = time.perf_counter(), time.process_time()
            [result] = localize(clip, folder / "out", ["de"], table=table)
            localize_s.append(time.perf_counter() - started)
            localize_cpu.append(time.process_time() - cpu)
            if result.take is None:
                raise RuntimeError(f"localize failed: {result.problems}")
    localize_fps = frames / statistics.median(localize_s)
    identity_fps = frames / statistics.median(identity_s)
    return {
        "name": "localize (1 market)",
        "size": f"{width}x{height}",
        "frames": frames,
        "fps": round(localize_fps, 1),
        "cpu_s": round(statistics.median(localize_cpu), 1),
        "baseline": "identity transform",
        "baseline_fps": round(identity_fps, 1),
        "ratio": round(localize_fps / identity_fps, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="360p, 30 frames, one run")
    args = parser.parse_args()
    result = measure(640, 360, 30, 1) if args.quick else measure()
    print(
        f"{result['name']} at {result['size']}, {result['frames']} frames: {result['fps']} fps "
        f"({result['cpu_s']} CPU s); "
        f"{result['baseline']} {result['baseline_fps']} fps; ratio {result['ratio']}"
    )


if __name__ == "__main__":
    main()
