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
    _check_image(image)
    size = lut.shape[0]
    if lut.shape != (size, size, size, 3):
        raise ValueError(f"a LUT is (n, n, n, 3), not {lut.shape}")
    packed, offsets, frac, strides = _packed(lut[None])
    if out is None:
        out = np.empty_like(image)
    _tetrahedral(np.ascontiguousarray(image), packed, offsets, frac, strides, out)
    return out


def apply_lut_family(
    image: np.ndarray, luts: np.ndarray, position: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Map every pixel through a family of LUTs ``(k, n, n, n, 3)``, picked per pixel by ``position``.

    ``position`` is an ``(H, W)`` float32 map in ``0 .. k-1``: each pixel is mapped through the two LUTs
    either side of its position (tetrahedral interpolation in each) and the results are mixed linearly.
    This is a grade that changes smoothly across the frame (a window with a soft edge) at the cost of two
    LUT lookups; every output lies between what the neighbouring LUTs give, so a family whose LUTs keep
    away from 0 and 255 never clips, however the map varies.
    """
    _check_image(image)
    k, size = luts.shape[0], luts.shape[1]
    if luts.shape != (k, size, size, size, 3):
        raise ValueError(f"a LUT family is (k, n, n, n, 3), not {luts.shape}")
    if position.shape != image.shape[:2]:
        raise ValueError(f"position map {position.shape} and image {image.shape[:2]} differ in size")
    packed, offsets, frac, strides = _packed(luts)
    if out is None:
        out = np.empty_like(image)
    where = np.clip(np.ascontiguousarray(position, np.float32), 0.0, k - 1)
    _tetrahedral_family(np.ascontiguousarray(image), packed, offsets, frac, strides, where, out)
    return out


def _check_image(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"a LUT maps an (H, W, 3) uint8 image, not {image.shape} {image.dtype}")


def _packed(luts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``luts`` ``(k, n, n, n, 3)`` flattened for the kernels, with the per-level lattice offsets."""
    k, size = luts.shape[0], luts.shape[1]
    # Pad each entry to 4 floats so one lattice point is one aligned 16-byte read.
    packed = np.zeros((k, size, size, size, 4), np.float32)
    packed[..., :3] = luts
    strides = np.array([size * size * 4, size * 4, 4, size**3 * 4], np.int64)
    position = np.arange(256, dtype=np.float64) * (size - 1) / 255.0
    cell = np.minimum(position.astype(np.int64), size - 2)
    offsets = cell[None, :] * strides[:3, None]
    frac = (position - cell).astype(np.float32)
    return packed.ravel(), offsets, frac, strides


@numba.njit(inline="always", fastmath=True)
def _corners(fr, fg, fb, sr, sg, sb):
    """Weights and lattice offsets of the tetrahedron holding fractions ``(fr, fg, fb)`` of a cell.

    The cell splits into six tetrahedra by the order of the three fractions; the walk goes from the
    cell's low corner to its high corner along the axes in that order.
    """
    if fr >= fg:
        if fg >= fb:
            return 1 - fr, fr - fg, fg - fb, fb, sr, sr + sg
        if fr >= fb:
            return 1 - fr, fr - fb, fb - fg, fg, sr, sr + sb
        return 1 - fb, fb - fr, fr - fg, fg, sb, sr + sb
    if fb > fg:
        return 1 - fb, fb - fg, fg - fr, fr, sb, sg + sb
    if fb > fr:
        return 1 - fg, fg - fb, fb - fr, fr, sg, sg + sb
    return 1 - fg, fg - fr, fr - fb, fb, sg, sr + sg


@numba.njit(inline="always", fastmath=True)
def _lookup(lut, base, c, w0, w1, w2, w3, o1, o2, o3):
    return w0 * lut[base + c] + w1 * lut[base + o1 + c] + w2 * lut[base + o2 + c] + w3 * lut[base + o3 + c]


@numba.njit(inline="always", fastmath=True)
def _to_byte(v):
    return np.uint8(min(max(v, np.float32(0.0)), np.float32(255.0)) + np.float32(0.5))


@numba.njit(parallel=True, cache=True, fastmath=True, nogil=True)
def _tetrahedral(image, lut, offsets, frac, strides, out):
    height, width, _ = image.shape
    sr, sg, sb = strides[0], strides[1], strides[2]
    o3 = sr + sg + sb
    for y in numba.prange(height):
        for x in range(width):
            ir, ig, ib = image[y, x, 0], image[y, x, 1], image[y, x, 2]
            base = offsets[0, ir] + offsets[1, ig] + offsets[2, ib]
            w0, w1, w2, w3, o1, o2 = _corners(frac[ir], frac[ig], frac[ib], sr, sg, sb)
            for c in range(3):
                out[y, x, c] = _to_byte(_lookup(lut, base, c, w0, w1, w2, w3, o1, o2, o3))
    return out


@numba.njit(parallel=True, cache=True, fastmath=True, nogil=True)
def _tetrahedral_family(image, luts, offsets, frac, strides, position, out):
    height, width, _ = image.shape
    sr, sg, sb, level = strides[0], strides[1], strides[2], strides[3]
    o3 = sr + sg + sb
    last = (luts.size // level) - 1
    for y in numba.prange(height):
        for x in range(width):
            ir, ig, ib = image[y, x, 0], image[y, x, 1], image[y, x, 2]
            base = offsets[0, ir] + offsets[1, ig] + offsets[2, ib]
            w0, w1, w2, w3, o1, o2 = _corners(frac[ir], frac[ig], frac[ib], sr, sg, sb)
            p = position[y, x]
            low = min(np.int64(p), last)
            t = p - np.float32(low)
            near = base + low * level
            if t <= np.float32(0.0):
                for c in range(3):
                    out[y, x, c] = _to_byte(_lookup(luts, near, c, w0, w1, w2, w3, o1, o2, o3))
                continue
            far = near + level
            for c in range(3):
                a = _lookup(luts, near, c, w0, w1, w2, w3, o1, o2, o3)
                b = _lookup(luts, far, c, w0, w1, w2, w3, o1, o2, o3)
                out[y, x, c] = _to_byte(a + t * (b - a))
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
