"""Bad input of every kind, as a new user or an attacker would try it: each is refused with exit code 2 and
exactly one line, no traceback, nothing left behind in the folder, and the source's bytes untouched.

Each case runs in a folder of its own holding a copy of a tiny clip (``clip.mp4``) and whatever the case
sets up; the folder is snapshotted (type and bytes of every entry) before and compared after.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from shotcraft.cli import app
from shotcraft.media.synth import make_clip

runner = CliRunner()

BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi", strict=True)]
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 frames at 64x48 with stereo audio: the source every case copies."""
    return make_clip(tmp_path_factory.mktemp("tiny") / "clip.mp4", frames=6, width=64, height=48,
                     audio_channels=2)  # fmt: skip


def snapshot(folder: Path) -> dict[str, tuple[str, str]]:
    """Every entry under ``folder``: its type and its bytes' hash (or a link's target)."""
    seen: dict[str, tuple[str, str]] = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root, name)
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                seen[str(path)] = ("link", os.readlink(path))
            elif stat.S_ISREG(mode):
                seen[str(path)] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
            else:
                seen[str(path)] = (oct(stat.S_IFMT(mode)), "")
    return seen


def _png(path: Path, size: tuple[int, int], value: int = 128) -> Path:
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path, format="PNG")
    return path


def _wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(b"\0\0" * 800)
    return path


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _dir(path: Path, *files: str) -> Path:
    path.mkdir()
    for name in files:
        (path / name).write_text("keep me")
    return path


def _link(path: Path, target: Path) -> Path:
    path.symlink_to(target)
    return path


