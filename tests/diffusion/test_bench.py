"""bench/gpu.py runs end to end in tiny mode on the CPU (its GPU numbers come from a GPU machine)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("diffusers")


def test_gpu_bench_runs_tiny_on_cpu(tmp_path):
    path = Path(__file__).resolve().parents[2] / "bench" / "gpu.py"
    spec = importlib.util.spec_from_file_location("bench_gpu", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.main(["--tiny", "--device", "cpu", "--steps", "2", "--json", str(tmp_path / "r.json")])
    rows = results["rows"]
    assert [r["settings"] for r in rows[:3]] == [
        "stock diffusers",
        "shotcraft",
        "shotcraft + FirstBlockCache",
    ]
    assert {r["case"] for r in rows} == {"t2v", "vace"}
    assert all(r["s_per_step"] > 0 for r in rows) and rows[0]["speedup_vs_stock"] == 1.0
    assert (tmp_path / "r.json").stat().st_size > 0
