"""What the relight presets do to real footage, frame by frame: clipping, night, golden hour, steadiness.

    python bench/relight_looks.py                      # every preset on bikes and bigbuckbunny, every frame
    python bench/relight_looks.py --clip bikes --preset night
    python bench/relight_looks.py --sliders              # strong sliders, a light, graded keyframes too
    python bench/relight_looks.py --speed                # CPU per frame of the stage at 720p instead

Renders each take as a user gets it (``shotcraft transform`` to an .mp4 with the default codec and
settings), decodes it and compares every frame with the source decoded the same way, printing per case
and clip:

- ``clip+ max``: the share of pixels clipped in the take (any channel at 0 or at 255) minus the source's, at
  the worst frame (``@f``), and each end on its own (``at 0``, ``at 255``). The rule: at most 0.5 %. It is
  read on the encoded take because the encoder moves pixels: limited-range YUV, 4:2:0 chroma and the
  quantiser push a dark, coloured pixel a few levels further down on one channel than the grade put it.
- ``jitter``: how steady the grade is. Per frame the grade's exposure is ``log2(mean output luma / mean source
  luma)``; the jitter is the 95th percentile of its change between two frames of one shot, in stops (cuts
  excluded; content moving through a fixed grade moves it a little too). ``flicker``: mean |frame t − frame
  t−1| of the output over the source's, divided by the same ratio for detail (mean |horizontal step|), so
  a steady grade that darkens the picture is not counted as steadier: about 1 is as steady as the source.
- night: ``sky/rest``: mean luma of the large bright region (bigbuckbunny's sky, bikes' white roof in shot 1,
  hand-placed boxes below) over the mean luma of the rest (40 px clear of the box), source → output;
  ``plank top``: on how many frames the box's median luma is above the 99th percentile of the rest (the
  brightest thing in frame), source → output;
  ``chroma``: mean max−min of the output over the source's; ``green``: share of clearly green pixels.
- golden hour: ``key−far``: warmth (R−B, output minus source) on the third of the frame the light comes from
  minus the opposite third, in levels; ``hi−sh``: warmth change on the brightest 30 % minus the darkest
  30 % of what was grey in the source (chroma < 30; shadows cooler: > 0); ``white``: share of the sky box that is pure white at the worst frame;
  ``acid``: share of saturated bright yellow-green pixels (H 40–80°, S > 0.7, V > 0.7), source → output.

``--speed`` prints the stage's CPU milliseconds per 1280x720 frame (40 frames of bigbuckbunny, decoded
beforehand; the median over frames and 3 runs) for each preset and for strong sliders without one, on one
core (``NUMBA_NUM_THREADS=1``, one OpenCV thread), for this tree and for the baseline revision
(``--baseline``, default ``main``, taken with ``git archive``), in alternating worker processes of the same
run, with the ratio old / new.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from shotcraft.engines.classic.relight import PresetGrade, relight, resolve_relight
from shotcraft.media.read import VideoReader
from shotcraft.media.samples import sample_clip
from shotcraft.pipeline import transform
from shotcraft.plan import plan_transform
from shotcraft.signals.cuts import is_cut
from shotcraft.spec import RELIGHT_PRESETS, RelightOp, TransformSpec

#: Hand-placed boxes (x0, x1, y0, y1, first frame, last frame): bigbuckbunny's sky and bikes' white roof.
BRIGHT_REGION = {"bigbuckbunny": (1120, 1280, 0, 140, 0, 131), "bikes": (215, 425, 0, 272, 0, 29)}
LUMA = np.array([0.2126, 0.7152, 0.0722])


def _luma(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float32) @ LUMA.astype(np.float32)


def _clipped(frame: np.ndarray) -> tuple[float, float, float]:
    low, high = (frame == 0).any(axis=2), (frame == 255).any(axis=2)
    return float((low | high).mean()), float(low.mean()), float(high.mean())


def _acid(frame: np.ndarray) -> float:
    hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)  # OpenCV's hue is degrees / 2
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    return float(((h >= 20) & (h <= 40) & (s > 178) & (v > 178)).mean())


def _green(frame: np.ndarray) -> float:
    f = frame.astype(np.int16)
    return float(((f[..., 1] > f[..., 0] + 12) & (f[..., 1] > f[..., 2] + 12)).mean())


def night_keyframe(clip: Path, folder: Path, exposure: float = 0.0) -> RelightOp:
    """Keyframe-guided relight: the clip's middle frame graded night (as shotcraft grades it, so the still
    itself clips nothing), given as a graded keyframe, with ``exposure`` on top."""
    reader = VideoReader(clip)
    index = len(reader) // 2
    frame = reader.frame_at(index)
    grade, light = resolve_relight(RelightOp(preset="night"))
    still = PresetGrade("night", grade, light, frame.shape[1], frame.shape[0])(frame)
    Image.fromarray(still).save(folder / "graded.png")
    keyframe = {"at": {"frame": index}, "image": str(folder / "graded.png")}
    return RelightOp.model_validate({"keyframes": [keyframe], "exposure": exposure})


#: ``--sliders``: strong settings without a preset, a light of its own, and graded keyframes. Each makes
#: its op from the clip and a scratch folder (a keyframe needs its still written somewhere).
SLIDER_CASES: dict[str, Callable[[Path, Path], RelightOp]] = {
    "exposure -2": lambda clip, folder: RelightOp(exposure=-2.0),
    "exposure -3 cool saturated": lambda clip, folder: RelightOp(
        exposure=-3.0, temperature=-100, saturation=0.6
    ),
    "exposure +2": lambda clip, folder: RelightOp(exposure=2.0),
    "exposure +2 contrast saturation": lambda clip, folder: RelightOp(
        exposure=2.0, contrast=0.8, saturation=0.8
    ),
    "contrast +1": lambda clip, folder: RelightOp(contrast=1.0),
    "warm": lambda clip, folder: RelightOp(temperature=100, tint=60, saturation=0.5),
    "exposure -2, a light": lambda clip, folder: RelightOp(
        exposure=-2.0, light={"azimuth": 180, "intensity": 1.5, "colour": (1.0, 0.8, 0.5)}
    ),
    "keyframe graded night": night_keyframe,
    "keyframe graded night, exposure -1": lambda clip, folder: night_keyframe(clip, folder, -1.0),
}


def render_take(clip: Path, op: RelightOp, folder: Path) -> Path:
    """The take a user gets: ``transform`` to an .mp4 with the default codec and settings."""
    return transform(clip, folder / "take.mp4", TransformSpec(operations=[op])).path


def measure(clip_name: str, case: str, make_op: Callable[[Path, Path], RelightOp]) -> dict[str, float | str]:
    clip = sample_clip(clip_name)
    plan = plan_transform(clip, TransformSpec())
    with tempfile.TemporaryDirectory() as tmp:
        take = render_take(clip, make_op(clip, Path(tmp)), Path(tmp))
        # Both decoded the same way (the source's colour matrix and range, which the take carries too).
        pairs = zip(VideoReader(take).frames(), VideoReader(clip, plan.source).frames(), strict=True)
        return _figures(clip_name, case, plan.video.width, plan.video.height, pairs)


def _figures(
    clip_name: str, case: str, width: int, height: int, pairs: Iterator[tuple[np.ndarray, np.ndarray]]
) -> dict[str, float | str]:
    x0, x1, y0, y1, first, last = BRIGHT_REGION[clip_name]
    # The figures other than clipping are read on every other pixel (a 2x2 grid is plenty for means and
    # percentiles, and keeps the 720p clip quick).
    step = 2 if width > 800 else 1
    third = width // (3 * step)
    inside = np.zeros((height // step + 1, width // step + 1), bool)
    inside[y0 // step : y1 // step, x0 // step : x1 // step] = True
    # "The rest" keeps a margin round the box, so the bright area's own edges do not count as the rest.
    margin = np.zeros_like(inside)
    pad = 40 // step
    margin[max(0, y0 // step - pad) : y1 // step + pad, max(0, x0 // step - pad) : x1 // step + pad] = True
    worst, worst_frame = [0.0, 0.0, 0.0], 0
    stops: list[float] = []
    steps, moves, source_moves, detail_out, detail_src = [], [], [], [], []
    ratios_src, ratios_out, plank_top, plank_top_src, white = [], [], 0, 0, 0.0
    chroma_out = chroma_src = green_out = green_src = acid_out = acid_src = 0.0
    key_far, hi_sh, count = [], [], 0
    prev_src = prev_out = prev_grey = None
    for index, (full, full_src) in enumerate(pairs):
        count += 1
        c_out, c_src = _clipped(full), _clipped(full_src)
        if c_out[0] - c_src[0] > worst[0]:
            worst_frame = index
        worst = [max(w, a - b) for w, a, b in zip(worst, c_out, c_src, strict=True)]
        out, src = full[::step, ::step], full_src[::step, ::step]
        y_src, y_out = _luma(src), _luma(out)
        grey = cv2.cvtColor(src, cv2.COLOR_RGB2GRAY)
        cut = prev_grey is not None and is_cut(prev_grey, grey)
        stops.append(float(np.log2(max(y_out.mean(), 1e-3) / max(y_src.mean(), 1e-3))))
        if prev_src is not None and not cut:
            steps.append(abs(stops[-1] - stops[-2]))
            moves.append(float(np.abs(out.astype(np.int16) - prev_out).mean()))
            source_moves.append(float(np.abs(src.astype(np.int16) - prev_src).mean()))
        detail_out.append(float(np.abs(np.diff(y_out, axis=1)).mean()))
        detail_src.append(float(np.abs(np.diff(y_src, axis=1)).mean()))
        prev_src, prev_out, prev_grey = src, out, grey
        chroma_out += float((out.max(axis=2).astype(int) - out.min(axis=2)).mean())
        chroma_src += float((src.max(axis=2).astype(int) - src.min(axis=2)).mean())
        green_out, green_src = green_out + _green(out), green_src + _green(src)
        acid_out, acid_src = max(acid_out, _acid(out)), max(acid_src, _acid(src))
        if first <= index <= last:
            box, rest = (
                inside[: y_src.shape[0], : y_src.shape[1]],
                ~margin[: y_src.shape[0], : y_src.shape[1]],
            )
            ratios_src.append(y_src[box].mean() / y_src[rest].mean())
            ratios_out.append(y_out[box].mean() / y_out[rest].mean())
            plank_top += int(np.median(y_out[box]) > np.percentile(y_out[rest], 99))
            plank_top_src += int(np.median(y_src[box]) > np.percentile(y_src[rest], 99))
            white = max(white, float((full[y0:y1, x0:x1] == 255).all(axis=2).mean()))
        warm = (out[..., 0].astype(np.float32) - out[..., 2]) - (src[..., 0].astype(np.float32) - src[..., 2])
        key_far.append(float(warm[:, :third].mean() - warm[:, -third:].mean()))
        grey = (src.max(axis=2).astype(int) - src.min(axis=2)) < 30
        if grey.sum() > 100:
            low, high = np.percentile(y_src[grey], [30, 70])
            hi_sh.append(float(warm[grey & (y_src >= high)].mean() - warm[grey & (y_src <= low)].mean()))
    # Temporal change relative to the detail the grade keeps: a steady grade that darkens the picture
    # also shrinks its frame-to-frame differences, by about as much as its detail.
    flicker = (np.mean(moves) / max(np.mean(source_moves), 1e-6)) / (
        np.mean(detail_out) / np.mean(detail_src)
    )
    return {
        "clip": clip_name,
        "case": case,
        "clip+ max %": round(100 * worst[0], 2),
        "@f": worst_frame,
        "at 0 %": round(100 * worst[1], 2),
        "at 255 %": round(100 * worst[2], 2),
        "jitter p95 stops": round(float(np.percentile(steps, 95)), 3),
        "flicker": round(float(flicker), 3),
        "sky/rest": f"{np.mean(ratios_src):.2f}→{np.mean(ratios_out):.2f}",
        "plank top frames": f"{plank_top_src}→{plank_top}/{len(ratios_out)}",
        "chroma": round(chroma_out / chroma_src, 2),
        "green %": f"{100 * green_src / count:.1f}→{100 * green_out / count:.1f}",
        "key−far": round(float(np.mean(key_far)), 1),
        "hi−sh": round(float(np.mean(hi_sh)), 1),
        "white sky %": round(100 * white, 1),
        "acid %": f"{100 * acid_src:.1f}→{100 * acid_out:.1f}",
    }


#: The speed cases: every preset, and strong sliders without one (before: 8-bit curves and a matrix).
SPEED_CASES = {p: {"preset": p} for p in RELIGHT_PRESETS} | {
    "sliders (exposure +2, contrast)": {"exposure": 2.0, "contrast": 0.3, "saturation": 0.1}
}


def speed_worker(runs: int = 3, frames: int = 40) -> None:
    """Print the median CPU ms per frame of each case, as JSON, for the shotcraft on ``sys.path``."""
    cv2.setNumThreads(1)
    clip = sample_clip("bigbuckbunny")
    plan = plan_transform(clip, TransformSpec())
    reader = VideoReader(clip, plan.source)
    decoded = [reader.frame_at(i) for i in range(frames)]
    result = {}
    for name, settings in SPEED_CASES.items():
        times = []
        for run in range(runs + 1):
            stage = relight(plan, RelightOp(**settings), iter(decoded), reader)
            while True:
                started = time.process_time()
                if next(stage, None) is None:
                    break
                if run:  # the first run warms up (numba's compiled kernels, the LUTs' first use)
                    times.append(time.process_time() - started)
        result[name] = 1000 * statistics.median(times)
    print(json.dumps(result))


def speed(baseline: str, rounds: int = 2) -> None:
    root = Path(__file__).resolve().parent.parent
    env = os.environ | {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "archive", baseline, "src"], cwd=root, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        trees = {"old": Path(tmp) / "src", "new": root / "src"}
        samples: dict[str, dict[str, list[float]]] = {tree: {} for tree in trees}
        for _ in range(rounds):  # alternating, so both trees see the same load from other jobs
            for tree, src in trees.items():
                out = subprocess.run(
                    [sys.executable, __file__, "--speed-worker"],
                    env=env | {"PYTHONPATH": f"{src}{os.pathsep}{root / 'bench'}"},
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                for name, ms in json.loads(out.stdout.strip().splitlines()[-1]).items():
                    samples[tree].setdefault(name, []).append(ms)
    print(f"{'case':<34} {'old ms':>7} {'new ms':>7} {'old/new':>8}   (CPU per 1280x720 frame, one core)")
    for name in SPEED_CASES:
        old, new = (statistics.median(samples[tree][name]) for tree in trees)
        print(f"{name:<34} {old:7.1f} {new:7.1f} {old / new:7.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clip", choices=sorted(BRIGHT_REGION), action="append")
    parser.add_argument("--preset", choices=RELIGHT_PRESETS, action="append")
    parser.add_argument("--sliders", action="store_true", help="the --sliders cases too (see the doc)")
    parser.add_argument("--speed", action="store_true", help="CPU per frame at 720p instead, old vs new")
    parser.add_argument("--baseline", default="main", help="the revision --speed compares with")
    parser.add_argument("--speed-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.speed_worker:
        speed_worker()
        return
    if args.speed:
        speed(args.baseline)
        return
    cases: dict[str, Callable[[Path, Path], RelightOp]] = {
        p: lambda clip, folder, p=p: RelightOp(preset=p) for p in args.preset or RELIGHT_PRESETS
    }
    if args.sliders:
        cases |= SLIDER_CASES
    for index, (clip, (name, make_op)) in enumerate(
        (c, case) for c in args.clip or ("bikes", "bigbuckbunny") for case in cases.items()
    ):
        row = measure(clip, name, make_op)
        if not index:
            print(" | ".join(row))
        print(" | ".join(str(value) for value in row.values()), flush=True)


if __name__ == "__main__":
    main()
