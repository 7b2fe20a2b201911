"""Does a market version match the sign? Stroke width, ink colour and grain of the new text, OCR on every
frame, nothing drawn off the old text, and speed; for this tree and (``--before``) another one, in one run.

    python bench/localize_match.py                          # this tree
    python bench/localize_match.py --before ../main/src     # ... and another tree's localize, same clips

Cases: the demo sign (``signage_frames``, SUMMER SALE on a cream board over bikes footage, 40 frames,
480x272) into German and Japanese; a dark board that grows to twice its size with pale letters (FRESH
BREAD, 48 frames, a cut at f30); and bikes.mp4's taxi sign (TAXI, partly outside the picture on
f60-66). The clips are made by this tree; the other tree's ``markets.localize`` renders them in a child
process (its own imports), losslessly, so what is measured is the localization, not the encoder.

Measured on the sign's plate (each frame pulled back onto the track's rectified reference): stroke
width new/old and the RGB distance of the strokes' core colours (``text_matte.analyse``),
the fill's grain (high-pass std where the old letters were and the new are not, clear of both's edges,
over the same on the sign made without letters), OCR per frame (the share of frames that read as the new text, and that
still read any of the old), and for the taxi the frames on which something changed off the sign round
its red letters. Medians over every 5th frame of the track for the plate measures.
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

import cv2
import numpy as np

from shotcraft.engines.classic import text_matte
from shotcraft.markets import localize, signage_frames
from shotcraft.media.read import VideoReader
from shotcraft.media.samples import sample_clip
from shotcraft.media.synth import make_clip
from shotcraft.signals.ocr import read_text, similarity
from shotcraft.signals.text_tracks import find_text_tracks
from shotcraft.spec import OutputSpec

BOARD = dict(appear=2, grow=2.0, margin=0.2, span=0.35, board=(38, 84, 60), ink=(240, 228, 196))
#: (name, clip key, market, old text, new text)
CASES = [
    ("demo sign de", "sign", "de", "SUMMER SALE", "SOMMERSCHLUSSVERKAUF"),
    ("demo sign ja", "sign", "ja", "SUMMER SALE", "夏のセール"),
    ("growing board de", "board", "de", "FRESH BREAD", "FRISCHES BROT"),
    ("bikes taxi de", "bikes", "de", "TAXI", "DROSCHKE"),
]

_CHILD = """
import json, sys, time
from pathlib import Path
from shotcraft.markets import localize
from shotcraft.spec import OutputSpec
jobs, out = json.loads(sys.argv[1]), {}
for name, clip, folder, market, old, new in jobs:
    t = time.perf_counter()
    [r] = localize(clip, folder, [market], replacements={old: {market: new}}, output=OutputSpec(lossless=True))
    out[name] = [str(r.path), time.perf_counter() - t]
