"""Face masks on bundled real footage: where they lock, against where the faces are, and speed.

    python bench/face_masks.py                  # this tree, on bikes
    python bench/face_masks.py --clip carphone  # another clip (only frame counts and speed off bikes)

On bikes, ``HEADS`` are the two faces in view, drawn by hand as boxes round each head (the man crossing at
f30-44, the cyclist at f103-136): the bench prints the frames with any face locked, the locked pixels and
frames away from those heads (an oval on a car, a sign or a hand), and on how many frames each head is
locked. Speed is the median of three runs over the whole clip, in frames per second.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from shotcraft.media.read import VideoReader
from shotcraft.media.samples import sample_clip
from shotcraft.signals.faces import face_masks

#: Bikes' faces in view: first frame, last frame, box (x0, y0, x1, y1) holding the head on each of them.
HEADS = {"the man": (30, 44, (230, 0, 640, 110)), "the cyclist": (103, 136, (385, 0, 460, 75))}


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
    for name, (first, last, _box) in HEADS.items():
        locked = int((masks & heads)[first : last + 1].any(axis=(1, 2)).sum())
        print(f"{name}: locked on {locked} of {last - first + 1} frames (f{first}-{last})")


if __name__ == "__main__":
    main()
