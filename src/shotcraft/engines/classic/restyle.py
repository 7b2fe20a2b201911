"""Restyle by keyframes (EbSynth-class): carry edited stills along the source's motion, frame-exact at each key.

The clip is cut into *spans* at the keyframes. Inside a span the look of the keyframe on its left is
carried forwards and the look of the keyframe on its right backwards (see
:mod:`shotcraft.engines.classic.propagate` for one chain's state); before the first keyframe and after the
last only one chain runs. The two chains blend by temporal distance and by how much of each pixel still
comes from its keyframe, so content one keyframe never saw is filled from the other, or from the guided
synthesis (the keyframe's colour mapping applied to the current frame) when neither saw it: never smeared.
Finally the source's detail layer is re-injected (structure adherence), easing in over the first frames
away from a keyframe so the keyframe itself is returned exactly.

Memory is bounded by the frame size, not the clip length: a span's source frames, forward-chain colours
and weights go to ``np.memmap`` files in a temporary folder (7 bytes per pixel per frame), and flow comes
from the per-clip :class:`~shotcraft.signals.cache.FlowCache`.

Settings (from the spec):

- ``motion_adherence`` sets the half-life of the carried look: 9 follows the flow exactly for as long as
  it holds; lower values let the look re-settle onto the current frame (half-life ``2**(m+1)`` frames);
  ``off`` re-synthesises every frame from the keyframes' colour mapping.
- ``structure_adherence`` sets how much of the source's detail layer replaces the propagated look's
  (``m / 9``; ``off`` keeps the keyframe's own structure).

>>> import tempfile, pathlib
>>> from PIL import Image
>>> from shotcraft.media.read import VideoReader
>>> from shotcraft.media.samples import sample_clip
>>> from shotcraft.plan import plan_transform
>>> from shotcraft.spec import TransformSpec
>>> reader = VideoReader(sample_clip("carphone"))
>>> key = pathlib.Path(tempfile.mkdtemp()) / "key.png"
>>> Image.fromarray(255 - reader.frame_at(0)).save(key)
>>> spec = TransformSpec.model_validate({"keyframes": [{"at": {"frame": 0}, "image": key}]})
>>> plan = plan_transform(reader.info, spec)
>>> frames = restyle(plan, None, reader, cache_root=tempfile.mkdtemp())
>>> first = next(frames)
>>> bool((first == 255 - reader.frame_at(0)).all()), sum(1 for _ in frames) + 1 == plan.frame_count
(True, True)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from shotcraft.engines.base import Progress, no_progress
from shotcraft.engines.classic.looks import apply_look, transfer_look
from shotcraft.engines.classic.lut import fit_lut
from shotcraft.engines.classic.propagate import (
    LUT_BINS,
    blend_chains,
    compose,
    initial_state,
    propagate_step,
    upsample_state,
)
from shotcraft.plan import read_image
from shotcraft.signals.cache import FlowCache
from shotcraft.signals.flow import FlowSettings
from shotcraft.signals.structure import detail_layer, luminance
from shotcraft.spec import RestyleOp, SpecError

if TYPE_CHECKING:
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import TransformPlan
    from shotcraft.spec import Adherence

#: Flow for propagation: DIS "fast" at half size is sub-pixel on real footage and ~4x cheaper than full size.
FLOW_SETTINGS = FlowSettings(scale=0.5, preset="fast")
#: Forward-backward disagreement (pixels) below which flow is fully trusted.
FLOW_TOLERANCE = 0.5
#: Built-in looks are painted on a keyframe this often; propagation carries them in between.
LOOK_KEY_SECONDS = 2.0
#: Frames over which structure re-injection eases in after (and out before) a keyframe.
STRUCTURE_RAMP = 3
#: Pixels sampled when fitting a keyframe's colour mapping: plenty for a 17³ lattice.
_LUT_SAMPLES = 60_000


def motion_keep(adherence: Adherence) -> float:
    """Share of the carried look kept per frame where the flow holds: 1 at 9, 0 when ``off``.

    >>> [round(motion_keep(m), 3) for m in ("off", 1, 5, 9)]
    [0.0, 0.841, 0.989, 1.0]
    """
    if adherence == "off":
        return 0.0
    if adherence >= 9:
        return 1.0
    return float(0.5 ** (1.0 / 2.0 ** (adherence + 1)))


def structure_gain(adherence: Adherence) -> float:
    """Share of the source's detail layer that replaces the propagated look's: 0 when ``off``, 1 at 9."""
    return 0.0 if adherence == "off" else adherence / 9.0


@dataclass
class _Key:
    """A keyframe of this restyle: its frame, and how to get its image given that frame of the source."""

    index: int
    render: Callable[[np.ndarray], np.ndarray]


def restyle(
    plan: TransformPlan,
    op: RestyleOp | None,
    reader: VideoReader,
    progress: Progress = no_progress,
    *,
    cache_root: str | os.PathLike[str] | None = None,
) -> Iterator[np.ndarray]:
    """Yield ``plan.frame_count`` restyled RGB uint8 frames in order; at each keyframe, the keyframe itself.

    Keyframes are the plan's; without any, ``op.look`` or ``op.reference`` is painted on keyframes chosen
    every :data:`LOOK_KEY_SECONDS`. ``cache_root`` overrides where flow is cached.
    """
    keys = _keys(plan, op)
    width, height = plan.size
    keep = motion_keep(plan.spec.motion_adherence)
    gain = structure_gain(plan.spec.structure_adherence)
    cache = FlowCache(reader.info, FLOW_SETTINGS, cache_root)
    count = plan.frame_count
    bounds = [k.index for k in keys]
    spans: list[tuple[int, int, _Key | None, _Key | None]] = []
    if bounds[0] > 0:
        spans.append((0, bounds[0], None, keys[0]))
    for left, right in zip(keys, [*keys[1:], None], strict=True):
        spans.append((left.index, right.index if right else count, left, right))
    return _run(spans, reader, cache, (width, height), keep, gain, count, progress)


def _run(
    spans: list[tuple[int, int, _Key | None, _Key | None]],
    reader: VideoReader,
    cache: FlowCache,
    size: tuple[int, int],
    keep: float,
    gain: float,
    count: int,
    progress: Progress,
) -> Iterator[np.ndarray]:
    """The generator behind :func:`restyle` (separate so argument errors surface before the first frame)."""
    rendered = _KeyImages()
    done = 0
    with tempfile.TemporaryDirectory(prefix="shotcraft-restyle-") as folder:
        for start, stop, left, right in spans:
            span = _Span(Path(folder), start, stop, left, right, size)
            for frame in span.run(reader, cache, rendered, keep, gain, count):
                yield frame
                done += 1
                progress("restyle", done, count)
            span.discard()


class _KeyImages:
    """Keyframe images and their colour mappings, kept only while a neighbouring span may still need them."""

    def __init__(self) -> None:
        self._held: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def get(self, key: _Key, source_frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if key.index not in self._held:
            image = key.render(source_frame)
            lut = fit_lut(source_frame, image, size=LUT_BINS, max_samples=_LUT_SAMPLES)
            self._held[key.index] = (image, lut)
            # A span needs its two keyframes; the next span shares one of them.
            for index in sorted(self._held)[:-2]:
                del self._held[index]
        return self._held[key.index]


class _Span:
    """Frames ``start..stop-1`` between a left keyframe (at ``start``) and a right one (at ``stop``)."""

    def __init__(
        self,
        folder: Path,
        start: int,
        stop: int,
        left: _Key | None,
        right: _Key | None,
        size: tuple[int, int],
    ):
        self.start, self.stop, self.left, self.right = start, stop, left, right
        width, height = size
        self.last = stop if right is not None else stop - 1  # last frame decoded
        frames = self.last - start + 1
        shape = (frames, height, width)

        # Plain ndarray views of the memmaps: numba kernels write through them straight into the files.
        # Each span has its own files, so a mapping of an earlier span is never truncated under it.
        self.files = [folder / f"{start:08d}-{name}.u8" for name in ("source", "rgb", "weight")]
        self.source = np.asarray(np.memmap(self.files[0], np.uint8, "w+", shape=(*shape, 3)))
        self.rgb = np.asarray(np.memmap(self.files[1], np.uint8, "w+", shape=(*shape, 3)))
        self.weight = np.asarray(np.memmap(self.files[2], np.uint8, "w+", shape=shape))

    def run(
        self, reader: VideoReader, cache: FlowCache, keys: _KeyImages, keep: float, gain: float, count: int
    ) -> Iterator[np.ndarray]:
        self._forward(reader, cache, keys, keep)
        if self.right is not None:
            self._backward(cache, keys, keep)
        for t in range(self.start, self.stop):
            i = t - self.start
            if self.left is not None and t == self.left.index:
                yield keys.get(self.left, self.source[i])[0].copy()
                continue
            distance = min(
                t - self.start if self.left is not None else count,
                self.stop - t if self.right is not None else count,
            )
            ramp = min(1.0, distance / STRUCTURE_RAMP)
            yield reinject_detail(self.rgb[i].copy(), self.source[i], gain * ramp)

    def discard(self) -> None:
        """Free the span's disk space as soon as its frames are out (the mappings die with the object)."""
        for path in self.files:
            path.unlink(missing_ok=True)

    def _forward(self, reader: VideoReader, cache: FlowCache, keys: _KeyImages, keep: float) -> None:
        """Decode the span, cache its flow, and run the left keyframe's chain forwards."""
        chain: _Chain | None = None
        for t, frame, pair in cache.walk(reader, self.start, self.last + 1):
            i = t - self.start
            self.source[i] = frame
            if self.left is None:
                continue
            if chain is None:
                key, lut = keys.get(self.left, frame)
                chain = _Chain(key, lut, cache.settings, keep)
                self.rgb[i] = key
                self.weight[i] = 255
                continue
            assert pair is not None
            chain.step(frame, pair.backward, pair.forward, self.rgb[i], self.weight[i])

    def _backward(self, cache: FlowCache, keys: _KeyImages, keep: float) -> None:
        """Run the right keyframe's chain backwards and blend it into the forward chain's colours."""
        assert self.right is not None
        height, width = self.source.shape[1:3]
        key, lut = keys.get(self.right, self.source[self.last - self.start])
        chain = _Chain(key, lut, cache.settings, keep)
        rgb = np.empty((height, width, 3), np.uint8)
        weight = np.empty((height, width), np.uint8)
        span = self.stop - self.start
        first = self.start + 1 if self.left is not None else self.start
        for t in range(self.stop - 1, first - 1, -1):
            i = t - self.start
            pair = cache.pair(t, self.source[i], self.source[i + 1])
            if self.left is None:
                chain.step(self.source[i], pair.forward, pair.backward, self.rgb[i], self.weight[i])
                continue
            chain.step(self.source[i], pair.forward, pair.backward, rgb, weight)
            # Linear in time: the left chain owns the frame after its keyframe, the right one the frame before.
            to_right = (t - self.start) / span
            blend_chains(self.rgb[i], self.weight[i], 1.0 - to_right, rgb, weight, to_right, self.rgb[i])


