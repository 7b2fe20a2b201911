"""Fidelity scores: how faithfully an output keeps what a transform promised to keep from its source.

``score(source, output, spec)`` streams both clips frame by frame (memory is a few frames, never the
clip) and measures:

- **timing**: frame count, fps, duration and size equal;
- **audio**: every audio packet copied byte for byte;
- **locks**: max abs difference and PSNR between source and output inside the locked regions (the hard
  part of each mask, feathered bands excluded);
- **keyframe hit**: PSNR between the output frame and the keyframe still at each keyframe's frame (outside
  the locks, where the engine is responsible);
- **temporal consistency**: the flow-warping error of the output measured with the *source's* flow
  (occlusions masked by forward-backward consistency), divided by the source's own error; each error is
  normalised by its clip's contrast, so a darker grade does not read as "steadier". About 1 means the
  output flickers no more than the source's own motion explains;
- **structure adherence**: F1 agreement of the edges of source and output frames (2 px tolerance, edges
  found after stretching each frame's own contrast);
- **motion adherence**: mean endpoint error between the output's flow and the source's flow, in pixels of
  the scoring resolution (frames wider than 640 px are scored at 640 px wide).

Temporal consistency and motion adherence are scored on frame pairs within a shot: a pair across a cut
(:func:`~shotcraft.signals.cuts.is_cut` on the source) has no motion to keep, and its flow's error (tens of
pixels) would swamp the clip's mean; such pairs are counted in ``cut_pairs``.

``sample=N`` scores every Nth frame pair for the flow and edge scores; timing, audio, locks and keyframes
are always checked on every frame.

>>> from shotcraft.media.samples import sample_clip
>>> clip = sample_clip("carphone")
>>> report = score(clip, clip, sample=20)
>>> report.frame_count_equal, report.audio_identical, round(report.motion_epe, 3), report.structure_f1
(True, None, 0.0, 1.0)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from shotcraft.errors import MediaError
from shotcraft.media.probe import MediaInfo, probe
from shotcraft.media.read import VideoReader
from shotcraft.signals.cuts import is_cut
from shotcraft.signals.flow import compute_flow, flow_confidence, warping_error
from shotcraft.spec import TransformSpec

#: Edge agreement tolerance, pixels (at the scoring resolution).
EDGE_TOLERANCE = 2
#: Edge and flow scores run on frames at most this wide: they measure shape and motion, not texture.
SCORING_WIDTH = 640


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images (``inf`` when identical), optionally only
    where ``mask`` is true.

    >>> import numpy as np
    >>> a = np.zeros((4, 4, 3), np.uint8); b = a.copy(); b[0, 0, 0] = 16
    >>> round(psnr(a, b), 2), psnr(a, a)
    (40.86, inf)
    """
    diff = a.astype(np.float64) - b.astype(np.float64)
    if mask is not None:
        diff = diff[mask]
    if diff.size == 0:
        return math.nan
    return _psnr_of_mse(float(np.mean(diff * diff)))


def _psnr_of_mse(mse: float) -> float:
    """PSNR in dB of a mean squared error over uint8 levels (``inf`` for 0)."""
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def canny_edges(frame: np.ndarray) -> np.ndarray:
    """Edges of an RGB frame as a bool map, after stretching its own 1-99 % grey range (so exposure and
    contrast changes do not move or remove edges)."""
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
    low, high = np.percentile(grey, (1, 99))
    stretched = np.clip((grey - low) * (255.0 / max(float(high - low), 1.0)), 0, 255).astype(np.uint8)
    stretched = cv2.GaussianBlur(stretched, (0, 0), 1.0)
    return cv2.Canny(stretched, 50, 150) > 0


def edge_f1(a: np.ndarray, b: np.ndarray, tolerance: int = EDGE_TOLERANCE) -> float:
    """F1 agreement of two edge maps: an edge pixel counts as matched if the other map has an edge within
    ``tolerance`` pixels. Two maps with no edges agree fully."""
    if not a.any() and not b.any():
        return 1.0
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance + 1, 2 * tolerance + 1))
    near_a = cv2.dilate(a.astype(np.uint8), kernel) > 0
    near_b = cv2.dilate(b.astype(np.uint8), kernel) > 0
    precision = float((b & near_a).sum()) / max(int(b.sum()), 1)
    recall = float((a & near_b).sum()) / max(int(a.sum()), 1)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


