"""Split transforms: 2 local parts against 1 process, and Ray parts against local parts, on real footage;
and what encoding in segments costs in size.

    python bench/scale.py            # bikes (250 frames, 640x272), relight and the cartoon look, 3 runs each
    python bench/scale.py --quick    # one run each on the first 60 frames (a smoke test)

Every mode runs in this process through :func:`shotcraft.pipeline.transform`, runs alternating between modes
so load from other work on the machine falls on each alike; medians and ratios come from the same run.
``local`` keeps 2 spawned processes for every call, ``ray`` is one in-process Ray cluster of 2 CPUs; a
first, uncounted run of each mode warms them up (imports, numba), as a worker serving many jobs would be.
Peak memory: the largest local worker's peak RSS (the pool's processes are this process's children) and
this process's own. The load average before and after is printed: other work on the machine moves every
figure, the ratios least.

CPU seconds (less moved by load than wall time): a one-process transform (its rendering thread and the
others: codec threads, numba's and OpenCV's workers) and the join of 2 parts' segments (``write_take``), the
serial work a split adds, in this process; and for the local parts, medians over the counted runs of what
each part's process reported (:class:`~shotcraft.render.PartCost`): its CPU (all threads; the rendering
thread; in the engine's frames; until its first frame), its wall time, how long after the dispatch it
started, and the dispatching process's time before the dispatch and after the last part.

Segment cost: the size of the identity transform (a faithful re-encode, default crf 18) of bikes and
bigbuckbunny in encode segments of 1, 2 (the default) and 4 s, against one encoder for the whole clip.
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
from shotcraft.media.probe import probe
from shotcraft.media.samples import sample_clip
from shotcraft.media.synth import make_clip
from shotcraft.pipeline import transform
from shotcraft.plan import plan_transform
from shotcraft.render import PartCost, clip_grid, joined, part_overlap, render_part, split_parts, write_take
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
    print(f"load average before: {_load()}")
    # --quick: 0.6 s encode segments, so the 2.4 s clip holds 4 and splits into 2 parts.
    output = {"output": {"segment_seconds": 0.6}} if args.quick else {}
    specs = {name: TransformSpec.model_validate({**data, **output}) for name, data in SPECS.items()}
    for name, spec in specs.items():
        times: dict[str, list[float]] = {mode: [] for mode in modes}
        local_runs: list[tuple[float, float, float, list[PartCost]]] = []
        for run in range(runs + 1):  # run 0 warms up (numba, imports in the workers) and is not counted
            for mode, options in modes.items():
                out = folder / f"{name}-{mode}-{run}.mp4"
                start, began = time.perf_counter(), time.time()
                result = transform(source, out, spec, **options)
                if run:
                    times[mode].append(time.perf_counter() - start)
                    if mode == "local":
                        local_runs.append((began, local.dispatched, time.time(), local.costs))
                assert result.frame_count > 0
        median = {mode: statistics.median(values) for mode, values in times.items()}
        print(
            f"{name}: one {median['one']:.2f} s, 2 local parts {median['local']:.2f} s, "
            f"2 Ray parts {median['ray']:.2f} s; local speed-up {median['one'] / median['local']:.2f}x, "
            f"Ray/local time {median['ray'] / median['local']:.2f}"
        )
        part_costs(name, local_runs)
    local.close()  # its processes are reaped, so their peak RSS is counted below
    worker_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    main_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak RSS: largest local worker {worker_mb:.0f} MB, this process (one-process renders) {main_mb:.0f} MB"
    )
    ray.shutdown()
    print(f"load average after: {_load()}")
    for name, spec in specs.items():
        cpu_breakdown(source, folder, name, spec)
    segment_cost(folder)


def cpu_breakdown(source: Path, folder: Path, name: str, spec: TransformSpec) -> None:
    """CPU seconds of one process (its rendering thread and the others), and of joining 2 parts' segments."""
    started, thread = time.process_time(), time.thread_time()
    transform(source, folder / f"{name}-cpu-one.mp4", spec)
    one, one_thread = time.process_time() - started, time.thread_time() - thread
    plan = plan_transform(source, spec)
    parts = split_parts(clip_grid(plan.video, spec.output), 2, part_overlap(spec))
    segments = [folder / f"{name}-cpu-part{i}.mov" for i in range(len(parts))]
    for part, segment in zip(parts, segments, strict=True):
        render_part(source, spec, part, segment)
    started = time.process_time()
    write_take(plan, folder / f"{name}-cpu-split.mp4", joined(plan, segments), "-", overwrite=True, inputs=[])
    join = time.process_time() - started
    print(
        f"CPU s, {name}: one process {one:.2f} (rendering thread {one_thread:.2f}, other threads "
        f"{one - one_thread:.2f}); join of 2 parts {join:.3f}"
    )


def part_costs(name: str, runs: list[tuple[float, float, float, list[PartCost]]]) -> None:
    """Medians over the local runs: each part's CPU and wall seconds, and the dispatcher's serial time."""
    if not runs:
        return
    med = statistics.median
    print(
        f"{name}, 2 local parts (medians of {len(runs)}): before the dispatch "
        f"{med(d - b for b, d, _, _ in runs):.3f} s, after the last part "
        f"{med(e - max(c.finished for c in costs) for _, _, e, costs in runs):.3f} s"
    )
    for i in range(len(runs[0][3])):
        costs = [(d, run[i]) for _, d, _, run in runs]
        print(
            f"  part {i} ({costs[0][1].cores} core(s)): started {med(c.started - d for d, c in costs):.3f} s after the dispatch, wall "
            f"{med(c.finished - c.started for _, c in costs):.2f} s; CPU {med(c.cpu for _, c in costs):.2f} s "
            f"= rendering thread {med(c.thread for _, c in costs):.2f} (frames "
            f"{med(c.frames for _, c in costs):.2f}, to the first frame {med(c.first_frame for _, c in costs):.3f})"
            f" + other threads {med(c.cpu - c.thread for _, c in costs):.2f}"
        )


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def segment_cost(folder: Path) -> None:
    """Take size in segments of 1, 2 and 4 s against one segment (one encoder) for the whole clip."""
    for clip in ("bikes", "bigbuckbunny"):
        source = Path(sample_clip(clip))
        video = probe(source).require_video()
        sizes = {}
        for seconds in (1, 2, 4, 600):
            out = folder / f"{clip}-{seconds}.mp4"
            spec = TransformSpec.model_validate({"output": {"segment_seconds": seconds}})
            transform(source, out, spec, overwrite=True)
            segments = clip_grid(video, spec.output).segments
            sizes[f"{seconds} s: {segments} of {float(video.duration / segments):.2f} s"] = out.stat().st_size
        whole = sizes.pop(next(k for k in sizes if k.startswith("600 s")))
        costs = "; ".join(f"{k} +{100 * (size / whole - 1):.1f} %" for k, size in sizes.items())
        print(
            f"segment cost, {clip} ({float(video.duration):.2f} s): one encoder {whole / 1e3:.0f} kB; {costs}"
        )


if __name__ == "__main__":
    main()
