"""What the user asks for, in the brief's vocabulary and nothing engine-specific.

The two top-level models are :class:`TransformSpec` (keep a source clip's timing, change its look) and
:class:`GenerateSpec` (invent new takes). Both load from YAML/JSON files and from CLI flags; checks that
need the probed source clip (a keyframe past the end, a mask of the wrong size) live in
:mod:`shotcraft.plan`, so a spec can be written before the clip is at hand.

Coordinates and images are given as a player shows the clip (*display orientation*, after its rotation
tag): pixels from the top-left, x to the right, y down. That holds for lock rectangles, polygons, masks
and track boxes, swap corners, keyframe stills, light directions and reframe anchors; the plan turns them
to the orientation frames are stored in, and a take's sidecar keeps them as given.

>>> spec = TransformSpec.model_validate({"prompt": "rainy night street", "motion_adherence": 7})
>>> spec.motion_adherence, spec.structure_adherence, spec.strength
(7, 5, 'auto')
>>> parse_time_point("4.2s"), parse_time_point("50%"), parse_time_point("12")
(TimePoint(seconds=4.2), TimePoint(fraction=0.5), TimePoint(frame=12))
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from shotcraft.errors import SpecError, read_user_text

MAX_KEYFRAMES = 64
# Every number and list a user can send has a range, so a spec can neither overflow storage (a seed is a
# signed 64-bit integer in the database) nor ask for unbounded work (10,000 operations).
MAX_SEED = 2**63 - 1
MAX_LOCKS = 64
MAX_REFERENCES = 16
MAX_OPERATIONS = 16
MAX_MARKETS = 64
MAX_POLYGON_POINTS = 4096
MAX_REPLACEMENTS = 1024
MAX_PROMPT = 10_000
#: Largest pixel coordinate or size anywhere in a spec (frames are far smaller).
MAX_PIXELS = 2**16
#: Largest frame index a time point may name.
MAX_FRAME = 2**31 - 1

Pixel = Annotated[int, Field(ge=0, le=MAX_PIXELS)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED, description="0 .. 2^63-1")]

StrengthPreset = Literal[
    "adhere_1", "adhere_2", "adhere_3",
    "flex_1", "flex_2", "flex_3",
    "reimagine_1", "reimagine_2", "reimagine_3",
    "auto",
]  # fmt: skip
STRENGTH_PRESETS: tuple[str, ...] = get_args(StrengthPreset)

#: How far each preset lets the look move from the source, 0 (identical) .. 1 (free). Engines map this onto
#: their own knobs (re-noise level for diffusion, propagation blend for classic).
STRENGTH_LEVELS: dict[str, float] = {
    "adhere_1": 0.15, "adhere_2": 0.25, "adhere_3": 0.35,
    "flex_1": 0.45, "flex_2": 0.55, "flex_3": 0.65,
    "reimagine_1": 0.75, "reimagine_2": 0.85, "reimagine_3": 0.95,
}  # fmt: skip


def _adherence_input(value: Any) -> Any:
    """Read ``"off"`` in any case and a digit string such as ``"5"`` (as a CLI flag gives it); refuse a
    yes/no, which pydantic would otherwise take as 0 or 1."""
    if isinstance(value, bool):
        raise ValueError("expected 'off' or a whole number from 1 to 9, not a yes/no")
    if isinstance(value, str):
        text = value.strip().lower()
        return int(text) if re.fullmatch(r"[0-9]{1,3}", text) else text
    return value


#: How closely a transform keeps the source's motion or structure: ``"off"`` or 1 (loosely) .. 9 (exactly).
#: Parsed here once, from a spec file, the API or a CLI flag (``"off"``, ``"OFF"``, ``7`` and ``"7"`` are
#: all accepted), and written back as given (``"off"`` or an int). Engines read the value through
#: :func:`adherence_level` rather than comparing with ``"off"`` themselves.
Adherence = Annotated[Literal["off"] | Annotated[int, Field(ge=1, le=9)], BeforeValidator(_adherence_input)]
#: The adherence a spec has when it sets none.
DEFAULT_ADHERENCE = 5


def adherence_level(value: Adherence) -> int:
    """An adherence as a number for engines: 0 for ``"off"``, else 1 .. 9.

    >>> [adherence_level(v) for v in ("off", 1, 5, 9)]
    [0, 1, 5, 9]
    """
    return 0 if value == "off" else int(value)


RelightPreset = Literal["golden_hour", "blue_hour", "night", "overcast", "noon"]
LookPreset = Literal["watercolour", "pencil", "cartoon", "film_print"]
OutputFormat = Literal["mp4_h264", "mp4_h265", "mov_prores", "png_sequence"]
RELIGHT_PRESETS: tuple[str, ...] = get_args(RelightPreset)
LOOK_PRESETS: tuple[str, ...] = get_args(LookPreset)
OUTPUT_FORMATS: tuple[str, ...] = get_args(OutputFormat)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False)


def _normalise_name(value: Any) -> Any:
    """Accept 'golden-hour', 'Golden Hour' and 'golden_hour' as one name."""
    if isinstance(value, str):
        return re.sub(r"[\s\-]+", "_", value.strip().lower())
    return value


# ---------------------------------------------------------------------------------------------------------
# Time points: where a keyframe or a track reference sits in the clip.


class TimePoint(_Model):
    """A place in a clip: seconds, a fraction of the clip (0..1), or a frame index. Exactly one is set."""

    seconds: float | None = Field(default=None, ge=0)
    fraction: float | None = Field(default=None, ge=0, le=1)
    frame: int | None = Field(default=None, ge=0, le=MAX_FRAME)

    @model_validator(mode="after")
    def _exactly_one(self) -> TimePoint:
        if sum(v is not None for v in (self.seconds, self.fraction, self.frame)) != 1:
            raise ValueError("a time point needs exactly one of seconds, fraction or frame")
        return self

    def __repr__(self) -> str:
        for name in ("seconds", "fraction", "frame"):
            if getattr(self, name) is not None:
                return f"TimePoint({name}={getattr(self, name)!r})"
        return "TimePoint()"  # pragma: no cover - the validator forbids it

    def describe(self) -> str:
        if self.seconds is not None:
            return f"{self.seconds:g} s"
        if self.fraction is not None:
            return f"{self.fraction * 100:g} %"
        return f"frame {self.frame}"


def parse_time_point(text: str) -> TimePoint:
    """Parse ``4.2s`` (seconds), ``50%`` (fraction), ``f12`` or ``12`` (frame index).

    A bare decimal such as ``0.5`` is refused: it could mean seconds or a fraction.
    """
    t = text.strip().lower()
    try:
        if t.endswith("s"):
            return TimePoint(seconds=float(t[:-1]))
        if t.endswith("%"):
            return TimePoint(fraction=float(t[:-1]) / 100)
        if t.startswith("f"):
            return TimePoint(frame=int(t[1:]))
        if re.fullmatch(r"\d+", t):
            return TimePoint(frame=int(t))
    except (ValueError, ValidationError) as exc:
        raise SpecError(f"time point {text!r} is not valid: {_first_error(exc)}") from None
    raise SpecError(
        f"time point {text!r} is ambiguous: write seconds as '4.2s', a fraction as '50%' or a frame as 'f12'"
    )


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return str(err.get("msg", err))
    return str(exc)


# ---------------------------------------------------------------------------------------------------------
# Keyframes, locks, references


class Keyframe(_Model):
    """An edited still the output must hit at one place in the clip, painted on the frame as shown."""

    at: TimePoint
    image: Path

    @classmethod
    def parse(cls, text: str) -> Keyframe:
        """``4.2s:key.png``, ``50%:key.png``, ``f12:key.png`` or ``0:key.png``."""
        at, sep, image = text.partition(":")
        if not sep or not image:
            raise SpecError(f"keyframe {text!r} should look like '4.2s:edited.png'")
        return cls(at=parse_time_point(at), image=Path(image))


class RectLock(_Model):
    """Pixels ``x .. x + width - 1``, ``y .. y + height - 1`` of the frame as shown (display orientation)."""

    kind: Literal["rect"] = "rect"
    x: int = Field(ge=0, le=MAX_PIXELS)
    y: int = Field(ge=0, le=MAX_PIXELS)
    width: int = Field(gt=0, le=MAX_PIXELS)
    height: int = Field(gt=0, le=MAX_PIXELS)
    feather: float = Field(default=2.0, ge=0, le=256)


class PolygonLock(_Model):
    """Pixels whose centres lie inside the polygon; point ``(x, y)`` is the centre of pixel column ``x``,
    row ``y`` of the frame as shown (display orientation)."""

    kind: Literal["polygon"] = "polygon"
    points: list[tuple[float, float]] = Field(min_length=3, max_length=MAX_POLYGON_POINTS)
    feather: float = Field(default=2.0, ge=0, le=256)


class MaskVideoLock(_Model):
    """A mask clip (or one still) the size of the frame as shown: white is locked. One the size of the stored
    frame of a rotated clip is taken as stored, with a notice."""

    kind: Literal["mask"] = "mask"
    path: Path
    feather: float = Field(default=2.0, ge=0, le=256)


class TrackLock(_Model):
    """A region followed through the clip by the tracker: a box ``(x, y, width, height)`` on the frame as
    shown, tracked from frame ``at``, or a track file as ``shotcraft track`` writes it (stored orientation)."""

    kind: Literal["track"] = "track"
    track_file: Path | None = None
    box: tuple[Pixel, Pixel, Pixel, Pixel] | None = None
    at: TimePoint | None = None
    feather: float = Field(default=2.0, ge=0, le=256)

    @model_validator(mode="after")
    def _one_source(self) -> TrackLock:
        if (self.track_file is None) == (self.box is None):
            raise ValueError("a track lock needs either a track_file or a box (x, y, width, height)")
        return self


class PeopleLock(_Model):
    """Every person the bundled model finds; ``min_size`` leaves out people shorter than that fraction of
    the frame's height as shown (0.25 = a quarter of it), the model's weakest finds. The mask is cut on the
    person's outline, so the default feather is one anti-aliasing step (1.5 px): a wider band outside it
    leaves a pale line of ungraded background round the person under a strong grade."""

    kind: Literal["people"] = "people"
    feather: float = Field(default=1.5, ge=0, le=256)
    min_size: float = Field(default=0.0, ge=0, le=1)


class FacesLock(_Model):
    """Every detected face with its hair and chin; ``min_size`` leaves out faces shorter than that fraction
    of the frame's height as shown."""

    kind: Literal["faces"] = "faces"
    feather: float = Field(default=3.0, ge=0, le=256)
    min_size: float = Field(default=0.0, ge=0, le=1)


