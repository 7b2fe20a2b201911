"""What scoring a look on every frame costs (``look_metrics.score_look_frames``, as ``shotcraft score
--look-reference`` and the restyle tests run it): CPU ms per frame of the whole score and of its SSIM, against
scikit-image's ``structural_similarity`` on the same frames in the same run, alternating so load from other
work falls on both alike::

    .venv/bin/python bench/look_scores.py            # 60 frames of bikes.mp4, pencil look, 3 rounds
"""

from __future__ import annotations

import argparse
import statistics
import time

from skimage.metrics import structural_similarity

from shotcraft.engines.classic.looks import apply_look
from shotcraft.look_metrics import _ssim, score_look_frames
from shotcraft.media.read import VideoReader
from shotcraft.media.samples import sample_clip


def _cpu_ms(fn, frames: int) -> float:
    started = time.process_time()
    fn()
    return 1000 * (time.process_time() - started) / frames


def _skimage_ssim(a, b) -> float:
    return structural_similarity(a, b, channel_axis=-1, data_range=255)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sources = list(VideoReader(sample_clip("bikes")).frames(0, args.frames))
    looks = [apply_look(f, "pencil") for f in sources]
    outputs = [apply_look(f, "watercolour") for f in sources]  # any other look: a realistic miss
    pairs = list(zip(outputs, looks, strict=True))
    times: dict[str, list[float]] = {"skimage ssim": [], "ssim": [], "score_look_frames": []}
    for _ in range(args.rounds):
        times["skimage ssim"].append(_cpu_ms(lambda: [_skimage_ssim(a, b) for a, b in pairs], len(pairs)))
        times["ssim"].append(_cpu_ms(lambda: [_ssim(a, b) for a, b in pairs], len(pairs)))
        times["score_look_frames"].append(
            _cpu_ms(lambda: score_look_frames(sources, outputs, looks), len(pairs))
        )
    worst = max(abs(_ssim(a, b) - _skimage_ssim(a, b)) for a, b in pairs)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"bikes.mp4 {sources[0].shape[1]}x{sources[0].shape[0]}, {len(pairs)} frames, {args.rounds} rounds")
    for name, ms in medians.items():
        print(f"  {name:18s} {ms:7.1f} CPU ms/frame")
    print(
        f"  ssim / skimage     {medians['ssim'] / medians['skimage ssim']:.2f} (largest difference {worst:.1e})"
    )


if __name__ == "__main__":
    main()
