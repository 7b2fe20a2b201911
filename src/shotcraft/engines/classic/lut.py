"""3D colour look-up tables: apply one to a frame, fit one from a source frame and its graded version, and
ease between several over time.

A LUT is a float32 array ``(n, n, n, 3)`` indexed ``[r, g, b]`` on an even lattice over 0..255, holding
output colours in 0..255. Applying it uses tetrahedral interpolation (four lattice points per pixel, the
scheme colour pipelines such as OpenColorIO and ffmpeg's ``lut3d`` use): it reproduces any transform that
is linear inside each lattice cell exactly, so the identity LUT is bit-exact.

>>> import numpy as np
>>> frame = np.random.default_rng(0).integers(0, 256, (4, 6, 3), dtype=np.uint8)
>>> bool((apply_lut(frame, identity_lut(17)) == frame).all())
True
>>> cool = identity_lut(17) * np.array([0.85, 0.95, 1.0], np.float32)
>>> fitted = fit_lut(frame, apply_lut(frame, cool), size=17)
>>> int(np.abs(apply_lut(frame, fitted).astype(int) - apply_lut(frame, cool)).max()) <= 1
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numba
import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

#: Lattice points per axis. 33 is the size grading tools exchange (.cube); it holds a typical grade to
#: well under one 8-bit level of trilinear error.
LUT_SIZE = 33


def identity_lut(size: int = LUT_SIZE) -> np.ndarray:
    """The LUT that maps every colour to itself."""
    levels = np.linspace(0.0, 255.0, size, dtype=np.float32)
    return np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1)


def lut_from_function(fn: Callable[[np.ndarray], np.ndarray], size: int = LUT_SIZE) -> np.ndarray:
    """Sample a colour function (``(..., 3)`` floats in 0..1 → same) on the lattice."""
    grid = identity_lut(size) / 255.0
    return np.clip(np.asarray(fn(grid), np.float32) * 255.0, 0.0, 255.0)


# ---------------------------------------------------------------------------------------------------------
# Applying


def apply_lut(image: np.ndarray, lut: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Map every pixel of an ``(H, W, 3)`` uint8 image through ``lut`` (tetrahedral interpolation)."""
    size = lut.shape[0]
    if lut.shape != (size, size, size, 3):
        raise ValueError(f"a LUT is (n, n, n, 3), not {lut.shape}")
    return LutFamily(lut[None])(image, None, out)


