"""A built-in look (or a reference image's colour) on every frame at full strength, steady in time.

The look applied to frame ``t`` is what frame ``t`` should be, so it is computed on every frame; nothing is
carried from an old keyframe, so the look cannot decay over a shot. Steadiness comes from the motion
(:mod:`~shotcraft.engines.classic.temporal`): the grain is carried along the flow, re-seeded only on new
content and at cuts, and each frame is pulled towards the previous frame's look warped along the flow, as
strongly as ``motion_adherence`` says (:func:`stabilising_strength`).

A reference image gives each shot a colour mapping fitted on the shot's first frame (a 3-D LUT from the
frame to the frame with the reference's colour and tone, :func:`~shotcraft.engines.classic.looks.transfer_look`);
the same mapping then serves the whole shot, so the grade does not pump as the content changes.

>>> from shotcraft.media.read import VideoReader
>>> from shotcraft.media.samples import sample_clip
>>> from shotcraft.plan import plan_transform
>>> from shotcraft.spec import RestyleOp, TransformSpec
>>> import tempfile
>>> reader = VideoReader(sample_clip("carphone"))
>>> op = RestyleOp(look="pencil")
>>> plan = plan_transform(reader.info, TransformSpec(operations=[op]))
>>> frames = look_every_frame(plan, op, reader, cache_root=tempfile.mkdtemp())
>>> next(frames).shape, sum(1 for _ in frames) + 1 == plan.frame_count
((144, 176, 3), True)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from shotcraft.engines.classic.looks import GRAIN, apply_look, transfer_look
from shotcraft.engines.classic.lut import apply_lut, fit_lut
from shotcraft.engines.classic.temporal import AdvectedTexture, stabilise
from shotcraft.media.stills import read_image
from shotcraft.progress import Progress, no_progress
from shotcraft.signals.cache import FlowCache
from shotcraft.signals.cuts import is_cut
from shotcraft.signals.flow import FlowSettings
from shotcraft.spec import adherence_level

if TYPE_CHECKING:
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import TransformPlan
    from shotcraft.spec import Adherence, RestyleOp

#: The flow the look follows: DIS "fast" at half size (sub-pixel on real footage, cheap).
LOOK_FLOW = FlowSettings(scale=0.5, preset="fast")
#: Lattice points per axis of a shot's reference colour mapping.
_REFERENCE_LUT_BINS = 17


def stabilising_strength(motion_adherence: Adherence) -> float:
    """How strongly each frame is pulled towards the previous one's look along the flow: 0 when ``off``,
    rising to 0.3 at 9 (never more, so every frame keeps most of its own look and detail).

    >>> [stabilising_strength(m) for m in ("off", 1, 9)]
    [0.0, 0.0333, 0.3]
    """
    return round(adherence_level(motion_adherence) / 30.0, 4)


def shot_memory(op: RestyleOp) -> str | None:
    """What state ``op``'s look carries along a whole shot, or ``None`` when a frame needs only the previous
    frame (the steadiness pull and the cut test): grain advected since the shot's first frame (its
    coordinates and re-seeding draws), or a reference's colour mapping fitted on that first frame.

    >>> from shotcraft.spec import RestyleOp
    >>> shot_memory(RestyleOp(look="cartoon")) is None
    True
    """
    if op.reference is not None:
        return "a reference's colour mapping is fitted on each shot's first frame"
    if GRAIN.get(op.look or "", (0, 0.0))[1] > 0:
        return f"the {op.look} look carries its grain along the whole shot"
    return None


def look_every_frame(
    plan: TransformPlan,
    op: RestyleOp,
    reader: VideoReader,
    progress: Progress = no_progress,
    *,
    cache_root: str | os.PathLike[str] | None = None,
) -> Iterator[np.ndarray]:
    """Yield ``plan.frame_count`` frames of ``op.look`` and/or ``op.reference``'s colour (RGB uint8)."""
    reference = read_image(op.reference, "restyle reference") if op.reference is not None else None
    cache = FlowCache(reader.info, LOOK_FLOW, cache_root)
    return _frames(plan, op.look, reference, reader, cache, progress)


def _frames(
    plan: TransformPlan,
    look: str | None,
    reference: np.ndarray | None,
    reader: VideoReader,
    cache: FlowCache,
    progress: Progress,
) -> Iterator[np.ndarray]:
    width, height = plan.size
    seed, grain_strength = GRAIN.get(look or "", (0, 0.0))
    texture = AdvectedTexture(width, height, seed) if grain_strength > 0 else None
    no_grain = np.zeros((height, width), np.float32)
    stabilising = stabilising_strength(plan.spec.motion_adherence)
    previous_small: np.ndarray | None = None
    previous: np.ndarray | None = None
    mapping: np.ndarray | None = None
    for t, frame, pair in cache.walk(reader, 0, plan.frame_count):
        small = cache.settings.working_frame(frame)
        new_shot = pair is None or is_cut(previous_small, small, pair.forward, pair.backward)
        previous_small = small
        # The look without its grain is what is stabilised; the grain, carried along the flow, is laid on
        # after, so it stays as crisp as the look's own (every look multiplies its grain in last).
        base = apply_look(frame, look, no_grain) if look else frame
        if reference is not None:
            if new_shot:
                mapping = fit_lut(base, transfer_look(base, reference), size=_REFERENCE_LUT_BINS)
            base = apply_lut(base, mapping)
        result = base.astype(np.float32)
        if not new_shot and previous is not None:
            steady = stabilise(result, previous, pair, stabilising)
            previous, result = result, steady
        else:
            previous = result
        if texture is not None:
            if pair is not None:
                # A new shot lays the grain anew; within a shot it moves with the surfaces.
                texture.reset() if new_shot else texture.advance(pair)
            result = result * (1.0 + grain_strength * texture.sample(texture.noise))[..., None]
        yield np.clip(result + 0.5, 0, 255).astype(np.uint8)
        progress("restyle", t + 1, plan.frame_count)
