"""Every memory/speed combination :func:`choose_settings` can pick runs a real forward with the tiny models.

``torch.compile`` fails in Dynamo's tracing, before any kernel is built, so the CPU reproduces what a GPU
would hit: each combination picked for a CUDA card is loaded through the real loading path and denoised
one step on the CPU, through ``torch.compile`` wherever the settings turn it on. The compile backend is
Dynamo's ``eager`` one: tracing is the same as with Inductor, without minutes of C++ builds per case.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from shotcraft.engines.diffusion import run_job
from shotcraft.engines.diffusion.job import WindowJob
from shotcraft.engines.diffusion.loading import forget_loaded, load_pipeline
from shotcraft.engines.diffusion.memory import MemorySettings, choose_settings
from shotcraft.engines.diffusion.registry import MODELS, get_model

torch = pytest.importorskip("torch")

#: the tiny model that stands in for each family (the VACE transformer holds both Wan block kinds).
_TINY = {"wan": "wan2.1-vace-1.3b", "ltx": "ltx-video-2b"}


def _cuda_choices() -> list[tuple[str, MemorySettings]]:
    """Every distinct (family, settings) choose_settings returns for a CUDA card of 4-200 GiB, draft or
    not, on the CPU: the attention backend is left out (cuDNN and flash attention are CUDA kernels)."""
    seen: dict[tuple[str, MemorySettings], None] = {}
    for card in MODELS.values():
        for vram in [x / 2 for x in range(8, 400)]:
            for draft in (False, True):
                chosen = choose_settings(card, vram, device="cuda", draft=draft)
                seen[(card.family, replace(chosen, device="cpu", attention=None))] = None
    return list(seen)


def _label(choice: tuple[str, MemorySettings]) -> str:
    family, s = choice
    return f"{family}-{s.offload}-fp8{int(s.fp8)}-{s.cache}-tiling{int(s.vae_tiling)}-compile{int(s.compile)}"


@pytest.fixture
def eager_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route ``nn.Module.compile`` (what ``compile_repeated_blocks`` calls) to Dynamo's eager backend."""
    original = torch.nn.Module.compile

    def compile_eager(self, *args, **kwargs):
        return original(self, *args, **{**kwargs, "backend": "eager"})

    monkeypatch.setattr(torch.nn.Module, "compile", compile_eager)
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("choice", _cuda_choices(), ids=_label)
def test_every_chosen_combination_runs_a_forward(models_env, eager_compile, choice):
    from torch._dynamo.utils import counters

    family, settings = choice
    card = get_model(_TINY[family])
    counters.clear()
    try:
        pipe, notices = load_pipeline(card, settings, steps=1)
        size, frames = (32, 9) if family == "wan" else (64, 9)
        out = run_job(pipe, card, WindowJob("a red car", size, size, frames, 1, 1.0, seed=0))
    finally:
        forget_loaded()
    assert out.shape == (frames, size, size, 3)
    assert not notices
    # compile on means the blocks really went through Dynamo, each as one graph
    graphs = counters["stats"]["unique_graphs"]
    assert (graphs > 0) == settings.compile
    assert not counters["graph_break"]


def test_compile_is_left_off_with_a_notice_when_asked_for_next_to_a_cache(models_env, eager_compile):
    """A caller's override (the GPU bench's "+ FirstBlockCache" row) cannot bring the failure back."""
    card = get_model("wan2.1-vace-1.3b")
    settings = MemorySettings(device="cpu", dtype="float32", compile=True, cache="first_block")
    try:
        pipe, notices = load_pipeline(card, settings, steps=1)
        run_job(pipe, card, WindowJob("a red car", 32, 32, 9, 1, 1.0, seed=0))
    finally:
        forget_loaded()
    assert any("torch.compile left off" in n for n in notices)
