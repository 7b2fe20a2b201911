"""The numba kernels behind keyframe propagation: one chain's step at the flow's working size, and the
fused full-size render that turns chain states into output colours.

One propagation *chain* carries a keyframe's look along the source's flow, one frame per step. Its state
per pixel, at the flow's working size, is

- ``offset = (dx, dy)``: where in the keyframe this pixel's look comes from, as an offset in full-size pixels
  (offsets, unlike positions, upsample exactly at the frame border). They are composed frame to frame
  and the keyframe is sampled *once* per output frame, so a look carried over 200 frames stays as sharp
  as the keyframe (warping the stylised image itself would blur it a little at every step);
- ``carry[0] = a``: how much of the pixel still comes from the keyframe: it falls where the flow's forward-backward
  check fails (occlusion, disocclusion, pixels entering the frame, a scene cut) and, at lower motion
  adherence, by a constant factor per frame (the look re-settles);
- ``carry[1:] = E``: the rest of the colour, a running blend of the *guided synthesis* ``G``: the keyframe's colour
  mapping (a 3-D LUT fitted from source to keyframe by :func:`~shotcraft.engines.classic.lut.fit_lut`)
  applied to the current source frame, itself carried along the flow once synthesised. Disoccluded
  pixels therefore get the keyframe's palette on the current frame's own content, never a smear.

:func:`render` samples the keyframe at full size: colour ``a * (key + g * detail_delta)[my, mx] + E``,
where ``detail_delta`` is the source's detail layer at the keyframe minus the keyframe's own (structure
adherence, carried along the flow like the look so it adds no temporal noise); the share ``1 - a`` not
carried gets the current source frame's detail instead. Two chains (from the keyframes either side) are
blended by temporal weight and their ``a``, so a region one keyframe never saw comes from the other.

>>> import numpy as np
>>> from shotcraft.engines.classic.lut import fit_lut
>>> rng = np.random.default_rng(0)
>>> src = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
>>> key = 255 - src
>>> lut = fit_lut(src, key, size=LUT_BINS)
>>> state = initial_state((16, 12))  # working size is half the frame
>>> zero = np.zeros((12, 16, 2), np.float32)
>>> offset, carry, carry8 = np.empty_like(state[0]), np.empty_like(state[1]), np.empty((12, 16, 4), np.uint8)
>>> propagate_step(src[::2, ::2], lut, zero, zero, state, 1.0, 0.5, (2.0, 2.0), (offset, carry, carry8))
>>> rgb, weight = np.empty_like(src), np.empty((24, 32), np.uint8)
>>> render(make_texture(key, np.zeros((24, 32))), offset, carry8, 1.0, None, rgb, weight)
>>> bool((rgb == key).all()), int(weight.min())
(True, 255)
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from numba import njit

#: Lattice points per axis of the synthesis LUT: a keyframe's colour mapping is coarse; 11³ fits in
#: 0.05 s and predicts a neighbouring frame's stylisation as well as 17³ (0.5 s) on real footage.
LUT_BINS = 11
#: Placeholders for the combining kernel's optional inputs (numba wants arrays of one type, never None).
_NO_DETAIL = np.zeros((0, 0), np.float32)
_NO_RGB = np.zeros((0, 0, 3), np.uint8)
_NO_WEIGHT = np.zeros((0, 0), np.uint8)
#: Texture channel 3 holds the structure delta as ``128 + 255 * delta`` (uint8 keeps the sampling cheap).
DELTA_ZERO = 128
#: Floor on a chain's keyframe share in the blend, so where neither chain saw the content the two
#: syntheses still blend by time.
_SHARE_FLOOR = 0.02


def initial_state(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A chain's state at its keyframe, at working ``size`` (w, h): ``offset`` ``(h, w, 2)`` (no
    displacement) and ``carry`` ``(h, w, 4)``: ``a = 1`` (all look from the keyframe) and ``E = 0``."""
    width, height = size
    carry = np.zeros((height, width, 4), np.float32)
    carry[..., 0] = 1.0
    return np.zeros((height, width, 2), np.float32), carry


