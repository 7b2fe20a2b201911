"""Measure the bikes roof plate's outline on shot 1 (the ground truth in ``tests/data/bikes_plate.json``).

    python bench/plate_outline.py       # prints the "outline" entry of the JSON file

Each edge of the plate is found on 40 profiles across it (frames as the tests decode them: 640x272,
lossless): the sub-pixel point where the brightness crosses halfway between the plate and what lies outside
it. Top, left and right edges: plate to roof (when the roof beyond the top edge is outside the picture, the
roof's level beside the plate stands in). Bottom edge: the plate's face to the dark band of its lower side
(the face's edge, not the side's shadow, which changes with the viewpoint). A line is fitted to each edge
(Huber), and the corners are where neighbouring lines cross; a corner whose edge is outside the picture is
null. The lines fit to 0.03-0.17 px (median distance of the profile points). Each frame starts from the
last two frames' corners carried on (frame 1: from frame 0 shifted as the roof around the plate moved).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import map_coordinates

from shotcraft.media.read import VideoReader
from shotcraft.media.synth import make_clip

PLATE = Path(__file__).resolve().parents[1] / "tests" / "data" / "bikes_plate.json"
STEP = 0.125  # px between profile samples


def edge(grey: np.ndarray, a: np.ndarray, b: np.ndarray, centre: np.ndarray, roof: float, bottom: bool):
    """The line (point, direction) through the plate's edge near the segment ``a``-``b``, or None."""
    height, width = grey.shape
    along = (b - a) / np.linalg.norm(b - a)
    normal = np.array([-along[1], along[0]])
    normal = normal if np.dot((a + b) / 2 - centre, normal) > 0 else -normal  # outwards
    offsets = np.arange(-9, 9 + STEP / 2, STEP)
    found = []
    for s in np.linspace(0.15, 0.85, 40):
        xy = a + s * (b - a) + offsets[:, None] * normal
        inside = (xy[:, 0] >= 0) & (xy[:, 0] <= width - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= height - 1)
        if not inside[offsets <= 1].all():
            continue
        profile = map_coordinates(grey, [xy[:, 1], xy[:, 0]], order=1, mode="nearest")
        plate = np.median(profile[(offsets >= -8) & (offsets <= -5)])
        if bottom:
            band = (offsets >= -5) & (offsets <= 4)
            outside, limit = profile[band].min(), offsets[band][np.argmin(profile[band])]
        else:
            beyond = (offsets >= 5) & (offsets <= 8) & inside
            outside, limit = (np.median(profile[beyond]) if beyond.sum() >= 8 else roof), 5.0
        half = (plate + outside) / 2
        sign = np.sign(profile - half)
        cross = np.flatnonzero((sign[:-1] != sign[1:]) & (offsets[:-1] >= -5) & (offsets[:-1] < limit))
        if len(cross) == 0:
            continue
        k = cross[np.argmin(np.abs(offsets[cross]))]
        at = offsets[k] + (half - profile[k]) / (profile[k + 1] - profile[k]) * STEP
        found.append(a + s * (b - a) + at * normal)
    if len(found) < 3:
        return None
    vx, vy, x0, y0 = cv2.fitLine(np.array(found, np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
    return np.array([x0, y0]), np.array([vx, vy])


def crossing(first, second) -> np.ndarray:
    (p, d), (q, e) = first, second
    return p + np.linalg.solve(np.array([d, -e]).T, q - p)[0] * d


def outline(grey: np.ndarray, guess: np.ndarray) -> list[np.ndarray | None]:
    height = grey.shape[0]
    top, right = int(max(0, guess[:, 1].min())), int(guess[1:3, 0].max())
    roof = float(np.median(grey[top : top + 20, right + 6 : right + 12]))
    lines = [
        None if k == 2 and max(guess[2, 1], guess[3, 1]) >= height - 6
        else edge(grey, guess[k], guess[(k + 1) % 4], guess.mean(axis=0), roof, bottom=k == 2)
        for k in range(4)
    ]  # fmt: skip
    return [
        None if lines[k - 1] is None or lines[k] is None else crossing(lines[k - 1], lines[k])
        for k in range(4)
    ]


def main() -> None:
    notes = json.loads(PLATE.read_text())
    with tempfile.TemporaryDirectory() as folder:
        clip = make_clip(Path(folder) / "shot1.mp4", frames=28, width=640, height=272, footage="bikes",
                         lossless=True)  # fmt: skip
        frames = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float64) for f in VideoReader(clip).frames()]
    last, guess = notes["leaving"][1], np.asarray(notes["reference"], np.float64)
    found: dict[int, list[np.ndarray | None]] = {}
    history: list[np.ndarray] = []
    for index in range(last + 1):
        if len(history) >= 2:
            guess = 2 * history[-1] - history[-2]
        elif history:  # the first step: the roof's shift around the plate (phase correlation)
            x0, x1 = int(guess[:, 0].min()) - 100, int(guess[:, 0].max()) + 100
            window = cv2.createHanningWindow((x1 - x0, frames[0].shape[0]), cv2.CV_64F)
            (dx, dy), _ = cv2.phaseCorrelate(frames[index - 1][:, x0:x1], frames[index][:, x0:x1], window)
            guess = history[-1] + [dx, dy]
        for _ in range(3):  # re-centre the profiles on what was found
            corners = outline(frames[index], guess)
            guess = np.array([c if c is not None else g for c, g in zip(corners, guess, strict=True)])
        found[index] = corners
        history.append(guess)
    print(json.dumps({str(i): [None if c is None else [round(float(c[0]), 2), round(float(c[1]), 2)] for c in q]
                      for i, q in found.items()}))  # fmt: skip


if __name__ == "__main__":
    main()
