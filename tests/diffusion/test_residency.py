"""Where a pipeline's parts live: group offload streams the text encoder as well as the transformer, and
a process keeps one pipeline loaded, never a draft's and a final's side by side."""

from __future__ import annotations

import gc
import weakref

import pytest

from shotcraft.engines.diffusion import engine_for, loading
from shotcraft.engines.diffusion.memory import MemorySettings, apply_settings

torch = pytest.importorskip("torch")


def test_group_offload_streams_the_text_encoder_too(models_env, monkeypatch):
    from diffusers.hooks.group_offloading import _get_group_onload_device

    loading.forget_loaded()
    pipe, _ = engine_for("wan2.1-t2v-1.3b").pipeline("t2v")
    moved = []
    real_to = torch.nn.Module.to

    def to(module, *args, **kwargs):
        moved.append(type(module).__name__)
        return real_to(module, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "to", to)
    apply_settings(pipe, MemorySettings(device="cpu", dtype="float32", offload="group"))
    # Streamed (hooks onload each layer as it runs), not moved whole onto the device and left there.
    assert _get_group_onload_device(pipe.text_encoder) == torch.device("cpu")
    assert _get_group_onload_device(pipe.transformer) == torch.device("cpu")
    assert "UMT5EncoderModel" not in moved
    frames = pipe("a red car", height=32, width=32, num_frames=5, num_inference_steps=1, output_type="np")
    assert frames.frames.shape[1:4] == (5, 32, 32)
    loading.forget_loaded()  # hooks stay on this pipeline: no later test may reuse it


def test_a_draft_and_its_final_are_never_loaded_side_by_side(models_env):
    loading.forget_loaded()
    draft, _ = engine_for("wan2.1-vace-1.3b", draft=True).pipeline("t2v")
    gone = weakref.ref(draft)
    del draft
    final, _ = engine_for("wan2.1-vace-1.3b", draft=False).pipeline("t2v")
    gc.collect()
    assert len(loading._LOADED) == 1 and gone() is None
    again, _ = engine_for("wan2.1-vace-1.3b", draft=False).pipeline("t2v")
    assert again is final  # the resident pipeline is reused while the same one is asked for
