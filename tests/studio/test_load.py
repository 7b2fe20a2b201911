"""50 concurrent clients on loopback create and poll small jobs: no errors, none lost, none duplicated."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "api_load.py"


def test_fifty_concurrent_clients(tmp_path):
    spec = importlib.util.spec_from_file_location("api_load", BENCH)
    api_load = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("api_load", api_load)  # dataclasses look their module up by name
    spec.loader.exec_module(api_load)
    report = api_load.run_load(clients=50, jobs_per_client=1, workers=2, timeout=150, home=tmp_path)
    assert report.errors == []
    assert len(report.jobs_created) == 50 == len(set(report.jobs_created))
    assert set(report.states.values()) == {"succeeded"}
    assert set(report.takes_per_job.values()) == {1}
    print(report.summary())