class _Chain:
    """One keyframe's look carried frame by frame: the state lives at the flow's working size, colours are
    composed at full size."""

    def __init__(self, key: np.ndarray, lut: np.ndarray, settings: FlowSettings, keep: float):
        self.key, self.lut, self.keep = key, lut, keep
        height, width = key.shape[:2]
        self.size = (width, height)
        self.work_size = settings.working_size(width, height)
        self.scale = (width / self.work_size[0], height / self.work_size[1])
        self.state = initial_state(self.work_size)
        self.spare = np.empty_like(self.state)

    def step(
        self,
        frame: np.ndarray,
        to_prev: np.ndarray,
        from_prev: np.ndarray,
        rgb: np.ndarray,
        weight: np.ndarray,
    ) -> None:
        """Move to ``frame`` (full size) given the working-size flows to and from the previous frame; write
        its colours and keyframe share into ``rgb`` and ``weight``."""
        small = (
            frame
            if self.work_size == self.size
            else cv2.resize(frame, self.work_size, interpolation=cv2.INTER_AREA)
        )
        propagate_step(
            small,
            self.lut,
            to_prev,
            from_prev,
            self.state,
            self.keep,
            FLOW_TOLERANCE,
            *self.scale,
            self.spare,
        )
        self.state, self.spare = self.spare, self.state
        compose(self.key, upsample_state(self.state, self.size), rgb, weight)