Lock = Annotated[
    RectLock | PolygonLock | MaskVideoLock | TrackLock | PeopleLock | FacesLock,
    Field(discriminator="kind"),
]


def parse_lock(text: str) -> Lock:
    """Parse a CLI lock: ``rect:X,Y,W,H``, ``polygon:x1,y1,x2,y2,...``, ``mask:path``, ``track:file.json``,
    ``people``, ``faces`` (both take ``:min-size=F``, a fraction of the frame's height); an optional ``@F``
    suffix sets the feather in pixels (``rect:0,0,64,64@4``, ``people:min-size=0.2@6``)."""
    body, _, feather_text = text.partition("@")
    kind, _, arg = body.partition(":")
    kind = kind.strip().lower()
    extra: dict[str, Any] = {}
    if feather_text:
        try:
            extra["feather"] = float(feather_text)
        except ValueError:
            raise SpecError(f"lock {text!r}: feather {feather_text!r} is not a number") from None
    try:
        if kind == "rect":
            x, y, w, h = (int(v) for v in arg.split(","))
            return RectLock(x=x, y=y, width=w, height=h, **extra)
        if kind == "polygon":
            values = [float(v) for v in arg.split(",")]
            if len(values) % 2:
                raise SpecError(f"lock {text!r}: a polygon needs x,y pairs")
            return PolygonLock(points=list(zip(values[::2], values[1::2], strict=True)), **extra)
        if kind == "mask":
            return MaskVideoLock(path=Path(arg), **extra)
        if kind == "track":
            return TrackLock(track_file=Path(arg), **extra)
        if kind == "people":
            return PeopleLock(**extra, **_lock_options(text, arg, ("min-size",)))
        if kind == "faces":
            return FacesLock(**extra, **_lock_options(text, arg, ("min-size",)))
    except (ValueError, ValidationError) as exc:
        if isinstance(exc, SpecError):
            raise
        raise SpecError(f"lock {text!r} is not valid: {_first_error(exc)}") from None
    raise SpecError(f"lock kind {kind!r} is unknown: use rect, polygon, mask, track, people or faces")


