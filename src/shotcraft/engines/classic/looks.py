"""Built-in looks for restyle when the user has no painted keyframe, applied to one frame at a time.

Restyle applies a look to every frame at full strength (see :mod:`~shotcraft.engines.classic.look_video`);
the grain a look lays is a parameter, so restyle can carry it along the motion instead of leaving it
fixed in the frame while the scene moves through it.

- ``watercolour``: edge-preserving smoothing, pigment pooling along edges, wet-edge darkening, paper grain;
- ``pencil``: a graphite sketch (colour-dodge of the luminance by its blurred negative) on grainy paper;
- ``cartoon``: flat cel shading (smoothed, tone-quantised colour) with ink outlines;
- ``film_print``: a print-film tone curve, teal shadows and warm highlights, soft halation, fine grain.

:func:`transfer_look` gives a frame the colour and tone of a reference still.

>>> import numpy as np
>>> from skimage import data
>>> frame = data.astronaut()
>>> {name: apply_look(frame, name).shape for name in LOOKS} == {name: frame.shape for name in LOOKS}
True
>>> warm = transfer_look(frame, data.coffee())
>>> warm.dtype, bool(np.abs(warm.astype(int) - frame).mean() > 5)
(dtype('uint8'), True)
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from shotcraft.engines.classic.temporal import grain
from shotcraft.signals.structure import edge_map, luminance

#: Largest factor :func:`transfer_look` stretches a colour channel's spread by.
_MAX_COLOUR_GAIN = 2.5


def _paper(image: np.ndarray, paper: np.ndarray | None, seed: int) -> np.ndarray:
    """The unit-variance grain field a look lays on ``image``: ``paper`` when given (restyle carries it along
    the motion: :class:`~shotcraft.engines.classic.temporal.AdvectedTexture`), else the look's own grain."""
    return paper if paper is not None else grain(*image.shape[:2], seed)


def _scale_for(image: np.ndarray) -> float:
    """Filter sizes are tuned at 720 lines; smaller frames get proportionally smaller brushes."""
    return max(0.25, min(image.shape[:2]) / 720.0)


#: Each look's grain seed and strength (0: no grain).
GRAIN = {"watercolour": (7, 0.035), "pencil": (11, 0.05), "cartoon": (0, 0.0), "film_print": (3, 0.012)}


