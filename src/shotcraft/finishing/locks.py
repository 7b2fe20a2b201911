"""Where the lock is applied — the one place, shared by every engine.

Locked pixels are taken from the decoded source frame: where the mask is 1 the output pixel *is* the
source pixel (exact in RGB, so bit-exact on RGB-lossless output); in the feathered band just outside,
source and engine output are blended. :func:`locked_transform` runs an engine with its locks applied and
decodes the source once: the lock step replays the frames the engine decoded (a
:class:`~shotcraft.media.read.TeeReader`) instead of decoding the clip again.

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

from shotcraft.engines.base import no_progress
from shotcraft.media.read import TeeReader
from shotcraft.signals.masks import lock_masks

if TYPE_CHECKING:
    from shotcraft.engines.base import Engine, Progress
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import TransformPlan


def composite(generated: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``source`` where ``mask`` is 1, ``generated`` where it is 0, a linear blend between."""
    if mask.shape != source.shape[:2] or generated.shape != source.shape:
        raise ValueError(
            f"lock mask {mask.shape}, frame {generated.shape} and source {source.shape} differ in size"
        )
    # Only the box around the mask's non-zero pixels is blended: outside it the output is ``generated``
    # untouched, which is what the blend gives there too, at a fraction of the cost for small locks.
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return generated.copy()
    cols = np.flatnonzero(mask.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    m = mask[box][..., None]
    blended = source[box].astype(np.float32) * m + generated[box].astype(np.float32) * (1.0 - m)
    out = generated.copy()
    out[box] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return out


def locked_transform(
    plan: TransformPlan, engine: Engine, reader: VideoReader, progress: Progress = no_progress
) -> Iterator[np.ndarray]:
    """``engine``'s frames for ``plan`` with the plan's locks composited in; the way to run an engine.

    With locks, the engine reads the source through a :class:`~shotcraft.media.read.TeeReader`, so the lock
    step gets the source frames the engine decoded rather than decoding the clip a second time.
    """
    if not plan.spec.locks:
        return engine.transform(plan, reader, progress)
    shared = TeeReader(reader)
    return apply_locks(plan, engine.transform(plan, shared, progress), shared, sources=shared.replay())


def apply_locks(
    plan: TransformPlan,
    frames: Iterable[np.ndarray],
    reader: VideoReader,
    sources: Iterable[np.ndarray] | None = None,
) -> Iterator[np.ndarray]:
    """Put the locked source pixels back into each engine frame (a pass-through when nothing is locked).

    ``sources`` are the source frames in order (by default decoded from ``reader``). On a reframed output the
    source (and so every lock) sits at the canvas offset; the new area around it has nothing to lock.
    """
    masks = lock_masks(plan, reader)
    if masks is None:
        yield from frames
        return
    canvas = plan.canvas
    sources = reader.frames() if sources is None else sources
    # The engine's frame is drawn first, so its decoding pass is the one a TeeReader shares.
    for generated, source, mask in zip(frames, sources, masks, strict=False):
        if canvas is None:
            yield composite(generated, source, mask)
            continue
        h, w = source.shape[:2]
        region = (slice(canvas.y, canvas.y + h), slice(canvas.x, canvas.x + w))
        out = generated.copy()
        out[region] = composite(generated[region], source, mask)
        yield out