print(json.dumps(out))
"""


def _clips(folder: Path) -> dict[str, Path]:
    clips = {
        "sign": make_clip(
            folder / "sign.mp4", frames=40, width=480, height=272, fps=25,
            content=signage_frames("SUMMER SALE", 40, 480, 272, appear=5),
        ),
        "board": make_clip(
            folder / "board.mp4", frames=48, width=480, height=272, fps=25,
            content=signage_frames("FRESH BREAD", 48, 480, 272, **BOARD),
        ),
        # The same signs without their letters (ink in the board's colour): the grain a fill should have.
        "sign bare": make_clip(
            folder / "sign_bare.mp4", frames=40, width=480, height=272, fps=25,
            content=signage_frames("SUMMER SALE", 40, 480, 272, appear=5, ink=(236, 226, 198)),
        ),
        "board bare": make_clip(
            folder / "board_bare.mp4", frames=48, width=480, height=272, fps=25,
            content=signage_frames("FRESH BREAD", 48, 480, 272, **{**BOARD, "ink": BOARD["board"]}),
        ),
    }  # fmt: skip
    return {**clips, "bikes": sample_clip("bikes")}


def _render(src: str | None, clips: dict[str, Path], folder: Path) -> dict[str, tuple[Path, float]]:
    """Every case rendered by the tree at ``src`` (a child process) or by this one (None)."""
    jobs = [(name, str(clips[key]), str(folder / name.replace(" ", "_")), market, old, new)
            for name, key, market, old, new in CASES]  # fmt: skip
    if src is not None:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, json.dumps(jobs)],
            env={**os.environ, "PYTHONPATH": src}, check=True, capture_output=True, text=True,
        )  # fmt: skip
        return {k: (Path(p), s) for k, (p, s) in json.loads(done.stdout.splitlines()[-1]).items()}
    out = {}
    for name, clip, target, market, old, new in jobs:
        started = time.perf_counter()
        [result] = localize(
            clip, target, [market], replacements={old: {market: new}}, output=OutputSpec(lossless=True)
        )
        out[name] = (result.path, time.perf_counter() - started)
    return out


def _plate(frame: np.ndarray, track, index: int) -> np.ndarray:
    ph, pw = track.plate.shape[:2]
    return cv2.warpPerspective(frame, track.plate_to_frame(index), (pw, ph), flags=cv2.WARP_INVERSE_MAP)


def _high_pass(rgb: np.ndarray) -> np.ndarray:
    grey = rgb.astype(np.float32).mean(axis=2)
    return grey - cv2.GaussianBlur(grey, (0, 0), 1.5)


def _on_plates(clip: Path, bare: Path, output: Path, old_text: str) -> dict[str, float]:
    """Stroke ratio, core colour distance and grain ratio (the fill against the same pixels of the sign
    made without letters), medians over every 5th frame of each track."""
    strokes, colours, grains = [], [], []
    near = np.ones((9, 9), np.uint8)
    result, truth = VideoReader(output), VideoReader(bare)
    for track in find_text_tracks(VideoReader(clip), [old_text], every=8):
        if track.clipped:
            continue
        old = text_matte.analyse(track.plate, track.box)
        holes = cv2.dilate(old.letters, np.ones((5, 5), np.uint8)) > 0
        on_sign = cv2.erode(old.surface.astype(np.uint8), near) > 0
        for index in sorted(track.homographies)[::5]:
            plate = _plate(result.frame_at(index), track, index)
            new = text_matte.analyse(plate, track.box)
            strokes.append(new.stroke / max(old.stroke, 1e-6))
            colours.append(float(np.linalg.norm(np.subtract(new.ink, old.ink))))
            # Where the old letters were and the new ones are not, clear of both's edges.
            filled = (holes & ~(cv2.dilate(new.letters, near) > 0)).astype(np.uint8)
            filled = (cv2.erode(filled, np.ones((5, 5), np.uint8)) > 0) & on_sign
            if filled.sum() > 50:
                expected = _high_pass(_plate(truth.frame_at(index), track, index))[filled].std()
                grains.append(float(_high_pass(plate)[filled].std() / expected))
    median = lambda v: float(np.median(v)) if v else float("nan")  # noqa: E731
    return {
        "stroke_ratio": median(strokes),
        "colour_distance": median(colours),
        "grain_ratio": median(grains),
    }


def _ocr(output: Path, frames: range, old_text: str, new_text: str) -> dict[str, float]:
    """Share of ``frames`` that read as the new text (similarity ≥ 0.85), and that still read the old
    (any word of it)."""
    reader, new_ok, old_seen = VideoReader(output), 0, 0
    old_words = [w.lower() for w in old_text.split()]
    for index in frames:
        read = " ".join(b.text for b in read_text(reader.frame_at(index)))
        new_ok += similarity(read, new_text) >= 0.85
        old_seen += any(w in read.lower() for w in old_words)
    return {"ocr_new": new_ok / len(frames), "ocr_old": old_seen / len(frames)}


def _taxi_letters(frame: np.ndarray) -> tuple[int, int, int, int] | None:
    """The taxi sign's red letters in a bikes frame (see tests/localize/test_localize_match.py)."""
    rgb = frame.astype(np.int16)
    red = (rgb[..., 0] - rgb[..., 1:].max(axis=2) > 20) & (rgb[..., 0] > 55)
    red = cv2.morphologyEx(red.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    stats = cv2.connectedComponentsWithStats(red)[2][1:]
    boxes = np.array(
        [s for s in stats if 24 <= s[3] <= 45 and s[2] <= 60 and s[4] >= 150 and 90 <= s[1] <= 200]
    )
    if not len(boxes):
        return None
    return (
        boxes[:, 0].min(),
        boxes[:, 1].min(),
        (boxes[:, 0] + boxes[:, 2]).max(),
        (boxes[:, 1] + boxes[:, 3]).max(),
    )


def _taxi(clip: Path, output: Path) -> dict[str, object]:
    """Frames 38-79 on which something changed off the sign round the red letters, and those drawn on."""
    before, after = VideoReader(clip), VideoReader(output)
    off, drawn = [], 0
    for index in range(38, 80):
        frame = before.frame_at(index)
        changed = cv2.GaussianBlur(
            np.abs(frame.astype(np.int16) - after.frame_at(index)).max(axis=2).astype(np.float32), (0, 0), 2
        ) > 25  # fmt: skip
        allowed = np.zeros(changed.shape, bool)
        letters = _taxi_letters(frame) if index < 76 else None
        if letters is not None:
            x0, y0, x1, y1 = letters
            grow = y1 - y0
            allowed[max(0, y0 - grow // 2) : y1 + grow // 2, max(0, x0 - grow) : x1 + grow] = True
        if (changed & ~allowed).any():
            off.append(index)
        drawn += bool(changed.any())
    return {"frames_drawn": drawn, "frames_off_the_sign": off}


def measure(before: str | None) -> dict[str, dict[str, dict]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clips = _clips(folder)
        runs = {"after": _render(None, clips, folder / "after")}
        if before:
            runs = {"before": _render(before, clips, folder / "before"), **runs}
        report: dict[str, dict[str, dict]] = {}
        for tree, outputs in runs.items():
            for name, key, _, old, new in CASES:
                output, seconds = outputs[name]
                frames = VideoReader(clips[key]).video.frame_count
                row: dict = {"seconds": round(seconds, 1), "fps": round(frames / seconds, 1)}
                if key == "bikes":
                    row |= _taxi(clips[key], output)
                else:
                    row |= _on_plates(clips[key], clips[f"{key} bare"], output, old)
                    appear = 5 if key == "sign" else BOARD["appear"]
                    row |= _ocr(output, range(appear + 1, frames), old, new)
                report.setdefault(name, {})[tree] = row
        return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", help="a src/ folder of another shotcraft tree to compare against")
    args = parser.parse_args()
    report = measure(args.before)
    for name, trees in report.items():
        print(f"\n{name}")
        for tree, row in trees.items():
            print(f"  {tree:>6}: " + "  ".join(
                f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
            ))  # fmt: skip
    print(json.dumps(report))


if __name__ == "__main__":
    main()
