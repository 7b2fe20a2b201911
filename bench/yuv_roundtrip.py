"""Colour bias of a take read back: source frames as read → VideoWriter at its defaults (H.264 crf 18,
4:2:0) → VideoReader, mean signed error per channel (R/G/B, levels) in dark / mid / bright bands of the
source's mean brightness, and the writer's CPU time per frame::

    PYTHONPATH=src .venv/bin/python bench/yuv_roundtrip.py bikes bigbuckbunny
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from shotcraft.media.probe import probe
from shotcraft.media.read import VideoReader
from shotcraft.media.samples import SAMPLE_CLIPS, sample_clip
from shotcraft.media.write import VideoWriter

BANDS = {"dark": (0, 64), "mid": (64, 192), "bright": (192, 256)}


def band_errors(reference: np.ndarray, got: np.ndarray) -> dict[str, np.ndarray]:
    """Mean signed error per channel in each brightness band of ``reference``."""
    error = got.astype(np.float64) - reference
    luma = reference.mean(axis=-1)
    return {name: error[(luma >= low) & (luma < high)].mean(axis=0) for name, (low, high) in BANDS.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("clips", nargs="+", choices=sorted(SAMPLE_CLIPS))
    args = parser.parse_args()
    for name in args.clips:
        info = probe(sample_clip(name))
        frames = np.stack(list(VideoReader(info.path, info).frames()))
        out = Path(tempfile.mkdtemp()) / f"{name}.mp4"
        start = time.process_time()
        with VideoWriter(out, info, copy_streams=False, with_sidecar=False) as writer:
            writer.write_all(frames)
        cpu = (time.process_time() - start) / len(frames)
        got = np.stack(list(VideoReader(out).frames()))
        errors = "  ".join(
            f"{band} {'/'.join(f'{v:+.2f}' for v in mean)}" for band, mean in band_errors(frames, got).items()
        )
        print(f"{name}: {errors}  (writer CPU {cpu * 1000:.1f} ms/frame)")


if __name__ == "__main__":
    main()
