"""Face masks on bundled real footage: where they lock, against where the faces are, and speed.

    python bench/face_masks.py                  # this tree, on bikes
    python bench/face_masks.py --clip carphone  # another clip (only frame counts and speed off bikes)

On bikes, ``HEADS`` are the two faces in view, drawn by hand as boxes round each head (the man crossing at
f30-45, the cyclist at f76-136, hidden by a truck at f92-101): the bench prints the frames with any face
locked, the locked pixels and frames away from those heads (an oval on a car, a sign or a hand), and on how
many frames each head is locked (a locked region lying mostly within its box). Speed is the median of three
runs over the whole clip, in frames per second.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from shotcraft.media.read import VideoReader
from shotcraft.media.samples import sample_clip
from shotcraft.signals.faces import face_masks

#: Bikes' faces in view: first frame, last frame, box (x0, y0, x1, y1) holding the head on each of them.
HEADS = {"the man": (30, 45, (230, 0, 640, 110)), "the cyclist": (76, 136, (380, 0, 470, 110))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", default="bikes", help="a sample clip (shotcraft.media.samples)")
    args = parser.parse_args()
    frames = list(VideoReader(sample_clip(args.clip)).frames())
    speeds = []
    for _ in range(3):
        start = time.perf_counter()
        masks = np.stack([mask > 0.5 for mask in face_masks(iter(frames))])
        speeds.append(len(frames) / (time.perf_counter() - start))
    print(f"{args.clip}: {len(frames)} frames, a face locked on {int(masks.any(axis=(1, 2)).sum())}, "
          f"{np.median(speeds):.1f} fps")  # fmt: skip
    if args.clip != "bikes":
        return
    heads = np.zeros(masks.shape, bool)
    for first, last, (x0, y0, x1, y1) in HEADS.values():
        heads[first : last + 1, y0:y1, x0:x1] = True
    away = masks & ~heads
    print(f"locked away from the heads: {int(away.sum())} px on {int(away.any(axis=(1, 2)).sum())} frames "
          f"({sorted(np.flatnonzero(away.any(axis=(1, 2))).tolist())})")  # fmt: skip
    for name, (first, last, box) in HEADS.items():
        locked = sum(_on_head(masks[i], box) for i in range(first, last + 1))
        print(f"{name}: locked on {locked} of {last - first + 1} frames (f{first}-{last})")


def _on_head(mask: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """Whether a locked region lies mostly (half its area or more) within the head's box: an oval from
    elsewhere that merely reaches into the box (a van's window, a sign beside the head) does not count."""
    x0, y0, x1, y1 = box
    count, labels = cv2.connectedComponents(mask.astype(np.uint8))
    for k in range(1, count):
        region = labels == k
        if region[y0:y1, x0:x1].sum() >= 0.5 * region.sum():
            return True
    return False


if __name__ == "__main__":
    main()
