"""Output safety: a user's file is never lost (issue 9).

The rules live in :mod:`shotcraft.media.output_path`; these tests check them through the pipeline, the CLI
and real signals: existing files only with ``overwrite``, folders/devices/inputs never, the output and its
sidecar together or not at all, and no temporary left after SIGINT, SIGTERM or a killed process.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from typer.testing import CliRunner

from shotcraft.cli import app
from shotcraft.errors import MediaError, SpecError
from shotcraft.media import probe
from shotcraft.media.synth import make_clip
from shotcraft.pipeline import transform
from shotcraft.spec import OutputSpec, RelightOp, TransformSpec, validate_spec
from test_cli_bad_input import snapshot

runner = CliRunner()
SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("tiny") / "clip.mp4", frames=4, width=32, height=24)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- the rules, through the pipeline ---------------------------------------------------------------------


def test_existing_folder_is_never_wiped(tiny: Path, tmp_path: Path) -> None:
    folder = tmp_path / "footage"
    folder.mkdir()
    source = Path(shutil.copy(tiny, folder / "clip.mp4"))
    (folder / "notes.txt").write_text("keep")
    for target in (folder, tmp_path):
        with pytest.raises(MediaError):
            transform(source, target, overwrite=True)
    assert source.exists() and (folder / "notes.txt").read_text() == "keep"


def test_png_sequence_into_an_empty_folder(tiny: Path, tmp_path: Path) -> None:
    empty = tmp_path / "frames"
    empty.mkdir()
    result = transform(tiny, empty)
    assert len(list(empty.glob("*.png"))) == 4 and result.sidecar.exists()


def test_existing_file_replaced_only_with_overwrite(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    out.write_text("mine")
    with pytest.raises(MediaError, match="--overwrite"):
        transform(tiny, out)
    assert out.read_text() == "mine"
    transform(tiny, out, overwrite=True)
    assert probe(out).video.frame_count == 4


def test_sidecar_never_overwrites_the_source(tiny: Path, tmp_path: Path) -> None:
    source = Path(shutil.copy(tiny, tmp_path / "clip.mp4.json"))
    before = source.read_bytes()
    with pytest.raises(MediaError, match="source clip"):
        transform(source, tmp_path / "clip.mp4", overwrite=True)
    assert source.read_bytes() == before and not (tmp_path / "clip.mp4").exists()


def test_output_and_sidecar_appear_together_on_disk_full(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shotcraft.media.write as write

    def full(path: Path, data: dict) -> None:
        Path(path).write_text("")  # the partial the disk had room for
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(write, "_write_json", full)
    out = tmp_path / "o.mp4"
    with pytest.raises(MediaError, match="disk is full"):
        transform(tiny, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no video, no sidecar, no partials


def test_reframe_and_format_refused_by_the_api(tiny: Path, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="positive"):
        validate_spec({"reframe": {"aspect": "16:0"}}, TransformSpec)
    spec = TransformSpec(output=OutputSpec(format="mov_prores"))
    with pytest.raises(SpecError, match="cannot be written"):
        transform(tiny, tmp_path / "o.mp4", spec)
    assert not list(tmp_path.iterdir())


def test_pixel_budget(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOTCRAFT_MAX_PIXELS", "500")
    with pytest.raises(SpecError, match="SHOTCRAFT_MAX_PIXELS=768"):
        transform(tiny, tmp_path / "o.mp4", TransformSpec(operations=[RelightOp(preset="night")]))
    monkeypatch.setenv("SHOTCRAFT_MAX_PIXELS", "768")
    assert transform(tiny, tmp_path / "o.mp4").frame_count == 4


def test_pixel_budget_default_allows_8k_refuses_8000_square() -> None:
    from shotcraft.plan import check_pixel_budget

    check_pixel_budget(3840, 2160, "4K")
    check_pixel_budget(7680, 4320, "8K")
    with pytest.raises(SpecError, match="64.0 megapixels"):
        check_pixel_budget(8000, 8000, "big.mp4")


def test_png_named_mp4_says_what_was_read(tmp_path: Path) -> None:
    fake = tmp_path / "still.mp4"
    Image.fromarray(np.full((24, 32, 3), 90, np.uint8)).save(fake, format="PNG")
    result = runner.invoke(app, ["transform", str(fake), "-o", str(tmp_path / "o.mp4"), "-q"])
    assert result.exit_code == 0, result.output
    assert "holds one PNG image, not a video" in result.output


# -- temporaries of processes that are gone ---------------------------------------------------------------


def test_stale_partials_of_dead_processes_are_removed(tiny: Path, tmp_path: Path) -> None:
    from shotcraft.media.output_path import PARTIAL_NAME, remove_stale_partials

    dead = _dead_pid()
    stale = tmp_path / f".take.partial-{dead}.mp4"
    stale_sidecar = tmp_path / f".take.mp4.partial-{dead}.json"
    stale_frames = tmp_path / f".frames.partial-{dead}"
    for path in (stale, stale_sidecar):
        path.write_bytes(b"half")
    stale_frames.mkdir()
    (stale_frames / "frames_000000.png").write_bytes(b"png")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        alive = tmp_path / f".other.partial-{live.pid}.mp4"
        alive.write_bytes(b"in progress")
        mine = tmp_path / f".partial-{dead}.mp4"  # not the program's pattern: a user's file
        mine.write_bytes(b"user")
        odd = tmp_path / f".odd.partial-{dead}"  # a folder holding something else is left alone
        odd.mkdir()
        (odd / "diary.txt").write_text("user")
        transform(tiny, tmp_path / "take.mp4")
        assert not stale.exists() and not stale_sidecar.exists() and not stale_frames.exists()
        assert alive.exists() and mine.exists() and (odd / "diary.txt").exists()
    finally:
        live.kill()
        live.wait()
    assert PARTIAL_NAME.match(f".take.mp4.partial-{dead}.json")
    assert remove_stale_partials(tmp_path / "missing") == []


# -- signals: a real process, SIGINT and SIGTERM ------------------------------------------------------------


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough that a relight is still running when the signal comes."""
    return make_clip(tmp_path_factory.mktemp("long") / "long.mp4", frames=400, width=320, height=240)


