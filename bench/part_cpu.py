"""CPU seconds of a transform in one process and of each of its 2 parts in a part's process, on bikes, split
into the rendering thread and the others (codec threads, numba's and OpenCV's workers): less moved by other
work on the machine than wall time, and comparable between trees.

    PYTHONPATH=src python bench/part_cpu.py relight one     # or: cartoon; part (each part after a warm-up)

``part`` sets this process up as :class:`~shotcraft.executors.LocalExecutor` sets up its 2 processes on this
machine (a tree older than :mod:`shotcraft.threads` set OpenCV's threads alone) and renders each part with
:func:`~shotcraft.render.render_part` 3 times after one uncounted run; ``one`` runs the whole transform so.
Medians are printed.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

SPECS = {
    "relight": {
        "operations": [{"op": "relight", "preset": "night", "light": {"azimuth": 60, "intensity": 0.6}}]
    },
    "cartoon": {"operations": [{"op": "restyle", "look": "cartoon"}]},
}


def main() -> None:
    name, mode = sys.argv[1], sys.argv[2]
    share = max(1, (os.cpu_count() or 1) // 2)
    if mode == "part":
        try:
            from shotcraft.threads import share_cores
        except ImportError:  # a tree before shotcraft.threads: its workers set OpenCV's threads only
            import cv2

            cv2.setNumThreads(share)
        else:
            share_cores(share)
    from shotcraft.media.samples import sample_clip
    from shotcraft.pipeline import transform
    from shotcraft.plan import plan_transform
    from shotcraft.render import clip_grid, part_overlap, render_part, split_parts
    from shotcraft.spec import TransformSpec

    spec = TransformSpec.model_validate(SPECS[name])
    source = Path(sample_clip("bikes"))
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"part-cpu-{name}-{mode}-{os.getpid()}.mp4"
    if mode == "one":
        jobs = {"one process": lambda: transform(source, out, spec, overwrite=True)}
    else:
        parts = split_parts(clip_grid(plan_transform(source, spec).video, spec.output), 2, part_overlap(spec))
        jobs = {
            f"part {i} ({p.start}-{p.stop})": lambda p=p: render_part(
                source, spec, p, out.with_suffix(".mov")
            )
            for i, p in enumerate(parts)
        }
    next(iter(jobs.values()))()  # imports, numba's cache, the flow cache
    for label, job in jobs.items():
        runs = []
        for _ in range(3):
            cpu, thread = time.process_time(), time.thread_time()
            job()
            runs.append((time.process_time() - cpu, time.thread_time() - thread))
        cpu, thread = (statistics.median(r[k] for r in runs) for k in range(2))
        print(
            f"{name}, {label}: CPU {cpu:.2f} s = rendering thread {thread:.2f} + other threads {cpu - thread:.2f}"
        )
    out.unlink(missing_ok=True)
    out.with_suffix(".mov").unlink(missing_ok=True)
    Path(f"{out}.json").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
