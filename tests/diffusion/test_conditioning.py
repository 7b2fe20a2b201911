"""What reaches the model and what comes back: keyframes, structure, references and the colour anchor.

The model's own output is random with tiny weights, so these tests look at what the engine hands the
pipeline (the VACE hint, the reference latents) or stand a fake runner in for the model where only the
engine's handling of its output is under test.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from shotcraft.engines.diffusion.windows import ColourAnchor
from shotcraft.media.read import VideoReader
from shotcraft.pipeline import transform
from shotcraft.spec import TransformSpec

torch = pytest.importorskip("torch")

MAGENTA = (255, 0, 255)


def _solid(folder, name, colour, size=(16, 16)):
    from PIL import Image

    path = folder / name
    Image.new("RGB", size, colour).save(path)
    return path


def test_a_keyframe_after_the_first_window_keeps_its_colour(models_env, clip_factory, tmp_path, monkeypatch):
    """A fake model that drifts red by 30 per window and shows fixed frames as given: the anchor takes the
    drift out of windows without keyframes and leaves the keyframe's window (window 3) as generated."""
    monkeypatch.setenv("SHOTCRAFT_WINDOW", "17")  # windows emit 0-16, 17-24, 25-32, 33-40, ...
    source = clip_factory("anchor.mp4", frames=48, width=16, height=16, fps=Fraction(16), lossless=True)
    seed = 11
    generated: dict[int, np.ndarray] = {}

    def drifting_model(pipe, card, job):
        number = job.seed - seed
        out = job.source.astype(np.int16)
        out[..., 0] += 30 * number
        out = np.clip(out, 0, 255).astype(np.uint8)
        for j, frame in job.fixed.items():
            out[j] = frame
        generated[number] = out
        return out

    monkeypatch.setattr("shotcraft.engines.diffusion.run_job", drifting_model)
    spec = TransformSpec.model_validate({
        "prompt": "x", "engine": "diffusion", "model": "wan2.1-vace-1.3b", "seed": seed,
        "output": {"lossless": True},
        "keyframes": [{"at": {"frame": 30}, "image": str(_solid(tmp_path, "magenta.png", MAGENTA))}],
    })  # fmt: skip
    result = transform(source, tmp_path / "out.mp4", spec)
    out = np.stack(list(VideoReader(result.path).frames()))
    src = np.stack(list(VideoReader(source).frames()))
    assert len(generated) >= 4
    assert (out[30] == MAGENTA).all()
    # window 2 (frames 17-24) drifted by 30 in red and was pulled back to window 1's relation
    drift = np.abs(out[17:25].astype(int) - src[17:25]).mean()
    assert drift < 5, drift


def test_the_anchor_carries_a_keyframe_window_look_to_the_next_windows():
    rng = np.random.default_rng(0)
    sources = [rng.integers(40, 200, (9, 8, 8, 3), dtype=np.uint8) for _ in range(3)]
    anchor = ColourAnchor()
    anchor.apply(sources[0], sources[0])  # window 1: output = source
    tinted = sources[1].copy()
    tinted[..., 1] //= 2  # the keyframe's window is less green from its keyframe (frame 4) on
    assert np.array_equal(anchor.apply(tinted, sources[1], keyframes=[4]), tinted)
    later = anchor.apply(sources[2], sources[2])  # the model forgot the look; the anchor brings it back
    ratio = later[..., 1].mean() / sources[2][..., 1].mean()
    assert 0.45 < ratio < 0.6, ratio
