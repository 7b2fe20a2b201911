"""EbSynth on the keyframe-restyle protocol of :mod:`look_protocol`, so our engine can be compared with it.

For every clip x known look x keying x judged frame ``t`` (frames at or past the clip's end are skipped)
the keyframe stills are the look applied to the keyframes, EbSynth synthesises frame ``t`` from each
keyframe ``k`` and the result is judged against the truth, the look applied to frame ``t``:

- **psnr**: PSNR in dB of the uint8 RGB output against the truth (peak 255);
- **ssim**: ``skimage.metrics.structural_similarity`` on RGB (``channel_axis=-1``, ``data_range=255``);
- **retention**: style retention, the mean ``|Laplacian|`` (``cv2.Laplacian``, ksize 3, on float32 grey)
  of the output divided by that of the truth: below 1 the output is softer than the look, above 1 noisier;
- **seconds**: wall seconds of the EbSynth call(s) that produced frame ``t`` (two for keying ``two`` when
  ``t`` lies between the keys), and **cpu_seconds**, their CPU time (user + system of the child process),
  which holds better than wall time on a shared machine.

Each EbSynth call uses the guides commonly used for video (as in EbSynth's video workflow):

- the style: the keyframe still, weight 1 (EbSynth's default);
- a colour guide: source = RGB frame ``k``, target = RGB frame ``t``, weight :data:`COLOUR_WEIGHT` (4);
- an edge guide: :func:`edge_guide` of frame ``k`` and of frame ``t`` (Gaussian-blurred Sobel magnitude of
  the grey frame on a fixed scale), weight :data:`EDGE_WEIGHT` (1);

and EbSynth's defaults otherwise (patch size 5, uniformity 3500, 6 search-vote and 4 PatchMatch iterations
per level, as many pyramid levels as fit). It runs with ``OMP_NUM_THREADS=1``: its threads share
``rand()``, so only a single thread gives repeatable output. With keying ``two`` each key's result is
blended linearly by temporal distance (weight of key ``k`` is ``1 - |t - k| / |k2 - k1|``); a frame outside
the keys takes the nearest key only. EbSynth is deterministic with one thread, so the synthesis from key 0
is run once and shared by both keyings.

Building EbSynth (CPU only, public domain, https://github.com/jamriska/ebsynth; keep it outside this
repository): from a checkout of its source run ``sh build-linux-cpu_only.sh``, which is::

    g++ src/ebsynth.cpp src/ebsynth_cpu.cpp src/ebsynth_nocuda.cpp -DNDEBUG -O6 -fopenmp -I"include" \\
        -std=c++11 -o bin/ebsynth

(stb, for PNG, is bundled in ``include/``). Then::

    .venv/bin/python bench/ebsynth_compare.py --ebsynth /path/to/ebsynth-src/bin/ebsynth
    .venv/bin/python bench/ebsynth_compare.py --ebsynth ... --clips carphone --out /tmp/ebsynth.json
    .venv/bin/python bench/ebsynth_compare.py --ebsynth ... --save-dir /tmp/ebsynth_out   # PNGs + sheets
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity

sys.path.insert(0, str(Path(__file__).resolve().parent))

from look_protocol import CLIPS, JUDGED_FRAMES, KEYINGS, LOOKS, keyframes
from shotcraft.media.samples import sample_clip

#: Weight of the RGB colour guide (source frame k, target frame t).
COLOUR_WEIGHT = 4.0
#: Weight of the blurred edge guide.
EDGE_WEIGHT = 1.0
#: Sobel magnitude (of 0-255 grey) mapped to guide levels by this factor, then clipped to 255.
EDGE_SCALE = 1.0
#: Gaussian sigma (pixels) of the blur applied to the grey frame before, and to the edges after, Sobel.
EDGE_PRE_SIGMA = 1.0
EDGE_POST_SIGMA = 1.5


# --- metrics ---------------------------------------------------------------------------------------


def psnr(output: np.ndarray, truth: np.ndarray) -> float:
    """PSNR in dB of two uint8 images, peak 255 (``inf`` when identical).

    >>> a = np.zeros((4, 4, 3), np.uint8); b = a.copy(); b[0, 0, 0] = 16
    >>> round(psnr(a, b), 2)
    40.86
    """
    diff = output.astype(np.float64) - truth.astype(np.float64)
    mse = float(np.mean(diff * diff))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def ssim(output: np.ndarray, truth: np.ndarray) -> float:
    """SSIM of two uint8 RGB images (skimage defaults: 7x7 uniform window, channels averaged)."""
    return float(structural_similarity(output, truth, channel_axis=-1, data_range=255))


def grey(rgb: np.ndarray) -> np.ndarray:
    """Float32 grey (0-255) of a uint8 RGB image, without rounding."""
    return cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2GRAY)


def detail(rgb: np.ndarray) -> float:
    """Mean ``|Laplacian|`` (ksize 3) of the float32 grey image: how much fine texture it has."""
    return float(np.mean(np.abs(cv2.Laplacian(grey(rgb), cv2.CV_32F, ksize=3))))


def retention(output: np.ndarray, truth: np.ndarray) -> float:
    """Style retention: :func:`detail` of the output over that of the truth (1 = as textured as the look).

    >>> flat = np.full((8, 8, 3), 100, np.uint8); noisy = flat.copy(); noisy[::2, ::2] = 200
    >>> retention(noisy, noisy), retention(flat, noisy)
    (1.0, 0.0)
    """
    reference = detail(truth)
    return math.nan if reference == 0 else detail(output) / reference


# --- EbSynth -------------------------------------------------------------------------------------


def edge_guide(rgb: np.ndarray) -> np.ndarray:
    """The edge guide of a frame: Gaussian-blurred Sobel gradient magnitude of its grey, as uint8.

    The scale is fixed (:data:`EDGE_SCALE`), not per frame, so source and target guides are comparable.
    """
    g = cv2.GaussianBlur(grey(rgb), (0, 0), EDGE_PRE_SIGMA)
    magnitude = cv2.magnitude(
        cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    )
    edges = np.clip(magnitude * EDGE_SCALE, 0, 255)
    return np.clip(np.rint(cv2.GaussianBlur(edges, (0, 0), EDGE_POST_SIGMA)), 0, 255).astype(np.uint8)


@dataclass
class Synthesis:
    """One EbSynth result: the RGB image and the call's wall and CPU seconds."""

    image: np.ndarray
    seconds: float
    cpu_seconds: float


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_ebsynth(
    ebsynth: Path, workdir: Path, style: np.ndarray, source: np.ndarray, target: np.ndarray, name: str
) -> Synthesis:
    """Synthesise ``target``'s frame in the style of ``style`` (the look of ``source``) with EbSynth,
    guided by colour and edges (see the module docstring). PNGs are written under ``workdir``."""
    paths = {
        key: workdir / f"{name}_{key}.png" for key in ("style", "src", "tgt", "src_edge", "tgt_edge", "out")
    }
    Image.fromarray(style).save(paths["style"])
    Image.fromarray(source).save(paths["src"])
    Image.fromarray(target).save(paths["tgt"])
    Image.fromarray(edge_guide(source)).save(paths["src_edge"])
    Image.fromarray(edge_guide(target)).save(paths["tgt_edge"])
    command = [
        str(ebsynth),
        "-style", str(paths["style"]),
        "-guide", str(paths["src"]), str(paths["tgt"]), "-weight", f"{COLOUR_WEIGHT:g}",
        "-guide", str(paths["src_edge"]), str(paths["tgt_edge"]), "-weight", f"{EDGE_WEIGHT:g}",
        "-output", str(paths["out"]),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started, cpu = time.perf_counter(), _children_cpu()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds, cpu_seconds = time.perf_counter() - started, _children_cpu() - cpu
    if result.returncode != 0 or not paths["out"].exists():
        raise RuntimeError(f"ebsynth failed ({result.returncode}): {result.stdout}{result.stderr}")
    image = np.asarray(Image.open(paths["out"]).convert("RGB"))
    return Synthesis(image, seconds, cpu_seconds)


def key_weights(t: int, keys: tuple[int, ...]) -> dict[int, float]:
    """Blend weight of each key's synthesis at frame ``t``: linear in temporal distance between two keys,
    the nearest key alone outside them.

    >>> key_weights(30, (0,)), key_weights(30, (0, 150)), key_weights(200, (0, 150))
    ({0: 1.0}, {0: 0.8, 150: 0.2}, {150: 1.0})
    """
    if len(keys) == 1:
        return {keys[0]: 1.0}
    first, last = keys
    if t <= first:
        return {first: 1.0}
    if t >= last:
        return {last: 1.0}
    span = float(last - first)
    return {first: (last - t) / span, last: (t - first) / span}


def blend(images: dict[int, np.ndarray], weights: dict[int, float]) -> np.ndarray:
    """Weighted sum of the keys' syntheses, rounded to uint8."""
    total = sum(weights[k] * images[k].astype(np.float64) for k in weights)
    return np.clip(np.rint(total), 0, 255).astype(np.uint8)


# --- the bench -----------------------------------------------------------------------------------


def decode(path: Path) -> list[np.ndarray]:
    """Every frame of a clip as uint8 RGB."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def contact_sheet(truths: list[np.ndarray], outputs: list[np.ndarray], labels: list[str]) -> np.ndarray:
    """Truth (top row) above EbSynth (bottom row), one column per judged frame, labelled."""
    columns = []
    for truth, output, label in zip(truths, outputs, labels, strict=True):
        column = np.vstack([truth, np.full((4, truth.shape[1], 3), 255, np.uint8), output]).copy()
        cv2.putText(column, f"{label} truth", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1)
        cv2.putText(
            column,
            f"{label} ebsynth",
            (6, truth.shape[0] + 22),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (255, 255, 0),
            1,
        )
        columns += [column, np.full((column.shape[0], 4, 3), 255, np.uint8)]
    return np.hstack(columns[:-1])


def measure_clip(
    clip: str, ebsynth: Path, save_dir: Path | None = None, log: bool = True
) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """{look: {keying: {t: scores}}} for one clip (frames >= its frame count skipped)."""
    frames = decode(sample_clip(clip))
    count = len(frames)
    judged = [t for t in JUDGED_FRAMES if t < count]
    results: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="ebsynth_compare_") as tmp:
        workdir = Path(tmp)
        for look_name, look in LOOKS.items():
            results[look_name] = {}
            cache: dict[tuple[int, int], Synthesis] = {}  # (key, t) -> synthesis, shared by keyings
            for keying in KEYINGS:
                keys = keyframes(count, keying)
                stills = {k: look(frames[k]) for k in keys}
                scores: dict[str, dict[str, float]] = {}
                truths, outputs = [], []
                for t in judged:
                    weights = key_weights(t, keys)
                    for k in weights:
                        if (k, t) not in cache:
                            cache[k, t] = run_ebsynth(
                                ebsynth,
                                workdir,
                                stills[k],
                                frames[k],
                                frames[t],
                                f"{clip}_{look_name}_k{k}_t{t}",
                            )
                    output = blend({k: cache[k, t].image for k in weights}, weights)
                    truth = look(frames[t])
                    scores[str(t)] = {
                        "psnr": round(psnr(output, truth), 4),
                        "ssim": round(ssim(output, truth), 4),
                        "retention": round(retention(output, truth), 4),
                        "seconds": round(sum(cache[k, t].seconds for k in weights), 3),
                        "cpu_seconds": round(sum(cache[k, t].cpu_seconds for k in weights), 3),
                    }
                    if log:
                        s = scores[str(t)]
                        print(
                            f"  {clip:9} {look_name:14} {keying:4} t={t:3d}  psnr {s['psnr']:6.2f}  "
                            f"ssim {s['ssim']:.4f}  retention {s['retention']:.3f}  {s['seconds']:6.2f} s",
                            flush=True,
                        )
                    if save_dir is not None:
                        Image.fromarray(output).save(save_dir / f"{clip}_{look_name}_{keying}_t{t:03d}.png")
                        Image.fromarray(truth).save(save_dir / f"{clip}_{look_name}_truth_t{t:03d}.png")
                    truths.append(truth)
                    outputs.append(output)
                if save_dir is not None and judged:
                    sheet = contact_sheet(truths, outputs, [f"t={t}" for t in judged])
                    Image.fromarray(sheet).save(save_dir / f"{clip}_{look_name}_{keying}_sheet.png")
                results[look_name][keying] = scores
    return results


def print_table(results: dict[str, dict[str, dict[str, dict[str, dict[str, float]]]]]) -> None:
    """One row per clip, look, keying and judged frame, then per-clip means of each look and keying."""
    header = (
        f"{'clip':9} {'look':14} {'keying':6} {'t':>4} {'PSNR dB':>8} {'SSIM':>7} {'retain':>7} {'sec':>7}"
    )
    print(header)
    print("-" * len(header))
    for clip, looks in results.items():
        for look, keyings in looks.items():
            for keying, frames in keyings.items():
                for t, s in frames.items():
                    print(
                        f"{clip:9} {look:14} {keying:6} {t:>4} {s['psnr']:8.2f} {s['ssim']:7.4f} "
                        f"{s['retention']:7.3f} {s['seconds']:7.2f}"
                    )
                if frames:
                    mean = {
                        m: float(np.mean([s[m] for s in frames.values()]))
                        for m in ("psnr", "ssim", "retention", "seconds")
                    }
                    print(
                        f"{clip:9} {look:14} {keying:6} {'mean':>4} {mean['psnr']:8.2f} {mean['ssim']:7.4f} "
                        f"{mean['retention']:7.3f} {mean['seconds']:7.2f}"
                    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ebsynth", type=Path, required=True, help="the ebsynth binary (built from source)")
    parser.add_argument("--clips", default=",".join(CLIPS), help="comma-separated sample clips")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "ebsynth.json"
    )
    parser.add_argument("--save-dir", type=Path, help="also write outputs, truths and contact sheets here")
    args = parser.parse_args(argv)
    if not args.ebsynth.is_file():
        parser.error(f"no ebsynth binary at {args.ebsynth}")
    if args.save_dir is not None:
        args.save_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for clip in [c.strip() for c in args.clips.split(",") if c.strip()]:
        print(f"{clip}:", flush=True)
        results[clip] = measure_clip(clip, args.ebsynth, args.save_dir)
    print()
    print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
