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
from shotcraft.media.probe import probe
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


# Frames 4 and 7 are where VACE samples its mask for the 9-frame window's latents 1 and 2 (nearest-exact
# over 9 frames picks 1, 4 and 7), so the keyframes reach the mask channels as well as the kept latents.
def _keyframed_spec(folder, structure, keyframes=((4, MAGENTA), (7, (0, 200, 40))), **extra) -> TransformSpec:
    keys = [
        {"at": {"frame": f}, "image": str(_solid(folder, f"k{f}.png", colour, (32, 32)))}
        for f, colour in keyframes
    ]
    return TransformSpec.model_validate({
        "prompt": "a red car", "engine": "diffusion", "model": "wan2.1-vace-1.3b", "seed": 5,
        "structure_adherence": structure, "motion_adherence": "off", "output": {"lossless": True},
        "keyframes": keys, **extra,
    })  # fmt: skip


@pytest.fixture
def vace_hints(models_env):
    """The VACE hint (``control_hidden_states``) and its scale of each transformer call, in order."""
    from shotcraft.engines.diffusion import engine_for

    pipe, _ = engine_for("wan2.1-vace-1.3b").pipeline("transform")
    seen: list[dict] = []

    def hook(module, args, kwargs):
        seen.append({k: kwargs[k] for k in ("control_hidden_states", "control_hidden_states_scale")})

    handle = pipe.transformer.register_forward_pre_hook(hook, with_kwargs=True)
    yield seen
    handle.remove()


def test_keyframes_change_the_output_with_structure_and_motion_off(models_env, clip_factory, tmp_path):
    source = clip_factory("keys.mp4", frames=9, width=32, height=32, fps=Fraction(16), lossless=True)
    plain = _keyframed_spec(tmp_path, "off", keyframes=())
    keyed = _keyframed_spec(tmp_path, "off")
    a = np.stack(list(VideoReader(transform(source, tmp_path / "a.mp4", plain).path).frames()))
    b = np.stack(list(VideoReader(transform(source, tmp_path / "b.mp4", keyed).path).frames()))
    assert np.abs(a.astype(int) - b).mean() > 1.0


@pytest.mark.parametrize("structure", ["off", 1, 4, 9])
def test_keyframes_hold_in_full_at_every_structure_level(vace_hints, clip_factory, tmp_path, structure):
    """Structure fades the control video, never the hint that carries keyframes, masks and references."""
    source = clip_factory("levels.mp4", frames=9, width=32, height=32, fps=Fraction(16), lossless=True)
    transform(source, tmp_path / "out.mp4", _keyframed_spec(tmp_path, structure))
    hint = vace_hints[0]
    assert torch.equal(
        hint["control_hidden_states_scale"], torch.ones_like(hint["control_hidden_states_scale"])
    )
    kept = hint["control_hidden_states"][:, :16]  # latents of what the mask keeps: the keyframes
    assert kept[:, :, 1].abs().sum() > 0 and kept[:, :, 2].abs().sum() > 0  # frames 4 and 7


def test_structure_fades_only_the_control_video():
    from shotcraft.engines.diffusion.job import WindowJob
    from shotcraft.engines.diffusion.wan import vace_inputs

    control = np.full((5, 16, 16, 3), 255, np.uint8)
    key = np.zeros((16, 16, 3), np.uint8)
    for strength, want in [(1.0, 255), (0.5, 191), (0.0, 127)]:
        job = WindowJob(
            "x", 16, 16, 5, 1, 1.0, seed=0, control=control, control_scale=strength, fixed={2: key}
        )
        video, masks = vace_inputs(job)
        assert np.asarray(video[0]).max() == np.asarray(video[0]).min() == want
        assert np.array_equal(np.asarray(video[2]), key) and not np.asarray(masks[2]).any()


def _assert_letterboxed(reference: np.ndarray, band: slice) -> None:
    """A wide red reference on a square canvas: red rows ``band``, white above and below, never stretched."""
    red = np.zeros(reference.shape[0], bool)
    red[band] = True
    assert (reference[red] == (255, 0, 0)).all()
    assert (reference[~red] == 255).all()


@pytest.mark.parametrize("reframe", [None, {"aspect": "1:1"}])
def test_references_keep_their_aspect_on_white(models_env, clip_factory, tmp_path, jobs, reframe):
    """A 2:1 reference for a square generation (a square source, or a 2:1 source reframed to 1:1, which
    crashed: the reference was pasted at the source's size)."""
    width = 32 if reframe is None else 64
    source = clip_factory(f"ref{width}.mp4", frames=9, width=width, height=32, fps=Fraction(16))
    reference = _solid(tmp_path, "wide.png", (255, 0, 0), (40, 20))
    spec = TransformSpec.model_validate({
        "prompt": "a red car", "engine": "diffusion", "model": "wan2.1-vace-1.3b", "seed": 1,
        "references": [{"image": str(reference)}], "reframe": reframe,
    })  # fmt: skip
    result = transform(source, tmp_path / "out.mp4", spec)
    size = (32, 32) if reframe is None else (64, 64)
    out = probe(result.path).video
    assert (out.width, out.height) == size
    (ref,) = jobs[0].references
    assert ref.shape == (*size, 3)
    _assert_letterboxed(ref, slice(size[0] // 4, size[0] * 3 // 4))


def test_generate_keeps_reference_aspect(models_env, tmp_path, jobs):
    from shotcraft.invent import generate
    from shotcraft.spec import GenerateSpec

    reference = _solid(tmp_path, "wide.png", (255, 0, 0), (40, 20))
    spec = GenerateSpec.model_validate({
        "prompt": "a red car", "width": 32, "height": 32, "duration": 0.5, "quality": "final",
        "model": "wan2.1-vace-1.3b", "references": [{"image": str(reference)}], "seed": 1,
    })  # fmt: skip
    generate(spec, tmp_path / "take.mp4")
    _assert_letterboxed(jobs[0].references[0], slice(8, 24))


def test_a_keyframe_in_short_windows_is_planned_once(models_env, clip_factory, tmp_path, monkeypatch):
    """SHOTCRAFT_WINDOW=9 with one keyframe on 37 frames planned windows without end (24 GB, OOM-killed):
    the engine reckoned a 9-frame window's room for keyframes with an overlap the planner cuts to 5."""
    monkeypatch.setenv("SHOTCRAFT_WINDOW", "9")
    source = clip_factory(
        "short_windows.mp4", frames=37, width=16, height=16, fps=Fraction(16), lossless=True
    )

    def shows_fixed_frames(pipe, card, job):
        out = job.source.copy()
        for j, frame in job.fixed.items():
            out[j] = frame
        return out

    monkeypatch.setattr("shotcraft.engines.diffusion.run_job", shows_fixed_frames)
    spec = TransformSpec.model_validate({
        "prompt": "x", "engine": "diffusion", "model": "wan2.1-vace-1.3b", "seed": 1, "output": {"lossless": True},
        "keyframes": [{"at": {"frame": 20}, "image": str(_solid(tmp_path, "magenta.png", MAGENTA))}],
    })  # fmt: skip
    result = transform(source, tmp_path / "out.mp4", spec)
    out = np.stack(list(VideoReader(result.path).frames()))
    assert len(out) == 37 and (out[20] == MAGENTA).all()
    assert not any("more than one" in n for n in result.notices)
