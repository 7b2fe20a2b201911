"""Seconds per denoising step, first-step time and peak GPU memory: stock diffusers against shotcraft's
settings, on the same card in the same run.

Real-size models with random weights (configs from the registry, no download): Wan2.1 T2V 1.3B at
832x480x81 and Wan2.1 VACE 1.3B transforming a clip of that size. Each model runs as stock (bf16,
diffusers' defaults), shotcraft (the settings :func:`choose_settings` picks: attention backend, regional
``torch.compile``) and shotcraft + FirstBlockCache, at the same step count. ``--vace14b-24gb`` adds Wan2.1
VACE 14B capped to 24 GiB of GPU memory with the settings chosen for a 24 GB card.

Every row runs in a process of its own, so a row that crashes (or runs out of memory) loses nothing else,
and its result is appended to the ``--out`` JSON-lines file as soon as it is measured. The whole run stays
inside ``--budget-s``: a row still running when the budget ends is stopped and recorded as ``timeout``, the
rows after it as ``skipped``. The file starts with a ``run`` line (card, versions, date) and ends with a
``summary`` line (each shotcraft row's speed-up over stock).

On the GPU machine, which has no network and lacks some packages (see ``bench/gpu_wheels.txt`` and
``make gpu-wheelhouse``)::

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .wheelhouse/*.whl
    PYTHONPATH=/tmp/site:src python3 bench/gpu.py --device cuda --budget-s 540 --out gpu.jsonl
    python bench/gpu.py --tiny --device cpu --out /tmp/tiny.jsonl   # the same code on tiny models

Random weights make step caching skip a different number of blocks than real weights would, so the
cached row is reported separately and the headline ratio is the uncached one.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

TINY_TRANSFORMER = {"num_attention_heads": 2, "attention_head_dim": 12, "ffn_dim": 32, "num_layers": 2,
                    "text_dim": 32, "rope_max_seq_len": 32}  # fmt: skip
CASES = {"t2v": "wan2.1-t2v-1.3b", "vace": "wan2.1-vace-1.3b"}
VARIANTS = ("stock diffusers", "shotcraft", "shotcraft + FirstBlockCache")
#: Seconds kept back from the budget to stop a row and write the summary.
MARGIN_S = 5.0


# -- one row, in its own process ---------------------------------------------------------------------------


def build_pipeline(name: str, tiny: bool, device: str, dtype: Any) -> Any:
    """A pipeline of ``name``'s real classes with random weights (tiny: a few thousand parameters)."""
    import diffusers
    import torch

    from shotcraft.engines.diffusion.registry import get_model

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
    return pipe


def run_case(pipe: Any, case: str, size: tuple[int, int, int], steps: int, device: str) -> dict:
    """Run ``steps`` steps: the first step's time from the transformer's first call (compilation included),
    the median of the later steps, and peak GPU memory."""
    import torch

    width, height, frames = size
    cuda = device.startswith("cuda")
    generator = torch.Generator("cpu").manual_seed(0)
    text_dim = pipe.transformer.config.text_dim
    dtype = torch.float32 if device == "cpu" else torch.bfloat16  # the transformer's compute dtype
    embeds = torch.randn(1, 512, text_dim, generator=generator).to(device, dtype)
    kwargs: dict[str, Any] = {
        "prompt_embeds": embeds, "negative_prompt_embeds": embeds.clone(), "height": height, "width": width,
        "num_frames": frames, "num_inference_steps": steps, "guidance_scale": 5.0, "generator": generator,
        "output_type": "latent",
    }  # fmt: skip
    if case == "vace":
        from PIL import Image

        video = (torch.rand(frames, height, width, 3, generator=generator) * 255).to(torch.uint8).numpy()
        kwargs["video"] = [Image.fromarray(v) for v in video]
    marks: list[float] = []

    def now() -> float:
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    def first_forward(module: Any, args: Any, kwargs: Any) -> None:
        if not marks:
            marks.append(now())

    def mark(pipe: Any, step: int, timestep: Any, cb: dict) -> dict:
        marks.append(now())
        return {"latents": cb["latents"]}

    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    resident = torch.cuda.memory_allocated() / 2**30 if cuda else None
    handle = pipe.transformer.register_forward_pre_hook(first_forward, with_kwargs=True)
    try:
        pipe(**kwargs, callback_on_step_end=mark)
    finally:
        handle.remove()
    times = [b - a for a, b in itertools.pairwise(marks)]
    later = times[1:] or times
    return {
        "first_step_s": times[0], "s_per_step": statistics.median(later), "timed_steps": len(later),
        "resident_gib": resident, "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
    }  # fmt: skip


