"""bench/gpu.py on the CPU: its rows run in processes of their own on tiny models, each result is in the
JSON-lines file as soon as it is measured, a crashing row loses nothing else, and the run stops inside its
time budget (its GPU numbers come from a GPU machine)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers")


def _bench():
    path = Path(__file__).resolve().parents[2] / "bench" / "gpu.py"
    spec = importlib.util.spec_from_file_location("bench_gpu", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_gpu"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_gpu_bench_runs_each_tiny_row_in_its_own_process(tmp_path):
    out = tmp_path / "bench.jsonl"
    records = _bench().main(
        ["--tiny", "--device", "cpu", "--steps", "3", "--cases", "t2v", "--out", str(out)]
    )
    assert [r["settings"] for r in records] == ["stock diffusers", "shotcraft", "shotcraft + FirstBlockCache"]
    assert all(r["status"] == "ok" and r["s_per_step"] > 0 and r["first_step_s"] > 0 for r in records)
    assert all(r["timed_steps"] == 2 for r in records)  # the first step is timed on its own
    lines = _lines(out)
    assert lines[0]["device"] == "cpu" and lines[1:4] == records
    assert lines[-1]["summary"]["wan2.1-t2v-1.3b / stock diffusers"] == 1.0


def test_a_crashing_row_loses_nothing_and_the_budget_stops_the_run(tmp_path):
    bench = _bench()
    out = tmp_path / "rows.jsonl"
    python = sys.executable
    write = f"import json; open({str(out)!r}, 'a').write(json.dumps({{'name': 'a', 'status': 'ok'}}) + '\\n')"
    rows = [
        bench.Row({"name": "a"}, [python, "-c", write]),
        bench.Row({"name": "b"}, [python, "-c", "import sys; sys.exit('the card caught fire')"]),
        bench.Row({"name": "c"}, [python, "-c", "import time; time.sleep(600)"]),
        bench.Row({"name": "d"}, [python, "-c", "pass"]),
    ]
    records = bench.run_rows(rows, out, budget_s=bench.MARGIN_S + 8)
    assert [r["status"] for r in records] == ["ok", "crashed", "timeout", "skipped"]
    assert "the card caught fire" in records[1]["error"] and records[1]["returncode"] == 1
    assert _lines(out) == records  # each one written, in order
