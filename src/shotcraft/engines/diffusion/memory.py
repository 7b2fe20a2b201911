"""Memory and speed settings for a loaded pipeline, chosen from the GPU's memory and applied through diffusers.

Every option is a stock diffusers feature: model or group offload, fp8 layerwise casting (weights stored in
fp8, computed in bf16), VAE tiling, the attention backend, regional ``torch.compile`` of the repeated
transformer blocks, and step caching (FirstBlockCache; MagCache when the caller has calibrated ratios).
:func:`choose_settings` picks defaults from the detected memory, so 16-48 GB cards run without
out-of-memory errors; every field can be overridden.

``torch.compile`` is only used where it traces the blocks as one graph (:func:`compiles`): step caching,
fp8 layerwise casting and group offload all put hooks inside the blocks that Dynamo cannot trace
(``fullgraph=True`` raises; without it each hook splits the block into fragments between its layers).

>>> from shotcraft.engines.diffusion.registry import get_model
>>> s = choose_settings(get_model("wan2.1-vace-14b"), vram_gb=24, device="cuda")
>>> s.offload, s.fp8, s.vae_tiling, s.compile
('model', True, True, False)
>>> choose_settings(get_model("wan2.1-vace-1.3b"), vram_gb=80, device="cuda").offload
'none'
>>> choose_settings(get_model("wan2.1-vace-1.3b"), vram_gb=None, device="cpu").dtype
'float32'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from shotcraft.engines.diffusion.registry import ModelCard

Offload = Literal["none", "model", "group"]
#: bf16 size of each family's text encoder (UMT5-XXL for Wan, T5-XXL for LTX-Video).
_TEXT_ENCODER_GB = {"wan": 11.4, "ltx": 9.5}
Cache = Literal["none", "first_block", "mag"]


@dataclass(frozen=True)
class MemorySettings:
    device: str = "cuda"
    dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    offload: Offload = "none"
    fp8: bool = False
    vae_tiling: bool = False
    attention: str | None = None
    compile: bool = False
    cache: Cache = "none"
    cache_threshold: float = 0.05
    #: MagCache needs per-checkpoint magnitude ratios (diffusers ships none for video models).
    mag_ratios: tuple[float, ...] | None = None

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def detect_vram_gb(device: str = "cuda") -> float | None:
    """Total memory of the first GPU in GiB, or None without one."""
    if not device.startswith("cuda"):
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_properties(0).total_memory / 2**30


def choose_settings(
    card: ModelCard, vram_gb: float | None = None, *, device: str | None = None, draft: bool = False
) -> MemorySettings:
    """Defaults for ``card`` on a GPU with ``vram_gb`` GiB (detected when None).

    The rule: keep everything resident when the transformer and the text encoder fit with a margin for
    activations; else move whole components on and off the GPU in turn (model offload: the text encoder
    runs once, the transformer stays for every step); else also store the transformer's weights in fp8
    (half the memory); stream its blocks from CPU memory (group offload, overlapped with compute on a CUDA
    stream) only when even fp8 does not fit. VAE tiling is on below 48 GB, where decoding a
    full window at 720p would otherwise peak above the transformer. Drafts turn step caching on.
    Regional compilation is on only where :func:`compiles` says it traces.
    """
    if device is None:
        device = "cuda" if detect_vram_gb("cuda") else "cpu"
    if not device.startswith("cuda"):
        # CPUs have no bf16 matmul worth using and no memory pressure of this kind.
        return MemorySettings(device=device, dtype="float32", cache="first_block" if draft else "none")
    vram = vram_gb if vram_gb is not None else (detect_vram_gb(device) or 24.0)
    weights_gb = card.parameters_b * 2  # bf16
    text_gb = _TEXT_ENCODER_GB[card.family]
    offload: Offload = "none"
    fp8 = False
    if (weights_gb + text_gb) * 1.15 > vram:
        offload = "model"
        if weights_gb * 1.3 > vram:
            fp8 = True
            if weights_gb / 2 * 1.3 > vram * 0.9:
                offload = "group"
    settings = MemorySettings(
        device=device,
        dtype="bfloat16",
        offload=offload,
        fp8=fp8,
        vae_tiling=vram < 48,
        attention=_best_attention_backend(),
        cache="first_block" if draft else "none",
    )
    return replace(settings, compile=compiles(settings))


def compiles(settings: MemorySettings) -> bool:
    """Whether the repeated blocks can be compiled as whole graphs next to the other options.

    Step caching (its hook asks ``hasattr(forward, "__wrapped__")`` and calls a ``compiler.disable``d
    check), fp8 layerwise casting (a hook builds ``nn.Parameter``s around every layer) and group offload
    (``compiler.disable``d onload around every leaf) each make Dynamo stop inside the blocks: with
    ``fullgraph=True`` the first forward raises, without it the tiny Wan VACE's two blocks fall into 9-20
    graphs split by 7-54 breaks (fp8 and offload: at every layer), leaving compile little to fuse for its
    start-up cost. Model offload hooks the whole transformer from outside, so the blocks still trace.

    >>> compiles(MemorySettings(offload="model")), compiles(MemorySettings(cache="first_block"))
    (True, False)
    """
    return settings.cache == "none" and not settings.fp8 and settings.offload != "group"


def _best_attention_backend() -> str | None:
    """flash-attn when installed, else cuDNN attention (faster than the default SDPA choice on Hopper)."""
    import importlib.util

    if importlib.util.find_spec("flash_attn") is not None:
        return "flash"
    return "_native_cudnn"


def apply_settings(pipe: Any, settings: MemorySettings, steps: int | None = None) -> list[str]:
    """Apply ``settings`` to a loaded pipeline in place; returns notices for options that could not apply."""
    import torch

    notices: list[str] = []
    denoisers = [
        m for m in (getattr(pipe, "transformer", None), getattr(pipe, "transformer_2", None)) if m is not None
    ]
    if settings.fp8:
        for model in denoisers:
            model.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.bfloat16)
    if settings.attention:
        for model in denoisers:
            try:
                model.set_attention_backend(settings.attention)
            except (ValueError, RuntimeError, ImportError) as exc:
                notices.append(
                    f"attention backend {settings.attention} unavailable ({exc}); using the default"
                )
                break
    if settings.cache != "none":
        _apply_cache(denoisers, settings, steps, notices)
    vae = getattr(pipe, "vae", None)
    if settings.vae_tiling and vae is not None and hasattr(vae, "enable_tiling"):
        vae.enable_tiling()
    if settings.offload == "model":
        pipe.enable_model_cpu_offload(device=settings.device)
    elif settings.offload == "group":
        onload = torch.device(settings.device)
        # The encoders are streamed too: a resident UMT5-XXL alone is 11 GB, more than the 14B transformer's
        # share of a 24 GB card once it is offloaded. Only the small VAE stays on the GPU.
        encoders = [getattr(pipe, name, None) for name in ("text_encoder", "image_encoder")]
        for module in [*denoisers, *encoders]:
            if module is not None:
                _group_offload(module, onload)
        if getattr(pipe, "vae", None) is not None:
            pipe.vae.to(onload)
    else:
        pipe.to(settings.device)
    if settings.compile and not compiles(settings):
        notices.append(
            "torch.compile left off: step caching, fp8 and group offload stop its tracing inside the blocks"
        )
    elif settings.compile:
        for model in denoisers:
            model.compile_repeated_blocks(fullgraph=True)
    return notices


def _group_offload(module: Any, onload: Any) -> None:
    """Stream ``module``'s layers to ``onload`` as they run (leaf level), overlapped with compute on a
    stream where the device has them (CUDA)."""
    from diffusers.hooks import apply_group_offloading

    apply_group_offloading(
        module, onload_device=onload, offload_type="leaf_level", use_stream=onload.type == "cuda",
        low_cpu_mem_usage=True,
    )  # fmt: skip


def _apply_cache(
    denoisers: list[Any], settings: MemorySettings, steps: int | None, notices: list[str]
) -> None:
    from diffusers.hooks import FirstBlockCacheConfig, MagCacheConfig

    if settings.cache == "mag":
        if not settings.mag_ratios:
            notices.append("MagCache needs calibrated ratios for this model; using FirstBlockCache instead")
        else:
            config = MagCacheConfig(num_inference_steps=steps or 50, mag_ratios=list(settings.mag_ratios))
            for model in denoisers:
                model.enable_cache(config)
            return
    for model in denoisers:
        model.enable_cache(FirstBlockCacheConfig(threshold=settings.cache_threshold))


def torch_dtype(settings: MemorySettings) -> Any:
    import torch

    return getattr(torch, settings.dtype)


__all__ = [
    "MemorySettings", "apply_settings", "choose_settings", "compiles", "detect_vram_gb", "torch_dtype",
]  # fmt: skip