def run_row(row: dict, args: argparse.Namespace) -> dict:
    """Measure one row (model, case, settings) in this process."""
    import torch

    from shotcraft.engines.diffusion.memory import MemorySettings, apply_settings, choose_settings
    from shotcraft.engines.diffusion.registry import get_model

    card = get_model(row["model"])
    cpu = args.device == "cpu"
    dtype = torch.float32 if cpu else torch.bfloat16
    steps = args.steps
    if row["settings"] == "24 GiB cap":
        total = torch.cuda.get_device_properties(0).total_memory / 2**30
        torch.cuda.set_per_process_memory_fraction(min(1.0, 24 / total))
        settings = replace(choose_settings(card, 24, device="cuda"), compile=False)
        steps = 2
    elif row["settings"] == "stock diffusers":
        settings = MemorySettings(device=args.device, dtype="float32" if cpu else "bfloat16")
    else:
        settings = choose_settings(card, args.vram, device=args.device)
        if row["settings"] == "shotcraft + FirstBlockCache":
            settings = replace(settings, cache="first_block")
    started = time.perf_counter()
    pipe = build_pipeline(card.name, args.tiny, args.device, dtype)
    notices = apply_settings(pipe, settings, steps)
    setup = time.perf_counter() - started
    try:
        result = run_case(pipe, row["case"], row["size"], steps, args.device)
    except torch.OutOfMemoryError as exc:
        return {"status": "out of memory", "error": str(exc).splitlines()[0], "setup_s": setup}
    options = {k: v for k, v in settings.describe().items() if k != "mag_ratios"}
    return {
        "status": "ok",
        "steps": steps,
        "setup_s": setup,
        **result,
        "notices": notices,
        "options": options,
    }


# -- the run: rows in processes, inside a budget ------------------------------------------------------------


@dataclass
class Row:
    """One row of the table and the command that measures it (it appends its result to the output file)."""

    fields: dict
    command: list[str]


def append(path: Path, record: dict) -> None:
    """Append one JSON line and flush it to disk, so a row survives whatever happens next."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, default=str) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def run_rows(
    rows: list[Row], out: Path, budget_s: float, report: Callable[[dict], None] = lambda r: None
) -> list[dict]:
    """Run each row's command in a process of its own, within ``budget_s`` seconds in all; returns each
    row's record. A row whose process fails without writing its result is recorded as ``crashed`` (with the
    end of its error output), one still running at the budget's end as ``timeout``, the rest ``skipped``."""
    deadline = time.monotonic() + budget_s - MARGIN_S
    records = []
    for row in rows:
        left = deadline - time.monotonic()
        if left <= 0:
            record = {**row.fields, "status": "skipped", "error": "the time budget was spent"}
            append(out, record)
            records.append(record)
            report(record)
            continue
        offset = out.stat().st_size if out.exists() else 0
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(row.command, stdout=subprocess.DEVNULL, stderr=errors,
                                       start_new_session=True)  # fmt: skip
            try:
                code: int | None = process.wait(timeout=left)
            except subprocess.TimeoutExpired:
                code = None
            finally:
                if process.poll() is None:  # budget spent or interrupted: stop the row and its children
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            errors.seek(0)
            tail = errors.read().decode("utf-8", "replace").strip().splitlines()[-3:]
        written = _records_after(out, offset)
        if written:
            record = written[-1]
        elif code is None:
            record = {**row.fields, "status": "timeout", "error": f"stopped after {left:.0f} s (budget)"}
        else:
            record = {**row.fields, "status": "crashed", "returncode": code, "error": " | ".join(tail)}
        if not written:
            append(out, record)
        records.append(record)
        report(record)
    return records