@dataclass
class FidelityReport:
    """The scores of one output against its source; :meth:`to_dict` for JSON, :meth:`rows` for a table."""

    source: str
    output: str
    frame_count: tuple[int, int]
    fps: tuple[str, str]
    duration: tuple[float, float]
    size: tuple[tuple[int, int], tuple[int, int]]
    audio_identical: bool | None = None
    audio_detail: str = ""
    lock_max_abs_diff: int | None = None
    lock_psnr: float | None = None
    keyframe_psnr: dict[int, float] = field(default_factory=dict)
    temporal_error_output: float | None = None
    temporal_error_source: float | None = None
    temporal_ratio: float | None = None
    structure_f1: float | None = None
    motion_epe: float | None = None
    frames_compared: int = 0
    pairs_scored: int = 0
    cut_pairs: int = 0
    sample: int = 1
    notes: list[str] = field(default_factory=list)

    @property
    def frame_count_equal(self) -> bool:
        return self.frame_count[0] == self.frame_count[1]

    @property
    def fps_equal(self) -> bool:
        return self.fps[0] == self.fps[1]

    @property
    def duration_equal(self) -> bool:
        return self.duration[0] == self.duration[1]

    @property
    def locks_exact(self) -> bool | None:
        return None if self.lock_max_abs_diff is None else self.lock_max_abs_diff == 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``inf`` PSNR, meaning identical, becomes the string ``"inf"``)."""

        def plain(value: float | None) -> float | str | None:
            if value is None:
                return None
            if math.isinf(value):
                return "inf"
            return None if math.isnan(value) else round(value, 4)

        return {
            "source": self.source,
            "output": self.output,
            "timing": {
                "frame_count": list(self.frame_count),
                "frame_count_equal": self.frame_count_equal,
                "fps": list(self.fps),
                "fps_equal": self.fps_equal,
                "duration": list(self.duration),
                "duration_equal": self.duration_equal,
                "size": [list(self.size[0]), list(self.size[1])],
            },
            "audio": {"identical": self.audio_identical, "detail": self.audio_detail},
            "locks": {
                "exact": self.locks_exact,
                "max_abs_diff": self.lock_max_abs_diff,
                "psnr": plain(self.lock_psnr),
            },
            "keyframes": {str(index): plain(value) for index, value in sorted(self.keyframe_psnr.items())},
            "temporal": {
                "ratio": plain(self.temporal_ratio),
                "output_error": plain(self.temporal_error_output),
                "source_error": plain(self.temporal_error_source),
            },
            "structure_f1": plain(self.structure_f1),
            "motion_epe": plain(self.motion_epe),
            "frames_compared": self.frames_compared,
            "pairs_scored": self.pairs_scored,
            "cut_pairs": self.cut_pairs,
            "sample": self.sample,
            "notes": self.notes,
        }

    def rows(self) -> list[tuple[str, str, str]]:
        """(score, value, what it means) rows for a readable table."""

        def yes(flag: bool | None) -> str:
            return "n/a" if flag is None else ("yes" if flag else "NO")

        def db(value: float | None) -> str:
            if value is None or math.isnan(value):
                return "n/a"
            return "identical" if math.isinf(value) else f"{value:.2f} dB"

        def num(value: float | None, unit: str = "") -> str:
            return "n/a" if value is None else f"{value:.3f}{unit}"

        rows = [
            (
                "frame count equal",
                yes(self.frame_count_equal),
                f"{self.frame_count[0]} → {self.frame_count[1]}",
            ),
            ("fps equal", yes(self.fps_equal), f"{self.fps[0]} → {self.fps[1]}"),
            (
                "duration equal",
                yes(self.duration_equal),
                f"{self.duration[0]:.3f} s → {self.duration[1]:.3f} s",
            ),
            ("audio packets identical", yes(self.audio_identical), self.audio_detail),
            (
                "locks exact",
                yes(self.locks_exact),
                "n/a"
                if self.lock_max_abs_diff is None
                else f"max diff {self.lock_max_abs_diff}, PSNR {db(self.lock_psnr)}",
            ),
        ]
        for index, value in sorted(self.keyframe_psnr.items()):
            rows.append((f"keyframe hit, frame {index}", db(value), "PSNR against the keyframe still"))
        rows += [
            (
                "temporal consistency",
                num(self.temporal_ratio),
                "output / source warping error (1 = as steady)",
            ),
            ("structure adherence", num(self.structure_f1), "edge agreement F1 (1 = same edges)"),
            (
                "motion adherence",
                num(self.motion_epe, " px"),
                "flow endpoint error against the source's flow",
            ),
        ]
        return rows


def score(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    spec: TransformSpec | None = None,
    *,
    sample: int = 1,
) -> FidelityReport:
    """Score ``output`` against ``source``; ``spec`` (the transform's) supplies the locks and keyframes."""
    if sample < 1:
        raise ValueError(f"sample must be 1 or more, not {sample}")
    src_info, out_info = probe(source), probe(output)
    src_video, out_video = src_info.require_video(), out_info.require_video()
    report = FidelityReport(
        source=str(source),
        output=str(output),
        frame_count=(src_video.frame_count, out_video.frame_count),
        fps=(str(src_video.fps), str(out_video.fps)),
        duration=(float(src_video.duration), float(out_video.duration)),
        size=((src_video.width, src_video.height), (out_video.width, out_video.height)),
        sample=sample,
    )
    report.audio_identical, report.audio_detail = compare_audio(src_info, out_info)
    if report.size[0] != report.size[1]:
        report.notes.append("the output's size differs from the source's: pixel scores were skipped")
        return report
    _score_frames(report, src_info, out_info, spec or TransformSpec(), sample)
    return report


def compare_audio(source: MediaInfo, output: MediaInfo) -> tuple[bool | None, str]:
    """Whether every audio stream's packets are byte-identical, in order (None when the source has no audio)."""
    if not source.audio:
        return (None, "no audio in the source") if not output.audio else (False, "the output gained audio")
    if len(source.audio) != len(output.audio):
        return False, f"{len(source.audio)} audio stream(s) in the source, {len(output.audio)} in the output"
    src_digests, out_digests = _packet_digests(source), _packet_digests(output)
    details = []
    for k, (a, b) in enumerate(zip(src_digests, out_digests, strict=True)):
        if a != b:
            return (
                False,
                f"audio stream {k}: {a[0]} packets in the source, {b[0]} in the output, contents differ",
            )
        details.append(f"{a[0]} packets")
    return True, f"{len(details)} stream(s): " + ", ".join(details)


def _packet_digests(info: MediaInfo) -> list[tuple[int, str]]:
    """(packet count, SHA-256 of all payloads in order) per audio stream."""
    indices = [a.index for a in info.audio]
    hashes = {i: hashlib.sha256() for i in indices}
    counts = dict.fromkeys(indices, 0)
    try:
        with av.open(str(info.path), metadata_errors="ignore") as container:
            for packet in container.demux([container.streams[i] for i in indices]):
                if packet.size == 0:
                    continue
                hashes[packet.stream_index].update(bytes(packet))
                counts[packet.stream_index] += 1
    except av.error.FFmpegError as exc:
        raise MediaError(f"{info.path.name}: audio could not be read ({exc})") from None
    return [(counts[i], hashes[i].hexdigest()) for i in indices]


def _score_frames(
    report: FidelityReport, src_info: MediaInfo, out_info: MediaInfo, spec: TransformSpec, sample: int
) -> None:
    from shotcraft.media.stills import load_still
    from shotcraft.plan import plan_transform
    from shotcraft.signals.masks import lock_masks

    plan = plan_transform(src_info, spec)
    src_reader = VideoReader(src_info.path, src_info)
    out_reader = VideoReader(out_info.path, out_info)
    masks: Iterator[np.ndarray] | None = lock_masks(plan, src_reader)
    stills = {
        key.index: load_still(key.image, plan.video, None, f"keyframe at {key.at.describe()}")
        for key in [*plan.keyframes, *plan.relight_keyframes]
    }
    lock_diff, lock_sq, lock_count = 0, 0.0, 0
    temporal_out: list[float] = []
    temporal_src: list[float] = []
    f1s: list[float] = []
    epes: list[float] = []
    previous: tuple[np.ndarray, np.ndarray] | None = None
    for index, (src, out) in enumerate(zip(src_reader.frames(), out_reader.frames(), strict=False)):
        mask = next(masks) if masks is not None else None
        locked = mask >= 1.0 if mask is not None else None
        if locked is not None and locked.any():
            diff = np.abs(src.astype(np.int16) - out.astype(np.int16))[locked]
            lock_diff = max(lock_diff, int(diff.max()))
            lock_sq += float(np.sum(diff.astype(np.float64) ** 2))
            lock_count += diff.size
        if index in stills:
            free = ~locked if locked is not None else None
            report.keyframe_psnr[index] = psnr(out, stills[index], free)
        small_src, small_out = scoring_size(src), scoring_size(out)
        if index % sample == 0:
            f1s.append(edge_f1(canny_edges(small_src), canny_edges(small_out)))
        if previous is not None and (index - 1) % sample == 0:
            pair = _pair_scores(previous[0], small_src, previous[1], small_out)
            if pair is None:
                report.cut_pairs += 1
            else:
                temporal_out.append(pair[0])
                temporal_src.append(pair[1])
                epes.append(pair[2])
        previous = (small_src, small_out)
        report.frames_compared = index + 1
    if lock_count:
        report.lock_max_abs_diff = lock_diff
        report.lock_psnr = _psnr_of_mse(lock_sq / lock_count)
    elif spec.locks:
        report.notes.append("the locks cover no pixel of any frame")
    report.structure_f1 = float(np.mean(f1s)) if f1s else None
    report.pairs_scored = len(epes)
    if epes:
        report.motion_epe = float(np.mean(epes))
        report.temporal_error_output = float(np.mean(temporal_out))
        report.temporal_error_source = float(np.mean(temporal_src))
        if report.temporal_error_source > 0:
            report.temporal_ratio = report.temporal_error_output / report.temporal_error_source
        elif report.temporal_error_output == 0:
            report.temporal_ratio = 1.0


def scoring_size(frame: np.ndarray) -> np.ndarray:
    """``frame`` at most :data:`SCORING_WIDTH` wide: flow and edge scores measure shape and motion."""
    h, w = frame.shape[:2]
    if w <= SCORING_WIDTH:
        return frame
    size = (SCORING_WIDTH, max(8, round(h * SCORING_WIDTH / w)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def within_shot_flow(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The flow from source frame ``a`` to the next, ``b``, and its forward-backward confidence (the
    occlusions a warping error leaves out), or None where ``b`` starts a new shot: across a cut there is no
    motion to keep or to flicker along."""
    forward = compute_flow(a, b, scale=1.0)
    backward = compute_flow(b, a, scale=1.0)
    if is_cut(a, b, forward, backward):
        return None
    return forward, flow_confidence(forward, backward)


def _pair_scores(
    src_a: np.ndarray, src_b: np.ndarray, out_a: np.ndarray, out_b: np.ndarray
) -> tuple[float, float, float] | None:
    """(output warping error, source warping error, flow endpoint error) for one frame pair, the errors
    normalised by each pair's contrast; None where the source cuts between the two frames."""
    pair = within_shot_flow(src_a, src_b)
    if pair is None:
        return None
    forward, confidence = pair
    e_src = warping_error(src_a, src_b, forward, confidence) / contrast(src_a)
    e_out = warping_error(out_a, out_b, forward, confidence) / contrast(out_a)
    out_flow = compute_flow(out_a, out_b, scale=1.0)
    distance = np.sqrt(np.sum((out_flow - forward) ** 2, axis=-1))
    total = float(confidence.sum())
    epe = float((distance * confidence).sum() / total) if total > 0 else float(distance.mean())
    return e_out, e_src, epe


def contrast(frame: np.ndarray) -> float:
    """Standard deviation of the grey levels (at least 1, so flat frames don't divide by zero)."""
    return max(float(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).std()), 1.0)


def score_paths(source: Path, output: Path, spec_file: Path | None = None, sample: int = 1) -> FidelityReport:
    """:func:`score` with the spec from ``spec_file``, or else from the output's take sidecar
    (``OUTPUT.json``) when there is one."""
    from shotcraft.spec import load_spec, validate_spec

    spec: TransformSpec | None = None
    if spec_file is not None:
        spec = load_spec(spec_file, TransformSpec)
    else:
        sidecar = Path(f"{output}.json")
        if sidecar.is_file():
            try:
                record = json.loads(sidecar.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise MediaError(f"take sidecar {sidecar.name} cannot be read: {exc}") from None
            if isinstance(record, dict) and isinstance(record.get("spec"), dict):
                spec = validate_spec(record["spec"], TransformSpec)
    return score(source, output, spec, sample=sample)
