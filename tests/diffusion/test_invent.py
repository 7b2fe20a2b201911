"""Inventing takes with tiny random pipelines: every family (T2V, I2V/first-last frame, VACE references,
LTX), N takes with seeds, draft then final, extend and loop, and the messages for bad requests."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from shotcraft.errors import EngineUnavailable
from shotcraft.invent import final_of, generate
from shotcraft.media.probe import probe
from shotcraft.media.read import VideoReader
from shotcraft.spec import ExtendSpec, GenerateSpec, SpecError

pytest.importorskip("torch")


def _frames(path):
    return list(VideoReader(path).frames())


def _image(folder, name, seed):
    path = folder / name
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)
    return path


def _spec(**kw):
    base = {"prompt": "a red car", "width": 32, "height": 32, "duration": 0.5, "quality": "final",
            "output": {"lossless": True}}  # fmt: skip
    return GenerateSpec.model_validate({**base, **kw})


def test_text_to_video_takes_record_their_seeds_and_a_seed_reproduces_a_take(models_env, tmp_path):
    spec = _spec(model="wan2.1-t2v-1.3b", takes=2, seed=11)
    takes = generate(spec, tmp_path / "t2v.mp4")
    assert [t.seed for t in takes] == [11, 12] and [t.path.name for t in takes] == [
        "t2v_take1.mp4",
        "t2v_take2.mp4",
    ]
    info = probe(takes[0].path).video
    assert info.fps == 16 and info.frame_count == 9  # 0.5 s at 16 fps on the 4k+1 grid
    record = json.loads(takes[1].sidecar.read_text())
    assert record["seed"] == 12 and record["model"] == "wan2.1-t2v-1.3b"
    again = generate(_spec(model="wan2.1-t2v-1.3b", seed=12), tmp_path / "again.mp4")[0]
    assert all(np.array_equal(a, b) for a, b in zip(_frames(again.path), _frames(takes[1].path), strict=True))
    assert not np.array_equal(_frames(takes[0].path)[4], _frames(takes[1].path)[4])


def test_first_last_frame_and_references_and_ltx(models_env, tmp_path):
    first, last = _image(tmp_path, "first.png", 1), _image(tmp_path, "last.png", 2)
    flf = generate(
        _spec(model="wan2.1-flf2v-14b", image=first, end_image=last, seed=1), tmp_path / "flf.mp4"
    )[0]
    assert json.loads(flf.sidecar.read_text())["task"] == "flf2v"
    refs = generate(
        _spec(model="wan2.1-vace-1.3b", references=[{"image": first}], seed=1), tmp_path / "ref.mp4"
    )[0]
    assert refs.frame_count == 9
    ltx = generate(
        _spec(model="ltx-video-2b", width=64, height=64, image=first, seed=1), tmp_path / "ltx.mp4"
    )[0]
    assert probe(ltx.path).video.frame_count == 17  # 0.5 s at 24 fps on the 8k+1 grid


def test_draft_then_final_keeps_seed_and_settings(models_env, tmp_path):
    draft = generate(_spec(model="wan2.1-vace-1.3b", quality="draft", seed=5), tmp_path / "d.mp4")
    assert probe(draft[0].path).video.width == 16  # half size
    spec, seed = final_of(draft[0].path)
    assert seed == 5 and spec.quality == "final" and spec.prompt == "a red car"
    final = generate(spec, tmp_path / "f.mp4", seed=seed, lineage={"final_of": str(draft[0].path)})[0]
    assert probe(final.path).video.width == 32 and final.seed == 5
    assert json.loads(final.sidecar.read_text())["lineage"] == {"final_of": str(draft[0].path)}


def test_extend_forwards_and_loop(models_env, tmp_path):
    take = generate(_spec(model="wan2.1-vace-1.3b", seed=3), tmp_path / "take.mp4")[0]
    extended = generate(
        _spec(model="wan2.1-vace-1.3b", seed=4, extend=ExtendSpec(take=take.path, seconds=0.5)),
        tmp_path / "ext.mp4",
    )[0]
    original = _frames(take.path)
    longer = _frames(extended.path)
    assert len(longer) > len(original)
    assert all(
        np.array_equal(a, b) for a, b in zip(longer, original, strict=False)
    )  # old frames kept as they were
    loop = generate(_spec(model="wan2.1-flf2v-14b", image=_image(tmp_path, "l.png", 3), loop=True, seed=2),
                    tmp_path / "loop.mp4")[0]  # fmt: skip
    assert loop.frame_count == 8  # the closing frame (a copy of the first) is dropped


def test_bad_requests_are_one_clear_line(models_env, tmp_path):
    with pytest.raises(EngineUnavailable, match="cannot start from an image"):
        generate(_spec(model="wan2.1-t2v-1.3b", image=_image(tmp_path, "i.png", 0)), tmp_path / "x.mp4")
    rounded = generate(_spec(model="wan2.1-t2v-1.3b", width=44, height=30, seed=0), tmp_path / "r.mp4")[0]
    assert any("rounded to 48x32" in n for n in rounded.notices)
    assert probe(rounded.path).video.fps == Fraction(16)
    with pytest.raises(SpecError, match="at most 5.0 s per take"):
        generate(_spec(model="wan2.1-t2v-1.3b", duration=8.0), tmp_path / "long.mp4")


def test_finalising_a_take_with_a_broken_sidecar_says_so(tmp_path):
    from shotcraft.errors import SpecError
    from shotcraft.invent import final_of

    draft = tmp_path / "draft.mp4"
    draft.write_bytes(b"")
    (tmp_path / "draft.mp4.json").write_text('{"spec": {"prompt": "a lighthouse"}}')
    with pytest.raises(SpecError, match="not a take record shotcraft can finalise"):
        final_of(draft)


def test_the_final_starts_from_its_draft_scaled_up_and_renoised(models_env, tmp_path):
    """A final keeps its draft's shot: its first latents are the draft's, scaled to full size, encoded and
    re-noised to FINAL_REFINE_SIGMA (the same seed alone would start from noise of another shape)."""
    from shotcraft.engines.diffusion import engine_for
    from shotcraft.engines.diffusion import wan as wan_runner
    from shotcraft.engines.diffusion.controls import resize
    from shotcraft.engines.diffusion.latent_locks import renoise, starting_sigma
    from shotcraft.invent import FINAL_REFINE_SIGMA

    torch = pytest.importorskip("torch")
    draft = generate(_spec(model="wan2.1-t2v-1.3b", quality="draft", seed=5), tmp_path / "d.mp4")[0]
    assert probe(draft.path).video.width == 16
    spec, seed = final_of(draft.path)
    pipe, _ = engine_for("wan2.1-t2v-1.3b").pipeline("t2v")  # the final's pipeline
    seen: list = []
    handle = pipe.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["hidden_states"].clone()), with_kwargs=True
    )
    try:
        final = generate(spec, tmp_path / "f.mp4", seed=seed, refine=draft.path, steps=6)[0]
    finally:
        handle.remove()
    assert probe(final.path).video.width == 32
    x0 = wan_runner.encode(pipe, np.stack([resize(f, (32, 32)) for f in _frames(draft.path)]))
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed + 1))
    sigma0 = starting_sigma(pipe.scheduler, 6, FINAL_REFINE_SIGMA)
    assert 0.5 < sigma0 < 0.9
    assert torch.allclose(seen[0], renoise(x0, noise, sigma0), atol=1e-5)


def test_extend_works_at_the_takes_own_size(models_env, tmp_path, jobs):
    take = generate(_spec(model="wan2.1-vace-1.3b", seed=3), tmp_path / "take.mp4")[0]
    jobs.clear()  # only the extension's jobs
    spec = GenerateSpec.model_validate({"prompt": "a red car", "model": "wan2.1-vace-1.3b", "seed": 4,
                                        "extend": {"take": take.path, "seconds": 0.5},
                                        "output": {"lossless": True}})  # fmt: skip
    extended = generate(spec, tmp_path / "ext.mp4")[0]  # a draft, no size given: still the take's size
    assert (jobs[0].width, jobs[0].height) == (32, 32)
    info = probe(extended.path).video
    assert (info.width, info.height) == (32, 32)
    original = _frames(take.path)
    assert all(np.array_equal(a, b) for a, b in zip(_frames(extended.path), original, strict=False))


def test_extend_pads_a_take_off_the_grid_and_crops_back_never_stretching(
    models_env, clip_factory, tmp_path, jobs
):
    take = clip_factory("odd.mp4", frames=9, width=40, height=24, fps=Fraction(16))
    spec = _spec(model="wan2.1-vace-1.3b", seed=1, width=None, height=None,
                 extend=ExtendSpec(take=take, seconds=0.5))  # fmt: skip
    extended = generate(spec, tmp_path / "ext.mp4")[0]
    job = jobs[0]
    assert (job.width, job.height) == (48, 32)
    held = _frames(take)[-len(job.fixed) :]
    assert all(np.array_equal(job.fixed[j][:24, :40], frame) for j, frame in enumerate(held))  # not scaled
    assert any("padded to 48x32" in n for n in extended.notices)
    info = probe(extended.path).video
    assert (info.width, info.height) == (40, 24)