def _lock_options(text: str, arg: str, names: tuple[str, ...]) -> dict[str, float]:
    """``name=value,...`` options of a CLI lock (``min-size=0.2``) as model fields (``min_size``)."""
    options: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in arg.split(","))):
        name, sep, value = item.partition("=")
        if not sep or name.strip().lower() not in names:
            raise SpecError(
                f"lock {text!r}: option {item!r} is unknown: use {', '.join(n + '=F' for n in names)}"
            )
        try:
            options[name.strip().lower().replace("-", "_")] = float(value)
        except ValueError:
            raise SpecError(f"lock {text!r}: {name.strip()} {value!r} is not a number") from None
    return options


class Reference(_Model):
    """An image to bring in: a product, a character or a style."""

    image: Path
    role: Literal["product", "character", "style"] = "style"


#: The widest and tallest aspect ratio a reframe or a generated take may ask for (width:height and back).
MAX_ASPECT = 10


def check_aspect(value: str) -> str:
    """``W:H`` with both sides positive and the ratio between 1:10 and 10:1 (no zero, no endless canvas)."""
    w, h = (int(v) for v in value.split(":"))
    if w == 0 or h == 0:
        raise ValueError(f"aspect {value!r} needs two positive numbers, e.g. '9:16'")
    if max(w / h, h / w) > MAX_ASPECT:
        raise ValueError(f"aspect {value!r} is more extreme than 1:{MAX_ASPECT} or {MAX_ASPECT}:1")
    return value


