"""Identity-transform throughput against the bundled ffmpeg doing the same transcode, and peak memory.

    python bench/media.py            # 720p and 1080p, 3 runs each, plus the 60 s 1080p memory check
    python bench/media.py --quick    # one short run each (a smoke test)

Both sides run as separate processes with the same codec settings (libx264, crf 18, preset veryfast,
frame-threaded, audio copied), so the ratio compares like with like, start-up and imports included; runs
alternate between the two so load from other work on the machine falls on both alike. Next to wall time
each side's CPU seconds (user + system, all threads) are printed: on shared cores they are the steadier
measure of work done. Memory is the peak RSS of our process.
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
    """Wall seconds and CPU seconds (user + system, every thread) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


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
        f" {'shotcraft cpu s':>16} {'ffmpeg cpu s':>13} {'cpu ratio':>10}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for width, height in ((1280, 720), (1920, 1080)):
            src = make_source(folder / f"src_{height}.mp4", width, height, seconds)
            frames = seconds * 25
            mine, theirs = [], []
            for _ in range(runs):
                mine.append(run_timed(ours(src, folder / "ours.mp4")))
                theirs.append(run_timed(ffmpeg(src, folder / "ff.mp4")))
            t_ours, c_ours = (statistics.median(x) for x in zip(*mine, strict=True))
            t_ff, c_ff = (statistics.median(x) for x in zip(*theirs, strict=True))
            print(
                f"{height:>5}p {frames:>6} {frames / t_ours:>14.1f} {frames / t_ff:>11.1f} {t_ours / t_ff:>25.2f}"
                f" {c_ours:>16.2f} {c_ff:>13.2f} {c_ours / c_ff:>10.2f}"
            )
        long_src = make_source(folder / "long_1080.mp4", 1920, 1080, long_seconds)
        peak = peak_rss_of(ours(long_src, folder / "long_out.mp4"))
        print(
            f"peak RSS, identity transform of a {long_seconds} s 1080p clip: {peak:.0f} MB (goal < 1024 MB)"
        )


if __name__ == "__main__":
    main()
