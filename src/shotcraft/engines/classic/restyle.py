"""Restyle: a built-in look or a reference's colour on every frame, or the look of edited keyframes carried
onto every frame of the clip, including content the keyframes never saw.

Without keyframes the look is applied to each frame and kept steady along the motion
(:mod:`~shotcraft.engines.classic.look_video`).

With keyframes, each output frame is made in two parts, each taken from the keyframes *once*:

1. a **synthesis** from a look *learned* from the keyframes (:mod:`~shotcraft.engines.classic.look_model`,
   after Texler et al. 2020): a regressor from the source's local appearance to the keyframe's colour,
   evaluated on this frame. New objects, disocclusions and the far end of a long shot get the style
   drawn on their own content, at full detail, never a smear or a fading copy;
2. the keyframes' **residuals** (keyframe minus the learned look on its own frame: what the regressor
   cannot explain, such as a particular brush stroke) carried along the source's flow
   (:mod:`~shotcraft.engines.classic.propagate`, EbSynth's temporal guide in spirit), so each keyframe
   is hit exactly and its particulars stay on the surfaces they were painted on. Both neighbouring
   keyframes contribute, blended by temporal distance and by how well the flow carried each pixel.

Shots: a keyframe's look is learned from, and its residual carried through, its own shot only
(:func:`~shotcraft.signals.cuts.is_cut` finds the cuts). A frame between two keyframes of its shot uses a
look learned from both; a shot without a keyframe takes the look learned from the keyframe whose frame it
resembles most (colour histograms), and a notice says so.

Settings (from the spec), one name from the flag to here:

- ``motion_adherence``: the residuals' half-life along the flow, ``2**(m-1)`` frames (9: carried for as
  long as the flow holds, ``off``: not carried at all), and how strongly each synthesised frame is pulled
  towards the previous one along the flow (:func:`~shotcraft.engines.classic.look_video.stabilising_strength`).
  From 7 up the flow is DIS "medium" rather than "fast".
- ``structure_adherence``: how much of the keyframes' own fine detail (their residual's high frequencies)
  is carried onto frames whose shapes differ from the keyframe's (:func:`residual_detail`): at 9 the
  current frame's shapes, drawn by the learned look, dominate.

Memory is bounded by the frame size, not the clip length: frames stream; a span between two keyframes is
decoded twice (once to compute and cache its flow and find its cuts, once to render), and the backward
chain's states go to a temporary folder, never to memory.

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

import itertools
import os
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from shotcraft.engines.classic.look_model import LookModel
from shotcraft.engines.classic.look_video import look_every_frame, stabilising_strength
from shotcraft.engines.classic.propagate import Chain, combine
from shotcraft.engines.classic.temporal import stabilise
from shotcraft.media.stills import load_still
from shotcraft.progress import Progress, no_progress
from shotcraft.signals.cache import FlowCache
from shotcraft.signals.cuts import is_cut
from shotcraft.signals.flow import FlowSettings
from shotcraft.spec import RestyleOp, SpecError, adherence_level

if TYPE_CHECKING:
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import PlannedKeyframe, TransformPlan
    from shotcraft.spec import Adherence

#: Flow for restyle: DIS "fast" at half size is sub-pixel on real footage and ~4x cheaper than full size.
FAST_FLOW = FlowSettings(scale=0.5, preset="fast")
#: Flow when residuals follow it for long (motion adherence 7 and up): "medium" halves the drift.
PRECISE_FLOW = FlowSettings(scale=0.5, preset="medium")
#: Frames over which a keyframe's own fine detail eases from all of it to :func:`residual_detail`'s share.
STRUCTURE_RAMP = 3
#: Models (with their keyframes' residuals) kept at once: a span needs at most three (left, right, both).
_MODELS_HELD = 3
#: Keyframes (source frame and image) kept at once: a span's two, and the next span's right one.
_STILLS_HELD = 3


def motion_keep(motion_adherence: Adherence) -> float:
    """Share of a carried residual kept per frame where the flow holds: 1 at 9, 0 when ``off``.

    >>> [round(motion_keep(m), 3) for m in ("off", 1, 5, 9)]
    [0.0, 0.5, 0.958, 1.0]
    """
    level = adherence_level(motion_adherence)
    if level == 0 or level >= 9:
        return float(level >= 9)
    return float(0.5 ** (1.0 / 2.0 ** (level - 1)))


def residual_detail(structure_adherence: Adherence) -> float:
    """Share of a keyframe residual's fine detail carried past the first frames: 1 when ``off``, 0.2 at 9.

    >>> [round(residual_detail(s), 2) for s in ("off", 1, 5, 9)]
    [1.0, 0.99, 0.75, 0.2]
    """
    return 1.0 - 0.8 * (adherence_level(structure_adherence) / 9.0) ** 2


def flow_settings(motion_adherence: Adherence) -> FlowSettings:
    """The flow a restyle at this motion adherence follows: :data:`PRECISE_FLOW` from 7 up."""
    return PRECISE_FLOW if adherence_level(motion_adherence) >= 7 else FAST_FLOW


def restyle(
    plan: TransformPlan,
    op: RestyleOp | None,
    reader: VideoReader,
    progress: Progress = no_progress,
    *,
    cache_root: str | os.PathLike[str] | None = None,
) -> Iterator[np.ndarray]:
    """Yield ``plan.frame_count`` restyled RGB uint8 frames in order; at each keyframe, the keyframe itself.

    Keyframes are the plan's; without any, ``op.look`` and/or ``op.reference`` is applied to every frame.
    ``cache_root`` overrides where flow is cached.
    """
    if not plan.keyframes:
        if op is None or (op.look is None and op.reference is None):
            raise SpecError("restyle needs keyframes, a look preset or a reference image")
        return look_every_frame(plan, op, reader, progress, cache_root=cache_root)
    if op is not None and (op.look or op.reference):
        plan.notices.append("restyle: keyframes were given, so the look/reference setting was not used")
    spec = plan.spec
    settings = _Settings(
        motion_keep=motion_keep(spec.motion_adherence),
        stabilising=stabilising_strength(spec.motion_adherence),
        residual_detail=residual_detail(spec.structure_adherence),
        flow=flow_settings(spec.motion_adherence),
    )
    looks = _Looks(plan, reader)
    cache = FlowCache(reader.info, settings.flow, cache_root)
    return _keyframe_frames(plan, reader, cache, looks, settings, progress)


@dataclass
class _Settings:
    """The spec's two adherences as this engine uses them (each named after the function that makes it)."""

    motion_keep: float
    stabilising: float
    residual_detail: float
    flow: FlowSettings