@pytest.mark.parametrize(
    ("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_signal_leaves_nothing(long_clip: Path, tmp_path: Path, sig: int, code: int, word: str) -> None:
    out = tmp_path / "out.mp4"
    env = {**os.environ, "PYTHONPATH": SRC}
    cmd = [
        sys.executable,
        "-m",
        "shotcraft",
        "transform",
        str(long_clip),
        "-o",
        str(out),
        "--relight",
        "night",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while (
            not list(tmp_path.glob(".out.partial-*")) and proc.poll() is None and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, (stdout, stderr)
    assert stderr.strip() == f"{word}; nothing was written"
    assert list(tmp_path.iterdir()) == []


# -- property: whatever the output path, no existing byte outside the new output changes -------------------

NAMES = [
    "new.mp4", "new_frames", "sub/new.mp4", "clip.mp4", ".", "footage", "footage/clip.mp4", "existing.mp4",
    "existing.mp4.json", "collide.mp4", "empty", "fifo", "fifo.mp4", "link_dir", "link_file.mp4", "link_src.mp4",
    "dangling.mp4", "footage/notes.txt", "existing.mkv", "link_fifo.mp4",
]  # fmt: skip


def _tree(root: Path, source: Path) -> Path:
    footage = root / "footage"
    footage.mkdir()
    clip = Path(shutil.copy(source, footage / "clip.mp4"))
    (footage / "notes.txt").write_text("notes")
    shutil.copy(source, root / "clip.mp4")
    (root / "existing.mp4").write_bytes(b"old video")
    (root / "existing.mkv").write_bytes(b"old mkv")
    (root / "existing.mp4.json").write_text(json.dumps({"old": True}))
    (root / "collide.mp4.json").write_text("a user's own JSON")  # the sidecar name of collide.mp4
    (root / "empty").mkdir()
    os.mkfifo(root / "fifo")
    os.mkfifo(root / "fifo.mp4")
    (root / "link_dir").symlink_to(footage)
    (root / "link_file.mp4").symlink_to(root / "existing.mkv")
    (root / "link_src.mp4").symlink_to(clip)
    (root / "dangling.mp4").symlink_to(root / "gone.mp4")
    (root / "link_fifo.mp4").symlink_to(root / "fifo")
    return clip


@settings(max_examples=40, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(name=st.sampled_from(NAMES), overwrite=st.booleans(), source_here=st.booleans())
def test_no_existing_byte_changes(tiny: Path, name: str, overwrite: bool, source_here: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        clip = _tree(root, tiny)
        source = root / "clip.mp4" if source_here else clip
        output = root / name
        before = snapshot(root)
        replaceable = set()
        if overwrite:
            for path in (output, Path(f"{output}.json")):
                if os.path.lexists(path) and os.path.isfile(path):
                    replaceable.add(str(path))
        try:
            transform(source, output, overwrite=overwrite)
            made = True
        except (MediaError, SpecError):
            made = False
        after = snapshot(root)
        for path, entry in before.items():
            if path in replaceable or (made and path == str(output)):
                continue  # the output itself (an empty folder for frames, or a file with overwrite)
            assert after.get(path) == entry, (name, overwrite, path)
        new = set(after) - set(before)
        assert not [p for p in new if Path(p).name.startswith(".")], new  # no temporaries left
        if not made:
            assert not new, new


def test_studio_take_folder_loses_a_killed_workers_partial(tiny: Path, tmp_path: Path) -> None:
    """A worker killed while assembling leaves ``takes/<job>/.take.partial-PID.mp4``; the retried job's
    writer removes it once that process is gone."""
    from shotcraft.studio.chunks import ChunkedTransform

    takes = tmp_path / "takes" / "job1"
    takes.mkdir(parents=True)
    stale = takes / f".take.partial-{_dead_pid()}.mp4"
    stale.write_bytes(b"half a take")
    spec = TransformSpec(operations=[RelightOp(preset="night")])
    result = ChunkedTransform(tiny, takes / "take.mp4", spec, tmp_path / "work" / "job1", 2).run()
    assert result.frame_count == 4
    assert sorted(p.name for p in takes.iterdir()) == ["take.mp4", "take.mp4.json"]


def test_a_signal_inside_a_compiled_kernel_is_still_an_interrupt() -> None:
    """numba turns an exception raised by the signal handler during its call into a SystemError whose
    context is the interrupt: the command must still say so and exit 143, not print a traceback."""
    import typer

    from shotcraft.cli.app import Terminated, friendly

    @friendly
    def command() -> None:
        try:
            raise Terminated()
        except Terminated:
            raise SystemError("CPUDispatcher(...) returned a result with an exception set") from None

    with pytest.raises(typer.Exit) as stopped:
        command()
    assert stopped.value.exit_code == 143
