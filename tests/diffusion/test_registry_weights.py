"""The model registry, weights lookup and the CLI's messages when weights are missing (no model is run)."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from shotcraft.cli import app
from shotcraft.engines.diffusion.registry import MODELS, get_model
from shotcraft.engines.diffusion.weights import locate, missing_parts
from shotcraft.errors import EngineUnavailable

REQUIRED = [
    "wan2.1-t2v-1.3b", "wan2.1-t2v-14b", "wan2.1-i2v-14b-480p", "wan2.1-flf2v-14b", "wan2.1-vace-1.3b",
    "wan2.1-vace-14b", "wan2.2-ti2v-5b", "wan2.2-t2v-a14b", "ltx-video-2b", "ltx-video-13b",
    "ltx-video-13b-distilled",
]  # fmt: skip


def test_registry_holds_the_models_with_their_grids():
    for name in REQUIRED:
        card = get_model(name)
        assert card.window_frames % card.frame_grid == 1
        assert all(w % card.size_multiple == 0 and h % card.size_multiple == 0 for w, h in card.resolutions)
    assert {MODELS[n].frame_grid for n in REQUIRED if n.startswith("wan")} == {4}
    assert {MODELS[n].frame_grid for n in REQUIRED if n.startswith("ltx")} == {8}


@pytest.mark.parametrize(("name", "frame", "latent"), [
    ("wan2.1-vace-1.3b", 0, 0), ("wan2.1-vace-1.3b", 1, 1), ("wan2.1-vace-1.3b", 4, 1), ("wan2.1-vace-1.3b", 5, 2),
    ("wan2.1-vace-1.3b", 80, 20), ("ltx-video-2b", 8, 1), ("ltx-video-2b", 9, 2), ("ltx-video-2b", 120, 15),
])  # fmt: skip
def test_latent_index_follows_the_causal_grid(name, frame, latent):
    assert get_model(name).latent_index(frame) == latent


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(EngineUnavailable, match="known models: wan2.1-t2v-1.3b"):
        get_model("sora")


def test_empty_weights_folder_names_what_is_missing(tmp_path):
    with pytest.raises(EngineUnavailable, match=r"model_index\.json"):
        locate(get_model("wan2.1-vace-1.3b"), tmp_path)


def test_partial_folder_names_the_missing_component(tiny_models, tmp_path):
    folder = tmp_path / "partial"
    shutil.copytree(tiny_models / "wan2.1-vace-1.3b", folder)
    shutil.rmtree(folder / "transformer")
    (next((folder / "vae").glob("*.safetensors"))).unlink()
    missing = missing_parts(folder)
    assert "transformer/ (WanVACETransformer3DModel)" in missing
    assert any(m.startswith("vae/") for m in missing)


def test_generate_without_weights_exits_2_naming_the_files(tmp_path, monkeypatch):
    monkeypatch.delenv("SHOTCRAFT_MODELS", raising=False)
    result = CliRunner().invoke(
        app, ["generate", "--prompt", "a red car", "--weights", str(tmp_path), "-o", str(tmp_path / "o.mp4")]
    )
    assert result.exit_code == 2
    assert "model_index.json" in result.output and "Traceback" not in result.output


def test_models_verify_and_list(tiny_models, monkeypatch):
    monkeypatch.setenv("SHOTCRAFT_MODELS", str(tiny_models))
    runner = CliRunner()
    ok = runner.invoke(
        app, ["models", "verify", str(tiny_models / "ltx-video-2b"), "--model", "ltx-video-2b"]
    )
    assert ok.exit_code == 0, ok.output
    wrong = runner.invoke(
        app, ["models", "verify", str(tiny_models / "ltx-video-2b"), "--model", "wan2.1-vace-1.3b"]
    )
    assert wrong.exit_code == 2 and "LTXVideoTransformer3DModel" in wrong.output
    listing = runner.invoke(app, ["models", "list", "--json"])
    assert listing.exit_code == 0
    rows = {row["name"]: row for row in json.loads(listing.output)}
    assert rows["wan2.1-vace-1.3b"]["weights"] == str(tiny_models / "wan2.1-vace-1.3b")
    assert rows["wan2.1-vace-14b"]["weights"] is None
