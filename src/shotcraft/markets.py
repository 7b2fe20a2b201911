"""Market versions of one clip in one call: each market through :func:`shotcraft.pipeline.transform`.

Every market version keeps the source's frame count, fps, duration and audio (the pipeline's output
contract), gets its on-screen text replaced from the translation table, and gets its subtitles burned in
and/or added as a soft track. A market that cannot be made (not in the table, rows without its text, a
script no installed font covers) is reported with its reasons while the other markets are still made.
The source's text is read once: the OCR pass is cached across markets.

>>> results = localize("clip.mp4", "out", ["de", "ja"], table="strings.csv")  # doctest: +SKIP
>>> [(r.market, r.path.name if r.path else r.problems) for r in results]  # doctest: +SKIP
[('de', 'clip_de.mp4'), ('ja', 'clip_ja.mp4')]
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shotcraft.errors import EngineUnavailable, MediaError
from shotcraft.media.output_path import check_folder, check_output, commit, sidecar_of, temp_name
from shotcraft.media.subtitles import mux_subtitles, read_subtitles
from shotcraft.pipeline import TakeResult, transform
from shotcraft.progress import Progress, no_progress
from shotcraft.spec import LocalizeOp, OutputSpec, SpecError, TransformSpec, input_paths, validate_spec


@dataclass
class MarketResult:
    """One market's outcome: the take, or the problems that stopped it."""

    market: str
    take: TakeResult | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path | None:
        return self.take.path if self.take else None


def localize(
    source: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    markets: Sequence[str],
    *,
    table: str | os.PathLike[str] | None = None,
    replacements: dict[str, dict[str, str]] | None = None,
    subtitles: dict[str, str | os.PathLike[str]] | None = None,
    burn_subtitles: bool = False,
    soft_subtitles: bool = True,
    output: OutputSpec | None = None,
    suffix: str = ".mp4",
    progress: Progress = no_progress,
    overwrite: bool = False,
) -> list[MarketResult]:
    """Render ``source`` once per market into ``output_dir/<stem>_<market><suffix>``.

    Problems that concern every market (no such table, a subtitle file for an unknown market) raise a
    :class:`~shotcraft.spec.SpecError`; a market's own problems land in its :class:`MarketResult`.
    """
    source, folder = Path(source), Path(output_dir)
    op = validate_spec(
        {
            "markets": list(markets),
            "table": table,
            "replacements": replacements or {},
            "subtitles": subtitles or {},
            "burn_subtitles": burn_subtitles,
        },
        LocalizeOp,
    )
    if op.table is None and not op.replacements and not op.subtitles:
        raise SpecError("localize needs a translation table, replacements or subtitles")
    unknown = sorted(set(op.subtitles) - set(op.markets))
    if unknown:
        raise SpecError(f"subtitles are given for {', '.join(unknown)}, which is not among the markets")
    if op.table is not None and not Path(op.table).is_file():
        raise SpecError(f"translation table {op.table} does not exist")
    # Every market's file is checked before any is made: one refused name stops the run, not the last market.
    check_folder(folder)
    inputs = input_paths(op)
    targets = {market: folder / f"{source.stem}_{_file_safe(market)}{suffix}" for market in op.markets}
    for target in targets.values():
        check_output(target, source=source, inputs=inputs, overwrite=overwrite)
    results: list[MarketResult] = []
    for market in op.markets:
        target = targets[market]
        try:
            take = _render_market(source, target, op, market, soft_subtitles, output, progress, overwrite)
            results.append(MarketResult(market, take))
        except (SpecError, MediaError, EngineUnavailable) as exc:
            results.append(MarketResult(market, None, list(getattr(exc, "problems", None) or [str(exc)])))
    return results


def _file_safe(market: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in market)


