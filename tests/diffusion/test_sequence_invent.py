"""A sequence that starts by inventing takes with tiny random models: takes with their seeds, a pick by
score, a final re-render of the picked draft, a classic transform of it; lineage back to the seed; a re-run
does no work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tests.output_contract import check_contract

from shotcraft.sequence import load_sequence, run_sequence, score_take, sequence_status

pytest.importorskip("torch")


def _sequence(folder: Path, pick: dict) -> Path:
    data = {
        "name": "tram",
        "start": {"invent": {"prompt": "a red car in the city", "model": "wan2.1-t2v-1.3b", "width": 32,
                             "height": 32, "duration": 0.5, "takes": 3, "seed": 21, "quality": "draft"}},
        "pick": pick,
        "transforms": [{"name": "night", "transform": {"operations": [{"op": "relight", "preset": "night"}]}}],
    }  # fmt: skip
    path = folder / "tram.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_invent_pick_by_score_then_transform(models_env: Path, tmp_path: Path) -> None:
    file = _sequence(tmp_path, {"score": "steadiest"})
    reports = run_sequence(load_sequence(file))
    assert [(r.name, r.ran) for r in reports] == [("start", True), ("pick", True), ("night", True)]
    out = tmp_path / "tram-output"
    takes = [out / f"tram_take{i}.mp4" for i in (1, 2, 3)]
    assert [json.loads(Path(f"{t}.json").read_text())["seed"] for t in takes] == [21, 22, 23]
    scores = [score_take(t, "steadiest") for t in takes]
    best = takes[scores.index(max(scores))]
    check_contract(best, out / "night.mp4")  # the transform keeps the picked take's frames, fps and duration
    record = json.loads((out / "night.mp4.json").read_text())
    assert record["lineage"]["parent"]["path"] == str(best)
    invent, pick = record["lineage"]["chain"]  # the steps before it; its own spec and engine are the record's
    assert invent["seeds"] == [21, 22, 23] and invent["model"] == "wan2.1-t2v-1.3b"
    assert pick["take"]["path"] == str(best) and pick["take"]["seed"] == 21 + takes.index(best)
    assert pick["take"]["by"] == "score steadiest" and len(pick["take"]["scores"]) == 3
    assert record["engine"] == "classic" and record["spec"]["operations"][0]["preset"] == "night"
    assert not any(r.ran for r in run_sequence(load_sequence(file)))


def test_picking_another_take_rerenders_only_from_the_pick_and_final_keeps_the_seed(
    models_env: Path, tmp_path: Path
) -> None:
    file = _sequence(tmp_path, {"take": 1})
    run_sequence(load_sequence(file))
    _sequence(tmp_path, {"seed": 22, "final": True})
    assert [r.state for r in sequence_status(load_sequence(file))] == ["done", "stale", "stale"]
    reports = run_sequence(load_sequence(file))
    assert [r.name for r in reports if r.ran] == ["pick", "night"]  # the takes are not invented again
    out = tmp_path / "tram-output"
    final = json.loads((out / "tram_final.mp4.json").read_text())
    assert final["seed"] == 22 and final["quality"] == "final"
    assert final["lineage"]["final_of"] == str(out / "tram_take2.mp4")
    night = json.loads((out / "night.mp4.json").read_text())
    assert night["lineage"]["parent"]["path"] == str(out / "tram_final.mp4")
    check_contract(out / "tram_final.mp4", out / "night.mp4")
