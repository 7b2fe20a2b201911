"""Keyframe restyle against the truth on every frame, beside EbSynth on the same protocol.

For each clip, known look and keying of ``look_protocol.py``, restyles the clip from the look applied to
the keyframes and prints look fidelity (PSNR / SSIM against the look applied to that frame) at the judged
frames next to EbSynth's (``results/ebsynth.json``, made by ``ebsynth_compare.py``), style retention over
every frame (min / median / max) and flicker against the look applied frame by frame::

    .venv/bin/python bench/restyle_fidelity.py                       # bikes and carphone, all looks
    .venv/bin/python bench/restyle_fidelity.py --clips carphone --looks pencil --keyings one
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from look_protocol import CLIPS, JUDGED_FRAMES, KEYINGS, LOOKS, keyframes
from shotcraft.engines.classic.restyle import restyle
from shotcraft.look_metrics import score_look_frames
from shotcraft.media.read import VideoReader
from shotcraft.media.samples import sample_clip
from shotcraft.plan import plan_transform
from shotcraft.spec import TransformSpec

RESULTS = Path(__file__).parent / "results" / "ebsynth.json"


def run(clip: str, look: str, keying: str, folder: Path) -> dict[str, object]:
    """One restyle of the protocol, scored on every frame."""
    reader = VideoReader(sample_clip(clip))
    keys = keyframes(reader.video.frame_count, keying)
    for k in keys:
        Image.fromarray(LOOKS[look](reader.frame_at(k))).save(folder / f"{look}-{k}.png")
    spec = TransformSpec.model_validate(
        {"keyframes": [{"at": {"frame": k}, "image": folder / f"{look}-{k}.png"} for k in keys]}
    )
    plan = plan_transform(reader.info, spec)
    started = time.perf_counter()
    outputs = list(restyle(plan, None, reader, cache_root=folder / "cache"))
    seconds = time.perf_counter() - started
    sources = list(reader.frames())
    report = score_look_frames(sources, outputs, (LOOKS[look](frame) for frame in sources))
    return {"report": report, "fps": len(outputs) / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--looks", default=",".join(LOOKS))
    parser.add_argument("--keyings", default=",".join(KEYINGS))
    args = parser.parse_args()
    ebsynth = json.loads(RESULTS.read_text())
    print("clip      look           keying  t   shotcraft dB / SSIM   EbSynth dB / SSIM")
    for clip in args.clips.split(","):
        for look in args.looks.split(","):
            for keying in args.keyings.split(","):
                with tempfile.TemporaryDirectory(prefix="bench-fidelity-") as tmp:
                    result = run(clip, look, keying, Path(tmp))
                report = result["report"]
                for t in JUDGED_FRAMES:
                    if t >= report.frames:
                        continue
                    theirs = ebsynth[clip][look][keying][str(t)]
                    print(
                        f"{clip:9} {look:14} {keying:6} {t:3}   {report.psnr[t]:6.2f} / {report.ssim[t]:.3f}"
                        f"       {theirs['psnr']:6.2f} / {theirs['ssim']:.3f}"
                    )
                retention = np.array(report.retention)
                print(
                    f"{clip:9} {look:14} {keying:6} all   retention min {retention.min():.2f} (frame "
                    f"{retention.argmin()}) median {np.median(retention):.2f} max {retention.max():.2f} (frame "
                    f"{retention.argmax()}); flicker {report.flicker_vs_reference:.2f}x the look's; "
                    f"{result['fps']:.1f} fps (engine only, no encode)"
                )


if __name__ == "__main__":
    main()
