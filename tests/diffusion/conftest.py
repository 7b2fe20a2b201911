"""Tiny random diffusion pipelines, built in code and saved like real weights.

Each family the engine uses (Wan T2V, Wan I2V/FLF, Wan VACE, LTX condition) gets a pipeline with the real
component classes but a few thousand random parameters, a T5 tokenizer built in code, and the real
schedulers. ``save_pretrained`` writes them under a models folder named like the registry's models, so
tests load them through the same path a user's weights take (``SHOTCRAFT_MODELS`` → ``locate`` →
``from_pretrained``). Real compression ratios are kept where it matters: Wan's VAE is 4x temporal and
8x spatial, LTX's 8x temporal and 32x spatial.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

WORDS = [
    "a",
    "the",
    "red",
    "blue",
    "car",
    "street",
    "night",
    "rain",
    "city",
    "bird",
    "sky",
    "over",
    "under",
    "in",
    "on",
    "at",
    "with",
    "of",
    "and",
    "neon",
]


def tiny_tokenizer(fast: bool = False):
    from transformers import T5Tokenizer

    pieces = ["<pad>", "</s>", "<unk>", *("▁" + w for w in WORDS), *"abcdefghijklmnopqrstuvwxyz"]
    vocab = [(p, 0.0 if i < 3 else -float(i)) for i, p in enumerate(pieces)]
    return T5Tokenizer(vocab=vocab, extra_ids=0), len(pieces)


def tiny_text_encoder(vocab_size: int, umt5: bool):
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    kwargs = dict(vocab_size=vocab_size, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                  relative_attention_num_buckets=8)  # fmt: skip
    return UMT5EncoderModel(UMT5Config(**kwargs)) if umt5 else T5EncoderModel(T5Config(**kwargs))


def wan_vae():
    from diffusers import AutoencoderKLWan

    return AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                            temperal_downsample=[False, True, True])  # fmt: skip


def wan_scheduler():
    from diffusers import UniPCMultistepScheduler

    return UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)


WAN_TRANSFORMER = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16,
                       out_channels=16, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
                       qk_norm="rms_norm_across_heads", rope_max_seq_len=32)  # fmt: skip


def build_wan(kind: str):
    import diffusers

    torch.manual_seed(0)
    tokenizer, vocab = tiny_tokenizer()
    common = dict(tokenizer=tokenizer, text_encoder=tiny_text_encoder(vocab, umt5=True), vae=wan_vae(),
                  scheduler=wan_scheduler())  # fmt: skip
    if kind == "vace":
        transformer = diffusers.WanVACETransformer3DModel(
            **WAN_TRANSFORMER, vace_layers=[0, 1], vace_in_channels=96
        )
        return diffusers.WanVACEPipeline(transformer=transformer, **common)
    if kind == "i2v":
        transformer = diffusers.WanTransformer3DModel(**{**WAN_TRANSFORMER, "in_channels": 36})
        return diffusers.WanImageToVideoPipeline(transformer=transformer, image_encoder=None, image_processor=None,
                                                 **common)  # fmt: skip
    return diffusers.WanPipeline(transformer=diffusers.WanTransformer3DModel(**WAN_TRANSFORMER), **common)


def build_ltx():
    import diffusers

    torch.manual_seed(0)
    tokenizer, vocab = tiny_tokenizer()
    vae = diffusers.AutoencoderKLLTXVideo(
        latent_channels=8, block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, False), decoder_spatio_temporal_scaling=(True, True, True, False),
        decoder_inject_noise=(False,) * 5, upsample_residual=(False,) * 4, upsample_factor=(1,) * 4,
        patch_size=4, patch_size_t=1, encoder_causal=True, decoder_causal=False,
    )  # fmt: skip
    # two blocks: step caching (drafts) needs a head block and a tail block
    transformer = diffusers.LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=2, attention_head_dim=8,
        cross_attention_dim=16, num_layers=2, caption_channels=32,
    )  # fmt: skip
    return diffusers.LTXConditionPipeline(
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=tiny_text_encoder(vocab, False),
        tokenizer=tokenizer, transformer=transformer,
    )  # fmt: skip


#: registry name → builder, for every pipeline family the engine uses.
TINY = {
    "wan2.1-t2v-1.3b": lambda: build_wan("t2v"),
    "wan2.1-flf2v-14b": lambda: build_wan("i2v"),
    "wan2.1-vace-1.3b": lambda: build_wan("vace"),
    "ltx-video-2b": build_ltx,
}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding every tiny pipeline under its registry name."""
    root = tmp_path_factory.mktemp("models")
    for name, build in TINY.items():
        build().save_pretrained(root / name)
    return root


def use_tiny_models(monkeypatch: pytest.MonkeyPatch, root: Path) -> Path:
    """``SHOTCRAFT_MODELS`` at ``root``, 2 steps, on the CPU, with no other engine settings from the
    environment, for this process and the ones it starts."""
    monkeypatch.setenv("SHOTCRAFT_MODELS", str(root))
    monkeypatch.setenv("SHOTCRAFT_STEPS", "2")
    monkeypatch.setenv("SHOTCRAFT_DEVICE", "cpu")
    for name in ("SHOTCRAFT_WEIGHTS", "SHOTCRAFT_WINDOW", "SHOTCRAFT_VRAM"):
        monkeypatch.delenv(name, raising=False)
    return root


@pytest.fixture
def models_env(tiny_models: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The engine settings pointing at the tiny models (:func:`use_tiny_models`)."""
    return use_tiny_models(monkeypatch, tiny_models)


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every WindowJob the engine or the invent step runs from here on (they still run on the tiny model)."""
    import shotcraft.engines.diffusion as diffusion

    seen = []
    original = diffusion.run_job

    def recording(pipe, card, job):
        seen.append(job)
        return original(pipe, card, job)

    monkeypatch.setattr(diffusion, "run_job", recording)
    return seen