def make_texture(key: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """A keyframe as :func:`render` samples it: uint8 ``(H, W, 4)``, RGB and the structure ``delta``
    (luminance detail, ``[0, 1]`` units) as ``DELTA_ZERO + 255 * delta``."""
    encoded = np.clip(delta * 255.0 + (DELTA_ZERO + 0.5), 0, 255).astype(np.uint8)
    return np.dstack([key, encoded])


@njit(cache=True, fastmath=True, nogil=True, inline="always")
def _lut_lookup(lut: np.ndarray, r: np.uint8, g: np.uint8, b: np.uint8, out: np.ndarray) -> None:
    """Trilinear LUT lookup of one colour into ``out`` (the fill only needs it smooth, not tetrahedral);
    float32 throughout, as this runs per pixel per chain."""
    n = lut.shape[0] - 1
    step = np.float32(n / 255.0)
    pr, pg, pb = np.float32(r) * step, np.float32(g) * step, np.float32(b) * step
    ir, ig, ib = min(int(pr), n - 1), min(int(pg), n - 1), min(int(pb), n - 1)
    fr, fg, fb = pr - np.float32(ir), pg - np.float32(ig), pb - np.float32(ib)
    one = np.float32(1.0)
    for c in range(3):
        c00 = lut[ir, ig, ib, c] * (one - fb) + lut[ir, ig, ib + 1, c] * fb
        c01 = lut[ir, ig + 1, ib, c] * (one - fb) + lut[ir, ig + 1, ib + 1, c] * fb
        c10 = lut[ir + 1, ig, ib, c] * (one - fb) + lut[ir + 1, ig, ib + 1, c] * fb
        c11 = lut[ir + 1, ig + 1, ib, c] * (one - fb) + lut[ir + 1, ig + 1, ib + 1, c] * fb
        out[c] = (c00 * (one - fg) + c01 * fg) * (one - fr) + (c10 * (one - fg) + c11 * fg) * fr


def propagate_step(
    src: np.ndarray,
    lut: np.ndarray,
    flow_to_prev: np.ndarray,
    flow_from_prev: np.ndarray,
    prev: tuple[np.ndarray, np.ndarray],
    keep: float,
    tolerance: float,
    scale: tuple[float, float],
    out: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """Advance a chain by one frame, at the flow's working size.

    ``src`` is the new frame (uint8 RGB at working size), ``flow_to_prev`` the flow from the new frame to
    the chain's previous one and ``flow_from_prev`` the reverse (for the forward-backward check), both in
    working-size pixels; ``scale`` is full size over working size (x, y). ``keep`` in ``[0, 1]`` is the
    share of the look carried per frame where the flow is trusted (1: all of it; 0 restarts the chain from
    the synthesis, as after a scene cut). ``prev`` is the previous ``(offset, carry)`` (see
    :func:`initial_state`); writes the new ones into ``out = (offset, carry, carry8)``, ``carry8`` being
    ``carry`` as uint8 (``a`` times 255), what :func:`render` upsamples.
    """
    height, width = src.shape[:2]
    # Pulling the previous state back along the flow is a remap: OpenCV's is SIMD, a per-pixel gather is not.
    where = flow_to_prev + _grid(width, height)
    pulled = [
        cv2.remap(image, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        for image in (flow_from_prev, *prev)
    ]
    _advance(src, lut, flow_to_prev, *pulled, keep, tolerance, *scale, *out)


@njit(cache=True, fastmath=True, nogil=True)
def _advance(
    src: np.ndarray,
    lut: np.ndarray,
    flow: np.ndarray,
    back: np.ndarray,
    prev_offset: np.ndarray,
    prev_carry: np.ndarray,
    keep: float,
    tolerance: float,
    scale_x: float,
    scale_y: float,
    offset: np.ndarray,
    carry: np.ndarray,
    carry8: np.ndarray,
) -> None:
    """The elementwise half of :func:`propagate_step`: ``back``, ``prev_offset`` and ``prev_carry`` are
    already sampled where each pixel's flow points."""
    h, w = src.shape[:2]
    g = np.empty(3, np.float32)
    zero, one, half, top = np.float32(0.0), np.float32(1.0), np.float32(0.5), np.float32(255.0)
    keep32, tol32, slack = np.float32(keep), np.float32(tolerance), np.float32(0.01)
    sx, sy = np.float32(scale_x), np.float32(scale_y)
    right, bottom = np.float32(w - 0.5), np.float32(h - 0.5)
    for y in range(h):
        for x in range(w):
            u, v = flow[y, x, 0], flow[y, x, 1]
            bu, bv = back[y, x, 0], back[y, x, 1]
            qx, qy = np.float32(x) + u, np.float32(y) + v
            inside = -half <= qx <= right and -half <= qy <= bottom
            # Forward-backward consistency (Sundaram et al. 2010): the flow back must undo the flow here.
            err = (u + bu) * (u + bu) + (v + bv) * (v + bv)
            limit = slack * (u * u + v * v + bu * bu + bv * bv) + tol32
            conf = min(max(one - err / (limit + limit), zero), one) if inside else zero
            rho = keep32 * conf
            _lut_lookup(lut, src[y, x, 0], src[y, x, 1], src[y, x, 2], g)
            offset[y, x, 0] = u * sx + prev_offset[y, x, 0]
            offset[y, x, 1] = v * sy + prev_offset[y, x, 1]
            a = rho * prev_carry[y, x, 0]
            carry[y, x, 0] = a
            carry8[y, x, 0] = np.uint8(min(max(a, zero), one) * top + half)
            for c in range(3):
                e = rho * prev_carry[y, x, 1 + c] + (one - rho) * g[c]
                carry[y, x, 1 + c] = e
                carry8[y, x, 1 + c] = np.uint8(min(max(e, zero), top) + half)


@lru_cache(maxsize=8)
def _grid(width: int, height: int) -> np.ndarray:
    """``(height, width, 2)`` float32 pixel coordinates (x, y), the identity map for ``cv2.remap``."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    grid = np.dstack([xs, ys])
    grid.flags.writeable = False
    return grid


def render(
    texture: np.ndarray,
    offset: np.ndarray,
    carry8: np.ndarray,
    gain: float,
    detail: np.ndarray | None,
    rgb: np.ndarray,
    weight: np.ndarray,
    *,
    other: tuple[np.ndarray, np.ndarray, float, float] | None = None,
) -> None:
    """Full-size colours of a chain's state (``offset`` and ``carry8`` at working size), written as uint8
    ``rgb`` and the keyframe share ``weight`` (255 = all from a keyframe).

    ``texture`` is the keyframe from :func:`make_texture`, sampled once at the composed position; its
    structure delta is scaled by ``gain``. ``other = (rgb, weight, other_time, own_time)`` blends with
    another chain's colours and share by time weight times keyframe share (``rgb``/``weight`` may alias
    them). ``detail`` (the current source frame's luminance detail layer, ``[0, 1]`` units) is added with
    ``gain`` where the result is not carried from a keyframe.
    """
    height, width = rgb.shape[:2]
    # The state is smooth at working size: OpenCV's SIMD resize and remap upsample and sample it far
    # faster than a per-pixel gather, and the combining kernel is then purely elementwise.
    position = cv2.resize(offset, (width, height), interpolation=cv2.INTER_LINEAR)
    position += _grid(width, height)
    sampled = cv2.remap(texture, position, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    share = cv2.resize(carry8, (width, height), interpolation=cv2.INTER_LINEAR)
    other_rgb, other_weight, other_time, own_time = other if other else (_NO_RGB, _NO_WEIGHT, 0.0, 1.0)
    detail = _NO_DETAIL if detail is None else detail
    _combine(sampled, share, gain, detail, own_time, other_rgb, other_weight, other_time, rgb, weight)


@njit(cache=True, fastmath=True, nogil=True)
def _combine(
    sampled: np.ndarray,
    carry: np.ndarray,
    gain: float,
    detail: np.ndarray,
    own_time: float,
    other_rgb: np.ndarray,
    other_weight: np.ndarray,
    other_time: float,
    rgb: np.ndarray,
    weight: np.ndarray,
) -> None:
    """The elementwise half of :func:`render`, at full size: ``a * (key + gain * delta) + E``, blended and
    with detail added."""
    h, w = rgb.shape[:2]
    # float32 constants throughout: a float64 literal would promote the whole pixel's arithmetic.
    zero, one, top, half = np.float32(0.0), np.float32(1.0), np.float32(255.0), np.float32(0.5)
    floor, g32 = np.float32(_SHARE_FLOOR), np.float32(gain)
    own32, other32 = np.float32(own_time), np.float32(other_time)
    inv255 = np.float32(1.0 / 255.0)
    blend = other_time > 0.0
    with_detail = detail.shape[0] == h
    value = np.empty(3, np.float32)
    for y in range(h):
        for x in range(w):
            a = carry[y, x, 0] * inv255
            lift = g32 * (np.float32(sampled[y, x, 3]) - np.float32(DELTA_ZERO))
            for c in range(3):
                value[c] = a * (sampled[y, x, c] + lift) + carry[y, x, 1 + c]
            share = a
            if blend:
                wa = own32 * (a + floor)
                other = other_weight[y, x] * inv255
                wb = other32 * (other + floor)
                inv = one / (wa + wb)
                for c in range(3):
                    value[c] = (value[c] * wa + other_rgb[y, x, c] * wb) * inv
                share = (a * wa + other * wb) * inv
            if with_detail:
                fill = g32 * (one - share) * detail[y, x] * top
                for c in range(3):
                    value[c] += fill
            for c in range(3):
                rgb[y, x, c] = np.uint8(min(max(value[c], zero), top) + half)
            weight[y, x] = np.uint8(share * top + half)


@njit(cache=True, fastmath=True, nogil=True)
def add_detail(rgb: np.ndarray, weight: np.ndarray, gain: float, detail: np.ndarray) -> None:
    """Add ``gain`` of the source's luminance ``detail`` (``[0, 1]`` units) to uint8 ``rgb`` in place, where
    the keyframe share ``weight`` says the colour is not carried from a keyframe (as :func:`render` does)."""
    h, w = rgb.shape[:2]
    for y in range(h):
        for x in range(w):
            lift = gain * (1.0 - weight[y, x] * (1.0 / 255.0)) * detail[y, x] * 255.0
            for c in range(3):
                rgb[y, x, c] = np.uint8(min(max(rgb[y, x, c] + lift + 0.5, 0.0), 255.0))
