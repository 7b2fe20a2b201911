"""Keeping a per-frame look steady in time along the source's motion.

A look computed on each frame on its own is right on that frame but may shimmer: thresholds and
quantisation flip on sensor noise, and a texture laid in screen space (paper grain) stays put while the
scene moves through it. Two remedies, both led by the source's optical flow:

- :func:`stabilise`: blind temporal consistency in the spirit of Bonneel et al. (2015) and Lai et al.
  (2018): each frame is pulled towards the *previous frame's per-frame result* warped along the flow,
  weighted by the flow's forward-backward confidence, so occlusions and new content keep their own frame's
  look. The previous per-frame result, not the previous output, is warped: resampling never accumulates,
  so the look cannot fade into a wash however long the shot.
- :class:`AdvectedTexture`: texture coordinates carried along the flow (texture advection, Neyret 2003),
  so paper grain, brush noise and hatching move with the surfaces they lie on; coordinates are re-seeded
  only where the flow fails (new content) and everywhere at a cut. The texture is sampled once per frame
  from its static source, so it stays as crisp as on the first frame.

>>> import numpy as np
>>> from shotcraft.signals.cache import FlowPair
>>> still = np.zeros((6, 8, 2), np.float32)
>>> pair = FlowPair(0, still, still, 16, 12)
>>> previous, current = np.zeros((12, 16, 3), np.float32), np.full((12, 16, 3), 100.0, np.float32)
>>> round(float(stabilise(current, previous, pair, 0.5).mean()), 3)
50.0
>>> texture = AdvectedTexture(16, 12, seed=1)
>>> before = texture.sample(texture.noise)
>>> texture.advance(pair)
>>> bool(np.allclose(texture.sample(texture.noise), before, atol=1e-4))
True
"""

from __future__ import annotations

import cv2
import numpy as np

from shotcraft.engines.classic.propagate import consistency, pixel_grid
from shotcraft.signals.cache import FlowPair
from shotcraft.signals.flow import upsample_flow

#: Scale (pixels) below which detail is always the current frame's own, never blended with the previous.
STABILISE_SIGMA = 1.5
#: Confidence below which advected texture coordinates are re-seeded (the content is new).
RESEED_BELOW = 0.5


def stabilise(current: np.ndarray, previous: np.ndarray, pair: FlowPair, strength: float) -> np.ndarray:
    """``current`` (float32, this frame's per-frame result) pulled towards ``previous`` (the previous
    frame's per-frame result) warped along ``pair`` (previous → current) by ``strength`` in ``[0, 1)``
    times the flow's confidence."""
    if strength <= 0.0:
        return current
    height, width = current.shape[:2]
    work_height, work_width = pair.backward.shape[:2]
    # Only low frequencies are blended, so the whole correction is made at the flow's working size.
    where = pair.backward + pixel_grid(work_width, work_height)
    weight = consistency(pair.backward, _pull(pair.forward, where)) * np.float32(strength)
    small_current = _resize(current, (work_width, work_height))
    difference = _pull(_resize(previous, (work_width, work_height)), where) - small_current
    if current.ndim == 3:
        weight = weight[..., None]
    # Only the difference's low frequencies are taken from the previous frame (Bonneel et al. keep the
    # current frame's gradients): tone and colour steady, this frame's own fine detail kept at full strength.
    sigma = STABILISE_SIGMA * work_width / width
    correction = cv2.GaussianBlur(weight * difference, (0, 0), sigma)
    return current + cv2.resize(correction, (width, height), interpolation=cv2.INTER_LINEAR)


def _pull(image: np.ndarray, where: np.ndarray) -> np.ndarray:
    return cv2.remap(image, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if image.shape[1::-1] == size:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


class AdvectedTexture:
    """Texture coordinates for a ``width`` x ``height`` frame, carried along the flow.

    ``noise`` is a static, tileable unit-variance grain (fine speckle plus softer fibres); a look samples
    it, or any texture of the frame's size, through :meth:`sample`.
    """

    def __init__(self, width: int, height: int, seed: int = 0):
        self.width, self.height = width, height
        self._rng = np.random.default_rng(seed)
        self.noise = grain(height, width, seed)
        self.coordinates = pixel_grid(width, height).copy()

    def reset(self) -> None:
        """Fresh coordinates everywhere (a new shot): the grain laid anew, shifted so it is not the last
        shot's."""
        self.coordinates = pixel_grid(self.width, self.height) + self._shift()

    def advance(self, pair: FlowPair) -> None:
        """Carry the coordinates from the previous frame to the current one along ``pair``; where the flow
        fails, the content is new and gets fresh coordinates."""
        work_height, work_width = pair.backward.shape[:2]
        small = pair.backward + pixel_grid(work_width, work_height)
        new = (consistency(pair.backward, _pull(pair.forward, small)) < RESEED_BELOW).astype(np.uint8)
        where = upsample_flow(pair.backward, self.width, self.height) + pixel_grid(self.width, self.height)
        pulled = _pull(self.coordinates, where)
        fresh = cv2.resize(new, (self.width, self.height), interpolation=cv2.INTER_NEAREST).astype(bool)
        if fresh.any():
            pulled[fresh] = (pixel_grid(self.width, self.height) + self._shift())[fresh]
        self.coordinates = pulled

    def sample(self, texture: np.ndarray) -> np.ndarray:
        """``texture`` (the frame's size, tiled beyond it) at the carried coordinates."""
        # Cubic: carried coordinates fall between texels, and linear interpolation would soften fine grain.
        return cv2.remap(texture, self.coordinates, None, cv2.INTER_CUBIC, borderMode=cv2.BORDER_WRAP)

    def _shift(self) -> np.ndarray:
        return self._rng.uniform(0, [self.width, self.height]).astype(np.float32)


def grain(height: int, width: int, seed: int) -> np.ndarray:
    """A tileable unit-variance paper grain: fine speckle plus softer fibres (float32 ``(H, W)``)."""
    rng = np.random.default_rng(seed)
    fine = _wrapped_blur(rng, height, width, 0.7)
    fibre = _wrapped_blur(rng, height, width, 3.0)
    texture = fine / (fine.std() + 1e-6) + 0.6 * fibre / (fibre.std() + 1e-6)
    return (texture / (texture.std() + 1e-6)).astype(np.float32)


def _wrapped_blur(rng: np.random.Generator, height: int, width: int, sigma: float) -> np.ndarray:
    """Gaussian-blurred white noise that tiles seamlessly (blurred on a padded copy, then cropped)."""
    noise = rng.standard_normal((height, width)).astype(np.float32)
    pad = int(3 * sigma) + 1
    tiled = np.pad(noise, pad, mode="wrap")
    return cv2.GaussianBlur(tiled, (0, 0), sigma)[pad:-pad, pad:-pad]
