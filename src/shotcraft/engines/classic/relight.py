"""Relight: a colour grade per frame (exposure, white balance, contrast, saturation, time-of-day presets, or
the grade of keyframes the user graded elsewhere) plus an optional virtual directional light.

The parametric settings (exposure, white balance, contrast, saturation) are graded like the time-of-day
presets below, through the same filmic tone curve, so however strong they are nothing clips; with no
setting and no light a frame comes back untouched. Keyframe-guided relight fits a 3D LUT (:mod:`~shotcraft.engines.classic.lut`) from the source frame to each graded still,
with the parametric settings baked on top, and eases between those LUTs over time. The light multiplies
each frame by a smooth gain map shaded at low resolution from normals derived from the frame's own
luminance (brighter reads as nearer), mixed with a gentle falloff across the frame from the light's side.

A time-of-day preset (:class:`PresetGrade`) is graded the way a colourist would: in linear light, through
a filmic tone curve whose shoulder rolls highlights off and whose toe keeps shadows off black
(:mod:`~shotcraft.engines.classic.tone`; no preset clips), with the preset's light *inside* the grade (the
side facing it gets the light's colour and exposure before the curve, the side away from it a cooler,
darker fill) and, for night, a sky window (:mod:`~shotcraft.engines.classic.sky_window`) that pulls the sky
and broad bright areas down hardest while small bright sources keep their brightness. Each of these
variants is a 3D LUT; a per-pixel map picks between them (:func:`~shotcraft.engines.classic.lut.apply_lut_family`).

>>> import numpy as np
>>> frame = np.full((8, 8, 3), 128, np.uint8); frame[0, 0] = 255
>>> warm = PresetGrade(None, Grade(exposure=2, temperature=60), None, 8, 8)(frame)
>>> r, g, b = warm[1, 1].tolist()
>>> r > g > b > 128, int(warm.max()) < 255  # brighter and warmer, two stops up without clipping
(True, True)
>>> resolve_relight(RelightOp(preset="night", exposure=0.5))[0].exposure
-1.8
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from shotcraft.engines.classic.sky_window import SkyWindow, shrink
from shotcraft.engines.classic.tone import (
    LUMA,
    smoothstep,
    to_display,
    to_linear,
    tone_map,
    white_balance_gains,
)
from shotcraft.media.orientation import to_storage_azimuth
from shotcraft.media.stills import load_still
from shotcraft.progress import Progress, no_progress
from shotcraft.spec import DirectionalLight, RelightOp

if TYPE_CHECKING:
    from shotcraft.engines.classic.lut import LutTimeline
    from shotcraft.media.read import VideoReader
    from shotcraft.plan import TransformPlan

#: Lattice size for LUTs fitted to graded keyframes: a 17³ fit takes a fraction of a second and reproduces
#: smooth grades to > 50 dB; a 33³ direct solve takes ~40 s per keyframe on two cores for no visible gain.
FIT_SIZE = 17


@dataclass(frozen=True)
class Grade:
    """The parametric colour settings, in the units of :class:`~shotcraft.spec.RelightOp`."""

    exposure: float = 0.0
    temperature: float = 0.0
    tint: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0

    @property
    def is_identity(self) -> bool:
        return not any((self.exposure, self.temperature, self.tint, self.contrast, self.saturation))


#: Time-of-day presets: a grade and a light. A user's own settings are added on top of the preset's.
PRESETS: dict[str, tuple[Grade, DirectionalLight | None]] = {
    # Low warm sun from the side, a touch of magenta in the warmth, richer colour.
    "golden_hour": (
        Grade(exposure=0.0, temperature=38, tint=6, contrast=0.3, saturation=0.1),
        DirectionalLight(azimuth=165, elevation=12, colour=(1.0, 0.72, 0.42), intensity=0.55, softness=0.6),
    ),
    # After sunset: darker, cool, soft light from the sky.
    "blue_hour": (
        Grade(exposure=-0.7, temperature=-55, tint=10, contrast=-0.05, saturation=-0.1),
        DirectionalLight(azimuth=90, elevation=60, colour=(0.65, 0.75, 1.0), intensity=0.25, softness=0.9),
    ),
    # Moonlight: much darker, blue, desaturated (the eye loses colour in the dark), crisp contrast.
    "night": (
        Grade(exposure=-2.3, temperature=-70, tint=-4, contrast=0.25, saturation=-0.55),
        DirectionalLight(azimuth=120, elevation=40, colour=(0.7, 0.8, 1.0), intensity=0.35, softness=0.7),
    ),
    # Flat, slightly cool, muted: no direct light at all.
    "overcast": (Grade(exposure=-0.1, temperature=-15, contrast=-0.3, saturation=-0.25), None),
    # High white sun: neutral, punchy.
    "noon": (
        Grade(exposure=0.05, temperature=5, contrast=0.2, saturation=0.1),
        DirectionalLight(azimuth=90, elevation=75, colour=(1.0, 1.0, 0.97), intensity=0.3, softness=0.3),
    ),
}


@dataclass(frozen=True)
class Shaping:
    """How a time-of-day preset's grade changes across the frame and across the tones, on top of its
    :class:`Grade` and its light (the colourist's windows and split toning)."""

    #: Exposure (stops) and white balance shift of the side turned away from the light; the side facing
    #: it gets the light itself (its colour, and ``log2(1 + intensity)`` stops).
    fill_stops: float = 0.0
    fill_temperature: float = 0.0
    #: Split toning: the shadows' white balance against the highlights' (negative: cooler shadows).
    shadow_temperature: float = 0.0
    #: The sky window (:class:`~shotcraft.engines.classic.sky_window.SkyWindow`): extra stops and saturation
    #: where it is fully on; 0 stops means no window.
    sky_stops: float = 0.0
    sky_saturation: float = 0.0
    #: How much of their own brightness small bright sources keep outside the sky window: 1 keeps a lamp
    #: or a glint as bright as shot (less :data:`KEEP_STOPS`), 0 grades it like everything else.
    keep_highlights: float = 0.0
    #: Extra saturation for colours that are already strongly yellow-green (negative: keeps sunlit grass
    #: from turning acid yellow under a warm light).
    foliage_saturation: float = 0.0


#: How the presets vary across the frame and the tones; a preset not listed here is one grade everywhere.
SHAPING: dict[str, Shaping] = {
    "golden_hour": Shaping(
        fill_stops=-0.55, fill_temperature=-35, shadow_temperature=-40, foliage_saturation=-0.25
    ),
    "blue_hour": Shaping(),
    "night": Shaping(
        fill_stops=-0.2,
        shadow_temperature=-30,
        sky_stops=-2.8,
        sky_saturation=-0.3,
        keep_highlights=1.0,
        foliage_saturation=-0.3,
    ),
    "overcast": Shaping(),
    "noon": Shaping(),
}

#: What a kept highlight (a practical light at night) loses: a touch, so it still reads as the source.
KEEP_STOPS = -0.4


def resolve_relight(op: RelightOp) -> tuple[Grade, DirectionalLight | None]:
    """The op's preset (if any) with the op's own settings added, clamped to the spec's ranges; the op's
    light replaces the preset's."""
    base, light = PRESETS[op.preset] if op.preset else (Grade(), None)

    def add(name: str, low: float, high: float) -> float:
        return round(min(high, max(low, getattr(base, name) + getattr(op, name))), 6)

    grade = Grade(
        exposure=add("exposure", -6, 6),
        temperature=add("temperature", -100, 100),
        tint=add("tint", -100, 100),
        contrast=add("contrast", -1, 1),
        saturation=add("saturation", -1, 1),
    )
    return grade, op.light if op.light is not None else light


# ---------------------------------------------------------------------------------------------------------
# The colour grade as a function of colour


def grade_colours(rgb: np.ndarray, grade: Grade) -> np.ndarray:
    """Apply ``grade`` to display-referred colours in 0..1 (``(..., 3)``); the zero grade is the identity.

    Exposure and white balance act in linear light (they are light); contrast and saturation act on
    display values (they are how a grading tool's controls feel).
    """
    return _saturate(_channel_curves(rgb, grade), grade.saturation)


def _channel_curves(rgb: np.ndarray, grade: Grade) -> np.ndarray:
    """The per-channel part of the grade: exposure, white balance, contrast."""
    out = np.asarray(rgb, np.float64)
    if grade.exposure or grade.temperature or grade.tint:
        gains = 2.0**grade.exposure * white_balance_gains(grade.temperature, grade.tint)
        out = to_display(to_linear(out) * gains)
    if grade.contrast:
        # A symmetric S-curve through mid-grey and both ends: steeper (c > 0) or flatter (c < 0) mid-tones.
        power = 2.0 ** (1.6 * grade.contrast)
        up, down = np.clip(out, 0, 1) ** power, np.clip(1 - out, 0, 1) ** power
        out = up / np.maximum(up + down, 1e-12)
    return np.clip(out, 0.0, 1.0)


def saturation_matrix(saturation: float) -> np.ndarray:
    """The 3x3 matrix that moves each colour away from (or towards) its own luma."""
    return ((1.0 + saturation) * np.eye(3) - saturation * np.outer(np.ones(3), LUMA)).astype(np.float32)


def _saturate(rgb: np.ndarray, saturation: float) -> np.ndarray:
    if not saturation:
        return rgb
    return np.clip(rgb @ saturation_matrix(saturation).T.astype(np.float64), 0.0, 1.0)


def build_lut(grade: Grade, size: int | None = None) -> np.ndarray:
    """The grade baked into a 3D LUT (of :data:`~shotcraft.engines.classic.lut.LUT_SIZE` by default)."""
    # The LUT module brings numba and scipy (~0.3 s to import): only keyframe-guided relight needs it.
    from shotcraft.engines.classic.lut import LUT_SIZE, lut_from_function

    return lut_from_function(lambda rgb: grade_colours(rgb, grade), size or LUT_SIZE)


def graded_lut(lut: np.ndarray, grade: Grade) -> np.ndarray:
    """``grade`` applied after ``lut`` (a fitted keyframe LUT with the parametric settings on top), graded
    as the sliders alone are (:func:`shaped_colours`, through the tone curve), so a keyframe's shadows
    taken a stop down roll into the toe's floor instead of onto black."""
    if grade.is_identity:
        return lut
    return (shaped_colours(lut / 255.0, grade, Shaping()) * 255.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# Time-of-day presets: graded in linear light with a filmic shoulder, shaped by windows


@dataclass(frozen=True)
class Slice:
    """One grade of a preset's family: the part of the frame the sky window holds, the side turned away
    from the light, or the side facing it."""

    stops: float = 0.0
    temperature: float = 0.0
    saturation: float = 0.0
    gain: tuple[float, float, float] = (1.0, 1.0, 1.0)
    keep: float = 0.0


def shaped_colours(rgb: np.ndarray, grade: Grade, shaping: Shaping, part: Slice = Slice()) -> np.ndarray:
    """One slice of a preset's grade applied to display colours in 0..1 (``(..., 3)``); the result is
    strictly inside 0..1 (the filmic tone curve of :mod:`~shotcraft.engines.classic.tone`).

    Exposure, white balance and the light are gains in linear light; contrast is a slope in log exposure
    around mid grey (as a film stock's gamma) and saturation moves colour away from its luminance, both
    before the tone curve, so their excess rolls off instead of clipping.
    """
    rgb = np.asarray(rgb, np.float64)
    source = to_linear(rgb)
    # Saturation first, on the scene's own colours, so that the white balance and the light that follow
    # tint a desaturated night or a muted fill instead of being muted with it.
    y = np.maximum(source @ LUMA.astype(np.float64), 1e-9)[..., None]
    saturation = 1.0 + grade.saturation + part.saturation
    if shaping.foliage_saturation:
        saturation = saturation + shaping.foliage_saturation * _foliage(rgb)
    lin = y + (source - y) * np.maximum(saturation, 0.0)
    gains = 2.0 ** (grade.exposure + part.stops) * white_balance_gains(
        grade.temperature + part.temperature, grade.tint
    )
    lin = lin * gains * np.asarray(part.gain, np.float64)
    y = np.maximum(lin @ LUMA.astype(np.float64), 1e-9)[..., None]
    if grade.contrast:
        graded = _MID_GREY * (y / _MID_GREY) ** (2.0**grade.contrast)
        lin, y = lin * (graded / y), graded
    if shaping.shadow_temperature:
        # Split toning: full shift in the deep shadows, none from about a quarter of white up.
        shadow = 1.0 - smoothstep(-7.0, -2.0, np.log2(y[..., 0]))
        lin = lin * white_balance_gains(shaping.shadow_temperature * shadow, 0.0)
    if part.keep:
        # A small bright source (the sky window never holds one) keeps its own brightness and colour.
        kept = part.keep * smoothstep(0.86, 1.0, rgb.max(axis=-1))[..., None]
        lin = lin * (1.0 - kept) + source * 2.0**KEEP_STOPS * kept
    return tone_map(lin)


_MID_GREY = 0.18


def _foliage(rgb: np.ndarray) -> np.ndarray:
    """How strongly each display colour is a saturated yellow-green (0..1): green well above blue, and red
    between blue and green."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    chroma = g - b
    between = smoothstep(0.0, 0.15, r - b) * smoothstep(-0.05, 0.1, g - r + 0.1)
    return (smoothstep(0.15, 0.45, chroma) * between)[..., None]


class PresetGrade:
    """A time-of-day preset (or the parametric settings alone, ``preset=None``) applied frame after frame:
    a family of 3D LUTs (one per :class:`Slice`) and a per-pixel position among them from the windows (the
    sky window, and the light's side worked out by :class:`LightShader`). Every frame is graded on its own,
    so a clip split into parts grades as a whole.

    Positions: with a sky window, 0 is the sky slice, 1 the side away from the light, 2 the side facing it;
    without one, 0 is away and 1 facing. Mixing neighbouring slices keeps every output between two graded
    values, so nothing clips.

    The windows are worked out on one copy of the frame about
    :data:`~shotcraft.engines.classic.sky_window.WORK_WIDTH` pixels wide and upsampled as 16-bit fixed
    point; the sky window as its local linear model of the luma, applied to each full-size pixel's own
    luma (:func:`~shotcraft.engines.classic.lut.luma_position`), so its edge is the picture's. The family
    is packed once (:class:`~shotcraft.engines.classic.lut.LutFamily`). About 10 ms a
    720p frame on one core, where float LUT lookups and full-size float maps took about 40.
    """

    def __init__(
        self, preset: str | None, grade: Grade, light: DirectionalLight | None, width: int, height: int
    ):
        from shotcraft.engines.classic.lut import LutFamily, lut_from_function

        shaping = SHAPING.get(preset, Shaping()) if preset else Shaping()
        key = light if light is not None and light.intensity > 0 else None
        slices = [
            Slice(
                stops=shaping.fill_stops, temperature=shaping.fill_temperature, keep=shaping.keep_highlights
            )
        ]
        if shaping.sky_stops:
            sky = Slice(
                stops=shaping.fill_stops + shaping.sky_stops,
                temperature=shaping.fill_temperature,
                saturation=shaping.sky_saturation,
            )
            slices.insert(0, sky)
        if key is not None:
            # The light's colour at unit luminance, and its strength as stops.
            colour = np.maximum(np.asarray(key.colour, np.float64), 1e-3)
            red, green, blue = (float(v) for v in colour / float(colour @ LUMA))
            stops = math.log2(1.0 + key.intensity * float(colour @ LUMA))
            slices.append(Slice(stops=stops, gain=(red, green, blue), keep=shaping.keep_highlights))
        self.luts = np.stack(
            [
                lut_from_function(lambda rgb, part=part: shaped_colours(rgb, grade, shaping, part))
                for part in slices
            ]
        )
        self.family = LutFamily(self.luts)
        self.sky = SkyWindow(width, height) if shaping.sky_stops else None
        self.shader = LightShader(key, width, height) if key is not None else None
        self.size = (width, height)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if len(self.luts) == 1:
            return self.family(frame, None)
        return self.family(frame, self.position(frame))

    def position(self, frame: np.ndarray) -> np.ndarray:
        """Each pixel's place in the family (see the class), ``(H, W)`` uint16 in 1/1024
        (:func:`~shotcraft.engines.classic.lut.fixed_position`)."""
        from shotcraft.engines.classic.lut import fixed_position, luma_position

        shrunk = shrink(frame)
        facing = None
        if self.shader is not None:
            # The key is a broad light: blur away the relief's fine texture, which would read as embossing.
            facing = self.shader.lit(frame, shrunk)
            facing = cv2.GaussianBlur(facing, (0, 0), 0.02 * facing.shape[1])
        if self.sky is None:
            assert facing is not None
            fixed = fixed_position(facing, len(self.luts))
            return cv2.resize(fixed, self.size, interpolation=cv2.INTER_LINEAR)
        # The sky slice is position 0: a pixel sits at (1 - key) * (1 + facing), the window's key being
        # slope * luma + offset clipped to 0..1 (SkyWindow.model), so linear in the pixel's own luma below a
        # ceiling of 1 + facing. Worked out per pixel at full size, the window's edge is the picture's.
        slope, offset = self.sky.model(frame, shrunk)
        lift = np.ones_like(slope)
        if facing is not None:
            lift += cv2.resize(facing, slope.shape[::-1], interpolation=cv2.INTER_LINEAR)
        return luma_position(frame, -lift * slope, lift * (1.0 - offset), lift, len(self.luts))


# ---------------------------------------------------------------------------------------------------------
# The virtual light


class LightShader:
    """Shade a frame with a directional light; :meth:`gain` gives the per-pixel multiplier map.

    Shading works on a copy about ``work_width`` pixels wide: normals come from the blurred luminance read
    as a height field, lit with wrap-around Lambert shading (``softness`` widens the wrap and the blur),
    mixed half and half with a linear falloff across the frame towards the light's side. The low-resolution
    gain is upsampled: light is smooth, so nothing shows. :meth:`apply` upsamples it in 16-bit fixed point
    and multiplies in 16 bits, about 4 ms a frame at 720p on two cores (a float gain map took ~11 ms).
    """

    #: How strongly luminance slopes tilt the normals (a larger value reads the image as deeper relief).
    RELIEF = 6.0

    def __init__(self, light: DirectionalLight, width: int, height: int, work_width: int = 192):
        self.light = light
        self.size = (width, height)
        scale = min(1.0, work_width / width)
        self.work = (max(8, round(width * scale)), max(8, round(height * scale)))
        az, el = math.radians(light.azimuth), math.radians(light.elevation)
        # Image axes: x to the right, y down; azimuth 0 is light from the right, 90 from the top.
        self.direction = np.array([math.cos(az) * math.cos(el), -math.sin(az) * math.cos(el), math.sin(el)])
        ww, wh = self.work
        xs = np.linspace(-1.0, 1.0, ww, dtype=np.float32)[None, :]
        ys = np.linspace(-1.0, 1.0, wh, dtype=np.float32)[:, None]
        self.falloff = np.clip(0.5 + 0.5 * (xs * self.direction[0] + ys * self.direction[1]), 0.0, 1.0)
        self.colour = np.asarray(light.colour, np.float32)
        # Fixed-point units per 1.0 of gain, as many as the largest possible gain leaves room for in 16 bits;
        # at 1024 or more the rounding moves an output value by well under a level.
        peak = 1.0 + light.intensity * max(0.0, *light.colour)
        self._fixed = 65535.0 / peak
        # Full-size 16-bit working planes, reused frame after frame: fresh ones would cost more in page
        # faults than the arithmetic on them. This makes :meth:`apply` non-reentrant (one stage, one shader).
        self._scratch: np.ndarray | None = None

    def gain(self, frame: np.ndarray) -> np.ndarray:
        """The ``(H, W, 3)`` float32 multiplier for ``frame``: 1 where the light adds nothing."""
        return cv2.resize(self._small_gain(frame), self.size, interpolation=cv2.INTER_LINEAR)

    def apply(self, graded: np.ndarray, frame: np.ndarray) -> np.ndarray:
        """``graded`` multiplied by the gain shaded from ``frame`` (its normals come from ``frame``)."""
        small = self._small_gain(frame)
        if self._fixed < 1024:
            # A light so bright that 16 bits cannot hold its gain finely enough: take the float path.
            gain = cv2.resize(small, self.size, interpolation=cv2.INTER_LINEAR)
            return cv2.multiply(graded, gain, dtype=cv2.CV_8U)
        fixed = np.round(np.clip(small, 0.0, None) * self._fixed).astype(np.uint16)
        width, height = self.size
        if self._scratch is None:
            self._scratch = np.empty((3, height, width, 3), np.uint16)
        full, wide, lit = self._scratch
        cv2.resize(fixed, self.size, dst=full, interpolation=cv2.INTER_LINEAR)
        # 16-bit by 16-bit is OpenCV's fast path (a mixed 8 x 16-bit multiply takes twice as long); the
        # product fits 16 bits because the gain is below 64 here, and convertScaleAbs saturates to 8 bits.
        np.copyto(wide, graded)
        cv2.multiply(wide, full, dst=lit, scale=1.0 / self._fixed)
        return cv2.convertScaleAbs(lit)

    def lit(self, frame: np.ndarray, shrunk: np.ndarray | None = None) -> np.ndarray:
        """How much each part of ``frame`` faces the light, ``0..1`` at the working resolution: half the
        wrap-around shading of the luminance normals, half the falloff across the frame. ``shrunk`` is
        ``frame`` already made small (:func:`~shotcraft.engines.classic.sky_window.shrink`), shared with
        the sky window."""
        small = shrink(frame, self.work[0]) if shrunk is None else shrunk
        if small.shape[1::-1] != self.work:
            small = cv2.resize(small, self.work, interpolation=cv2.INTER_AREA)
        height = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        sigma = 0.6 + 2.4 * self.light.softness
        height = cv2.GaussianBlur(height, (0, 0), sigma)
        gx = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3) / 8.0 * self.work[0] / 16.0
        gy = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3) / 8.0 * self.work[0] / 16.0
        nx, ny = -self.RELIEF * gx, -self.RELIEF * gy
        norm = np.sqrt(nx * nx + ny * ny + 1.0)
        lx, ly, lz = (np.float32(v) for v in self.direction)
        facing = (nx * lx + ny * ly + lz) / norm
        wrap = np.float32(self.light.softness)
        shade = np.clip((facing + wrap) / (1.0 + wrap), 0.0, 1.0)
        return 0.5 * shade + 0.5 * self.falloff

    def _small_gain(self, frame: np.ndarray) -> np.ndarray:
        """The gain at the working resolution, ``(h, w, 3)`` float32."""
        return 1.0 + np.float32(self.light.intensity) * self.lit(frame)[..., None] * self.colour


# ---------------------------------------------------------------------------------------------------------
# The stage


def keyframe_timeline(
    plan: TransformPlan, op: RelightOp, reader: VideoReader, grade: Grade
) -> LutTimeline | None:
    """One fitted LUT per graded keyframe of ``op`` (with ``grade`` on top), or None when it has none."""
    images = {key.image for key in op.keyframes}
    keys = [key for key in plan.relight_keyframes if key.image in images]
    if not keys:
        return None
    from shotcraft.engines.classic.lut import LutTimeline, fit_lut

    luts = []
    for key in keys:
        # The plan already reported a resize when it checked the still; don't report it twice.
        graded = load_still(key.image, plan.video, None, f"graded keyframe at {key.at.describe()}")
        luts.append(graded_lut(fit_lut(reader.frame_at(key.index), graded, size=FIT_SIZE), grade))
    return LutTimeline([key.index for key in keys], luts)


def relight(
    plan: TransformPlan,
    op: RelightOp,
    frames: Iterator[np.ndarray],
    reader: VideoReader,
    progress: Progress = no_progress,
) -> Iterator[np.ndarray]:
    """The relight stage: each frame graded (parametric or keyframe-guided) and lit.

    The keyframe fits run before the first frame is yielded (about 0.4 s per keyframe at 720p).
    """
    grade, light = resolve_relight(op)
    if light is not None and plan.video.rotation:
        # Light directions (the user's and the presets') are meant on the displayed frame.
        light = light.model_copy(update={"azimuth": to_storage_azimuth(light.azimuth, plan.video)})
    timeline = keyframe_timeline(plan, op, reader, grade)
    colour: Callable[[int, np.ndarray], np.ndarray]
    lit = light is not None and light.intensity > 0
    if timeline is None:
        if grade.is_identity and not lit:
            return _relight_frames(frames, lambda index, frame: frame, None, plan.frame_count, progress)
        # A preset, or the sliders alone, graded in linear light with its light inside the tone curve
        # (so nothing clips, however strong the settings); a preset adds its windows.
        graded = PresetGrade(op.preset, grade, light, plan.video.width, plan.video.height)
        colour = lambda index, frame: graded(frame)  # noqa: E731
        return _relight_frames(frames, colour, None, plan.frame_count, progress)
    from shotcraft.engines.classic.lut import apply_lut

    colour = lambda index, frame: apply_lut(frame, timeline.at(index))  # noqa: E731
    shader = LightShader(light, plan.video.width, plan.video.height) if light and lit else None
    return _relight_frames(frames, colour, shader, plan.frame_count, progress)


def _relight_frames(
    frames: Iterator[np.ndarray],
    colour: Callable[[int, np.ndarray], np.ndarray],
    shader: LightShader | None,
    total: int,
    progress: Progress,
) -> Iterator[np.ndarray]:
    for index, frame in enumerate(frames):
        out = colour(index, frame)
        if shader is not None:
            # Normals come from the incoming frame, not the graded one, so a dark grade does not flatten them.
            out = shader.apply(out, frame)
        progress("relight", index + 1, total)
        yield out


__all__ = [
    "PRESETS",
    "SHAPING",
    "Grade",
    "LightShader",
    "PresetGrade",
    "Shaping",
    "Slice",
    "build_lut",
    "grade_colours",
    "relight",
    "resolve_relight",
    "shaped_colours",
]