class Reframe(_Model):
    """Change the aspect ratio by outpainting, keeping the source's timing; ``aspect`` and ``anchor`` are meant
    as shown (a phone clip stored landscape with a 90° tag is reframed as the portrait clip it plays as)."""

    aspect: str = Field(pattern=r"^\d{1,5}:\d{1,5}$", description="width:height, e.g. '9:16'")
    anchor: Literal["center", "left", "right", "top", "bottom"] = "center"

    _aspect = field_validator("aspect")(check_aspect)


# ---------------------------------------------------------------------------------------------------------
# Operations: what changes about the look.


class DirectionalLight(_Model):
    """A virtual light shaded from image-derived normals; its direction is on the frame as shown."""

    azimuth: float = Field(default=45.0, description="degrees, 0 = from the right, 90 = from the top")
    elevation: float = Field(default=30.0, ge=0, le=90)
    colour: tuple[float, float, float] = (1.0, 0.9, 0.75)
    intensity: float = Field(default=0.5, ge=0, le=4)
    softness: float = Field(default=0.5, ge=0, le=1)


class GradedKeyframe(_Model):
    """A frame the user graded in another tool; the engine fits a colour transform to it."""

    at: TimePoint
    image: Path

    @classmethod
    def parse(cls, text: str) -> GradedKeyframe:
        key = Keyframe.parse(text)
        return cls(at=key.at, image=key.image)


class RelightOp(_Model):
    op: Literal["relight"] = "relight"
    preset: RelightPreset | None = None
    exposure: float = Field(default=0.0, ge=-6, le=6, description="stops")
    temperature: float = Field(default=0.0, ge=-100, le=100, description="cool (-) to warm (+)")
    tint: float = Field(default=0.0, ge=-100, le=100, description="green (-) to magenta (+)")
    contrast: float = Field(default=0.0, ge=-1, le=1)
    saturation: float = Field(default=0.0, ge=-1, le=1)
    light: DirectionalLight | None = None
    keyframes: list[GradedKeyframe] = Field(default_factory=list, max_length=MAX_KEYFRAMES)

    _norm = field_validator("preset", mode="before")(_normalise_name)