def _render_market(
    source: Path,
    target: Path,
    op: LocalizeOp,
    market: str,
    soft_subtitles: bool,
    output: OutputSpec | None,
    progress: Progress,
    overwrite: bool = False,
) -> TakeResult:
    market_op = op.model_copy(update={"market": market})
    spec = TransformSpec(operations=[market_op], engine="classic", output=output or OutputSpec())
    lineage = {"localize": {"market": market, "markets": list(op.markets)}}
    soft = soft_subtitles and market in op.subtitles
    if not soft:
        return transform(source, target, spec, progress=progress, lineage=lineage, overwrite=overwrite)
    # Soft subtitles are added by a remux: render under a hidden name first, so the final name only ever
    # holds the finished file, and it appears together with its sidecar.
    cues = read_subtitles(op.subtitles[market])
    staged = temp_name(target.with_name(f"{target.stem}_staged{target.suffix}"))
    remuxed, sidecar_tmp = temp_name(target), temp_name(sidecar_of(target))
    inputs = input_paths(op)
    try:
        take = transform(source, staged, spec, progress=progress, lineage=lineage)
        mux_subtitles(staged, [(cues, market)], remuxed)
        record = json.loads(take.sidecar.read_text(encoding="utf-8"))
        record["output"] = str(target)
        record["subtitles"] = {"market": market, "file": str(op.subtitles[market]), "cues": len(cues)}
        sidecar_tmp.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
        check_output(target, source=source, inputs=inputs, overwrite=overwrite)
        commit([(remuxed, target), (sidecar_tmp, sidecar_of(target))])
    finally:
        for leftover in (staged, sidecar_of(staged), remuxed, sidecar_tmp):
            leftover.unlink(missing_ok=True)
    sidecar = sidecar_of(target)
    return TakeResult(target, sidecar, take.frame_count, take.engine, take.seconds, take.notices)


# ---------------------------------------------------------------------------------------------------------
# A clip with signage for demos, tests and benchmarks


def signage_frames(
    text: str,
    frames: int,
    width: int,
    height: int,
    *,
    footage: str = "bikes",
    appear: int = 0,
    board: tuple[int, int, int] = (236, 226, 198),
    ink: tuple[int, int, int] = (28, 36, 110),
    occluder: tuple[int, int] | None = None,
    grow: float = 1.2,
    margin: float = 0.5,
    span: float = 0.5,
) -> Iterator[np.ndarray]:
    """Real footage with a sign carrying ``text`` that slides, grows to ``grow`` times its first size,
    turns a little in perspective and dims over the clip; it appears at frame ``appear``, ``span`` of the
    frame's width wide, with a board ``margin`` font heights wide round the letters. With ``occluder`` =
    (first, last) frame, a dark pole passes in front of the sign from right to left over those frames.
    Frames are RGB arrays; :func:`signage_quads` gives where the letters are on each."""
    import cv2

    from shotcraft.media.synth import footage_frames

    sign_rgb, _, quads = _signage(text, frames, width, height, appear, board, ink, grow, margin, span)
    sign_h, sign_w = sign_rgb.shape[:2]
    corners = np.array([[0, 0], [sign_w, 0], [sign_w, sign_h], [0, sign_h]], np.float32)
    for i, frame in enumerate(footage_frames(footage, frames, width, height)):
        quad = quads[i]
        if quad is None:
            yield frame
            continue
        dim = 1.0 - 0.2 * (i - appear) / max(1, frames - appear - 1)
        warp = cv2.getPerspectiveTransform(corners, quad)
        layer = cv2.warpPerspective(sign_rgb * dim, warp, (width, height), flags=cv2.INTER_LINEAR)
        alpha = cv2.warpPerspective(np.ones((sign_h, sign_w), np.float32), warp, (width, height))[..., None]
        out = np.clip(frame * (1 - alpha) + layer * alpha + 0.5, 0, 255).astype(np.uint8)
        if occluder is not None and occluder[0] <= i <= occluder[1]:
            # Crosses the sign's extent (at its size now) from just right of it to just left of it.
            u = (i - occluder[0]) / max(1, occluder[1] - occluder[0])
            pole = round(0.07 * width)
            cx, w2 = float(quad[:, 0].mean()), float(quad[1, 0] - quad[0, 0]) / 2
            x = round(cx + (w2 + pole) * (1 - 2 * u) - pole / 2)
            out[:, max(0, x) : max(0, x + pole)] = (52, 44, 40)
        yield out