T = ["transform"]
#: name -> (set-up in folder d with the source s, returning argv; a word the one line must hold)
Case = tuple[Callable[[Path, Path], list[str]], str]
CASES: dict[str, Case] = {
    # -- the source ----------------------------------------------------------------------------------------
    "missing source": (lambda d, s: [*T, str(d / "nope.mp4"), "-o", str(d / "o.mp4")], "does not exist"),
    "empty source": (lambda d, s: [*T, str(_write(d / "e.mp4", b"")), "-o", str(d / "o.mp4")], "empty"),
    "truncated source": (
        lambda d, s: [*T, str(_write(d / "t.mp4", s.read_bytes()[:300])), "-o", str(d / "o.mp4")],
        "t.mp4",
    ),
    "random bytes": (
        lambda d, s: [*T, str(_write(d / "r.mp4", os.urandom(4096))), "-o", str(d / "o.mp4")],
        "not a readable media file",
    ),
    "text file as source": (
        lambda d, s: [*T, str(_write(d / "notes.mp4", "hello\n" * 50)), "-o", str(d / "o.mp4")],
        "notes.mp4",
    ),
    "folder as source": (lambda d, s: [*T, str(_dir(d / "in")), "-o", str(d / "o.mp4")], "is a folder"),
    "fifo as source": (lambda d, s: [*T, str(_fifo(d / "p.mp4")), "-o", str(d / "o.mp4")], "regular file"),
    "audio-only source": (lambda d, s: [*T, str(_wav(d / "a.wav")), "-o", str(d / "o.mp4")], "audio only"),
    "probe missing file": (lambda d, s: ["probe", str(d / "nope.mp4")], "does not exist"),
    # -- keyframes, masks, locks -----------------------------------------------------------------------------
    "keyframe past the end (seconds)": (
        lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "-k", f"5s:{_png(d / 'k.png', (64, 48))}"],
        "clip lasts",
    ),
    "keyframe past the end (frame)": (
        lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "-k", f"f99:{_png(d / 'k.png', (64, 48))}"],
        "clip has 6 frames",
    ),
    "keyframe image missing": (
        lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "-k", f"f1:{d / 'none.png'}"],
        "does not exist",
    ),
    "keyframe time ambiguous": (
        lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "-k", "0.5:k.png"],
        "ambiguous",
    ),
    "keyframe of another aspect": (
        lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "-k", f"f1:{_png(d / 'w.png', (128, 48))}"],
        "aspect ratio differs",
    ),
    "keyframe not an image": (
        lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "-k", f"f1:{_write(d / 'k.png', 'no')}"],
        "not a readable image",
    ),
    "mask of the wrong size": (
        lambda d, s: [
            *T,
            str(s),
            "-o",
            str(d / "o.mp4"),
            "--relight",
            "night",
            "--lock",
            f"mask:{_png(d / 'm.png', (32, 32))}",
        ],
        "32x32",
    ),
    "mask clip too short": (
        lambda d, s: [
            *T,
            str(s),
            "-o",
            str(d / "o.mp4"),
            "--relight",
            "night",
            "--lock",
            f"mask:{make_clip(d / 'm.mp4', frames=2, width=64, height=48)}",
        ],
        "has 2 frames",
    ),
    "mask missing": (
        lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "--relight", "night", "--lock", "mask:none.png"],
        "does not exist",
    ),
    "unknown lock kind": (lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "--lock", "blob:3"], "unknown"),
    "rect lock outside the frame": (
        lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "--relight", "night", "--lock", "rect:500,0,4,4"],
        "outside",
    ),
    # -- spec values ---------------------------------------------------------------------------------------
    "reframe 0:0": (lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "--reframe", "0:0"], "positive"),
    "reframe 16:0": (lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "--reframe", "16:0"], "positive"),
    "reframe 1:1000": (lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "--reframe", "1:1000"], "extreme"),
    "reframe words": (lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "--reframe", "tall"], "reframe"),
    "motion 12": (lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "--motion", "12"], "1 to 9"),
    "motion words": (lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "--motion", "lots"], "1 to 9"),
    "structure 0": (lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "--structure", "0"], "1 to 9"),
    "unknown relight preset": (
        lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "--relight", "sunrise"],
        "allowed values",
    ),
    "exposure out of range": (
        lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "--relight", "custom", "--exposure", "99"],
        "6",
    ),
    "crf out of range": (lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "--crf", "99"], "51"),
    "unknown format": (lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "--format", "gif"], "allowed"),
    "prores into mp4": (
        lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "--format", "mov_prores"],
        "cannot be written",
    ),
    "png sequence named mp4": (
        lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "--format", "png_sequence"],
        "folder",
    ),
    "unknown output suffix": (lambda d, s: [*T, str(s), "-o", str(d / "o.avi")], "cannot be written"),
    "pixel budget": (lambda d, s: [*T, str(s), "-o", str(d / "o.mp4")], "SHOTCRAFT_MAX_PIXELS"),
    # -- spec files ----------------------------------------------------------------------------------------
    "invalid yaml": (
        lambda d, s: [
            *T,
            str(s),
            "-o",
            str(d / "o.mp4"),
            "--spec",
            str(_write(d / "s.yaml", "a: [b\nc: : :")),
        ],
        "not valid YAML",
    ),
    "yaml python tag": (
        lambda d, s: [
            *T,
            str(s),
            "-o",
            str(d / "o.mp4"),
            "--spec",
            str(_write(d / "s.yaml", 'prompt: !!python/object/apply:os.system ["touch pwned"]\n')),
        ],
        "constructor",
    ),
    "billion laughs": (
        lambda d, s: [
            *T,
            str(s),
            "-o",
            str(d / "o.mp4"),
            "--spec",
            str(_write(d / "s.yaml", BILLION_LAUGHS)),
        ],
        "expands",
    ),
    "spec not a mapping": (
        lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "--spec", str(_write(d / "s.yaml", "- 1\n- 2\n"))],
        "mapping",
    ),
    "spec unknown settings": (
        lambda d, s: [
            *T,
            str(s),
            "-o",
            str(d / "o.mp4"),
            "--spec",
            str(_write(d / "s.yaml", "x: 1\ny: 2\n")),
        ],
        "unknown settings",
    ),
    "spec missing": (lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "--spec", str(d / "s.yaml")], "exist"),
    "spec invalid json": (
        lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "--spec", str(_write(d / "s.json", "{,}"))],
        "not valid JSON",
    ),
    # -- outputs -------------------------------------------------------------------------------------------
    "existing output without -y": (
        lambda d, s: [*T, str(s), "-o", str(_write(d / "o.mp4", "precious"))],
        "--overwrite",
    ),
    "existing sidecar without -y": (
        lambda d, s: (
            [*T, str(s), "-o", str(d / "o.mp4"), "--relight", "night"]
            if _write(d / "o.mp4.json", "{}")
            else []
        ),
        "--overwrite",
    ),
    "output is the source": (lambda d, s: [*T, str(s), "-o", str(s)], "source"),
    "output is the source, with -y": (lambda d, s: [*T, str(s), "-o", str(s), "-y"], "source"),
    "output is a hard link to the source": (
        lambda d, s: [*T, str(s), "-o", str(d / "h.mp4"), "-y"] if os.link(s, d / "h.mp4") is None else [],
        "source",
    ),
    "output is a symlink to the source": (
        lambda d, s: [*T, str(s), "-o", str(_link(d / "l.mp4", s)), "-y"],
        "source",
    ),
    "output is the source's folder": (lambda d, s: [*T, str(s), "-o", str(d)], "source"),
    "output is a folder with files": (
        lambda d, s: [*T, str(s), "-o", str(_dir(d / "keep", "a.txt"))],
        "not empty",
    ),
    "output folder with a video name": (
        lambda d, s: [*T, str(s), "-o", str(_dir(d / "v.mp4", "a.txt")), "-y"],
        "folder",
    ),
    "output is a fifo": (lambda d, s: [*T, str(s), "-o", str(_fifo(d / "f.mp4")), "-y"], "FIFO"),
    "output is a symlink to a folder": (
        lambda d, s: [*T, str(s), "-o", str(_link(d / "ld", _dir(d / "real", "a.txt")))],
        "symbolic link",
    ),
    "output is a dangling symlink": (
        lambda d, s: [*T, str(s), "-o", str(_link(d / "dl.mp4", d / "gone.mp4")), "-y"],
        "symbolic link",
    ),
    "output is /dev/null": (lambda d, s: [*T, str(s), "-o", "/dev/null", "-y"], "/dev/null"),
    "output symlink to /dev/null": (
        lambda d, s: [*T, str(s), "-o", str(_link(d / "n.mp4", Path("/dev/null"))), "-y"],
        "device",
    ),
    "sidecar would overwrite an input": (
        lambda d, s: [*T, str(shutil.copy(s, d / "c.mp4.json")), "-o", str(d / "c.mp4"), "-y"],
        "source",
    ),
    "sidecar slot is a folder": (
        lambda d, s: [*T, str(s), "-o", str(d / "o.mp4"), "-y"] if _dir(d / "o.mp4.json") else [],
        "folder",
    ),
    "output inside a file": (lambda d, s: [*T, str(s), "-o", str(s / "o.mp4")], "a file"),
    "output is the mask input": (
        lambda d, s: [
            *T,
            str(s),
            "-o",
            str(make_clip(d / "m.mp4", frames=6, width=64, height=48)),
            "-y",
            "--relight",
            "night",
            "--lock",
            f"mask:{d / 'm.mp4'}",
        ],
        "input",
    ),
    "output is the keyframe input": (
        lambda d, s: [*T, str(s), "-o", str(_png(d / "k.png", (64, 48))), "-k", f"f1:{d / 'k.png'}", "-y"],
        "input",
    ),
    "empty output name": (lambda d, s: [*T, str(s), "-o", ""], "name"),
    # -- the other commands that write ---------------------------------------------------------------------
    "track output is the clip": (lambda d, s: ["track", str(s), "-o", str(s), "--box", "1,1,8,8"], "source"),
    "track existing output": (
        lambda d, s: ["track", str(s), "-o", str(_write(d / "t.json", "{}")), "--box", "1,1,8,8"],
        "--overwrite",
    ),
    "track output is a folder": (
        lambda d, s: ["track", str(s), "-o", str(_dir(d / "td")), "--box", "1,1,8,8", "-y"],
        "folder",
    ),
    "localize into a file": (
        lambda d, s: ["localize", str(s), "-m", "de", "--replace", "de:A=B", "-o", str(_write(d / "f", "x"))],
        "a file",
    ),
    "localize existing market file": (
        lambda d, s: (
            ["localize", str(s), "-m", "de", "--replace", "de:A=B", "-o", str(d)]
            if _write(d / "clip_de.mp4", "x")
            else []
        ),
        "--overwrite",
    ),
    "generate existing output": (
        lambda d, s: ["generate", "-o", str(_write(d / "g.mp4", "x")), "--prompt", "a cat"],
        "--overwrite",
    ),
    "generate output is the image input": (
        lambda d, s: ["generate", "-o", str(_png(d / "i.mp4", (64, 48))), "--image", str(d / "i.mp4"), "-y"],
        "input",
    ),
    "generate final over its own draft": (
        lambda d, s: [
            "generate",
            "-o",
            str(_write(d / "draft.mp4", "x")),
            "--final",
            "--from-take",
            str(d / "draft.mp4"),
            "-y",
        ],
        "input",
    ),
    "generate aspect 0:9": (
        lambda d, s: ["generate", "-o", str(d / "g.mp4"), "--aspect", "0:9", "--prompt", "a cat"],
        "positive",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_two(
    case: str, tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = Path(shutil.copy(tiny, tmp_path / "clip.mp4"))
    setup, expected = CASES[case]
    argv = setup(tmp_path, source)
    if case == "pixel budget":
        monkeypatch.setenv("SHOTCRAFT_MAX_PIXELS", "1000")
    monkeypatch.chdir(tmp_path)
    source_bytes = hashlib.sha256(source.read_bytes()).hexdigest()
    before = snapshot(tmp_path)
    result = runner.invoke(app, [*argv, "-q"] if argv[0] != "probe" else argv)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert len(lines) == 1, result.output
    assert expected in lines[0].replace(str(tmp_path), "<tmp>"), lines[0]
    assert "Traceback" not in result.output
    assert snapshot(tmp_path) == before  # nothing left behind, nothing changed
    assert hashlib.sha256(source.read_bytes()).hexdigest() == source_bytes
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode) and not os.path.lexists("/dev/null.json")


def test_there_are_at_least_forty_kinds() -> None:
    assert len(CASES) >= 40