class RestyleOp(_Model):
    """Restyle by the spec's keyframes, a built-in look, or the look of a reference image."""

    op: Literal["restyle"] = "restyle"
    look: LookPreset | None = None
    reference: Path | None = None

    @field_validator("look", mode="before")
    @classmethod
    def _look_name(cls, value: Any) -> Any:
        value = _normalise_name(value)
        return {"watercolor": "watercolour", "cel": "cartoon", "film": "film_print"}.get(value, value)


class SwapOp(_Model):
    """Replace a planar region (tracked from four corners or a track file) with a reference image.

    ``corners`` are on the frame as shown (pixel-centre coordinates, clockwise from the image's top-left);
    an ``occluders`` mask file is the size of the frame as shown.
    """

    op: Literal["swap"] = "swap"
    image: Path
    corners: list[tuple[float, float]] | None = Field(default=None, min_length=4, max_length=4)
    track_file: Path | None = None
    at: TimePoint = Field(default_factory=lambda: TimePoint(frame=0))
    occluders: Literal["none", "people"] | Path = "none"
    match_lighting: bool = True

    @model_validator(mode="after")
    def _region(self) -> SwapOp:
        if (self.corners is None) == (self.track_file is None):
            raise ValueError("a swap needs either four corners or a track_file")
        return self

    @classmethod
    def parse(cls, text: str, **options: Any) -> SwapOp:
        """The CLI's ``--swap``: ``x1,y1;x2,y2;x3,y3;x4,y4@TIME:IMAGE`` — four corners on the frame as
        shown, clockwise from top-left, ``;`` between the pairs; ``@TIME`` (``2.5s``, ``50%``, ``f12``; frame
        0 when left out) is the frame they are given on. ``options`` are the operation's other fields.

        >>> op = SwapOp.parse("10,20;110,22;108,90;12,88@2.5s:label.png")
        >>> op.corners[1], op.at.seconds, op.image.name
        ((110.0, 22.0), 2.5, 'label.png')
        """
        example = "'x1,y1;x2,y2;x3,y3;x4,y4@2.5s:label.png'"
        region, sep, image = text.partition(":")
        corners_text, _, at = region.partition("@")
        if not sep or not image.strip() or not corners_text.strip():
            raise SpecError(f"swap {text!r} should look like {example}")
        pairs = corners_text.split(";")
        try:
            corners = [tuple(float(v) for v in pair.split(",")) for pair in pairs]
        except ValueError:
            corners = []
        if len(corners) != 4 or any(len(c) != 2 for c in corners):
            raise SpecError(
                f"swap corners {corners_text!r} should be four x,y pairs separated by ';', like {example}"
            )
        when = parse_time_point(at) if at.strip() else TimePoint(frame=0)
        return cls._checked(text, image=Path(image.strip()), corners=corners, at=when, **options)

    @classmethod
    def parse_track(cls, text: str, **options: Any) -> SwapOp:
        """The CLI's ``--swap-track``: ``TRACK.json:IMAGE``, a track file made (and perhaps corrected) with
        ``shotcraft track``."""
        track, sep, image = text.partition(":")
        if not sep or not track.strip() or not image.strip():
            raise SpecError(f"swap track {text!r} should look like 'track.json:label.png'")
        return cls._checked(text, image=Path(image.strip()), track_file=Path(track.strip()), **options)

    @classmethod
    def _checked(cls, text: str, **fields: Any) -> SwapOp:
        try:
            return cls(**fields)
        except ValidationError as exc:
            raise SpecError(f"swap {text!r}: {_first_error(exc)}") from None


