"""Seconds per denoising step and peak GPU memory: stock diffusers against shotcraft's settings, one run.

Real-size models with random weights (configs from the registry, no download): Wan2.1 T2V 1.3B at
832x480x81 and Wan2.1 VACE 1.3B transforming a clip of that size. Each case runs twice in this process —
stock (bf16, diffusers' defaults) and shotcraft (the settings :func:`choose_settings` picks: attention
backend, regional ``torch.compile``; then also with FirstBlockCache) — at the same step count, and the
ratio is printed. ``--vace14b-24gb`` also runs Wan2.1 VACE 14B capped to 24 GiB of GPU memory with the
settings chosen for a 24 GB card.

    python bench/gpu.py --device cuda                 # on a GPU machine (about 8 minutes on an H100)
    python bench/gpu.py --device cuda --vace14b-24gb  # also the 14B-in-24GB check
    python bench/gpu.py --tiny --device cpu           # the same code on tiny models, as the tests run it

Random weights make step caching skip a different number of blocks than real weights would, so the
cached row is reported separately and the headline ratio is the uncached one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from typing import Any

import torch

from shotcraft.engines.diffusion.memory import MemorySettings, apply_settings, choose_settings
from shotcraft.engines.diffusion.registry import get_model

TINY_TRANSFORMER = {"num_attention_heads": 2, "attention_head_dim": 12, "ffn_dim": 32, "num_layers": 2,
                    "text_dim": 32, "rope_max_seq_len": 32}  # fmt: skip


def build_pipeline(name: str, tiny: bool, device: str, dtype: torch.dtype) -> Any:
    """A pipeline of ``name``'s real classes with random weights (tiny: a few thousand parameters)."""
    import diffusers

    card = get_model(name)
    config = dict(card.transformer_config)
    if tiny:
        config.update(TINY_TRANSFORMER)
        if "vace_layers" in config:
            config["vace_layers"] = [0, 1]
    transformer_cls = getattr(diffusers, card.transformer_class)
    build_device = "cpu" if card.parameters_b > 5 else device  # 14B is built in host memory, then offloaded
    torch.manual_seed(0)
    with torch.device(build_device):
        transformer = transformer_cls(**config).to(dtype)
        vae_kwargs = {"base_dim": 3, "dim_mult": [1, 1, 1, 1], "num_res_blocks": 1} if tiny else {}
        vae = diffusers.AutoencoderKLWan(**vae_kwargs).to(torch.float32)
    scheduler = diffusers.UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                                  flow_shift=3.0)  # fmt: skip
    cls = getattr(diffusers, card.pipeline)
    pipe = cls(tokenizer=None, text_encoder=None, vae=vae, scheduler=scheduler, transformer=transformer)
    pipe.set_progress_bar_config(disable=True)
    return pipe, card


def run_case(
    pipe: Any, case: str, size: tuple[int, int, int], steps: int, device: str, text_dim: int
) -> dict:
    """Run ``steps`` steps; seconds per step (median, first step excluded) and peak GPU memory."""
    width, height, frames = size
    generator = torch.Generator("cpu").manual_seed(0)
    embeds = torch.randn(1, 512, text_dim, generator=generator).to(device, torch.bfloat16)
    kwargs: dict[str, Any] = {
        "prompt_embeds": embeds, "negative_prompt_embeds": embeds.clone(), "height": height, "width": width,
        "num_frames": frames, "num_inference_steps": steps, "guidance_scale": 5.0, "generator": generator,
        "output_type": "latent",
    }  # fmt: skip
    if case == "vace":
        video = torch.rand(frames, 3, height, width, generator=generator)
        kwargs["video"] = [_pil(v) for v in video]
    marks: list[float] = []

    def mark(pipe: Any, step: int, timestep: Any, cb: dict) -> dict:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        marks.append(time.perf_counter())
        return {"latents": cb["latents"]}

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    pipe(**kwargs, callback_on_step_end=mark)
    times = [b - a for a, b in zip([start, *marks], marks, strict=False)]
    steady = times[1:] or times
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None
    return {"s_per_step": statistics.median(steady), "first_step_s": times[0], "peak_gib": peak}


