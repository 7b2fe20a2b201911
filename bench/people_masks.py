"""People masks on a bundled clip: steadiness per shot, agreement with the hand-drawn truth, and speed.

    python bench/people_masks.py                          # this tree against the per-frame model, on bikes
    python bench/people_masks.py --before ../main/src     # ... and against another tree's people_masks
    python bench/people_masks.py --save masks.npz         # keep the masks (for a contact sheet)
    python bench/people_masks.py --clip carphone          # another clip (truth IoU only on bikes)

For each method and each shot (cuts found by ``signals.cuts.is_cut``): the flow-compensated IoU of
consecutive masks over the pairs where someone is in view (either mask non-empty: mean, median, minimum; a
pair where one mask is empty scores 0) and its median over the other pairs (both empty count as 1, so a shot
with no one in it reads as steady), the pairs where one mask is empty (a person entering or leaving, or a mask
blinking), the largest jump of the locked share between two frames that both have someone locked (and the
later frame), IoU against tests/data/people_bikes on every drawn frame, and fps.

The flow that carries the earlier mask is DIS "fast" at half size, the same flow the masks themselves are
carried by (`temporal_masks.motions`), so a mask that merely follows its own flow scores well there. ``fine``
repeats the in-view figures with an independent, finer flow (DIS "medium" at full size): on the man's
shot (f31-44, 13-35 px a frame) the half-size flow drags his outline along with the background and
reads each edge as 2-4 % of the frame lost where the mask is right.
``per-frame`` is the model's probability cut at 0.5 on each frame alone (no time, no edge refinement).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from shotcraft.media.read import VideoReader
from shotcraft.media.samples import sample_clip
from shotcraft.signals.cuts import is_cut
from shotcraft.signals.flow import compute_flow, warp
from shotcraft.signals.people import PeopleSegmenter, people_masks

TRUTH = Path(__file__).resolve().parent.parent / "tests" / "data" / "people_bikes"


def _timed(make) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    masks = np.stack([m > 0.5 for m in make()])
    return masks, len(masks) / (time.perf_counter() - start)


def _before(src: str, clip: str, out: Path) -> float:
    """Run another tree's ``people_masks`` on bikes in a child process (its own imports); returns its fps."""
    code = (
        "import sys, time, numpy as np\n"
        "from shotcraft.media.read import VideoReader\nfrom shotcraft.media.samples import sample_clip\n"
        "try:\n    from shotcraft.signals.people import people_masks\n"
        "except ImportError:  # a tree from before signals/segment.py was split\n"
        "    from shotcraft.signals.segment import people_masks\n"
        "frames = list(VideoReader(sample_clip(sys.argv[2])).frames())\n"
        "t = time.perf_counter(); m = np.stack([x > 0.5 for x in people_masks(iter(frames))])\n"
        "print(len(m) / (time.perf_counter() - t)); np.save(sys.argv[1], m)\n"
    )
    env = {**os.environ, "PYTHONPATH": src}
    done = subprocess.run(
        [sys.executable, "-c", code, str(out), clip], env=env, check=True, capture_output=True, text=True
    )
    return float(done.stdout.split()[-1])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return 1.0 if union == 0 else float((a & b).sum() / union)


def _shots(frames: list[np.ndarray]) -> tuple[list[tuple[int, int]], list[np.ndarray], list[np.ndarray]]:
    """Shot ranges and the flow from each frame back to the previous one (zeros at the first frame): the
    masks' own (DIS fast at half size) and the finer one (DIS medium at full size)."""
    zero = np.zeros((*frames[0].shape[:2], 2), np.float32)
    starts, backs, fine = [0], [zero], [zero]
    for i in range(1, len(frames)):
        back = compute_flow(frames[i], frames[i - 1])
        if is_cut(frames[i - 1], frames[i], compute_flow(frames[i - 1], frames[i]), back):
            starts.append(i)
        backs.append(back)
        fine.append(compute_flow(frames[i], frames[i - 1], scale=1.0, preset="medium"))
    return list(zip(starts, [*starts[1:], len(frames)], strict=True)), backs, fine


