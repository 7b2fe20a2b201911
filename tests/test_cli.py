"""The command line: JSON probe, identity transform, demo, and exit code 2 with one line for bad input."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shotcraft import demo
from shotcraft.cli import app
from shotcraft.media import probe

runner = CliRunner()


def test_probe_json(carphone: Path) -> None:
    result = runner.invoke(app, ["probe", str(carphone), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["video"]["fps"] == "30000/1001"
    assert data["video"]["frame_count"] == 120


def test_probe_table(bigbuckbunny: Path) -> None:
    result = runner.invoke(app, ["probe", str(bigbuckbunny)])
    assert result.exit_code == 0
    assert "132" in result.stdout and "5.1" in result.stdout


def test_identity_transform_cli(small_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    result = runner.invoke(app, ["transform", str(small_clip), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert probe(out).video.frame_count == 48
    sidecar = json.loads(Path(f"{out}.json").read_text())
    assert sidecar["engine"] == "identity" and sidecar["spec"]["motion_adherence"] == 5


def test_bad_input_exit_code_two(tmp_path: Path, small_clip: Path) -> None:
    cases = [
        ["probe", str(tmp_path / "missing.mp4")],
        ["transform", str(small_clip), "-o", str(small_clip)],
        ["transform", str(small_clip), "-o", str(tmp_path / "o.mp4"), "--motion", "12"],
        ["transform", str(small_clip), "-o", str(tmp_path / "o.mp4"), "--keyframe", "0.5:k.png"],
        ["transform", str(small_clip), "-o", str(tmp_path / "o.mp4"), "--lock", "blob:3"],
    ]
    for args in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.count("error:") >= 1
        assert "Traceback" not in result.output
    assert not (tmp_path / "o.mp4").exists()


def test_demo_writes_outputs(tmp_path: Path, clip_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    """``shotcraft demo`` runs every step and writes its takes. The two bundled clips its steps take whole
    are cut here to their first second (same size, fps and audio layout): the command and its steps fitting
    together is this test's claim; each engine's work on full-length footage is judged by its own tests."""
    firsts = {
        name: clip_factory(f"{name}_first_second.mp4", frames=25, fps=Fraction(25), footage=name, **size)
        for name, size in {
            "bigbuckbunny": {"width": 1280, "height": 720, "audio_channels": 6},
            "bikes": {"width": 640, "height": 272},
        }.items()
    }
    monkeypatch.setattr(demo, "sample_clip", firsts.__getitem__)
    result = runner.invoke(app, ["demo", "-o", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    outputs = list((tmp_path / "demo").glob("*.mp4"))
    assert outputs and all(probe(p).video.frame_count > 0 for p in outputs)


def test_public_api_names() -> None:
    import shotcraft

    for name in shotcraft.__all__:
        assert callable(getattr(shotcraft, name)), name


def test_diffusion_transform_names_missing_weights(small_clip: Path, tmp_path: Path) -> None:
    empty = tmp_path / "weights"
    empty.mkdir()
    out = tmp_path / "d.mp4"
    args = ["transform", str(small_clip), "-o", str(out), "--prompt", "rain", "--engine", "diffusion"]
    result = runner.invoke(app, [*args, "--model", "wan2.1-vace-1.3b", "--weights", str(empty), "-q"])
    assert result.exit_code == 2, result.output
    assert "model_index.json" in result.stderr and "shotcraft models pull wan2.1-vace-1.3b" in result.stderr
    assert not out.exists()