class LocalizeOp(_Model):
    """Market versions: replace on-screen text per market and add subtitles."""

    op: Literal["localize"] = "localize"
    markets: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=MAX_MARKETS)
    table: Path | None = None
    replacements: dict[str, Annotated[dict[str, str], Field(max_length=MAX_MARKETS)]] = Field(
        default_factory=dict, max_length=MAX_REPLACEMENTS, description="source text -> {market: text}"
    )
    subtitles: dict[str, Path] = Field(
        default_factory=dict, max_length=MAX_MARKETS, description="market -> SRT/VTT file"
    )
    burn_subtitles: bool = False
    market: str | None = Field(default=None, description="the one market this pass renders (one of markets)")

    @field_validator("markets")
    @classmethod
    def _markets(cls, value: list[str]) -> list[str]:
        cleaned = [m.strip() for m in value if m.strip()]
        if len(set(cleaned)) != len(cleaned):
            raise ValueError("a market is named twice")
        return cleaned


Operation = Annotated[RelightOp | RestyleOp | SwapOp | LocalizeOp, Field(discriminator="op")]


# ---------------------------------------------------------------------------------------------------------
# Output


class OutputSpec(_Model):
    format: OutputFormat = "mp4_h264"
    lossless: bool = False
    crf: int = Field(default=18, ge=0, le=51)
    preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
    ] = "veryfast"
    #: The clip is encoded in segments of about this many seconds, each by a fresh encoder, so a render split
    #: into parts is joined by copying packets and gives the same file as one process (docs/scaling.md).
    #: Shorter segments split more finely and compress less well (2 s: +4–6 % in size at the same crf, measured).
    segment_seconds: float = Field(default=2.0, ge=0.01, le=600)

    @classmethod
    def for_path(cls, path: Path, **kwargs: Any) -> OutputSpec:
        """Pick the format from the output name: .mov → ProRes, a folder or %d pattern → PNG frames."""
        suffix = path.suffix.lower()
        if "format" not in kwargs:
            if suffix == ".mov":
                kwargs["format"] = "mov_prores"
            elif suffix in ("", ".png") or "%" in path.name:
                kwargs["format"] = "png_sequence"
        return cls(**kwargs)


# ---------------------------------------------------------------------------------------------------------
# The two top-level specs


class TransformSpec(_Model):
    """Transform an existing clip: same frames, fps, duration and audio, a new look."""

    prompt: str = Field(default="", max_length=MAX_PROMPT)
    strength: StrengthPreset = "auto"
    keyframes: list[Keyframe] = Field(default_factory=list, max_length=MAX_KEYFRAMES)
    motion_adherence: Adherence = DEFAULT_ADHERENCE
    structure_adherence: Adherence = DEFAULT_ADHERENCE
    locks: list[Lock] = Field(default_factory=list, max_length=MAX_LOCKS)
    references: list[Reference] = Field(default_factory=list, max_length=MAX_REFERENCES)
    reframe: Reframe | None = None
    operations: list[Operation] = Field(default_factory=list, max_length=MAX_OPERATIONS)
    engine: Literal["auto", "classic", "diffusion"] = "auto"
    model: str | None = Field(default=None, max_length=200)
    seed: Seed | None = None
    output: OutputSpec = Field(default_factory=OutputSpec)

    _norm = field_validator("strength", mode="before")(_normalise_name)

    @field_validator("keyframes")
    @classmethod
    def _keyframe_count(cls, value: list[Keyframe]) -> list[Keyframe]:
        if len(value) > MAX_KEYFRAMES:
            raise ValueError(f"{len(value)} keyframes given; at most {MAX_KEYFRAMES} per clip")
        return value

    @property
    def is_identity(self) -> bool:
        """No operation, keyframe, prompt or reframe: a faithful re-encode under the output contract."""
        return not (self.operations or self.keyframes or self.prompt or self.reframe or self.references)


class ExtendSpec(_Model):
    take: Path
    direction: Literal["forwards", "backwards"] = "forwards"
    seconds: float = Field(default=2.0, gt=0, le=60)