def _keyframe_frames(
    plan: TransformPlan,
    reader: VideoReader,
    cache: FlowCache,
    looks: _Looks,
    settings: _Settings,
    progress: Progress,
) -> Iterator[np.ndarray]:
    count = plan.frame_count
    indices = sorted({k.index for k in plan.keyframes})
    bounds = sorted({0, *indices, count})
    done = 0
    with tempfile.TemporaryDirectory(prefix="shotcraft-restyle-") as folder:
        for start, stop in itertools.pairwise(bounds):
            span = _Span(
                start,
                stop,
                left=start if start in indices else None,
                right=stop if stop < count else None,
                folder=Path(folder),
            )
            for frame in span.frames(reader, cache, looks, settings, plan.notices):
                yield frame
                done += 1
                progress("restyle", done, count)


class _Looks:
    """Looks learned from sets of keyframes, with each keyframe's residual under them; a few held at once."""

    def __init__(self, plan: TransformPlan, reader: VideoReader):
        self._plan, self._reader = plan, reader
        self._keys: dict[int, PlannedKeyframe] = {k.index: k for k in plan.keyframes}
        self._models: OrderedDict[
            tuple[int, ...], tuple[LookModel, dict[int, tuple[np.ndarray, np.ndarray]]]
        ] = OrderedDict()
        self._stills: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._noted: set[int] = set()
        self._signatures: dict[int, np.ndarray] | None = None

    def image(self, index: int) -> np.ndarray:
        """The keyframe at ``index``, at the clip's size (a resize notice is given once)."""
        return self._still(index)[1]

    def _still(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The source frame at keyframe ``index`` and the keyframe image, each read once while held."""
        if index in self._stills:
            self._stills.move_to_end(index)
            return self._stills[index]
        key = self._keys[index]
        notices = None if index in self._noted else self._plan.notices
        self._noted.add(index)
        image = load_still(key.image, self._plan.video, notices, what=f"keyframe at {key.at.describe()}")
        self._stills[index] = (self._reader.frame_at(index), image)
        while len(self._stills) > _STILLS_HELD:
            self._stills.popitem(last=False)
        return self._stills[index]

    def model(self, keys: tuple[int, ...]) -> LookModel:
        return self._entry(keys)[0]

    def residual(self, keys: tuple[int, ...], index: int, distance: int, detail: float) -> np.ndarray:
        """Keyframe ``index`` minus the look learned from ``keys`` on its source frame (float32, 0..255
        units), for a frame ``distance`` frames away: its fine detail eases from all of it (at the
        keyframe) to ``detail`` of it over :data:`STRUCTURE_RAMP` frames."""
        kept = 1.0 - (1.0 - detail) * min(1.0, distance / STRUCTURE_RAMP)
        residual, smooth = self._entry(keys)[1][index]
        if kept >= 1.0:
            return residual
        return cv2.addWeighted(residual, kept, smooth, 1.0 - kept, 0.0)

    def _entry(self, keys: tuple[int, ...]) -> tuple[LookModel, dict[int, tuple[np.ndarray, np.ndarray]]]:
        if keys in self._models:
            self._models.move_to_end(keys)
            return self._models[keys]
        sources, images = zip(*(self._still(i) for i in keys), strict=True)
        model = LookModel.fit(sources, images)
        residuals = {}
        for i, source, image in zip(keys, sources, images, strict=True):
            residual = image.astype(np.float32) - model.predict_float(source) * np.float32(255.0)
            residuals[i] = (residual, cv2.GaussianBlur(residual, (0, 0), 2.0))
        self._models[keys] = (model, residuals)
        while len(self._models) > _MODELS_HELD:
            self._models.popitem(last=False)
        return model, residuals

    def nearest(self, frame: np.ndarray) -> int:
        """The keyframe whose source frame ``frame`` resembles most (colour histograms)."""
        if self._signatures is None:
            self._signatures = {i: _signature(self._reader.frame_at(i)) for i in self._keys}
        mine = _signature(frame)
        return min(
            self._signatures,
            key=lambda i: cv2.compareHist(mine, self._signatures[i], cv2.HISTCMP_BHATTACHARYYA),  # type: ignore[index]
        )


def _signature(frame: np.ndarray) -> np.ndarray:
    """An 8x8x8 colour histogram of a frame, normalised: what "resembles" compares."""
    small = cv2.resize(
        frame, (160, max(8, 160 * frame.shape[0] // frame.shape[1])), interpolation=cv2.INTER_AREA
    )
    hist = cv2.calcHist([small], [0, 1, 2], None, [8, 8, 8], [0, 256] * 3)
    return hist / max(float(hist.sum()), 1.0)


@dataclass
class _Span:
    """Frames ``start..stop-1`` after a left keyframe (at ``start``) and before a right one (at ``stop``)."""

    start: int
    stop: int
    left: int | None
    right: int | None
    folder: Path
    cuts: set[int] = field(default_factory=set)  # frames that start a new shot, after ``start``
    right_guide: np.ndarray | None = None  # the right keyframe's source frame at working size

    def frames(
        self, reader: VideoReader, cache: FlowCache, looks: _Looks, settings: _Settings, notices: list[str]
    ) -> Iterator[np.ndarray]:
        backward: dict[int, Path] = {}
        if self.right is not None:
            self._find_cuts(reader, cache)
            if self.stop not in self.cuts:
                backward = self._run_backward(cache, settings)
        try:
            yield from self._render(reader, cache, looks, settings, backward, notices)
        finally:
            for path in backward.values():
                path.unlink(missing_ok=True)
            for t in range(self.start, self.stop + 1):
                self._grey_file(t).unlink(missing_ok=True)

    def _find_cuts(self, reader: VideoReader, cache: FlowCache) -> None:
        """Decode the span (and the right keyframe), caching its flow and noting its cuts."""
        previous = None
        for t, frame, pair in cache.walk(reader, self.start, self.stop + 1):
            small = cache.settings.working_frame(frame)
            self.right_guide = small  # the right keyframe's source at working size, last of the walk
            # The backward chain runs over cached flow, after this walk: it reads each frame's grey from disk.
            np.save(self._grey_file(t), cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
            if pair is not None and is_cut(previous, small, pair.forward, pair.backward):
                self.cuts.add(t)
            previous = small

    def _grey_file(self, t: int) -> Path:
        return self.folder / f"grey-{t:08d}.npy"

    def _run_backward(self, cache: FlowCache, settings: _Settings) -> dict[int, Path]:
        """The right keyframe's chain, run backwards from it over cached flow; its states go to files."""
        work = cache.settings.working_size(cache.width, cache.height)
        chain = Chain(work, (cache.width, cache.height), settings.motion_keep, self.right_guide)
        first = self.start + 1 if self.left is not None else self.start
        stored: dict[int, Path] = {}
        for t in range(self.stop - 1, first - 1, -1):
            if t + 1 in self.cuts:
                break
            pair = cache.get(t)
            assert pair is not None, "the span's flow was cached by _find_cuts"
            chain.step(pair.forward, pair.backward, np.load(self._grey_file(t)))
            if not chain.alive:
                break
            stored[t] = self.folder / f"{t:08d}.npz"
            np.savez(stored[t], *chain.state())
        return stored

    def _render(
        self,
        reader: VideoReader,
        cache: FlowCache,
        looks: _Looks,
        settings: _Settings,
        backward: dict[int, Path],
        notices: list[str],
    ) -> Iterator[np.ndarray]:
        width, height = cache.width, cache.height
        work = cache.settings.working_size(width, height)
        left_chain: Chain | None = None
        right_chain = (
            Chain(work, (width, height), settings.motion_keep, self.right_guide) if backward else None
        )
        left_reaches = self.left is not None
        keyless: tuple[int, int] | None = None  # (first frame, borrowed keyframe) of a shot without one
        out = np.empty((height, width, 3), np.uint8)
        previous_small: np.ndarray | None = None
        previous: np.ndarray | None = None
        borrowed = 0
        for t, frame, pair in cache.walk(reader, self.start, self.stop):
            small = cache.settings.working_frame(frame)
            if (
                self.right is None
                and pair is not None
                and is_cut(previous_small, small, pair.forward, pair.backward)
            ):
                self.cuts.add(t)
            previous_small = small
            new_shot = t == self.start or t in self.cuts
            if t in self.cuts:
                left_reaches, left_chain = False, None
            if t == self.left:
                left_chain = Chain(work, (width, height), settings.motion_keep, small)
                previous = None
                yield looks.image(t).copy()
                continue
            if left_chain is not None and pair is not None:
                left_chain.step(pair.backward, pair.forward, small)
                if not left_chain.alive:
                    left_chain = None
            right_reaches = self.right is not None and not any(t < c <= self.stop for c in self.cuts)
            keys = tuple(k for k, ok in ((self.left, left_reaches), (self.right, right_reaches)) if ok)
            if new_shot and keyless is not None:
                notices.append(_keyless_notice(*keyless, t - 1))
                keyless = None
            if not keys:
                if new_shot:
                    borrowed = looks.nearest(frame)
                    keyless = (t, borrowed)
                keys = (borrowed,)
            synthesis = looks.model(keys).predict_float(frame) * np.float32(255.0)
            steady = synthesis
            if previous is not None and not new_shot and pair is not None:
                steady = stabilise(synthesis, previous, pair, settings.stabilising)
            previous = synthesis
            carried = []
            both = left_reaches and right_reaches
            to_right = (t - self.start) / (self.stop - self.start) if both else 0.0
            if left_reaches and left_chain is not None:
                assert self.left is not None
                texture = looks.residual(keys, self.left, t - self.left, settings.residual_detail)
                carried.append((*left_chain.sample(texture), 1.0 - to_right if both else 1.0))
            if right_reaches and right_chain is not None and t in backward:
                assert self.right is not None
                with np.load(backward[t]) as state:
                    right_chain.restore((state["arr_0"], state["arr_1"]))
                texture = looks.residual(keys, self.right, self.right - t, settings.residual_detail)
                carried.append((*right_chain.sample(texture), to_right if both else 1.0))
            combine(steady, carried, out)
            yield out.copy()
        if keyless is not None:
            notices.append(_keyless_notice(*keyless, self.stop - 1))


def _keyless_notice(first: int, borrowed: int, last: int) -> str:
    return (
        f"restyle: frames {first}-{last} are a shot without a keyframe, so they take the look learned from "
        f"the keyframe at frame {borrowed} (the most similar); add a keyframe in that shot for its own look"
    )
