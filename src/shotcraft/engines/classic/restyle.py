"""Restyle by keyframes (EbSynth-class): carry edited stills along the source's motion, frame-exact at each key.

The clip is cut into *spans* at the keyframes. Inside a span the look of the keyframe on its left is
carried forwards and the look of the keyframe on its right backwards (see
:mod:`shotcraft.engines.classic.propagate` for one chain's state); before the first keyframe and after the
last only one chain runs. The two chains blend by temporal distance and by how much of each pixel still
comes from its keyframe, so content one keyframe never saw is filled from the other, or from the guided
synthesis (the keyframe's colour mapping applied to the current frame) when neither saw it: never smeared.
The source's detail layer replaces the look's own (structure adherence): the keyframe's share of each
pixel takes the source's detail *at the keyframe*, carried along the flow with the look (so it adds no
temporal noise), the rest takes the current frame's. It eases in over the first frames away from a
keyframe so the keyframe itself is returned exactly.

Scene cuts (:func:`~shotcraft.signals.flow.is_cut`) stop propagation: a chain restarts from the guided
synthesis at a cut, and a keyframe's look only reaches frames of its own shot. Built-in looks put a
keyframe on the first frame of every shot; a shot between user keyframes that has none of its own gets
the keyframes' colour mapping only (and a notice says so).

Memory is bounded by the frame size, not the clip length: a span's source frames, forward-chain colours
and weights go to ``np.memmap`` files in a temporary folder (7 bytes per pixel per frame; the span after
the last keyframe streams and stores nothing), and flow comes from the per-clip
:class:`~shotcraft.signals.cache.FlowCache`.

Settings (from the spec):

- ``motion_adherence`` sets the half-life of the carried look: 9 follows the flow exactly for as long as
  it holds, never re-settling; lower values let the look re-settle onto the current frame (half-life
  ``2**(m-1)`` frames); ``off`` re-synthesises every frame from the keyframes' colour mapping. From 7 up
  the flow is DIS "medium" rather than "fast" (half size both), since the look then goes wherever the
  flow says for longer.
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

import contextlib
import itertools
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Full, Queue
from typing import TYPE_CHECKING, TypeVar

import cv2
import numpy as np

from shotcraft.engines.base import Progress, no_progress
from shotcraft.engines.classic.looks import apply_look, transfer_look
from shotcraft.engines.classic.lut import fit_lut
from shotcraft.engines.classic.propagate import (
    LUT_BINS,
    add_detail,
    initial_state,
    make_texture,
    propagate_step,
    render,
)
from shotcraft.plan import read_image
from shotcraft.signals.cache import FlowCache, FlowPair
from shotcraft.signals.flow import FlowSettings, is_cut
from shotcraft.signals.structure import detail_layer, luminance
from shotcraft.spec import RestyleOp, SpecError

if TYPE_CHECKING:
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import TransformPlan
    from shotcraft.spec import Adherence

T = TypeVar("T")

#: Flow for propagation: DIS "fast" at half size is sub-pixel on real footage and ~4x cheaper than full size.
FAST_FLOW = FlowSettings(scale=0.5, preset="fast")
#: Flow when the look follows it for long (motion adherence 7 and up): "medium" halves the drift that
#: accumulates along a chain, at about twice the flow's cost.
PRECISE_FLOW = FlowSettings(scale=0.5, preset="medium")
#: Forward-backward disagreement (pixels) below which flow is fully trusted.
FLOW_TOLERANCE = 0.5
#: Built-in looks are painted on a keyframe this often (and on the first frame of every shot).
LOOK_KEY_SECONDS = 2.0
#: Frames over which structure re-injection eases in after (and out before) a keyframe.
STRUCTURE_RAMP = 3
#: Pixels sampled when fitting a keyframe's colour mapping: plenty for a 17³ lattice.
_LUT_SAMPLES = 60_000


def motion_keep(adherence: Adherence) -> float:
    """Share of the carried look kept per frame where the flow holds: 1 at 9, 0 when ``off``.

    >>> [round(motion_keep(m), 3) for m in ("off", 1, 5, 9)]
    [0.0, 0.5, 0.958, 1.0]
    """
    if adherence == "off":
        return 0.0
    if adherence >= 9:
        return 1.0
    return float(0.5 ** (1.0 / 2.0 ** (adherence - 1)))


def flow_settings(adherence: Adherence) -> FlowSettings:
    """The flow a restyle at this motion adherence follows: :data:`PRECISE_FLOW` from 7 up."""
    return PRECISE_FLOW if adherence != "off" and adherence >= 7 else FAST_FLOW


def structure_gain(adherence: Adherence) -> float:
    """Share of the source's detail layer that replaces the propagated look's: 0 when ``off``, 1 at 9."""
    return 0.0 if adherence == "off" else adherence / 9.0


@dataclass
class _Key:
    """A keyframe of this restyle: its frame, and how to get its image given that frame of the source."""

    index: int
    render: Callable[[np.ndarray], np.ndarray]


@dataclass
class _Look:
    """A keyframe ready to propagate: its image, the image with its structure delta (see
    :func:`~shotcraft.engines.classic.propagate.make_texture`), and its colour mapping."""

    image: np.ndarray
    texture: np.ndarray
    lut: np.ndarray


@dataclass
class _Settings:
    keep: float
    gain: float
    flow: FlowSettings
    count: int
    split_at_cuts: bool  # built-in looks: a cut ends the span and its first frame becomes a keyframe
    notices: list[str] = field(default_factory=list)


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
    every :data:`LOOK_KEY_SECONDS` and at every scene cut. ``cache_root`` overrides where flow is cached.
    """
    keys, built_in = _keys(plan, op)
    settings = _Settings(
        keep=motion_keep(plan.spec.motion_adherence),
        gain=structure_gain(plan.spec.structure_adherence),
        flow=flow_settings(plan.spec.motion_adherence),
        count=plan.frame_count,
        split_at_cuts=built_in,
        notices=plan.notices,
    )
    cache = FlowCache(reader.info, settings.flow, cache_root)
    min_gap = max(1, round(LOOK_KEY_SECONDS * float(plan.video.fps)) // 2)
    return _run(keys, reader, cache, plan.size, settings, min_gap, progress)


def _run(
    keys: list[_Key],
    reader: VideoReader,
    cache: FlowCache,
    size: tuple[int, int],
    settings: _Settings,
    min_gap: int,
    progress: Progress,
) -> Iterator[np.ndarray]:
    """The generator behind :func:`restyle` (separate so argument errors surface before the first frame).

    Walks the clip span by span; a built-in look's span that meets a cut ends there, and the cut's frame
    becomes a keyframe (regular keyframes closer than ``min_gap`` after it are dropped)."""
    rendered = _KeyImages(size)
    count = settings.count
    done = position = 0
    with tempfile.TemporaryDirectory(prefix="shotcraft-restyle-") as folder:
        while position < count:
            left = next((k for k in keys if k.index == position), None)
            right = next((k for k in keys if k.index > position), None)
            span = _Span(Path(folder), position, right.index if right else count, left, right, size)
            for frame in span.run(reader, cache, rendered, settings):
                yield frame
                done += 1
                progress("restyle", done, count)
            span.discard()
            if span.cut_key:
                assert left is not None
                cut = span.stop
                keys = [k for k in keys if not cut <= k.index < cut + min_gap]
                keys = sorted([*keys, _Key(cut, left.render)], key=lambda k: k.index)
            position = span.stop


class _KeyImages:
    """Keyframe looks, kept only while a neighbouring span may still need them."""

    def __init__(self, size: tuple[int, int]) -> None:
        self._held: dict[int, _Look] = {}
        self._size = size

    def get(self, key: _Key, source_frame: np.ndarray) -> _Look:
        if key.index not in self._held:
            image = key.render(source_frame)
            if image.shape[1::-1] != self._size:
                image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
            lut = fit_lut(source_frame, image, size=LUT_BINS, max_samples=_LUT_SAMPLES)
            texture = make_texture(image, _detail(source_frame) - _detail(image))
            self._held[key.index] = _Look(image, texture, lut)
            # A span needs its two keyframes; the next span shares one of them.
            for index in sorted(self._held)[:-2]:
                del self._held[index]
        return self._held[key.index]


def _detail(frame: np.ndarray) -> np.ndarray:
    """The luminance detail layer of a uint8 RGB frame (``[0, 1]`` units; the fast guided filter)."""
    return detail_layer(luminance(frame), subsample=2)[1]


class _Span:
    """Frames ``start..stop-1`` between a left keyframe (at ``start``) and a right one (at ``stop``).

    With a right keyframe the span is decoded into memory-mapped files (the right chain runs backwards);
    without one, frames stream out as they are decoded.
    """

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
        self.size = size
        self.cuts: list[int] = []  # frames that start a new shot, after ``start``
        self.cut_key = False  # the span was ended at a cut whose frame is to become a keyframe
        self.files: list[Path] = []
        if right is None:
            return
        width, height = size
        shape = (stop - start + 1, height, width)  # frames start..stop (the right keyframe's too)
        # Plain ndarray views of the memmaps: numba kernels write through them straight into the files.
        # Each span has its own files, so a mapping of an earlier span is never truncated under it.
        self.files = [folder / f"{start:08d}-{name}.u8" for name in ("source", "rgb", "weight")]
        self.source = np.asarray(np.memmap(self.files[0], np.uint8, "w+", shape=(*shape, 3)))
        self.rgb = np.asarray(np.memmap(self.files[1], np.uint8, "w+", shape=(*shape, 3)))
        self.weight = np.asarray(np.memmap(self.files[2], np.uint8, "w+", shape=shape))

    def run(
        self, reader: VideoReader, cache: FlowCache, keys: _KeyImages, settings: _Settings
    ) -> Iterator[np.ndarray]:
        if self.right is None:
            yield from self._stream(reader, cache, keys, settings)
            return
        self._forward(reader, cache, keys, settings)
        backward = not self.cut_key
        if backward:
            self._backward(cache, keys, settings)
        self._note_keyless_shots(settings)
        for t in range(self.start, self.stop):
            i = t - self.start
            if self.left is not None and t == self.left.index:
                yield keys.get(self.left, self.source[i]).image.copy()
                continue
            if not backward:
                add_detail(self.rgb[i], self.weight[i], self._gain(t, settings), _detail(self.source[i]))
            yield self.rgb[i].copy()

    def discard(self) -> None:
        """Free the span's disk space as soon as its frames are out (the mappings die with the object)."""
        for path in self.files:
            path.unlink(missing_ok=True)

    def _reachable(self, t: int) -> tuple[bool, bool]:
        """Whether frame ``t`` is in the same shot as the left and as the right keyframe."""
        left = self.left is not None and not any(self.start < c <= t for c in self.cuts)
        right = self.right is not None and not self.cut_key and not any(t < c <= self.stop for c in self.cuts)
        return left, right

    def _gain(self, t: int, settings: _Settings) -> float:
        """Structure gain at frame ``t``: eased in near a keyframe of the same shot."""
        left, right = self._reachable(t)
        distance = min(t - self.start if left else STRUCTURE_RAMP, self.stop - t if right else STRUCTURE_RAMP)
        return settings.gain * min(1.0, distance / STRUCTURE_RAMP)

    def _cut(self, t: int, previous: np.ndarray, small: np.ndarray, pair, settings: _Settings) -> bool:
        """Record whether frame ``t`` starts a shot; True when the span must end there (built-in looks)."""
        if not is_cut(previous, small, pair.forward, pair.backward):
            return False
        self.cuts.append(t)
        if settings.split_at_cuts and t < self.stop and self.left is not None:
            self.stop, self.cut_key = t, True
            return True
        return False

    def _stream(
        self, reader: VideoReader, cache: FlowCache, keys: _KeyImages, settings: _Settings
    ) -> Iterator[np.ndarray]:
        """The span after the last keyframe: one chain forwards, each frame out as soon as it is made."""
        assert self.left is not None
        width, height = self.size
        rgb = np.empty((height, width, 3), np.uint8)
        weight = np.empty((height, width), np.uint8)
        chain: _Chain | None = None
        previous = None
        for t, frame, pair, small, detail in _prefetched(
            _decoded(reader, cache, self.start, self.stop, True)
        ):
            if chain is None:
                look = keys.get(self.left, frame)
                chain = _Chain(look, cache.settings, settings.keep)
                yield look.image.copy()
            else:
                if self._cut(t, previous, small, pair, settings):
                    return
                chain.step(small, pair.backward, pair.forward, restart=bool(self.cuts) and self.cuts[-1] == t)
                chain.render(self._gain(t, settings), detail, rgb, weight)
                yield rgb.copy()
            previous = small
        self._note_keyless_shots(settings)

    def _forward(self, reader: VideoReader, cache: FlowCache, keys: _KeyImages, settings: _Settings) -> None:
        """Decode the span, cache its flow, find its cuts, and run the left keyframe's chain forwards."""
        chain: _Chain | None = None
        previous = None
        for t, frame, pair, small, _ in _prefetched(
            _decoded(reader, cache, self.start, self.stop + 1, False)
        ):
            i = t - self.start
            self.source[i] = frame
            if pair is not None and self._cut(t, previous, small, pair, settings):
                break
            previous = small
            if self.left is None or t == self.stop:
                continue
            if chain is None:
                chain = _Chain(keys.get(self.left, frame), cache.settings, settings.keep)
                continue
            chain.step(small, pair.backward, pair.forward, restart=bool(self.cuts) and self.cuts[-1] == t)
            chain.render(self._gain(t, settings), None, self.rgb[i], self.weight[i])

    def _backward(self, cache: FlowCache, keys: _KeyImages, settings: _Settings) -> None:
        """Run the right keyframe's chain backwards, blend it with the forward chain's colours and add the
        current frames' detail: the span's final frames, in place."""
        assert self.right is not None
        look = keys.get(self.right, self.source[self.stop - self.start])
        chain = _Chain(look, cache.settings, settings.keep)
        span = self.stop - self.start
        first = self.start + 1 if self.left is not None else self.start
        cuts = set(self.cuts)
        for t, pair, small, detail in _prefetched(self._stored(cache, range(self.stop - 1, first - 1, -1))):
            i = t - self.start
            chain.step(small, pair.forward, pair.backward, restart=t + 1 in cuts)
            left, right = self._reachable(t)
            # Linear in time: the left chain owns the frame after its keyframe, the right one the frame
            # before; a chain from another shot gives way to one from this shot.
            to_right = (t - self.start) / span
            own, other = (to_right, 1.0 - to_right) if left == right else (float(right), float(left))
            if self.left is None:
                own, other = 1.0, 0.0
            rgb, weight = self.rgb[i], self.weight[i]
            blend = (rgb, weight, other, own) if other > 0 else None
            chain.render(self._gain(t, settings), detail, rgb, weight, blend)

    def _stored(
        self, cache: FlowCache, frames: range
    ) -> Iterator[tuple[int, FlowPair, np.ndarray, np.ndarray]]:
        """For the backward chain: each frame's flow pair to the next frame, working-size image and detail."""
        for t in frames:
            i = t - self.start
            pair = cache.pair(t, self.source[i], self.source[i + 1])
            yield t, pair, _small(self.source[i], cache.settings), _detail(self.source[i])

    def _note_keyless_shots(self, settings: _Settings) -> None:
        """Tell the user about shots that no keyframe reaches (they get the keyframes' colour mapping only)."""
        bounds = sorted({self.start, self.stop, *(c for c in self.cuts if c < self.stop)})
        for first, end in itertools.pairwise(bounds):
            if not any(self._reachable(first)):
                settings.notices.append(
                    f"restyle: frames {first}-{end - 1} are a shot without a keyframe, so they get only the "
                    "keyframes' colours; add a keyframe in that shot for the full look"
                )


def _decoded(
    reader: VideoReader, cache: FlowCache, start: int, stop: int, with_detail: bool
) -> Iterator[tuple[int, np.ndarray, FlowPair | None, np.ndarray, np.ndarray | None]]:
    """Frames ``start..stop-1`` with their flow pair from the previous frame, working-size image and
    (``with_detail``) detail layer."""
    for t, frame, pair in cache.walk(reader, start, stop):
        yield t, frame, pair, _small(frame, cache.settings), _detail(frame) if with_detail else None


def _prefetched(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """``items``, produced up to ``depth`` ahead in a background thread.

    Decoding, flow and the detail filter run in native code that releases the GIL, as do the chain
    kernels, so producer and consumer overlap on two cores without the spin-waiting of per-kernel thread
    pools. Closing the iterator early stops the producer; its errors are raised here.
    """
    queue: Queue[tuple[bool, object]] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        queue.put((True, item), timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put((False, None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            queue.put((False, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="restyle-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            more, item = queue.get()
            if not more:
                if isinstance(item, BaseException):
                    raise item
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(Empty):
                queue.get(timeout=0.1)
        worker.join()


def _small(frame: np.ndarray, flow: FlowSettings) -> np.ndarray:
    """``frame`` at the flow's working size (where chains live)."""
    height, width = frame.shape[:2]
    size = flow.working_size(width, height)
    return frame if size == (width, height) else cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


class _Chain:
    """One keyframe's look carried frame by frame; its state lives at the flow's working size."""

    def __init__(self, look: _Look, flow: FlowSettings, keep: float):
        self.look, self.keep = look, keep
        height, width = look.image.shape[:2]
        work = flow.working_size(width, height)
        self.scale = (width / work[0], height / work[1])
        self.state = initial_state(work)
        self.spare = np.empty_like(self.state[0]), np.empty_like(self.state[1])
        self.carry8 = np.empty((work[1], work[0], 4), np.uint8)

    def step(self, small: np.ndarray, to_prev: np.ndarray, from_prev: np.ndarray, *, restart: bool) -> None:
        """Move to the next frame (``small``: at working size) given the flows to and from the previous one;
        ``restart`` (a scene cut) drops the carried look for the synthesis."""
        keep = 0.0 if restart else self.keep
        new = self.spare
        propagate_step(
            small,
            self.look.lut,
            to_prev,
            from_prev,
            self.state,
            keep,
            FLOW_TOLERANCE,
            self.scale,
            (*new, self.carry8),
        )
        self.state, self.spare = new, self.state

    def render(
        self,
        gain: float,
        detail: np.ndarray | None,
        rgb: np.ndarray,
        weight: np.ndarray,
        other: tuple[np.ndarray, np.ndarray, float, float] | None = None,
    ) -> None:
        """This chain's colours at full size (see :func:`~shotcraft.engines.classic.propagate.render`)."""
        render(self.look.texture, self.state[0], self.carry8, gain, detail, rgb, weight, other=other)


def _keys(plan: TransformPlan, op: RestyleOp | None) -> tuple[list[_Key], bool]:
    """The keyframes to propagate: the user's, or a built-in look painted on evenly spaced frames (True:
    more are added at scene cuts as they are found)."""
    if plan.keyframes:
        if op is not None and (op.look or op.reference):
            plan.notices.append("restyle: keyframes were given, so the look/reference setting was not used")
        return [_Key(k.index, lambda _frame, k=k: plan.keyframe_image(k)) for k in plan.keyframes], False
    if op is None or (op.look is None and op.reference is None):
        raise SpecError("restyle needs keyframes, a look preset or a reference image")
    if op.reference is not None:
        reference = read_image(op.reference, "restyle reference")
        look = op.look

        def render_look(frame: np.ndarray) -> np.ndarray:
            styled = apply_look(frame, look) if look else frame
            return transfer_look(styled, reference)
    else:
        look = op.look
        assert look is not None

        def render_look(frame: np.ndarray) -> np.ndarray:
            return apply_look(frame, look)

    count = plan.frame_count
    step = max(1, round(LOOK_KEY_SECONDS * float(plan.video.fps)))
    indices = sorted({*range(0, count, step), count - 1})
    return [_Key(i, render_look) for i in indices], True