class GenerateSpec(_Model):
    """Invent new takes from a prompt, an image, reference images or start/end frames."""

    prompt: str = Field(default="", max_length=MAX_PROMPT)
    negative_prompt: str = Field(default="", max_length=MAX_PROMPT)
    image: Path | None = None
    end_image: Path | None = None
    references: list[Reference] = Field(default_factory=list, max_length=MAX_REFERENCES)
    aspect: str = Field(default="16:9", pattern=r"^\d{1,5}:\d{1,5}$")
    width: int | None = Field(default=None, gt=0, le=8192)
    height: int | None = Field(default=None, gt=0, le=8192)
    duration: float = Field(default=5.0, gt=0, le=120, description="seconds")
    fps: float = Field(default=16.0, gt=0, le=120)
    seed: Seed | None = None
    takes: int = Field(default=1, ge=1, le=16)
    quality: Literal["draft", "final"] = "draft"
    steps: int | None = Field(default=None, ge=1, le=200)
    guidance: float | None = Field(default=None, ge=0, le=30)
    extend: ExtendSpec | None = None
    loop: bool = False
    engine: Literal["auto", "classic", "diffusion"] = "auto"
    model: str | None = Field(default=None, max_length=200)
    output: OutputSpec = Field(default_factory=OutputSpec)

    _aspect = field_validator("aspect")(check_aspect)

    @model_validator(mode="after")
    def _last_seed_fits(self) -> GenerateSpec:
        if self.seed is not None and self.seed + self.takes - 1 > MAX_SEED:
            raise ValueError(
                f"seed: take i uses seed + i, so the seed may be at most {MAX_SEED - self.takes + 1}"
            )
        return self

    @model_validator(mode="after")
    def _has_input(self) -> GenerateSpec:
        if not (self.prompt or self.image or self.references or self.extend):
            raise ValueError("generation needs a prompt, an image, reference images or a take to extend")
        return self


#: The most values (mappings, lists and scalars, YAML aliases expanded) a spec file may hold.
MAX_SPEC_VALUES = 200_000


def load_spec(path: Path | str, kind: type[_Model]) -> Any:
    """Load a TransformSpec or GenerateSpec from a YAML or JSON file, with one clear message on failure.

    Relative image paths inside the file are read relative to the file's folder (:func:`read_mapping`
    says how the file is read).
    """
    path = Path(path)
    spec = validate_spec(read_mapping(path), kind)
    return resolve_paths(spec, path.parent)


def read_mapping(path: Path | str, what: str = "spec file") -> dict[str, Any]:
    """The mapping a YAML or JSON file holds, or one :class:`SpecError` naming ``what`` and the reason.

    YAML is read with the safe loader (no Python tags), and a file whose aliases expand past
    :data:`MAX_SPEC_VALUES` values (a "billion laughs" file) is refused before anything walks it.
    """
    path = Path(path)
    text = read_user_text(path, what)
    language = "JSON" if path.suffix.lower() == ".json" else "YAML"
    try:
        data = json.loads(text) if language == "JSON" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SpecError(f"{what} {path} is not valid {language}: {_parse_reason(exc)}") from None
    except RecursionError:
        raise SpecError(f"{what} {path} is nested too deeply to be a spec") from None
    if not isinstance(data, dict):
        raise SpecError(f"{what} {path} should hold a mapping of settings")
    if _too_many_values(data, MAX_SPEC_VALUES):
        raise SpecError(
            f"{what} {path} expands to more than {MAX_SPEC_VALUES} values (YAML aliases?): not a spec"
        )
    return data


def _parse_reason(exc: Exception) -> str:
    """A parser's complaint in one line: what is wrong and where."""
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} (line {exc.lineno}, column {exc.colno})"
    problem = getattr(exc, "problem", None) or str(exc)
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())


def _too_many_values(data: Any, limit: int) -> bool:
    """Whether ``data`` holds more than ``limit`` values, counting shared (aliased) parts each time they
    appear; stops as soon as the limit is passed, so a bomb costs at most ``limit`` steps."""
    stack, seen = [data], 0
    while stack:
        value = stack.pop()
        seen += 1
        if seen > limit:
            return True
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
    return False


def validate_spec(data: dict[str, Any], kind: type[_Model]) -> Any:
    """Validate a mapping into a spec, turning pydantic's report into one sentence per problem."""
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_describe_all(exc.errors())) from None
    except RecursionError:
        raise SpecError("the spec is nested too deeply") from None


