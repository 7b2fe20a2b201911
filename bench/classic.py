"""Classic-engine throughput on these cores: relight here, and each other classic area's own ``measure``,
all against the identity transform of the same footage measured in the same run.

    python bench/classic.py                  # 720p and 1080p, 100 frames, 3 runs each
    python bench/classic.py --quick          # 360p, 30 frames, 1 run (a smoke test)
    python bench/classic.py --only relight   # just one area

Relight rows: the full transform (decode → relight → encode x264 veryfast crf 18, audio copied) for a
time-of-day preset with its directional light, one without a light, one with a rectangle lock and a
keyframe-guided grade, which is what the "≥ 30 fps at 720p" goal is about; and the relight *stage* alone
(decode → relight, frames dropped), to tell the stage's cost from the encoder's.

Every case also reports ``cpu fps``: frames per CPU second of this process, all threads (``getrusage``).
On cores shared with other work, wall-clock fps falls with the load while cpu fps holds; with two idle
cores the wall-clock fps lies between cpu fps and twice that.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from PIL import Image

from clock import median_seconds
from shotcraft.engines.classic.relight import Grade, PresetGrade, relight
from shotcraft.media.read import VideoReader
from shotcraft.media.synth import make_clip
from shotcraft.pipeline import transform
from shotcraft.plan import plan_transform
from shotcraft.spec import TransformSpec

BENCH = Path(__file__).resolve().parent
#: The other classic areas' benchmark modules, each with ``measure(width, height, frames, runs) -> dict``.
#: An area whose module is not written yet is listed but skipped; nothing else is silenced.
AREAS = ("classic_restyle", "classic_track", "classic_localize")  # classic_track also measures swap


def measure(width: int = 1280, height: int = 720, frames: int = 100, runs: int = 3) -> list[dict]:
    """Median fps of the relight cases and of the identity transform on the same real footage."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = make_clip(
            folder / "source.mp4", frames=frames, width=width, height=height, fps=25,
            footage="bigbuckbunny", audio_channels=2,
        )  # fmt: skip
        key = frames // 2
        graded = folder / "graded.png"
        warm = PresetGrade(None, Grade(temperature=40, contrast=0.2), None, width, height)
        Image.fromarray(warm(VideoReader(clip).frame_at(key))).save(graded)
        specs = {
            "relight golden_hour (transform)": {"operations": [{"op": "relight", "preset": "golden_hour"}]},
            "relight overcast, no light (transform)": {
                "operations": [{"op": "relight", "preset": "overcast"}]
            },
            "relight overcast + rect lock (transform)": {
                "operations": [{"op": "relight", "preset": "overcast"}],
                "locks": [
                    {
                        "kind": "rect",
                        "x": width // 8,
                        "y": height // 8,
                        "width": width // 4,
                        "height": height // 4,
                        "feather": 8,
                    }
                ],
            },
            "relight 1 graded keyframe (transform)": {
                "operations": [{"op": "relight", "keyframes": [{"at": {"frame": key}, "image": str(graded)}]}]
            },
        }
        identity, _ = median_seconds(
            lambda: transform(clip, folder / "identity.mp4", TransformSpec(), overwrite=True), runs
        )
        identity_fps = frames / identity

        def row(name: str, seconds: tuple[float, float]) -> dict:
            fps = frames / seconds[0]
            return {
                "name": name, "size": f"{width}x{height}", "frames": frames, "fps": round(fps, 1),
                "cpu_fps": round(frames / seconds[1], 1),
                "baseline": "identity transform", "baseline_fps": round(identity_fps, 1),
                "ratio": round(fps / identity_fps, 3),
            }  # fmt: skip

        for name, data in specs.items():
            spec = TransformSpec.model_validate(data)
            rows.append(
                row(
                    name,
                    median_seconds(
                        lambda s=spec: transform(clip, folder / "out.mp4", s, overwrite=True), runs
                    ),
                )
            )
        stage_spec = TransformSpec.model_validate(specs["relight golden_hour (transform)"])
        plan = plan_transform(clip, stage_spec)

        def stage() -> None:
            reader = VideoReader(clip, plan.source)
            for _ in relight(plan, stage_spec.operations[0], reader.frames(), reader):
                pass

        rows.append(row("relight golden_hour (decode + stage, no encode)", median_seconds(stage, runs)))
    return rows


def _area(name: str) -> ModuleType | None:
    path = BENCH / f"{name}.py"
    if not path.is_file():
        return None
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="360p, 30 frames, one run")
    parser.add_argument("--only", help="one area: relight, or a module name such as classic_restyle")
    args = parser.parse_args()
    sizes = [(640, 360, 30, 1)] if args.quick else [(1280, 720, 100, 3), (1920, 1080, 100, 3)]
    rows: list[dict] = []
    areas: list[tuple[str, dict]] = []
    for width, height, frames, runs in sizes:
        if args.only in (None, "relight"):
            rows += measure(width, height, frames, runs)
        for name in AREAS:
            if args.only not in (None, name):
                continue
            module = _area(name)
            if module is None:
                print(f"({name}: no bench/{name}.py yet, skipped)", file=sys.stderr)
                continue
            areas.append((f"{name} {width}x{height}", module.measure(width, height, frames, runs)))
    if rows:
        print(f"{'case':<50} {'size':>9} {'fps':>7} {'cpu fps':>8} {'identity fps':>13} {'ratio':>6}")
    for r in rows:
        cpu_fps = r.get("cpu_fps", "")
        print(
            f"{r['name']:<50} {r['size']:>9} {r['fps']:>7} {cpu_fps:>8} {r['baseline_fps']:>13} {r['ratio']:>6}"
        )
    # Each area reports its own measures (fps, CPU time, its baseline and ratio) under its own names.
    for title, result in areas:
        values = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items())
        print(f"{title}: {values}")


if __name__ == "__main__":
    main()