def watercolour(image: np.ndarray, paper: np.ndarray | None = None) -> np.ndarray:
    """Edge-preserving wash, pigment pooled at edges, lightened and slightly desaturated, on paper."""
    s = _scale_for(image)
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    wash = cv2.edgePreservingFilter(bgr, flags=cv2.RECURS_FILTER, sigma_s=60 * s, sigma_r=0.45)
    wash = cv2.medianBlur(wash, 2 * max(1, round(3 * s)) + 1)  # colour bleeds into blobs
    rgb = cv2.cvtColor(wash, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    grey = rgb.mean(axis=-1, keepdims=True)
    rgb = 0.15 + 0.85 * (grey + 0.8 * (rgb - grey))  # pigment on white paper: lifted, softer colour
    edges = cv2.GaussianBlur(edge_map(wash[..., ::-1]), (0, 0), 1.2 * s)
    rgb *= (1.0 - np.clip(edges * 2.5, 0, 0.45))[..., None]  # wet edges dry darker
    seed, strength = GRAIN["watercolour"]
    rgb *= (1.0 + strength * _paper(image, paper, seed))[..., None]
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def pencil(image: np.ndarray, paper: np.ndarray | None = None) -> np.ndarray:
    """Graphite on paper: luminance divided by its blurred negative (colour dodge) gives the strokes."""
    s = _scale_for(image)
    lum = luminance(image)
    negative_blur = cv2.GaussianBlur(1.0 - lum, (0, 0), 6.0 * s)
    sketch = np.clip(lum / np.maximum(1.0 - negative_blur, 1e-3), 0.0, 1.0)
    sketch = sketch**2.2  # darken the strokes towards graphite
    shading = 0.75 + 0.25 * cv2.GaussianBlur(lum, (0, 0), 10.0 * s)  # a light tonal wash under the lines
    seed, strength = GRAIN["pencil"]
    grey = np.clip(sketch * shading * (1.0 + strength * _paper(image, paper, seed)), 0.0, 1.0)
    tint = np.array([0.97, 0.96, 0.93], np.float32)  # warm paper white
    return np.clip(grey[..., None] * tint * 255.0 + 0.5, 0, 255).astype(np.uint8)


def cartoon(image: np.ndarray, paper: np.ndarray | None = None, levels: int = 6) -> np.ndarray:
    """Cel shading: bilateral-smoothed colour, lightness quantised to ``levels`` bands, ink outlines (no
    grain: ``paper`` is ignored)."""
    s = _scale_for(image)
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(8, w // 2), max(8, h // 2)), interpolation=cv2.INTER_AREA)
    for _ in range(4):  # repeated small bilateral passes flatten regions without blurring edges
        small = cv2.bilateralFilter(small, 7, 30, 5)
    flat = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    lab = cv2.cvtColor(flat.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    lab[..., 0] = np.round(lab[..., 0] / 100.0 * (levels - 1)) / (levels - 1) * 100.0
    lab[..., 1:] *= 1.25  # cel paint is more saturated than life
    rgb = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0.0, 1.0)
    grey = cv2.medianBlur(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), 2 * max(1, round(3 * s)) + 1)
    ink = cv2.adaptiveThreshold(
        grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 2 * max(2, round(5 * s)) + 1, 4
    )
    ink = cv2.GaussianBlur(ink.astype(np.float32) / 255.0, (0, 0), 0.6)  # anti-aliased lines
    return np.clip(rgb * ink[..., None] * 255.0 + 0.5, 0, 255).astype(np.uint8)


def film_print(image: np.ndarray, paper: np.ndarray | None = None) -> np.ndarray:
    """A print-film grade: toe and shoulder, teal shadows / warm highlights, halation and fine grain."""
    rgb = image.astype(np.float32) / 255.0
    # A filmic S-curve with lifted blacks and rolled-off highlights.
    curve = 0.04 + 0.9 * (3 * rgb**2 - 2 * rgb**3) * 0.65 + 0.9 * rgb * 0.35
    lum = luminance(curve)[..., None]
    shadows = np.clip(1.0 - 2.0 * lum, 0, 1)
    highlights = np.clip(2.0 * lum - 1.0, 0, 1)
    graded = curve + shadows * np.array([-0.03, 0.015, 0.04], np.float32)
    graded += highlights * np.array([0.05, 0.015, -0.04], np.float32)
    graded = lum + 0.85 * (graded - lum)  # print stock is a little less saturated
    s = _scale_for(image)
    glow = cv2.GaussianBlur(np.clip(graded - 0.75, 0, 1), (0, 0), 12.0 * s)
    graded += glow * np.array([0.6, 0.2, 0.1], np.float32)  # red-orange halation around highlights
    seed, strength = GRAIN["film_print"]
    graded *= (1.0 + strength * _paper(image, paper, seed))[..., None]
    return np.clip(graded * 255.0 + 0.5, 0, 255).astype(np.uint8)


LOOKS: dict[str, Callable[..., np.ndarray]] = {
    "watercolour": watercolour,
    "pencil": pencil,
    "cartoon": cartoon,
    "film_print": film_print,
}


def apply_look(image: np.ndarray, look: str, paper: np.ndarray | None = None) -> np.ndarray:
    """One of :data:`LOOKS` applied to an ``(H, W, 3)`` uint8 RGB frame; ``paper`` is the grain field to lay
    (unit variance, the frame's size), by default the look's own, fixed in the frame."""
    try:
        return LOOKS[look](image, paper)
    except KeyError:
        raise ValueError(f"look {look!r} is unknown: choose from {', '.join(LOOKS)}") from None


def transfer_look(image: np.ndarray, reference: np.ndarray, amount: float = 1.0) -> np.ndarray:
    """Give ``image`` the colour and tone of ``reference`` (any size), in CIE Lab.

    Lightness is histogram-matched (the reference's tonal distribution: contrast, key, crushed or lifted
    blacks); the colour channels take the reference's mean and spread (Reinhard et al. 2001), which moves
    the palette without inventing colours the image's content cannot carry. ``amount`` blends with the
    original.
    """
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    ref = cv2.cvtColor(reference.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    out = np.empty_like(lab)
    out[..., 0] = _match_histogram(lab[..., 0], ref[..., 0])
    for c in (1, 2):
        src_mean, src_std = float(lab[..., c].mean()), float(lab[..., c].std())
        ref_mean, ref_std = float(ref[..., c].mean()), float(ref[..., c].std())
        # A grey source has almost no colour spread; stretching it to a vivid reference's would amplify
        # compression noise into blotches, so the gain is bounded.
        gain = float(np.clip(ref_std / max(src_std, 1e-3), 0.5, _MAX_COLOUR_GAIN))
        out[..., c] = (lab[..., c] - src_mean) * gain + ref_mean
    out = lab + float(np.clip(amount, 0.0, 1.0)) * (out - lab)
    rgb = cv2.cvtColor(out, cv2.COLOR_Lab2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _match_histogram(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Map ``values`` so their distribution matches ``reference``'s (monotone, via quantiles)."""
    quantiles = np.linspace(0.0, 1.0, 257)
    src_q = np.quantile(values, quantiles)
    ref_q = np.quantile(reference, quantiles)
    # Ties in the source quantiles (flat regions) would make the map non-monotone; spread them minutely.
    src_q = np.maximum.accumulate(src_q + np.arange(257) * 1e-6)
    return np.interp(values, src_q, ref_q).astype(np.float32)
