"""Look scores: how close a restyled clip is, on *every* frame, to what the look should be on that frame.

Keyframe PSNR and warping error reward blur: a look that fades into a smooth wash is perfectly steady.
These scores compare the output with a *reference look*, the look applied to each source frame (a folder
of frames or a clip, frame ``t`` for output frame ``t``):

- **look fidelity**: PSNR and SSIM of each output frame against the reference frame;
- **style retention**: the output's detail energy (mean absolute Laplacian of the grey levels) divided by
  the reference's, per frame: 1 keeps the look's detail, below 1 is a wash, above 1 is added noise or
  double edges. Reported as min, median and max with the frames where they occur;
- **flicker**: the flow-compensated frame-to-frame change (the source's flow, occlusions masked) of the
  output, divided by the reference's own and by the source's. About 1 against the reference means the
  output is as steady as the look applied frame by frame. ``warping_vs_source`` is the same change with
  each clip's contrast divided out, so a high-contrast look is not read as unsteady.

Every frame is scored for fidelity and retention; ``sample=N`` scores every Nth frame pair for flicker,
within shots (a pair across a cut in the source is left out: nothing is carried over it).

>>> from shotcraft.media.samples import sample_clip
>>> clip = sample_clip("carphone")
>>> report = look_scores(clip, clip, clip, sample=30)
>>> report.psnr_min, report.retention_min, round(report.flicker_vs_reference, 3)
(inf, 1.0, 1.0)
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shotcraft.errors import MediaError
from shotcraft.media.read import VideoReader
from shotcraft.media.stills import read_image
from shotcraft.metrics import contrast, psnr, scoring_size, within_shot_flow
from shotcraft.signals.flow import warping_error
from shotcraft.signals.structure import detail_energy

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}


@dataclass
class LookReport:
    """Per-frame look scores of an output against a reference look, and their summaries."""

    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    retention: list[float] = field(default_factory=list)
    flicker_output: float = 0.0
    flicker_reference: float = 0.0
    flicker_source: float = 0.0
    #: Warping error of the output over the source's, each normalised by its clip's contrast (as
    #: :func:`shotcraft.metrics.score` does): about 1 is as steady as the source's own motion explains.
    warping_vs_source: float = 1.0
    #: The same for the reference look itself: a look that draws edges and grain is less steady than its
    #: source however it is made, and this says by how much.
    reference_warping_vs_source: float = 1.0
    pairs_scored: int = 0

    @property
    def frames(self) -> int:
        return len(self.psnr)

    @property
    def psnr_min(self) -> float:
        return min(self.psnr)

    @property
    def retention_min(self) -> float:
        return min(self.retention)

    @property
    def retention_max(self) -> float:
        return max(self.retention)

    @property
    def flicker_vs_reference(self) -> float:
        return _ratio(self.flicker_output, self.flicker_reference)

    def summary(self) -> dict[str, Any]:
        """The headline numbers, JSON-ready (``inf`` as a string)."""

        def plain(value: float) -> float | str:
            return round(value, 4) if math.isfinite(value) else str(value)

        finite = [p for p in self.psnr if math.isfinite(p)]
        return {
            "frames": self.frames,
            "psnr_mean": plain(float(np.mean(finite)) if finite else math.inf),
            "psnr_min": plain(self.psnr_min),
            "psnr_worst_frame": int(np.argmin(self.psnr)),
            "ssim_mean": plain(float(np.mean(self.ssim))),
            "retention_min": plain(self.retention_min),
            "retention_min_frame": int(np.argmin(self.retention)),
            "retention_median": plain(float(np.median(self.retention))),
            "retention_max": plain(self.retention_max),
            "retention_max_frame": int(np.argmax(self.retention)),
            "flicker_vs_reference": plain(self.flicker_vs_reference),
            "flicker_vs_source": plain(_ratio(self.flicker_output, self.flicker_source)),
            "warping_vs_source": plain(self.warping_vs_source),
            "reference_warping_vs_source": plain(self.reference_warping_vs_source),
            "pairs_scored": self.pairs_scored,
        }

    def to_dict(self) -> dict[str, Any]:
        """The summary and every per-frame score."""
        frames = asdict(self)
        return {"summary": self.summary(), **{k: frames[k] for k in ("psnr", "ssim", "retention")}}


def _ratio(a: float, b: float) -> float:
    if b > 0:
        return a / b
    return 1.0 if a == 0 else math.inf


def look_scores(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    reference: str | os.PathLike[str],
    *,
    sample: int = 1,
) -> LookReport:
    """Score ``output`` against ``reference`` (a clip, or a folder of frames in name order), with the flow
    of ``source``; all three are streamed."""
    count = VideoReader(output).video.frame_count
    report = score_look_frames(
        VideoReader(source).frames(),
        VideoReader(output).frames(),
        reference_frames(Path(reference)),
        sample=sample,
    )
    if report.frames < count:
        raise MediaError(f"the reference look has {report.frames} frames; the output has {count}")
    return report


def score_look_frames(
    source: Iterable[np.ndarray],
    output: Iterable[np.ndarray],
    reference: Iterable[np.ndarray],
    *,
    sample: int = 1,
) -> LookReport:
    """:func:`look_scores` over frames (RGB uint8 arrays, any iterables, consumed in step; scoring stops at
    the shortest)."""
    if sample < 1:
        raise ValueError(f"sample must be 1 or more, not {sample}")
    report = LookReport()
    previous: tuple[np.ndarray, ...] | None = None
    flicker: list[tuple[float, ...]] = []
    contrasts: list[tuple[float, ...]] = []
    for t, (src, out, ref) in enumerate(zip(source, output, reference, strict=False)):
        if ref.shape != out.shape:
            raise MediaError(
                f"reference look frame {t} is {ref.shape[1]}x{ref.shape[0]}, the output {out.shape[1]}x{out.shape[0]}"
            )
        report.psnr.append(psnr(out, ref))
        report.ssim.append(_ssim(out, ref))
        wanted = detail_energy(ref)
        report.retention.append(detail_energy(out) / wanted if wanted > 0 else 1.0)
        small = tuple(scoring_size(image) for image in (src, out, ref))
        pair = within_shot_flow(previous[0], small[0]) if previous and (t - 1) % sample == 0 else None
        if previous and pair is not None:
            flicker.append(tuple(warping_error(a, b, *pair) for a, b in zip(previous, small, strict=True)))
            contrasts.append(tuple(contrast(a) for a in previous))
        previous = small
    if flicker:
        report.flicker_source, report.flicker_output, report.flicker_reference = (
            float(v) for v in np.mean(flicker, axis=0)
        )
        normalised = np.mean(np.asarray(flicker) / np.asarray(contrasts), axis=0)
        report.warping_vs_source = _ratio(float(normalised[1]), float(normalised[0]))
        report.reference_warping_vs_source = _ratio(float(normalised[2]), float(normalised[0]))
        report.pairs_scored = len(flicker)
    return report


def reference_frames(reference: Path) -> Iterator[np.ndarray]:
    """RGB frames of a reference look: a folder of images in name order, or a clip."""
    if reference.is_dir():
        paths = sorted(p for p in reference.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not paths:
            raise MediaError(f"{reference} holds no image frames (.png, .jpg, .tif, ...)")
        return (read_image(p, "reference look frame") for p in paths)
    return VideoReader(reference).frames()


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, channel_axis=-1, data_range=255))
