"""Split transforms: 2 local parts against 1 process, and Ray parts against local parts, on real footage.

    python bench/scale.py            # bikes (250 frames, 640x272), relight and the cartoon look, 3 runs each
    python bench/scale.py --quick    # one run each on the first 60 frames (a smoke test)

Every mode runs in this process through :func:`shotcraft.pipeline.transform`, runs alternating between modes
so load from other work on the machine falls on each alike; medians and ratios come from the same run.
``local`` keeps 2 spawned processes for every call, ``ray`` is one in-process Ray cluster of 2 CPUs; a
first, uncounted run of each mode warms them up (imports, numba), as a worker serving many jobs would be. Peak memory: the largest local worker's peak RSS (the pool's processes
are this process's children) and this process's own.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from shotcraft.executors import LocalExecutor, RayExecutor
from shotcraft.media.samples import sample_clip
from shotcraft.media.synth import make_clip
from shotcraft.pipeline import transform
from shotcraft.spec import TransformSpec

SPECS = {
    "relight": {
        "operations": [{"op": "relight", "preset": "night", "light": {"azimuth": 60, "intensity": 0.6}}]
    },
    "cartoon": {"operations": [{"op": "restyle", "look": "cartoon"}]},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    folder = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    source = Path(sample_clip("bikes"))
    if args.quick:
        source = make_clip(folder / "bikes60.mp4", frames=60, width=640, height=272, footage="bikes")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    local = LocalExecutor(2)
    modes = {
        "one": {"parts": 1},
        "local": {"parts": 2, "executor": local},
        "ray": {"parts": 2, "executor": RayExecutor()},
    }
    print(f"# {date.today()} {platform.machine()} {os.cpu_count()} CPUs, {source.name}, {runs} run(s)")
    for name, data in SPECS.items():
        spec = TransformSpec.model_validate(data)
        times: dict[str, list[float]] = {mode: [] for mode in modes}
        for run in range(runs + 1):  # run 0 warms up (numba, imports in the workers) and is not counted
            for mode, options in modes.items():
                out = folder / f"{name}-{mode}-{run}.mp4"
                start = time.perf_counter()
                result = transform(source, out, spec, **options)
                if run:
                    times[mode].append(time.perf_counter() - start)
                assert result.frame_count > 0
        median = {mode: statistics.median(values) for mode, values in times.items()}
        print(
            f"{name}: one {median['one']:.2f} s, 2 local parts {median['local']:.2f} s, "
            f"2 Ray parts {median['ray']:.2f} s; local speed-up {median['one'] / median['local']:.2f}x, "
            f"Ray/local time {median['ray'] / median['local']:.2f}"
        )
    local.close()  # its processes are reaped, so their peak RSS is counted below
    worker_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    main_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak RSS: largest local worker {worker_mb:.0f} MB, this process (one-process renders) {main_mb:.0f} MB"
    )
    ray.shutdown()


if __name__ == "__main__":
    main()
