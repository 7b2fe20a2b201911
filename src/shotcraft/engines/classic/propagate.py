"""The numba kernels behind keyframe propagation, and the colour LUT that fills what a keyframe never saw.

One propagation *chain* carries a keyframe's look along the source's flow, one frame per step. Its state
per pixel is

- ``(dx, dy)``: where in the keyframe this pixel's look comes from, as an offset in full-size pixels
  (offsets, unlike positions, upsample exactly at the frame border). They are composed frame to frame
  and the keyframe is sampled *once* per output frame, so a look carried over 200 frames stays as sharp
  as the keyframe (warping the stylised image itself would blur it a little at every step);
- ``a``: how much of the pixel still comes from the keyframe: it falls where the flow's forward-backward
  check fails (occlusion, disocclusion, pixels entering the frame) and, at lower motion adherence, by a
  constant factor per frame (the look re-settles);
- ``E``: the rest of the colour, a running blend of the *guided synthesis* ``G``: the keyframe's colour
  mapping (a 3-D LUT fitted from source to keyframe by :func:`~shotcraft.engines.classic.lut.fit_lut`)
  applied to the current source frame. Disoccluded
  pixels therefore get the keyframe's palette on the current frame's own content, never a smear.

The stylised colour is ``a * key[my, mx] + E``. Two chains (from the keyframes either side) are blended
by temporal distance and their ``a``, so a region one keyframe never saw comes from the other.

>>> import numpy as np
>>> from shotcraft.engines.classic.lut import fit_lut
>>> rng = np.random.default_rng(0)
>>> src = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
>>> key = 255 - src
>>> lut = fit_lut(src, key, size=LUT_BINS)
>>> state = initial_state((16, 12))  # working size is half the frame
>>> zero = np.zeros((12, 16, 2), np.float32)
>>> moved = np.empty_like(state)
>>> propagate_step(src[::2, ::2], lut, zero, zero, state, 1.0, 0.5, 2.0, 2.0, moved)  # no motion
>>> rgb, weight = np.empty_like(src), np.empty((24, 32), np.uint8)
>>> compose(key, upsample_state(moved, (32, 24)), rgb, weight)
>>> bool((rgb == key).all()), int(weight.min())
(True, 255)
"""

from __future__ import annotations

import cv2
import numpy as np
from numba import njit, prange

#: Lattice points per axis of the synthesis LUT: a keyframe's colour mapping is coarse, and 17³ fits in
#: milliseconds where the grading size (33³) takes a second.
LUT_BINS = 17


def initial_state(size: tuple[int, int]) -> np.ndarray:
    """The chain state at its keyframe, at working ``size`` (w, h): no displacement, all look from the
    keyframe (``a = 1``), ``E = 0``."""
    width, height = size
    state = np.zeros((height, width, 6), np.float32)
    state[..., 2] = 1.0
    return state


def upsample_state(state: np.ndarray, full_size: tuple[int, int]) -> np.ndarray:
    """A working-size state at full size (bilinear, same pixel-centre convention as :func:`initial_state`)."""
    if state.shape[1::-1] == full_size:
        return state
    return cv2.resize(state, full_size, interpolation=cv2.INTER_LINEAR)


@njit(cache=True, fastmath=True, inline="always")
def _lut_lookup(lut: np.ndarray, r: float, g: float, b: float, out: np.ndarray) -> None:
    """Trilinear LUT lookup of one colour into ``out`` (the fill only needs it smooth, not tetrahedral)."""
    n = lut.shape[0] - 1
    pr, pg, pb = r * (n / 255.0), g * (n / 255.0), b * (n / 255.0)
    ir, ig, ib = min(int(pr), n - 1), min(int(pg), n - 1), min(int(pb), n - 1)
    fr, fg, fb = pr - ir, pg - ig, pb - ib
    for c in range(3):
        c00 = lut[ir, ig, ib, c] * (1 - fb) + lut[ir, ig, ib + 1, c] * fb
        c01 = lut[ir, ig + 1, ib, c] * (1 - fb) + lut[ir, ig + 1, ib + 1, c] * fb
        c10 = lut[ir + 1, ig, ib, c] * (1 - fb) + lut[ir + 1, ig, ib + 1, c] * fb
        c11 = lut[ir + 1, ig + 1, ib, c] * (1 - fb) + lut[ir + 1, ig + 1, ib + 1, c] * fb
        out[c] = (c00 * (1 - fg) + c01 * fg) * (1 - fr) + (c10 * (1 - fg) + c11 * fg) * fr