def apply_lut_family(
    image: np.ndarray, luts: np.ndarray, position: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Map every pixel through a family of LUTs ``(k, n, n, n, 3)``, picked per pixel by ``position``.

    ``position`` is an ``(H, W)`` float32 map in ``0 .. k-1``: each pixel is mapped through the two LUTs
    either side of its position (tetrahedral interpolation in each) and the results are mixed linearly.
    This is a grade that changes smoothly across the frame (a window with a soft edge) at the cost of two
    LUT lookups; every output lies between what the neighbouring LUTs give, so a family whose LUTs keep
    away from 0 and 255 never clips, however the map varies. To map many frames through one family, make
    a :class:`LutFamily` once.
    """
    return LutFamily(luts)(image, position, out)


#: Fixed point of the kernels: LUT entries in 1/16 of a level, tetrahedral weights in 1/256, positions in
#: the family in 1/1024. A weighted sum of one channel is at most 255 * 16 * 256 < 2**21, so the three
#: channels of a lattice point share one 64-bit word in 21-bit lanes and four multiply-adds interpolate all
#: three at once.
_ENTRY, _WEIGHT, _LANE, _SLOT = 16, 256, 21, 1024


class LutFamily:
    """A family of LUTs ``(k, n, n, n, 3)`` packed once for applying to frame after frame.

    Each lattice point holds its ``k`` entries side by side, one 64-bit word each (the three channels in
    21-bit lanes), so the two LUTs either side of a pixel's position are read from one cache line, and
    four integer multiply-adds interpolate a pixel's three channels in one LUT. A pixel with the colour
    and family slot of the pixel before it reuses that pixel's lookups. Against float tetrahedral
    interpolation the fixed point moves an output by at most one level (a rounding that falls the other
    way, on about 2 % of pixels); the identity LUT stays bit-exact.
    """

    def __init__(self, luts: np.ndarray):
        k, size = luts.shape[0], luts.shape[1]
        if luts.ndim != 5 or luts.shape != (k, size, size, size, 3) or size < 2 or not 0 < k <= 64:
            raise ValueError(f"a LUT family is (k, n, n, n, 3) with k <= 64, not {luts.shape}")
        self.k = k
        entries = np.round(np.clip(np.moveaxis(luts, 0, 3), 0.0, 255.0) * _ENTRY).astype(np.int64)
        self.words = np.ascontiguousarray(
            entries[..., 0] | (entries[..., 1] << _LANE) | (entries[..., 2] << 2 * _LANE)
        ).ravel()
        # Per 8-bit level and axis: the lattice cell's offset in the packed words, with the fraction of the
        # way across the cell (in 1/256) above bit 40.
        self.strides = np.array([size * size * k, size * k, k], np.int64)
        position = np.arange(256, dtype=np.float64) * (size - 1) / 255.0
        cell = np.minimum(position.astype(np.int64), size - 2)
        fraction = np.round((position - cell) * _WEIGHT).astype(np.int64)
        self.levels = np.ascontiguousarray(cell[None, :] * self.strides[:, None] | (fraction << 40)[None, :])

    def __call__(
        self, image: np.ndarray, position: np.ndarray | None, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Map ``image`` ((H, W, 3) uint8) through the family at ``position``: an (H, W) float32 map in
        ``0 .. k-1``, the same as a uint16 map in 1/1024 (:func:`fixed_position`), or None for the first
        LUT everywhere."""
        _check_image(image)
        if out is None:
            out = np.empty_like(image)
        image = np.ascontiguousarray(image)
        if position is None or self.k == 1:
            _tetrahedral(image, self.words, self.levels, self.strides, self.k, out)
            return out
        if position.shape != image.shape[:2]:
            raise ValueError(f"position map {position.shape} and image {image.shape[:2]} differ in size")
        if position.dtype != np.uint16:
            position = fixed_position(position, self.k)
        _tetrahedral_family(image, self.words, self.levels, self.strides, self.k, position, out)
        return out


def fixed_position(position: np.ndarray, k: int) -> np.ndarray:
    """A float position map in ``0 .. k-1`` as :class:`LutFamily` reads it: uint16 in 1/1024."""
    return np.round(np.clip(position, 0.0, k - 1) * np.float32(_SLOT)).astype(np.uint16)


def luma_position(
    image: np.ndarray, slope: np.ndarray, offset: np.ndarray, ceiling: np.ndarray, k: int
) -> np.ndarray:
    """A position map for :class:`LutFamily` that follows each pixel's own luma: ``clip(slope * luma +
    offset, 0, ceiling)``, as uint16 in 1/1024 (:func:`fixed_position`). The three maps are float32 of
    one size, usually smaller than ``image``, upsampled bilinearly (as ``cv2.resize`` does); the luma is
    OpenCV's RGB to grey of ``image``, in 0..1.

    This is how a smooth window fitted at low resolution as a local linear model of the luma (the fast
    guided filter, :func:`~shotcraft.signals.structure.guided_coefficients`) puts its edge on the picture's
    edges at full size. About 1 ms a 720p frame on one core: the maps are upsampled across in OpenCV and
    down in the kernel, which reads the grey plane and two rows of each map, all contiguous, so it
    vectorises (upsampling them to the full frame first cost three times as much, in memory traffic)."""
    _check_image(image)
    height, width = image.shape[:2]
    rows = slope.shape[0]
    # In the kernel's units: luma in levels, the position in 1/1024, the ceiling held inside the family.
    planes = (
        slope * np.float32(_SLOT / 255.0),
        offset * np.float32(_SLOT),
        np.minimum(ceiling, np.float32(k - 1)) * np.float32(_SLOT),
    )
    across = np.empty((3, rows, width), np.float32)
    for plane, wide in zip(planes, across, strict=True):
        cv2.resize(plane, (width, rows), dst=wide, interpolation=cv2.INTER_LINEAR)
    # The rows each output row lies between and its weight, as cv2.resize's bilinear places them.
    where = np.clip((np.arange(height) + 0.5) * (rows / height) - 0.5, 0.0, rows - 1.0)
    first = np.minimum(where.astype(np.int64), max(rows - 2, 0))
    weight = np.minimum(where - first, 1.0).astype(np.float32)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return _luma_position(grey, across, first, weight)


@numba.njit(parallel=True, cache=True, nogil=True, fastmath=True)
def _luma_position(grey, across, first, weight):
    height, width = grey.shape
    below = min(1, across.shape[1] - 1)
    out = np.empty((height, width), np.uint16)
    for y in numba.prange(height):
        row, t = first[y], weight[y]
        u = np.float32(1.0) - t
        slope0, slope1 = across[0, row], across[0, row + below]
        offset0, offset1 = across[1, row], across[1, row + below]
        ceiling0, ceiling1 = across[2, row], across[2, row + below]
        luma, line = grey[y], out[y]
        for x in range(width):
            p = (slope0[x] * u + slope1[x] * t) * np.float32(luma[x]) + (offset0[x] * u + offset1[x] * t)
            p = min(max(p, np.float32(0.0)), ceiling0[x] * u + ceiling1[x] * t)
            line[x] = np.uint16(np.int32(p + np.float32(0.5)))
    return out


def _check_image(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"a LUT maps an (H, W, 3) uint8 image, not {image.shape} {image.dtype}")


@numba.njit(inline="always")
def _corners(levels, ir, ig, ib, sr, sg, sb):
    """The packed offset of a colour's lattice cell, and the weights (in 1/256) and offsets of the
    tetrahedron that holds it.

    The cell splits into six tetrahedra by the order of the three fractions; the walk goes from the cell's
    low corner to its high corner along the axes from the largest fraction to the smallest. The order is
    picked with selects rather than branches: on grainy footage the branches mispredict, and cost more
    than the arithmetic. Ties give zero weight to the corner they would choose between.
    """
    er, eg, eb = levels[0, ir], levels[1, ig], levels[2, ib]
    low = (1 << 40) - 1
    base = (er & low) + (eg & low) + (eb & low)
    fr, fg, fb = er >> 40, eg >> 40, eb >> 40
    high = max(fr, max(fg, fb))
    least = min(fr, min(fg, fb))
    middle = fr + fg + fb - high - least
    first = sr if (fr >= fg) & (fr >= fb) else (sg if fg >= fb else sb)
    last = sb if (fb <= fr) & (fb <= fg) else (sg if fg <= fr else sr)
    return base, _WEIGHT - high, high - middle, middle - least, least, first, sr + sg + sb - last


@numba.njit(inline="always")
def _interpolate(words, at, w0, w1, w2, w3, o1, o2, o3):
    """The three channels at one LUT's tetrahedron, still packed in lanes (1/16 level x 1/256)."""
    return w0 * words[at] + w1 * words[at + o1] + w2 * words[at + o2] + w3 * words[at + o3]


@numba.njit(parallel=True, cache=True, nogil=True)
def _tetrahedral(image, words, levels, strides, k, out):
    height, width, _ = image.shape
    sr, sg, sb = strides[0], strides[1], strides[2]
    o3 = sr + sg + sb
    lane = (1 << _LANE) - 1
    half = 1 << 11
    for y in numba.prange(height):
        previous = np.int64(-1)
        packed = np.int64(0)
        for x in range(width):
            ir, ig, ib = image[y, x, 0], image[y, x, 1], image[y, x, 2]
            key = (np.int64(ir) << 16) | (np.int64(ig) << 8) | np.int64(ib)
            if key != previous:
                previous = key
                base, w0, w1, w2, w3, o1, o2 = _corners(levels, ir, ig, ib, sr, sg, sb)
                packed = _interpolate(words, base, w0, w1, w2, w3, o1, o2, o3)
            out[y, x, 0] = np.uint8(((packed & lane) + half) >> 12)
            out[y, x, 1] = np.uint8((((packed >> _LANE) & lane) + half) >> 12)
            out[y, x, 2] = np.uint8((((packed >> 2 * _LANE) & lane) + half) >> 12)
    return out


@numba.njit(parallel=True, cache=True, nogil=True)
def _tetrahedral_family(image, words, levels, strides, k, position, out):
    height, width, _ = image.shape
    sr, sg, sb = strides[0], strides[1], strides[2]
    o3 = sr + sg + sb
    lane = (1 << _LANE) - 1
    half = 1 << 21
    for y in numba.prange(height):
        previous = np.int64(-1)
        near = far = np.int64(0)
        for x in range(width):
            ir, ig, ib = image[y, x, 0], image[y, x, 1], image[y, x, 2]
            p = np.int64(position[y, x])
            slot = min(p >> 10, k - 2)
            t = p - (slot << 10)
            key = (slot << 24) | (np.int64(ir) << 16) | (np.int64(ig) << 8) | np.int64(ib)
            if key != previous:
                # Neighbouring pixels often share a colour: flat areas, and footage scaled up.
                previous = key
                base, w0, w1, w2, w3, o1, o2 = _corners(levels, ir, ig, ib, sr, sg, sb)
                near = _interpolate(words, base + slot, w0, w1, w2, w3, o1, o2, o3)
                far = _interpolate(words, base + slot + 1, w0, w1, w2, w3, o1, o2, o3)
            u = _SLOT - t
            for c in range(3):
                shift = _LANE * c
                mixed = u * ((near >> shift) & lane) + t * ((far >> shift) & lane)
                out[y, x, c] = np.uint8((mixed + half) >> 22)
    return out


# ---------------------------------------------------------------------------------------------------------
# Fitting


def fit_lut(
    source: np.ndarray,
    graded: np.ndarray,
    *,
    size: int = LUT_SIZE,
    smoothness: float = 0.02,
    max_samples: int = 250_000,
) -> np.ndarray:
    """The LUT that best maps ``source``'s colours onto ``graded``'s (same-size RGB uint8 images).

    Least squares over the pixels, through the same interpolation the LUT is applied with, regularised
    by second differences along each lattice axis: those vanish on any affine colour map, so colours the
    source frame never shows (where there is no data) are filled by the smoothest continuation, which
    tends towards the best affine fit of the whole grade.

    ``smoothness`` trades exactness on the keyframe's own colours for smoothness between them.
    """
    if source.shape != graded.shape or source.ndim != 3 or source.shape[2] != 3:
        raise ValueError(f"source {source.shape} and graded {graded.shape} must be the same (H, W, 3) size")
    src = source.reshape(-1, 3)
    dst = graded.reshape(-1, 3).astype(np.float64)
    if len(src) > max_samples:
        # A fixed stride keeps the fit deterministic and spread evenly over the frame.
        step = -(-len(src) // max_samples)
        src, dst = src[::step], dst[::step]
    data = _interpolation_matrix(src, size)
    count = size**3
    prior = _affine_fit(src, dst)
    lattice = identity_lut(size).reshape(-1, 3).astype(np.float64)
    prior_lattice = np.c_[lattice, np.ones(count)] @ prior
    residual = dst - np.c_[src.astype(np.float64), np.ones(len(src))] @ prior
    # The smoothing weight scales with the data per lattice point so its effect does not depend on how many
    # pixels were sampled; a faint ridge term keeps the system non-singular in empty regions.
    weight = smoothness * len(src) / count
    second = _second_differences(size)
    system = (data.T @ data + weight * (second.T @ second) + 1e-6 * weight * sp.identity(count)).tocsc()
    correction = spsolve(system, data.T @ residual)
    lut = prior_lattice + correction
    return np.clip(lut, 0.0, 255.0).astype(np.float32).reshape(size, size, size, 3)


def _interpolation_matrix(colours: np.ndarray, size: int) -> sp.csr_matrix:
    """The sparse (pixels x lattice points) matrix of tetrahedral weights that :func:`apply_lut` uses."""
    position = colours.astype(np.float64) * (size - 1) / 255.0
    cell = np.minimum(position.astype(np.int64), size - 2)
    f = position - cell
    order = np.argsort(-f, axis=1, kind="stable")  # axes from the largest fraction to the smallest
    fs = np.take_along_axis(f, order, axis=1)
    weights = np.stack([1 - fs[:, 0], fs[:, 0] - fs[:, 1], fs[:, 1] - fs[:, 2], fs[:, 2]], axis=1)
    stride = np.array([size * size, size, 1], np.int64)
    step = stride[order]  # lattice step along each axis in walk order
    base = cell @ stride
    corners = np.stack(
        [base, base + step[:, 0], base + step[:, 0] + step[:, 1], base + step.sum(axis=1)], axis=1
    )
    rows = np.repeat(np.arange(len(colours)), 4)
    return sp.csr_matrix((weights.ravel(), (rows, corners.ravel())), shape=(len(colours), size**3))


def _second_differences(size: int) -> sp.csr_matrix:
    """Stacked second-difference operators along r, g and b over the ``size``³ lattice."""
    d1 = sp.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(size - 2, size))
    eye = sp.identity(size)
    return sp.vstack(
        [sp.kron(sp.kron(d1, eye), eye), sp.kron(sp.kron(eye, d1), eye), sp.kron(sp.kron(eye, eye), d1)]
    ).tocsr()


def _affine_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """A ``(4, 3)`` matrix M with ``[rgb, 1] @ M ≈ graded``, least squares, lightly pulled towards identity."""
    design = np.c_[src.astype(np.float64), np.ones(len(src))]
    ridge = 1e-3 * len(src) * np.diag([1.0, 1.0, 1.0, 0.0])
    target = design.T @ dst + ridge @ np.vstack([np.eye(3), np.zeros((1, 3))])
    return np.linalg.solve(design.T @ design + ridge, target)


# ---------------------------------------------------------------------------------------------------------
# Easing between keyframes


class LutTimeline:
    """Keyframe LUTs placed on frame indices, eased between with a monotone cubic (Fritsch–Carlson) per
    LUT entry: smooth through every keyframe, no overshoot, each keyframe's LUT hit exactly at its frame,
    and held before the first and after the last.

    >>> a, b = identity_lut(5), identity_lut(5) * 0.5
    >>> timeline = LutTimeline([10, 20], [a, b])
    >>> bool(np.allclose(timeline.at(0), a)), bool(np.allclose(timeline.at(15), 0.75 * a)), bool(np.allclose(timeline.at(99), b))
    (True, True, True)
    """

    def __init__(self, indices: Sequence[int], luts: Sequence[np.ndarray]):
        if len(indices) != len(luts) or not luts:
            raise ValueError("a LUT timeline needs one LUT per keyframe index, and at least one")
        if list(indices) != sorted(set(indices)):
            raise ValueError("keyframe indices must be strictly increasing")
        self.indices = np.asarray(indices, np.float64)
        self.luts = [np.asarray(lut, np.float32) for lut in luts]
        self.slopes = self._slopes()

    def _slopes(self) -> list[np.ndarray]:
        k = len(self.luts)
        if k == 1:
            return [np.zeros_like(self.luts[0])]
        h = np.diff(self.indices)
        delta = [(self.luts[i + 1] - self.luts[i]) / np.float32(h[i]) for i in range(k - 1)]
        slopes = [delta[0]] + [np.zeros_like(self.luts[0]) for _ in range(k - 2)] + [delta[-1]]
        for i in range(1, k - 1):
            # Weighted harmonic mean of neighbouring secants where they agree in sign, else flat.
            w1, w2 = np.float32(2 * h[i] + h[i - 1]), np.float32(h[i] + 2 * h[i - 1])
            a, b = delta[i - 1], delta[i]
            same = (a * b) > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                harmonic = (w1 + w2) / (w1 / a + w2 / b)
            slopes[i] = np.where(same, harmonic, 0.0).astype(np.float32)
        return slopes

    def at(self, index: int) -> np.ndarray:
        """The LUT for frame ``index``."""
        keys = self.indices
        if index <= keys[0]:
            return self.luts[0]
        if index >= keys[-1]:
            return self.luts[-1]
        i = int(np.searchsorted(keys, index, side="right")) - 1
        h = keys[i + 1] - keys[i]
        t = (index - keys[i]) / h
        t2, t3 = t * t, t * t * t
        h00, h10, h01, h11 = 2 * t3 - 3 * t2 + 1, t3 - 2 * t2 + t, -2 * t3 + 3 * t2, t3 - t2
        lut = (
            np.float32(h00) * self.luts[i]
            + np.float32(h10 * h) * self.slopes[i]
            + np.float32(h01) * self.luts[i + 1]
            + np.float32(h11 * h) * self.slopes[i + 1]
        )
        return np.clip(lut, 0.0, 255.0)