def _records_after(path: Path, offset: int) -> list[dict]:
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as handle:
        handle.seek(offset)
        return [json.loads(line) for line in handle if line.strip()]


def plan_rows(args: argparse.Namespace, out: Path) -> list[Row]:
    size = (32, 32, 9) if args.tiny else (832, 480, 81)
    plan = [{"model": CASES[c], "case": c, "settings": v, "size": size} for c in args.cases for v in VARIANTS]
    if args.vace14b_24gb:
        plan.append({"model": "wan2.1-vace-14b", "case": "vace", "settings": "24 GiB cap", "size": size})
    common = ["--device", args.device, "--steps", str(args.steps), "--out", str(out)]
    common += ["--tiny"] if args.tiny else []
    common += ["--vram", str(args.vram)] if args.vram is not None else []
    script = str(Path(__file__).resolve())
    return [Row(fields, [sys.executable, script, *common, "--row", json.dumps(fields)]) for fields in plan]


def summary(records: list[dict]) -> dict:
    """Each measured row's speed-up over the stock row of its model (same card, same run)."""
    stock = {r["model"]: r["s_per_step"] for r in records
             if r.get("status") == "ok" and r["settings"] == "stock diffusers"}  # fmt: skip
    return {
        f"{r['model']} / {r['settings']}": round(stock[r["model"]] / r["s_per_step"], 3)
        for r in records
        if r.get("status") == "ok" and r["model"] in stock
    }


def _print_row(record: dict) -> None:
    if record.get("status") != "ok":
        print(f"{record['model']:18} {record['settings']:28} {record['status']}: {record.get('error', '')}")
        return
    peak = f"{record['peak_gib']:.1f}" if record.get("peak_gib") is not None else "-"
    print(f"{record['model']:18} {record['settings']:28} {record['s_per_step']:8.3f} s/step  first "
          f"{record['first_step_s']:7.2f} s  peak {peak} GiB", flush=True)  # fmt: skip


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny random models (CPU smoke test)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--vram", type=float, default=None, help="plan settings for this many GiB")
    parser.add_argument("--cases", type=lambda s: s.split(","), default=list(CASES),
                        help="comma-separated: t2v, vace (default both)")  # fmt: skip
    parser.add_argument(
        "--vace14b-24gb", action="store_true", help="also run Wan2.1 VACE 14B capped at 24 GiB"
    )
    parser.add_argument("--budget-s", type=float, default=540, help="stop the whole run inside this")
    parser.add_argument("--out", default="gpu-bench.jsonl", help="JSON-lines results, appended")
    parser.add_argument("--row", default=None, help=argparse.SUPPRESS)  # one row, run by the parent
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.row is not None:
        row = json.loads(args.row)
        row["size"] = tuple(row["size"])
        append(out, {**row, **run_row(row, args)})
        return []
    unknown = set(args.cases) - set(CASES)
    if unknown:
        parser.error(f"unknown case(s) {', '.join(sorted(unknown))}: choose from {', '.join(CASES)}")
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("no CUDA device: use --device cpu --tiny")
    if args.vace14b_24gb and not args.device.startswith("cuda"):
        parser.error("--vace14b-24gb needs a CUDA device")
    import diffusers

    append(out, {
        "run": time.strftime("%Y-%m-%d %H:%M:%S"), "steps": args.steps, "budget_s": args.budget_s,
        "device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
        "torch": torch.__version__, "diffusers": diffusers.__version__,
    })  # fmt: skip
    print(f"# {out}: one line per row as it is measured")
    records = run_rows(plan_rows(args, out), out, args.budget_s, report=_print_row)
    append(out, {"summary": summary(records)})
    for name, ratio in summary(records).items():
        print(f"{name:50} {ratio:6.2f}x stock")
    return records


if __name__ == "__main__":
    main(sys.argv[1:])