@njit(cache=True, fastmath=True, inline="always")
def _bilinear(image: np.ndarray, x: float, y: float, c: int) -> float:
    """Bilinear sample of channel ``c`` at (x, y), clamped to the image."""
    h, w = image.shape[:2]
    x = min(max(x, 0.0), w - 1.0)
    y = min(max(y, 0.0), h - 1.0)
    x0, y0 = min(int(x), w - 2), min(int(y), h - 2)
    ax, ay = x - x0, y - y0
    top = image[y0, x0, c] * (1 - ax) + image[y0, x0 + 1, c] * ax
    bottom = image[y0 + 1, x0, c] * (1 - ax) + image[y0 + 1, x0 + 1, c] * ax
    return top * (1 - ay) + bottom * ay


@njit(parallel=True, cache=True, fastmath=True)
def propagate_step(
    src: np.ndarray,
    lut: np.ndarray,
    flow_to_prev: np.ndarray,
    flow_from_prev: np.ndarray,
    prev_state: np.ndarray,
    keep: float,
    tolerance: float,
    scale_x: float,
    scale_y: float,
    state: np.ndarray,
) -> None:
    """Advance a chain by one frame, at the flow's working size.

    ``src`` is the new frame (uint8 RGB at working size), ``flow_to_prev`` the flow from the new frame to
    the chain's previous one and ``flow_from_prev`` the reverse (for the forward-backward check), both in
    working-size pixels; ``scale_x``/``scale_y`` is full size over working size. ``keep`` in ``[0, 1]`` is
    the share of the look carried per frame where the flow is trusted (1: all of it). Writes the new
    ``state``; :func:`compose` turns it into colours.
    """
    h, w = src.shape[:2]
    for y in prange(h):
        g = np.empty(3, np.float32)
        for x in range(w):
            u = flow_to_prev[y, x, 0]
            v = flow_to_prev[y, x, 1]
            qx, qy = x + u, y + v
            inside = -0.5 <= qx <= w - 0.5 and -0.5 <= qy <= h - 0.5
            # Forward-backward consistency (Sundaram et al. 2010): the flow back must undo the flow here.
            bu = _bilinear(flow_from_prev, qx, qy, 0)
            bv = _bilinear(flow_from_prev, qx, qy, 1)
            err = (u + bu) ** 2 + (v + bv) ** 2
            limit = 0.01 * (u * u + v * v + bu * bu + bv * bv) + tolerance
            conf = min(max(1.0 - err / (2.0 * limit), 0.0), 1.0) if inside else 0.0
            rho = keep * conf
            _lut_lookup(lut, src[y, x, 0], src[y, x, 1], src[y, x, 2], g)
            state[y, x, 0] = u * scale_x + _bilinear(prev_state, qx, qy, 0)
            state[y, x, 1] = v * scale_y + _bilinear(prev_state, qx, qy, 1)
            state[y, x, 2] = rho * _bilinear(prev_state, qx, qy, 2)
            for c in range(3):
                state[y, x, 3 + c] = rho * _bilinear(prev_state, qx, qy, 3 + c) + (1 - rho) * g[c]


@njit(parallel=True, cache=True, fastmath=True)
def compose(key: np.ndarray, state: np.ndarray, rgb: np.ndarray, weight: np.ndarray) -> None:
    """Colours of a full-size chain ``state`` (upsampled from the working size): ``a * key[my, mx] + E``.

    The keyframe is sampled once, at the composed position, so it stays sharp however far it travelled.
    Writes uint8 ``rgb`` and the keyframe share ``weight`` (255 = all from the keyframe).
    """
    h, w = rgb.shape[:2]
    for y in prange(h):
        for x in range(w):
            a = state[y, x, 2]
            mx, my = x + state[y, x, 0], y + state[y, x, 1]
            for c in range(3):
                value = a * _bilinear(key, mx, my, c) + state[y, x, 3 + c]
                rgb[y, x, c] = np.uint8(min(max(value + 0.5, 0.0), 255.0))
            weight[y, x] = np.uint8(min(max(a, 0.0), 1.0) * 255.0 + 0.5)


@njit(parallel=True, cache=True, fastmath=True)
def blend_chains(
    rgb_a: np.ndarray,
    weight_a: np.ndarray,
    time_a: float,
    rgb_b: np.ndarray,
    weight_b: np.ndarray,
    time_b: float,
    out: np.ndarray,
) -> None:
    """Blend two chains' colours by temporal weight times keyframe share (plus a floor, so where neither
    chain saw the content the two syntheses blend by time alone). Writes uint8 ``out``; may alias ``rgb_a``."""
    h, w = out.shape[:2]
    for y in prange(h):
        for x in range(w):
            wa = time_a * (weight_a[y, x] * (1.0 / 255.0) + 0.02)
            wb = time_b * (weight_b[y, x] * (1.0 / 255.0) + 0.02)
            inv = 1.0 / (wa + wb)
            for c in range(3):
                out[y, x, c] = np.uint8((rgb_a[y, x, c] * wa + rgb_b[y, x, c] * wb) * inv + 0.5)
