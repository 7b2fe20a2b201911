"""Make the before/after pictures in docs/looks.md: one PNG per relight preset, setting and built-in look,
each the same real frame before (left) and after (right), through the same code a transform runs; and the
figure of where a lock's blend falls (``lock-seam.png``).

    .venv/bin/python docs/make_pictures.py          # writes docs/img/look-*.png (each well under 300 KB)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from shotcraft.engines.classic.looks import LOOKS, apply_look
from shotcraft.engines.classic.relight import relight
from shotcraft.finishing.locks import SeamGuard, composite
from shotcraft.media.read import VideoReader
from shotcraft.media.samples import sample_clip
from shotcraft.plan import plan_transform
from shotcraft.signals.shapes import feather, rect_mask
from shotcraft.spec import DirectionalLight, RelightOp, TransformSpec

OUT = Path(__file__).resolve().parent / "img"
#: Each half of a picture is this wide; frames are shrunk first so the PNGs stay small.
HALF_WIDTH = 360

RELIGHTS: dict[str, RelightOp] = {
    "golden-hour": RelightOp(preset="golden_hour"),
    "blue-hour": RelightOp(preset="blue_hour"),
    "night": RelightOp(preset="night"),
    "overcast": RelightOp(preset="overcast"),
    "noon": RelightOp(preset="noon"),
    "exposure-plus-1": RelightOp(exposure=1.0),
    "temperature-minus-60": RelightOp(temperature=-60),
    "tint-plus-40": RelightOp(tint=40),
    "contrast-plus-0.5": RelightOp(contrast=0.5),
    "saturation-minus-0.6": RelightOp(saturation=-0.6),
    "light-from-left": RelightOp(
        light=DirectionalLight(azimuth=180, elevation=15, colour=(1.0, 0.85, 0.6), intensity=1.0)
    ),
}


def _shrink(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    size = (HALF_WIDTH, round(h * HALF_WIDTH / w))
    return np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.LANCZOS))


def _pair(before: np.ndarray, after: np.ndarray, label: str) -> Image.Image:
    image = Image.fromarray(np.concatenate([_shrink(before), _shrink(after)], axis=1))
    draw = ImageDraw.Draw(image)
    for x, text in ((6, "before"), (HALF_WIDTH + 6, label)):
        draw.rectangle((x - 2, 4, x + 7 * len(text) + 4, 18), fill=(0, 0, 0))
        draw.text((x + 1, 5), text, fill=(255, 255, 255))
    return image


def lock_seam() -> Image.Image:
    """The demo's lock (Big Buck Bunny's top-left 320x180 kept as shot, golden hour around it), frame 66:
    the lock's corner as the user's 2-pixel feather alone blends it and as :class:`SeamGuard` does, with
    the mask's weight along row 120 drawn under each."""
    clip = sample_clip("bigbuckbunny")
    plan = plan_transform(clip, TransformSpec())
    source = VideoReader(clip, plan.source).frame_at(66)
    graded = next(relight(plan, RelightOp(preset="golden_hour"), iter([source]), VideoReader(clip)))
    mask = feather(rect_mask(1280, 720, 0, 0, 320, 180), 2.0)
    crop = (slice(40, 300), slice(120, 520))
    panels = []
    for label, weight in (("2 px feather only", mask), ("seam guard", SeamGuard()(mask, graded, source))):
        tile = Image.fromarray(composite(graded, source, weight)[crop])
        plot = Image.new("RGB", (tile.width, 70), (24, 24, 24))
        draw = ImageDraw.Draw(plot)
        profile = weight[120, crop[1]]
        points = [(x, 60 - 50 * float(v)) for x, v in enumerate(profile)]
        draw.line([(0, 10), (tile.width, 10)], fill=(70, 70, 70))
        draw.line([(0, 60), (tile.width, 60)], fill=(70, 70, 70))
        draw.line([(320 - 120, 0), (320 - 120, 70)], fill=(120, 60, 60))  # the lock's right edge
        draw.line(points, fill=(255, 220, 120), width=2)
        draw.text((4, 12), "1 = source", fill=(200, 200, 200))
        draw.text((4, 48), "0 = graded", fill=(200, 200, 200))
        panel = Image.new("RGB", (tile.width, tile.height + plot.height))
        panel.paste(tile, (0, 0))
        panel.paste(plot, (0, tile.height))
        ImageDraw.Draw(panel).rectangle((2, 2, 8 + 7 * len(label), 16), fill=(0, 0, 0))
        ImageDraw.Draw(panel).text((5, 3), label, fill=(255, 255, 255))
        panels.append(panel)
    figure = Image.new("RGB", (sum(p.width for p in panels) + 8, panels[0].height), (0, 0, 0))
    figure.paste(panels[0], (0, 0))
    figure.paste(panels[1], (panels[0].width + 8, 0))
    return figure


def main() -> None:
    OUT.mkdir(exist_ok=True)
    clips = {"bigbuckbunny": 60, "bikes": 100}
    frames = {name: VideoReader(sample_clip(name)).frame_at(index) for name, index in clips.items()}
    clip = sample_clip("bikes")
    plan = plan_transform(clip, TransformSpec())
    reader = VideoReader(clip, plan.source)
    written = []
    for name, op in RELIGHTS.items():
        # The real relight stage on one frame, so a picture shows exactly what a transform gives.
        after = next(relight(plan, op, iter([frames["bikes"]]), reader))
        _pair(frames["bikes"], after, f"relight {name}").save(OUT / f"look-relight-{name}.png", optimize=True)
        written.append(f"look-relight-{name}.png")
    for look in LOOKS:
        after = apply_look(frames["bigbuckbunny"], look)
        _pair(frames["bigbuckbunny"], after, f"look {look}").save(OUT / f"look-{look}.png", optimize=True)
        written.append(f"look-{look}.png")
    lock_seam().save(OUT / "lock-seam.png", optimize=True)
    written.append("lock-seam.png")
    for name in written:
        print(f"{name}: {(OUT / name).stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