def _steadiness(masks: np.ndarray, shots, backs) -> list[dict]:
    """Per shot: the flow IoU of consecutive masks over the pairs where someone is in view (either mask
    non-empty; a pair where one is empty scores 0, so a mask that blinks off mid-shot shows) and its median
    over the pairs that are not a person entering or leaving (both empty scores 1: a shot with no one in it
    reads as perfectly steady, which says nothing of people), and the largest jump of the locked share
    between two frames where both masks are non-empty, with the later frame."""
    rows = []
    for first, end in shots:
        overlaps, in_view, jumps, events = [], [], [], 0
        for i in range(first + 1, end):
            now, before = masks[i], masks[i - 1]
            overlap = _iou(now, warp(before.astype(np.float32), backs[i]) > 0.5)
            if now.any() or before.any():
                in_view.append(overlap)
            if now.any() != before.any():
                events += 1
                continue
            overlaps.append(overlap)
            if now.any():
                jumps.append((abs(float(now.mean()) - float(before.mean())), i))
        jump, at = max(jumps, default=(0.0, -1))
        rows.append({
            "shot": f"f{first}-{end - 1}", "median_iou": float(np.median(overlaps or [1.0])),
            "in_view_pairs": len(in_view), "in_view_mean": float(np.mean(in_view or [1.0])),
            "in_view_median": float(np.median(in_view or [1.0])), "in_view_min": min(in_view, default=1.0),
            "max_jump": jump, "max_jump_at": at, "enter_leave": events,
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", help="a src/ folder of another shotcraft tree to compare against")
    parser.add_argument("--save", type=Path, help="write every method's masks to this .npz")
    parser.add_argument("--clip", default="bikes", help="a sample clip (shotcraft.media.samples)")
    args = parser.parse_args()

    frames = list(VideoReader(sample_clip(args.clip)).frames())
    segmenter = PeopleSegmenter()
    methods: dict[str, tuple[np.ndarray, float]] = {
        "per-frame": _timed(lambda: (segmenter.probability(f) for f in frames)),
        "this tree": _timed(lambda: people_masks(iter(frames))),
    }
    if args.before:
        with tempfile.TemporaryDirectory() as tmp:
            fps = _before(args.before, args.clip, Path(tmp) / "before.npy")
            methods = {"before": (np.load(Path(tmp) / "before.npy"), fps), **methods}
    shots, backs, fine = _shots(frames)
    drawn = sorted(int(p.stem[1:]) for p in TRUTH.glob("f*.png")) if args.clip == "bikes" else []
    report = {}
    for name, (masks, fps) in methods.items():
        truth = {f"f{i}": _iou(masks[i], np.asarray(Image.open(TRUTH / f"f{i:03d}.png").convert("L")) > 127)
                 for i in drawn}  # fmt: skip
        rows, finer = _steadiness(masks, shots, backs), _steadiness(masks, shots, fine)
        report[name] = {"fps": fps, "shots": rows, "fine": finer, "truth_iou": truth}
        print(f"\n{name}: {fps:.1f} fps")
        for row, row_fine in zip(rows, finer, strict=True):
            print(f"  {row['shot']:>9}  in view: {row['in_view_pairs']:2d} pairs, flow IoU"
                  f" mean {row['in_view_mean']:.3f} median {row['in_view_median']:.3f}"
                  f" min {row['in_view_min']:.3f} (fine: mean {row_fine['in_view_mean']:.3f}"
                  f" median {row_fine['in_view_median']:.3f});  all pairs median {row['median_iou']:.3f};"
                  f"  max share jump {row['max_jump']:.1%} (f{row['max_jump_at']});"
                  f"  enter/leave {row['enter_leave']}")  # fmt: skip
        print(f"  locked share mean {masks.mean():.1%}")
        if truth:
            print("  truth IoU " + "  ".join(f"{k} {v:.3f}" for k, v in truth.items()))
    if args.save:
        np.savez_compressed(args.save, **{name.replace(" ", "_"): m for name, (m, _) in methods.items()})
    print("\n" + json.dumps({k: {"fps": round(v["fps"], 2)} for k, v in report.items()}))


if __name__ == "__main__":
    main()