def reinject_detail(image: np.ndarray, source: np.ndarray, gain: float) -> np.ndarray:
    """Replace ``gain`` of ``image``'s luminance detail layer with ``source``'s (uint8 RGB, same size).

    At 1 every source edge and texture is back; at 0 the image is returned unchanged.
    """
    if gain <= 0:
        return image
    _, own = detail_layer(luminance(image))
    _, wanted = detail_layer(luminance(source))
    delta = (wanted - own) * (255.0 * gain)
    return np.clip(image + delta[..., None], 0, 255).astype(np.uint8)


def _keys(plan: TransformPlan, op: RestyleOp | None) -> list[_Key]:
    """The keyframes to propagate: the user's, or a built-in look painted on evenly spaced frames."""
    if plan.keyframes:
        if op is not None and (op.look or op.reference):
            plan.notices.append("restyle: keyframes were given, so the look/reference setting was not used")
        return [_Key(k.index, lambda _frame, k=k: plan.keyframe_image(k)) for k in plan.keyframes]
    if op is None or (op.look is None and op.reference is None):
        raise SpecError("restyle needs keyframes, a look preset or a reference image")
    if op.reference is not None:
        reference = read_image(op.reference, "restyle reference")
        look = op.look

        def render(frame: np.ndarray) -> np.ndarray:
            styled = apply_look(frame, look) if look else frame
            return transfer_look(styled, reference)
    else:
        look = op.look
        assert look is not None

        def render(frame: np.ndarray) -> np.ndarray:
            return apply_look(frame, look)

    count = plan.frame_count
    step = max(1, round(LOOK_KEY_SECONDS * float(plan.video.fps)))
    indices = sorted({*range(0, count, step), count - 1})
    return [_Key(i, render) for i in indices]
