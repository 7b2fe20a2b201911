"""Tone and colour in linear light: the sRGB transfer, white balance, and a filmic tone curve whose shoulder
rolls highlights off towards white, and whose toe rolls deep shadows into a floor a few levels above black,
instead of clipping them.

The curve acts on luminance, so a colour keeps its hue and saturation through it; a colour that would
leave the displayable range after it (a bright saturated sky, a dark saturated blue) is instead brought
back towards its own luminance, softly and only as far as needed: near white every colour fades to white,
which is how film and a colourist's highlight roll-off behave, where clipping each channel on its own
would turn a bright sky into flat cyan or white patches with hard edges.

>>> import numpy as np
>>> bright = np.array([[4.0, 3.0, 1.0], [0.9, 0.9, 0.9], [0.0, 0.0, 0.0]])
>>> out = tone_map(bright)
>>> levels = np.round(out * 255)  # as 8 bits: neither end reached
>>> int(levels.min()), int(levels.max())
(8, 249)
>>> bool(out[0, 0] - out[0, 2] < 4.0 - 1.0)  # the bright warm colour is desaturated towards white
True
"""

from __future__ import annotations

import numpy as np

# Rec. 709 luma weights, applied to display-referred values (what "saturation" means in grading tools) and,
# as luminance, to linear ones.
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)

#: The linear-light range each channel is kept in: display levels 6 and 249.3 of 255, so that nothing
#: lands on 0 or 255 after 8-bit rounding (and interpolation in a LUT, which only mixes values within it)
#: nor, mostly, after the take's encoder: limited-range YUV, 4:2:0 chroma (each pixel takes on the colour
#: of its 2x2 block) and the quantiser move a pixel several levels on a channel. Measured on the encoded
#: take (``bench/relight_looks.py --sliders``, bikes): three stops down, cold and saturated, 3.0 % → 0.2 %
#: with the floor at 2.6 → 6; two stops up 6.8 % → 2.1 % with the ceiling at 252.5 → 249.3. What is left
#: is where a broad white meets a coloured edge; a ceiling at 245.8 roughly halves it again but takes the
#: golden hour's warm highlights with it.
BLACK = 0.0018
WHITE = 0.95
#: Where the shoulder starts (linear light, about display level 225): up to it the curve is the identity
#: (above the toe).
KNEE = 0.75
#: The toe's floor, linear light (display level 8): luminance rolls into it instead of reaching black. The
#: encoder needs the margin: limited-range YUV, 4:2:0 chroma and the quantiser move a dark pixel a few
#: levels on a channel, and with the floor at level 3 a night grade's deep shadows (dark blue, red near the
#: floor) came back from H.264 with 2-3 % of a frame at 0 on red (bikes f187-f200; level 7: 0.5 %, 8:
#: 0.15 %). From three times the floor (display level 20) up the toe changes luminance by under 2 %.
TOE = 0.0024


def to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB display values in 0..1 to linear light."""
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def to_display(x: np.ndarray) -> np.ndarray:
    """Linear light to sRGB display values, clipped to 0..1."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055)


def white_balance_gains(temperature: float | np.ndarray, tint: float | np.ndarray) -> np.ndarray:
    """Per-channel gains in linear light for the warm/cool and green/magenta sliders (``(..., 3)`` for
    arrays of settings), normalised so that luminance is unchanged (white balance is not exposure)."""
    warm, magenta = np.asarray(temperature, np.float64) / 100.0, np.asarray(tint, np.float64) / 100.0
    gains = np.stack([1.0 + 0.35 * warm, np.ones_like(warm), 1.0 - 0.35 * warm], axis=-1)
    gains = gains * np.stack([1.0 + 0.1 * magenta, 1.0 - 0.25 * magenta, 1.0 + 0.1 * magenta], axis=-1)
    return gains / (gains @ LUMA.astype(np.float64))[..., None]


def filmic(y: np.ndarray) -> np.ndarray:
    """The tone curve on linear luminance: a toe that rolls deep shadows into :data:`TOE` (``y + TOE *
    exp(-y / TOE)``: flat at black, within 2 % of the identity from three times the floor up), the identity
    up to :data:`KNEE`, then an exponential shoulder that approaches :data:`WHITE` without reaching it (its
    slope is continuous at the knee)."""
    y = np.maximum(y, 0.0)
    y = y + TOE * np.exp(-y / TOE)
    room = WHITE - KNEE
    shoulder = KNEE + room * (1.0 - np.exp(-(y - KNEE) / room))
    return np.where(y <= KNEE, y, shoulder)


def tone_map(linear: np.ndarray) -> np.ndarray:
    """Linear RGB (any positive range, ``(..., 3)``) to display values strictly inside 0..1: the filmic
    curve on luminance, then each colour's chroma compressed softly into the range left around its new
    luminance (:func:`gamut_compress`)."""
    linear = np.asarray(linear, np.float64)
    y = np.maximum(linear @ LUMA.astype(np.float64), 0.0)[..., None]
    toned = filmic(y)
    # Each colour keeps its ratios to its luminance; black, which has none, goes to the neutral floor
    # (the epsilon, far below the toe, only decides what 0 / 0 is).
    return to_display(gamut_compress(toned, (linear + 1e-9) / (y + 1e-9) * toned))


def gamut_compress(y: np.ndarray, rgb: np.ndarray, start: float = 0.75) -> np.ndarray:
    """Bring ``rgb`` into ``[BLACK, WHITE]`` by moving it towards its luminance ``y`` (``(..., 1)``).

    The share of the room each colour uses (how far its furthest channel reaches towards the nearer limit)
    is kept up to ``start`` and compressed smoothly above it, so it never reaches 1: colours well inside the
    range are untouched, and the closer the luminance is to white or black, the less chroma is left.
    """
    chroma = rgb - y
    above = np.maximum(WHITE - y, 1e-9)
    below = np.maximum(y - BLACK, 1e-9)
    used = np.max(np.where(chroma > 0, chroma / above, -chroma / below), axis=-1, keepdims=True)
    span = 1.0 - start
    squeezed = np.where(used > start, start + span * np.tanh((used - start) / span), used)
    return y + chroma * (squeezed / np.maximum(used, 1e-12))


def smoothstep(low: float, high: float, x: np.ndarray) -> np.ndarray:
    """0 below ``low``, 1 above ``high``, a smooth cubic between."""
    t = np.clip((x - low) / (high - low), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


__all__ = [
    "BLACK",
    "KNEE",
    "LUMA",
    "TOE",
    "WHITE",
    "filmic",
    "gamut_compress",
    "smoothstep",
    "to_display",
    "to_linear",
    "tone_map",
    "white_balance_gains",
]
