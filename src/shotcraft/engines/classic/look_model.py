"""A keyframe's look learned as a function of the source frame, so it can be painted onto *any* frame.

EbSynth-style propagation copies a keyframe's pixels along the motion; content the keyframe never saw (a
car entering, a disocclusion, the next shot) then has nothing to copy, and a chain of warps softens what
it does copy. Following Texler et al. (2020, "Interactive video stylization using few-shot patch-based
training") the look is instead *learned* from the keyframes: a per-clip regressor maps a pixel's
neighbourhood in the source to its colour in the keyframe, and is then evaluated on every frame, so each
output frame is synthesised from the keyframes once, at full detail, on its own content.

The regressor is kept small enough to fit in about a second and run at video rate on a CPU:

- :func:`look_features`: per-pixel descriptors of the source neighbourhood, all separable or box filters
  (colour; grey-level differences to Gaussian blurs at three scales; gradient magnitude at two scales;
  edge-aware smoothings, the guided filter at two radii, which is what painterly and cartoon looks flatten
  towards; local minimum and maximum; the Laplacian);
- a random-feature network (an "extreme learning machine"): one fixed random ReLU layer whose output
  weights, plus a linear term, are solved in closed form by ridge regression. Deterministic, no
  iterative training, and the fit is a few hundred milliseconds;
- it runs at most at :data:`MODEL_PIXELS`; a larger frame is predicted at that size and brought back to
  full size by guided upsampling (a local affine model of output against source grey, fitted at low
  resolution and applied at full resolution: He et al. 2015's fast guided filter), so full-size edges
  stay sharp.

>>> import numpy as np
>>> from skimage import data
>>> frame = data.astronaut()[::2, ::2]
>>> look = 255 - frame  # a known look: the negative
>>> model = LookModel.fit([frame], [look])
>>> other = data.astronaut()[1::2, 1::2]  # a different frame of the same scene
>>> error = np.abs(model.predict(other).astype(int) - (255 - other)).mean()
>>> bool(error < 6)
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numba import njit, prange

from shotcraft.signals.structure import detail_energy, guided_coefficients

#: The model runs on at most this many pixels per frame (about 640x390); larger frames are upsampled.
MODEL_PIXELS = 250_000
#: Descriptors per pixel (:func:`look_features`).
FEATURES = 17
#: Hidden units of the random layer.
HIDDEN_UNITS = 128
#: Training pixels drawn from the keyframes (shared among them).
TRAINING_PIXELS = 40_000
#: Ridge penalty, relative to the number of training pixels.
RIDGE = 1e-3
#: Most the fine detail of the learned look is amplified or attenuated to match the keyframes'.
MAX_DETAIL_GAIN = 2.0
#: Pixels per parallel work item when predicting.
_ROWS = 1024


def model_size(width: int, height: int) -> tuple[int, int]:
    """The size a ``width`` x ``height`` frame is modelled at (itself when it has :data:`MODEL_PIXELS` or less)."""
    scale = min(1.0, (MODEL_PIXELS / (width * height)) ** 0.5)
    return max(8, round(width * scale)), max(8, round(height * scale))


def look_features(frame: np.ndarray) -> np.ndarray:
    """Per-pixel descriptors of an ``(H, W, 3)`` uint8 RGB frame's neighbourhood: float32 ``(H, W, 17)``.

    >>> look_features(np.zeros((16, 24, 3), np.uint8)).shape
    (16, 24, 17)
    """
    rgb = frame.astype(np.float32) * np.float32(1.0 / 255.0)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    height, width = grey.shape
    out = np.empty((height, width, FEATURES), np.float32)
    out[..., 0:3] = rgb
    for k, sigma in enumerate((2.0, 6.0, 18.0)):
        out[..., 3 + k] = cv2.GaussianBlur(grey, (0, 0), sigma) - grey
    for k, source in enumerate((grey, cv2.GaussianBlur(grey, (0, 0), 2.0))):
        gx = cv2.Sobel(source, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(source, cv2.CV_32F, 0, 1, ksize=3)
        out[..., 6 + k] = cv2.magnitude(gx, gy)
    for k, (radius, eps) in enumerate(((4, 1e-3), (16, 1e-2))):
        out[..., 8 + 3 * k : 11 + 3 * k] = cv2.ximgproc.guidedFilter(rgb, rgb, radius, eps) - rgb
    box = np.ones((5, 5), np.uint8)
    out[..., 14] = cv2.erode(grey, box) - grey
    out[..., 15] = cv2.dilate(grey, box) - grey
    out[..., 16] = cv2.Laplacian(grey, cv2.CV_32F, ksize=3)
    return out


@dataclass(frozen=True)
class LookModel:
    """A look learned from keyframes: the fixed random layer and the solved output weights."""

    input_weights: np.ndarray  # (17, hidden): the random layer, feature standardisation folded in
    input_bias: np.ndarray  # (hidden,)
    hidden_weights: np.ndarray  # (3, hidden): solved, one row per colour channel (what the kernel reads)
    linear_weights: np.ndarray  # (17, 3): solved, standardisation folded in
    output_bias: np.ndarray  # (3,)
    detail_gain: float = 1.0

    @classmethod
    def fit(
        cls,
        sources: Sequence[np.ndarray],
        looks: Sequence[np.ndarray],
        *,
        hidden: int = HIDDEN_UNITS,
        samples: int = TRAINING_PIXELS,
        seed: int = 0,
    ) -> LookModel:
        """Learn the look that turns each of ``sources`` (uint8 RGB frames) into the matching ``looks``
        (uint8 RGB, the same size), from ``samples`` random pixels shared among them."""
        rng = np.random.default_rng(seed)
        features, targets = [], []
        per_frame = max(1, samples // len(sources))
        for source, look in zip(sources, looks, strict=True):
            size = model_size(source.shape[1], source.shape[0])
            feats = look_features(_resize(source, size)).reshape(-1, FEATURES)
            target = _resize(look, size).reshape(-1, 3).astype(np.float32) / 255.0
            pick = rng.choice(len(feats), min(per_frame, len(feats)), replace=False)
            features.append(feats[pick])
            targets.append(target[pick])
        x, y = np.concatenate(features), np.concatenate(targets)
        # Standardised features keep the ridge problem well conditioned; the scaling is folded into the
        # weights afterwards, so prediction is two matrix products and no copies.
        mean = x.mean(axis=0)
        scale = np.float32(1.0) / (x.std(axis=0) + np.float32(1e-4))
        z = (x - mean) * scale
        random_weights = (rng.standard_normal((FEATURES, hidden)) / np.sqrt(FEATURES)).astype(np.float32)
        random_bias = rng.uniform(-1.0, 1.0, hidden).astype(np.float32)
        units = np.maximum(z @ random_weights + random_bias, 0.0)
        design = np.hstack([units, z, np.ones((len(z), 1), np.float32)]).astype(np.float64)
        gram = design.T @ design
        gram[np.diag_indices_from(gram)] += RIDGE * len(design)
        solved = np.linalg.solve(gram, design.T @ y)
        hidden_weights, linear, bias = solved[:hidden], solved[hidden:-1], solved[-1]
        shift = mean * scale
        model = cls(
            input_weights=(scale[:, None] * random_weights).astype(np.float32),
            input_bias=(random_bias - shift @ random_weights).astype(np.float32),
            hidden_weights=np.ascontiguousarray(hidden_weights.T, np.float32),
            linear_weights=(scale[:, None] * linear).astype(np.float32),
            output_bias=(bias - shift @ linear).astype(np.float32),
        )
        # A regressor's output is smoother (or noisier) than the look at its finest scale; that error is
        # systematic, so the keyframes themselves tell how much fine detail to restore (or remove).
        made = sum(detail_energy(model.predict_float(source) * 255.0) for source in sources)
        wanted = sum(detail_energy(look.astype(np.float32)) for look in looks)
        gain = float(np.clip(wanted / max(made, 1e-6), 1.0 / MAX_DETAIL_GAIN, MAX_DETAIL_GAIN))
        return dataclasses.replace(model, detail_gain=gain)

    def predict(self, frame: np.ndarray) -> np.ndarray:
        """The look on ``frame`` (uint8 RGB), uint8 RGB of the same size."""
        return np.clip(self.predict_float(frame) * 255.0 + 0.5, 0, 255).astype(np.uint8)

    def predict_float(self, frame: np.ndarray) -> np.ndarray:
        """The look on ``frame`` as float32 RGB in ``[0, 1]`` units (not clipped), full size."""
        height, width = frame.shape[:2]
        size = model_size(width, height)
        small = _resize(frame, size)
        feats = look_features(small).reshape(-1, FEATURES)
        out = np.empty((len(feats), 3), np.float32)
        _evaluate(
            feats,
            self.input_weights,
            self.input_bias,
            self.hidden_weights,
            self.linear_weights,
            self.output_bias,
            out,
        )
        low = out.reshape(size[1], size[0], 3)
        full = low if size == (width, height) else guided_upsample(small, low, frame)
        if self.detail_gain != 1.0:
            smooth = cv2.GaussianBlur(full, (0, 0), 1.0)
            full = cv2.addWeighted(full, self.detail_gain, smooth, 1.0 - self.detail_gain, 0.0)
        return full


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def _evaluate(feats, input_weights, input_bias, hidden_weights_t, linear_weights, output_bias, out) -> None:
    """The regressor on every pixel, fused: each pixel's hidden units live in a small buffer, never in a
    frame-sized matrix (a matrix product with 17 inputs is bound by memory traffic, not arithmetic)."""
    n, features = feats.shape
    hidden = input_weights.shape[1]
    blocks = (n + _ROWS - 1) // _ROWS
    for block in prange(blocks):
        units = np.empty(hidden, np.float32)
        for i in range(block * _ROWS, min(n, (block + 1) * _ROWS)):
            units[:] = input_bias
            for k in range(features):
                value = feats[i, k]
                for j in range(hidden):
                    units[j] += value * input_weights[k, j]
            for c in range(3):
                total = output_bias[c]
                for k in range(features):
                    total += feats[i, k] * linear_weights[k, c]
                for j in range(hidden):
                    total += max(units[j], np.float32(0.0)) * hidden_weights_t[c, j]
                out[i, c] = total


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if image.shape[1::-1] == size:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def guided_upsample(small_source: np.ndarray, small_output: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Bring ``small_output`` (float32, computed on ``small_source``) to ``source``'s size: per pixel, a
    local affine model ``output = a * grey + b`` fitted at low resolution (5-pixel windows, the fast guided
    filter: :func:`~shotcraft.signals.structure.guided_coefficients`), its coefficients upsampled smoothly
    and applied to the full-size grey, which restores full-size edges."""
    grey = cv2.cvtColor(small_source, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    a, b = guided_coefficients(grey, small_output, 2, 1e-3)
    height, width = source.shape[:2]
    a = cv2.resize(a, (width, height), interpolation=cv2.INTER_LINEAR)
    b = cv2.resize(b, (width, height), interpolation=cv2.INTER_LINEAR)
    full = cv2.cvtColor(source, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    return a * full[..., None] + b
