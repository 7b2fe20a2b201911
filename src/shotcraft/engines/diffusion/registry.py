"""The named open video models shotcraft can drive, and what each one can do.

A :class:`ModelCard` says which diffusers pipeline runs the model, where its weights live on the Hugging Face
hub, its native frame rate, its frame grid (Wan: ``4k+1`` frames, LTX-Video: ``8k+1``), the size of one
generation window, its resolutions and how much GPU memory it needs. The transformer configs are the
published ones, so ``bench/gpu.py`` can build a real-size model with random weights without a download.

>>> card = get_model("wan2.1-vace-1.3b")
>>> card.pipeline, card.frame_grid, card.latent_frames(81)
('WanVACEPipeline', 4, 21)
>>> card.snap_size(850, 470)
(848, 464)
>>> get_model("ltx-video-2b").latent_index(16)
2
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from shotcraft.errors import EngineUnavailable

Family = Literal["wan", "ltx"]
#: What a model can be asked to do. ``transform`` means video-to-video with control video, mask and keyframes.
Task = Literal["t2v", "i2v", "flf2v", "reference", "extend", "loop", "transform"]


@dataclass(frozen=True)
class ModelCard:
    name: str
    family: Family
    pipeline: str
    repo_id: str
    fps: Fraction
    #: temporal compression of the VAE: frames come in ``frame_grid * k + 1`` counts.
    frame_grid: int
    #: spatial compression of the VAE times the transformer's patch size: sizes are multiples of this.
    size_multiple: int
    #: spatial compression of the VAE alone (one latent cell covers this many pixels each way).
    spatial_compression: int
    #: frames in one generation window at native fps (the model's training length).
    window_frames: int
    resolutions: tuple[tuple[int, int], ...]
    #: GPU memory (GiB) for bf16 weights resident with VAE tiling; less needs offload or fp8 storage.
    vram_gb: float
    tasks: frozenset[str]
    parameters_b: float
    transformer_class: str
    transformer_config: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    #: Wan 2.2 A14B: two experts; the second takes over below this fraction of the noise schedule.
    boundary_ratio: float | None = None
    distilled: bool = False
    default_steps: int = 50
    guidance: float = 5.0
    description: str = ""

    @property
    def default_size(self) -> tuple[int, int]:
        return self.resolutions[0]

    def grid_frames(self, frames: int) -> int:
        """The smallest ``grid * k + 1`` frame count holding ``frames``."""
        g = self.frame_grid
        return g * max(0, -(-(frames - 1) // g)) + 1

    def latent_frames(self, frames: int) -> int:
        """Latent frames for ``frames`` pixel frames on the grid (the first frame has a latent of its own)."""
        return (frames - 1) // self.frame_grid + 1

    def latent_index(self, frame: int) -> int:
        """The latent frame that carries pixel frame ``frame``: frame 0 alone in latent 0, then groups of
        ``frame_grid`` (the causal VAEs of Wan and LTX both work this way)."""
        return 0 if frame <= 0 else (frame - 1) // self.frame_grid + 1

    def snap_size(self, width: int, height: int) -> tuple[int, int]:
        """``(width, height)`` rounded to the nearest multiples the model accepts (never below one multiple)."""
        m = self.size_multiple
        return max(m, round(width / m) * m), max(m, round(height / m) * m)

    def can(self, task: str) -> bool:
        return task in self.tasks

    def require(self, task: str, what: str) -> None:
        """Raise a one-line EngineUnavailable when this model cannot do ``task``."""
        if task not in self.tasks:
            able = ", ".join(c.name for c in MODELS.values() if task in c.tasks)
            raise EngineUnavailable(f"model {self.name} cannot {what}; models that can: {able}")


def _wan(dim: int, ffn: int, heads: int, layers: int, **extra: Any) -> dict[str, Any]:
    return {
        "patch_size": [1, 2, 2], "num_attention_heads": heads, "attention_head_dim": dim // heads,
        "in_channels": 16, "out_channels": 16, "text_dim": 4096, "freq_dim": 256, "ffn_dim": ffn,
        "num_layers": layers, "cross_attn_norm": True, "qk_norm": "rms_norm_across_heads", "eps": 1e-6,
        "rope_max_seq_len": 1024, **extra,
    }  # fmt: skip


def _ltx(heads: int, head_dim: int, layers: int, cross: int) -> dict[str, Any]:
    return {
        "in_channels": 128, "out_channels": 128, "patch_size": 1, "patch_size_t": 1,
        "num_attention_heads": heads, "attention_head_dim": head_dim, "cross_attention_dim": cross,
        "num_layers": layers, "caption_channels": 4096,
    }  # fmt: skip


_WAN_480 = ((832, 480), (480, 832), (624, 624))
_WAN_720 = ((1280, 720), (720, 1280), (960, 960))
_LTX_RES = ((768, 512), (512, 768), (1216, 704), (704, 1216))
_WAN_13B = _wan(1536, 8960, 12, 30)
_WAN_14B = _wan(5120, 13824, 40, 40)
_INVENT = frozenset({"t2v"})
_I2V = frozenset({"i2v", "extend"})
_FLF = frozenset({"i2v", "flf2v", "extend", "loop"})
#: VACE and LTX condition take frames anywhere plus a mask: every job.
_ALL = frozenset({"t2v", "i2v", "flf2v", "reference", "extend", "loop", "transform"})
_LTX_ALL = _ALL - {"reference"}

MODELS: dict[str, ModelCard] = {
    c.name: c
    for c in (
        ModelCard("wan2.1-t2v-1.3b", "wan", "WanPipeline", "Wan-AI/Wan2.1-T2V-1.3B-diffusers", Fraction(16), 4, 16, 8,
                  81, _WAN_480, 8.5, _INVENT, 1.3, "WanTransformer3DModel", _WAN_13B,
                  description="Wan 2.1 text-to-video, small: 480p, runs on 8 GB with offload"),
        ModelCard("wan2.1-t2v-14b", "wan", "WanPipeline", "Wan-AI/Wan2.1-T2V-14B-diffusers", Fraction(16), 4, 16, 8,
                  81, _WAN_720 + _WAN_480, 40.0, _INVENT, 14.0, "WanTransformer3DModel", _WAN_14B,
                  description="Wan 2.1 text-to-video, large: 720p/480p"),
        ModelCard("wan2.1-i2v-14b-480p", "wan", "WanImageToVideoPipeline", "Wan-AI/Wan2.1-I2V-14B-480P-diffusers",
                  Fraction(16), 4, 16, 8, 81, _WAN_480, 42.0, _I2V, 14.0, "WanTransformer3DModel",
                  {**_WAN_14B, "in_channels": 36, "image_dim": 1280, "added_kv_proj_dim": 5120},
                  description="Wan 2.1 image-to-video at 480p"),
        ModelCard("wan2.1-i2v-14b-720p", "wan", "WanImageToVideoPipeline", "Wan-AI/Wan2.1-I2V-14B-720P-diffusers",
                  Fraction(16), 4, 16, 8, 81, _WAN_720, 42.0, _I2V, 14.0, "WanTransformer3DModel",
                  {**_WAN_14B, "in_channels": 36, "image_dim": 1280, "added_kv_proj_dim": 5120},
                  description="Wan 2.1 image-to-video at 720p"),
        ModelCard("wan2.1-flf2v-14b", "wan", "WanImageToVideoPipeline", "Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers",
                  Fraction(16), 4, 16, 8, 81, _WAN_720, 42.0, _FLF, 14.0, "WanTransformer3DModel",
                  {**_WAN_14B, "in_channels": 36, "image_dim": 1280, "added_kv_proj_dim": 5120,
                   "pos_embed_seq_len": 514},
                  description="Wan 2.1 first-last-frame-to-video at 720p"),
        ModelCard("wan2.1-vace-1.3b", "wan", "WanVACEPipeline", "Wan-AI/Wan2.1-VACE-1.3B-diffusers", Fraction(16), 4,
                  16, 8, 81, _WAN_480, 9.5, _ALL, 1.3, "WanVACETransformer3DModel",
                  {**_WAN_13B, "vace_layers": list(range(0, 30, 2)), "vace_in_channels": 96},
                  description="Wan 2.1 VACE: video-to-video with control video, mask, keyframes and references"),
        ModelCard("wan2.1-vace-14b", "wan", "WanVACEPipeline", "Wan-AI/Wan2.1-VACE-14B-diffusers", Fraction(16), 4,
                  16, 8, 81, _WAN_720 + _WAN_480, 44.0, _ALL, 14.0, "WanVACETransformer3DModel",
                  {**_WAN_14B, "vace_layers": list(range(0, 40, 5)), "vace_in_channels": 96},
                  description="Wan 2.1 VACE large: transform at 720p; fits 24 GB with fp8 storage + offload"),
        ModelCard("wan2.2-ti2v-5b", "wan", "WanPipeline", "Wan-AI/Wan2.2-TI2V-5B-Diffusers", Fraction(24), 4, 32, 16,
                  121, ((1280, 704), (704, 1280)), 22.0, frozenset({"t2v", "i2v", "extend"}), 5.0,
                  "WanTransformer3DModel", _wan(3072, 14336, 24, 30, in_channels=48, out_channels=48),
                  description="Wan 2.2 text/image-to-video 5B (VAE 16x spatial), 720p at 24 fps"),
        ModelCard("wan2.2-t2v-a14b", "wan", "WanPipeline", "Wan-AI/Wan2.2-T2V-A14B-Diffusers", Fraction(16), 4, 16, 8,
                  81, _WAN_720 + _WAN_480, 70.0, _INVENT, 27.0, "WanTransformer3DModel", _WAN_14B,
                  boundary_ratio=0.875, guidance=4.0, description="Wan 2.2 text-to-video, two 14B experts"),
        ModelCard("wan2.2-i2v-a14b", "wan", "WanImageToVideoPipeline", "Wan-AI/Wan2.2-I2V-A14B-Diffusers",
                  Fraction(16), 4, 16, 8, 81, _WAN_720 + _WAN_480, 70.0, _FLF, 27.0, "WanTransformer3DModel",
                  {**_WAN_14B, "in_channels": 36}, boundary_ratio=0.9, guidance=3.5,
                  description="Wan 2.2 image-to-video (first and last frame), two 14B experts"),
        ModelCard("ltx-video-2b", "ltx", "LTXConditionPipeline", "Lightricks/LTX-Video-0.9.5", Fraction(24), 8, 32,
                  32, 121, _LTX_RES, 10.0, _LTX_ALL, 2.0, "LTXVideoTransformer3DModel", _ltx(32, 64, 28, 2048),
                  default_steps=40, guidance=3.0, description="LTX-Video 2B: fast; conditions at any frame index"),
        ModelCard("ltx-video-13b", "ltx", "LTXConditionPipeline", "Lightricks/LTX-Video-0.9.7-dev", Fraction(24), 8,
                  32, 32, 121, _LTX_RES, 32.0, _LTX_ALL, 13.0, "LTXVideoTransformer3DModel",
                  _ltx(32, 128, 48, 4096), default_steps=30, guidance=3.0, description="LTX-Video 13B"),
        ModelCard("ltx-video-13b-distilled", "ltx", "LTXConditionPipeline", "Lightricks/LTX-Video-0.9.7-distilled",
                  Fraction(24), 8, 32, 32, 121, _LTX_RES, 32.0, _LTX_ALL, 13.0, "LTXVideoTransformer3DModel",
                  _ltx(32, 128, 48, 4096), distilled=True, default_steps=8, guidance=1.0,
                  description="LTX-Video 13B distilled: 8 steps, no guidance"),
    )
}  # fmt: skip

#: What each job uses when the user names no model.
DEFAULT_MODELS = {"transform": "wan2.1-vace-1.3b", "t2v": "wan2.1-vace-1.3b", "i2v": "wan2.1-vace-1.3b"}


def get_model(name: str) -> ModelCard:
    """The card for ``name`` (case and ``_``/``-`` insensitive), or an EngineUnavailable listing the names."""
    key = name.strip().lower().replace("_", "-")
    if key not in MODELS:
        raise EngineUnavailable(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return MODELS[key]


__all__ = ["DEFAULT_MODELS", "MODELS", "ModelCard", "get_model"]
