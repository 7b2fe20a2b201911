"""Where the lock is applied — the one place, shared by every engine.

Locked pixels are taken from the decoded source frame: where the mask is 1 the output pixel *is* the
source pixel (exact in RGB, so bit-exact on RGB-lossless output); in the feathered band just outside,
source and engine output are blended.

>>> import numpy as np
>>> src = np.full((4, 4, 3), 200, np.uint8); gen = np.zeros((4, 4, 3), np.uint8)
>>> mask = np.zeros((4, 4), np.float32); mask[:2] = 1.0; mask[2] = 0.5
>>> composite(gen, src, mask)[:, 0, 0].tolist()
[200, 200, 100, 0]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from shotcraft.signals.masks import lock_masks

if TYPE_CHECKING:
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import TransformPlan


def composite(generated: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``source`` where ``mask`` is 1, ``generated`` where it is 0, a linear blend between."""
    if mask.shape != source.shape[:2] or generated.shape != source.shape:
        raise ValueError(
            f"lock mask {mask.shape}, frame {generated.shape} and source {source.shape} differ in size"
        )
    m = mask[..., None]
    blended = source.astype(np.float32) * m + generated.astype(np.float32) * (1.0 - m)
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def apply_locks(
    plan: TransformPlan, frames: Iterable[np.ndarray], reader: VideoReader
) -> Iterator[np.ndarray]:
    """Put the locked source pixels back into each engine frame (a pass-through when nothing is locked).

    On a reframed output the source (and so every lock) sits at the canvas offset; the new area around it
    has nothing to lock.
    """
    masks = lock_masks(plan, reader)
    if masks is None:
        yield from frames
        return
    canvas = plan.canvas
    for generated, source, mask in zip(frames, reader.frames(), masks, strict=False):
        if canvas is None:
            yield composite(generated, source, mask)
            continue
        h, w = source.shape[:2]
        region = (slice(canvas.y, canvas.y + h), slice(canvas.x, canvas.x + w))
        out = generated.copy()
        out[region] = composite(generated[region], source, mask)
        yield out
