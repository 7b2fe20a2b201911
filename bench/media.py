"""Identity-transform throughput against the bundled ffmpeg doing the same transcode, and peak memory.

    python bench/media.py            # 720p and 1080p, 3 runs each, plus the 60 s 1080p memory check
    python bench/media.py --quick    # one short run each (a smoke test)

Both sides run as separate processes with the same codec settings (libx264, crf 18, preset veryfast,
audio copied), so the ratio compares like with like; memory is the peak RSS of our process.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import imageio_ffmpeg

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
SHOTCRAFT = [sys.executable, "-m", "shotcraft.cli"]


def make_source(path: Path, width: int, height: int, seconds: int) -> Path:
    """Real-looking test footage (ffmpeg's testsrc2 plus noise) with stereo AAC, encoded once up front."""
    subprocess.run(
        [FFMPEG, "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=25:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-vf", "noise=alls=12:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "20",
         "-c:a", "aac", "-ac", "2", "-shortest", str(path)],
        check=True,
    )  # fmt: skip
    return path


def run_timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before) / 1024


def ours(src: Path, out: Path) -> list[str]:
    return [
        *SHOTCRAFT,
        "transform",
        str(src),
        "-o",
        str(out),
        "--crf",
        "18",
        "--encoder-preset",
        "veryfast",
        "-q",
    ]


def ffmpeg(src: Path, out: Path) -> list[str]:
    return [FFMPEG, "-v", "error", "-y", "-i", str(src), "-map", "0", "-c:v", "libx264", "-crf", "18",
            "-preset", "veryfast", "-c:a", "copy", str(out)]  # fmt: skip


def peak_rss_of(cmd: list[str]) -> float:
    """Peak RSS (MB) of a fresh child, measured in its own process so earlier children don't mask it."""
    probe = (
        "import resource,subprocess,sys;subprocess.run(sys.argv[1:],check=True,stdout=subprocess.DEVNULL);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", probe, *cmd], check=True, capture_output=True, text=True)
    return int(out.stdout.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short clips, one run each")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    seconds = 2 if args.quick else 10
    long_seconds = 4 if args.quick else 60
    print(f"# media bench, {date.today()}, {platform.node()}, {platform.processor() or platform.machine()}")
    print(
        f"{'size':>6} {'frames':>6} {'shotcraft fps':>14} {'ffmpeg fps':>11} {'ratio (time ours/ffmpeg)':>25}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for width, height in ((1280, 720), (1920, 1080)):
            src = make_source(folder / f"src_{height}.mp4", width, height, seconds)
            frames = seconds * 25
            t_ours = statistics.median(run_timed(ours(src, folder / "ours.mp4"))[0] for _ in range(runs))
            t_ff = statistics.median(run_timed(ffmpeg(src, folder / "ff.mp4"))[0] for _ in range(runs))
            print(
                f"{height:>5}p {frames:>6} {frames / t_ours:>14.1f} {frames / t_ff:>11.1f} {t_ours / t_ff:>25.2f}"
            )
        long_src = make_source(folder / "long_1080.mp4", 1920, 1080, long_seconds)
        peak = peak_rss_of(ours(long_src, folder / "long_out.mp4"))
        print(
            f"peak RSS, identity transform of a {long_seconds} s 1080p clip: {peak:.0f} MB (goal < 1024 MB)"
        )


if __name__ == "__main__":
    main()