def _pil(frame: torch.Tensor) -> Any:
    from PIL import Image

    return Image.fromarray((frame.permute(1, 2, 0).numpy() * 255).astype("uint8"))


def bench(name: str, case: str, args: argparse.Namespace) -> list[dict]:
    """Stock, shotcraft, and shotcraft + cache for one model, in this process."""
    size = (32, 32, 9) if args.tiny else (832, 480, 81)
    card = get_model(name)
    dtype = torch.float32 if args.device == "cpu" else torch.bfloat16
    optimised = choose_settings(card, args.vram, device=args.device)
    variants = [
        (
            "stock diffusers",
            MemorySettings(device=args.device, dtype="float32" if args.device == "cpu" else "bfloat16"),
        ),
        ("shotcraft", optimised),
        ("shotcraft + FirstBlockCache", replace(optimised, cache="first_block")),
    ]
    rows = []
    for label, settings in variants:
        pipe, card = build_pipeline(name, args.tiny, args.device, dtype)
        notices = apply_settings(pipe, settings, args.steps)
        text_dim = pipe.transformer.config.text_dim
        result = run_case(pipe, case, size, args.steps, args.device, text_dim)
        rows.append({"model": name, "case": case, "settings": label, "size": "x".join(map(str, size)),
                     "steps": args.steps, **result, "notices": notices,
                     "options": {k: v for k, v in settings.describe().items() if k != "mag_ratios"}})  # fmt: skip
        del pipe
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    base = rows[0]["s_per_step"]
    for row in rows:
        row["speedup_vs_stock"] = base / row["s_per_step"]
    return rows


def vace14b_in_24gb(args: argparse.Namespace) -> dict:
    """Wan2.1 VACE 14B at 832x480x81 with the GPU capped at 24 GiB and the 24 GB settings."""
    total = torch.cuda.get_device_properties(0).total_memory / 2**30
    torch.cuda.set_per_process_memory_fraction(min(1.0, 24 / total))
    card = get_model("wan2.1-vace-14b")
    settings = choose_settings(card, 24, device="cuda")
    pipe, _ = build_pipeline(card.name, False, "cuda", torch.bfloat16)
    apply_settings(pipe, replace(settings, compile=False), 2)
    try:
        result = run_case(pipe, "vace", (832, 480, 81), 2, "cuda", pipe.transformer.config.text_dim)
        result["fits"] = True
    except torch.OutOfMemoryError as exc:
        result = {"fits": False, "error": str(exc).splitlines()[0]}
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    return {"model": card.name, "cap_gib": 24, "settings": settings.describe(), **result}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny random models (CPU smoke test)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--vram", type=float, default=None, help="plan settings for this many GiB")
    parser.add_argument(
        "--vace14b-24gb", action="store_true", help="also run Wan2.1 VACE 14B capped at 24 GiB"
    )
    parser.add_argument("--json", dest="json_path", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("no CUDA device: use --device cpu --tiny")
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
        "torch": torch.__version__, "rows": [],
    }  # fmt: skip
    for name, case in (("wan2.1-t2v-1.3b", "t2v"), ("wan2.1-vace-1.3b", "vace")):
        results["rows"] += bench(name, case, args)
    if args.vace14b_24gb and args.device.startswith("cuda"):
        results["vace14b_24gb"] = vace14b_in_24gb(args)
    print(f"# {results['device']}, torch {results['torch']}, {results['date']}, {args.steps} steps")
    print(f"{'model':18} {'settings':28} {'size':12} {'s/step':>8} {'peak GiB':>9} {'speedup':>8}")
    for row in results["rows"]:
        peak = f"{row['peak_gib']:.1f}" if row["peak_gib"] is not None else "-"
        print(f"{row['model']:18} {row['settings']:28} {row['size']:12} {row['s_per_step']:8.3f} {peak:>9} "
              f"{row['speedup_vs_stock']:7.2f}x")  # fmt: skip
    if "vace14b_24gb" in results:
        print("wan2.1-vace-14b in 24 GiB:", json.dumps(results["vace14b_24gb"], default=str))
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2, default=str)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