#: Plain words for fields whose value may be one of several kinds (pydantic reports each kind apart).
_FIELD_WORDS = {
    "motion_adherence": "'off' or a whole number from 1 to 9",
    "structure_adherence": "'off' or a whole number from 1 to 9",
}
#: The parts of an error's location that name a member of a union, not a field.
_UNION_MEMBER = re.compile(
    r"^(literal\[.*\]|constrained-\w+|int|float|str|bool|none|\w+-\w+\[.*\]|.*\[.*\])$"
)


def _describe_all(errors: list[Any]) -> list[str]:
    """One sentence per problem: a value refused by every member of a union is one problem, and unknown
    settings side by side are one problem."""
    problems: list[str] = []
    unions: dict[tuple[str, ...], list[Any]] = {}
    extra: dict[tuple[str, ...], list[str]] = {}
    for err in errors:
        loc = tuple(str(p) for p in err.get("loc", ()))
        field = tuple(p for p in loc if not _UNION_MEMBER.match(p))
        if err.get("type") == "extra_forbidden" and loc:
            extra.setdefault(loc[:-1], []).append(loc[-1])
        elif field != loc:
            unions.setdefault(field, []).append(err)
        else:
            problems.append(_describe(err))
    for field, errs in unions.items():
        where = ".".join(field)
        words = _FIELD_WORDS.get(field[-1] if field else "")
        if words is None:
            words = " or ".join(dict.fromkeys(_clean(str(e.get("msg", "invalid"))) for e in errs))
        value = errs[0].get("input")
        shown = repr(value) if isinstance(value, (int, float, str, type(None))) else type(value).__name__
        problems.append(f"{where}: {_short(shown)} is not valid; expected {words}")
    for parent, names in extra.items():
        where = f"{'.'.join(parent)}: " if parent else ""
        listed = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        problems.append(f"{where}unknown setting{'s' if len(names) > 1 else ''} {listed}")
    return problems


def _clean(msg: str) -> str:
    return msg.removeprefix("Value error, ")


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(err: Any) -> str:
    where = ".".join(str(p) for p in err.get("loc", ()))
    msg = _clean(str(err.get("msg", "invalid")))
    ctx = err.get("ctx") or {}
    if err.get("type") == "too_long" and "max_length" in ctx:
        what = next((str(p) for p in reversed(err.get("loc", ())) if isinstance(p, str)), "items")
        given = f"{ctx['actual_length']} {what}" if "actual_length" in ctx else "too many"
        msg = f"{given} given; at most {ctx['max_length']}"
    elif err.get("type") == "literal_error":
        msg = f"{_short(repr(err.get('input')))} is not one of the allowed values ({msg.split(': ', 1)[-1]})"
    return " ".join((f"{where}: {msg}" if where else msg).split())


def input_paths(model: BaseModel) -> list[Path]:
    """Every file a spec names (keyframes, masks, references, tables, subtitles, takes to extend): the
    inputs no output may ever be written over."""
    found: list[Path] = []

    def walk(value: Any) -> None:
        if isinstance(value, Path):
            found.append(value)
        elif isinstance(value, BaseModel):
            for _, item in value:
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(model)
    return found


def map_paths(value: Any, fn: Callable[[Path], Path]) -> Any:
    """``value`` with every :class:`Path` inside it (models, lists, tuples, dicts) replaced by ``fn(path)``;
    models are changed in place."""
    if isinstance(value, Path):
        return fn(value)
    if isinstance(value, BaseModel):
        for name, item in value:
            new = map_paths(item, fn)
            if new is not item:
                setattr(value, name, new)
        return value
    if isinstance(value, list):
        return [map_paths(item, fn) for item in value]
    if isinstance(value, tuple):
        return tuple(map_paths(item, fn) for item in value)
    if isinstance(value, dict):
        return {key: map_paths(item, fn) for key, item in value.items()}
    return value


def resolve_paths(model: BaseModel, base: Path) -> Any:
    """Make every relative Path field absolute against ``base`` (the spec file's folder)."""
    for name, value in model:
        if isinstance(value, Path) and not value.is_absolute():
            setattr(model, name, base / value)
        elif isinstance(value, BaseModel):
            resolve_paths(value, base)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, BaseModel):
                    resolve_paths(item, base)
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, Path) and not item.is_absolute():
                    value[key] = base / item
    return model