def signage_quads(
    text: str,
    frames: int,
    width: int,
    height: int,
    *,
    appear: int = 0,
    grow: float = 1.2,
    margin: float = 0.5,
    span: float = 0.5,
) -> list[np.ndarray | None]:
    """Where the letters' ink box lies in each frame of :func:`signage_frames` called with the same
    arguments (4x2 corners, clockwise from top-left; None before the sign appears): the truth that
    measurements of a market version compare against."""
    import cv2

    sign_rgb, ink_box, quads = _signage(
        text, frames, width, height, appear, (0, 0, 0), (0, 0, 0), grow, margin, span
    )
    sign_h, sign_w = sign_rgb.shape[:2]
    x0, y0, x1, y1 = ink_box
    corners = np.array([[0, 0], [sign_w, 0], [sign_w, sign_h], [0, sign_h]], np.float32)
    ink = np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], np.float64)
    return [
        None
        if quad is None
        else cv2.perspectiveTransform(ink, cv2.getPerspectiveTransform(corners, quad).astype(np.float64))[0]
        for quad in quads
    ]


def _signage(
    text: str,
    frames: int,
    width: int,
    height: int,
    appear: int,
    board: tuple[int, int, int],
    ink: tuple[int, int, int],
    grow: float,
    margin: float,
    span: float,
) -> tuple[np.ndarray, tuple[int, int, int, int], list[np.ndarray | None]]:
    """The sign (float RGB with its grain), the letters' ink box on it, and its corners in each frame."""
    from PIL import Image, ImageDraw

    from shotcraft.engines.classic import typeset

    font_px = max(12, round(height * 0.11))
    lettering = typeset.render_line(typeset.choose_fonts(text), font_px, ink, weight=700)
    pad = max(3, round(font_px * margin))
    lx0, ly0, lx1, ly1 = lettering.ink
    sign_w, sign_h = lx1 - lx0 + 2 * pad, ly1 - ly0 + 2 * pad
    sign = Image.new("RGB", (sign_w, sign_h), board)
    ImageDraw.Draw(sign).rectangle(
        (1, 1, sign_w - 2, sign_h - 2), outline=tuple(c // 2 for c in board), width=2
    )
    sign_pixels = np.array(sign)
    typeset.draw_layer(sign_pixels, lettering, (pad - lx0, pad - ly0))
    rng = np.random.default_rng(7)
    grain = rng.normal(0, 6, (sign_h, sign_w, 1)).astype(np.float32)
    sign_rgb = np.clip(sign_pixels.astype(np.float32) + grain, 0, 255)
    quads: list[np.ndarray | None] = []
    for i in range(frames):
        if i < appear:
            quads.append(None)
            continue
        t = (i - appear) / max(1, frames - appear - 1)
        scale = (span * width / sign_w) * (1.0 + (grow - 1.0) * t)
        cx, cy = width * (0.6 - 0.2 * t), height * (0.42 + 0.05 * np.sin(3 * t))
        w2, h2 = sign_w * scale / 2, sign_h * scale / 2
        squeeze = 0.08 * t * h2  # the right edge turns away a little: perspective, not just a scale
        quads.append(
            np.array(
                [
                    [cx - w2, cy - h2],
                    [cx + w2, cy - h2 + squeeze],
                    [cx + w2, cy + h2 - squeeze],
                    [cx - w2, cy + h2],
                ],
                np.float32,
            )
        )
    return sign_rgb, (pad, pad, pad + lx1 - lx0, pad + ly1 - ly0), quads


def demo_step(folder: Path, progress: Progress) -> list[tuple[str, TakeResult]]:
    """Two market versions (German with a soft subtitle track, Japanese) of real street footage with a
    moving sign, made in one call."""
    from shotcraft.media.synth import make_clip

    folder.mkdir(parents=True, exist_ok=True)
    source = make_clip(
        folder / "signage.mp4", frames=60, width=640, height=272, fps=25, audio_channels=2,
        content=signage_frames("SUMMER SALE", 60, 640, 272, appear=6),
    )  # fmt: skip
    table = folder / "signage_strings.csv"
    table.write_text("source,de,ja\nSUMMER SALE,SOMMERSCHLUSSVERKAUF,夏のセール\n", encoding="utf-8")
    subs = folder / "signage_de.srt"
    subs.write_text("1\n00:00:00,000 --> 00:00:02,000\nNur diese Woche\n", encoding="utf-8")
    results = localize(
        source, folder, ["de", "ja"], table=table, subtitles={"de": subs}, progress=progress, overwrite=True
    )
    made = []
    for result in results:
        if result.take is None:
            raise SpecError(f"demo market {result.market}: {'; '.join(result.problems)}")
        made.append((f"localize: {result.market} market version (signage)", result.take))
    return made
