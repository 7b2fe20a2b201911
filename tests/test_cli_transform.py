"""``shotcraft transform`` with relight and lock flags, and every bad input refused with one clear line,
through the CLI (exit code 2) and the Python API (SpecError)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from shotcraft.cli import app
from shotcraft.media import probe
from shotcraft.media.read import VideoReader
from shotcraft.media.synth import make_clip
from shotcraft.metrics import score_paths
from shotcraft.pipeline import transform
from shotcraft.spec import (
    GradedKeyframe,
    Keyframe,
    OutputSpec,
    Reference,
    RelightOp,
    RestyleOp,
    SpecError,
    TransformSpec,
    parse_lock,
    validate_spec,
)

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["transform", *args, "-q"])


@pytest.fixture(scope="module")
def graded(small_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Frame 25 (1.0 s) of the small clip, warmed up, as a graded still of the clip's own size."""
    frame = VideoReader(small_clip).frame_at(25).astype(np.float64)
    path = tmp_path_factory.mktemp("graded") / "graded.png"
    Image.fromarray(np.clip(frame * [1.15, 1.0, 0.8], 0, 255).astype(np.uint8)).save(path)
    return path


def test_relight_and_lock_flags(small_clip: Path, graded: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    result = _run(
        str(small_clip), "-o", str(out), "--relight", "golden-hour",
        "--lock", "rect:10,10,60,40", "--lossless", "--encoder-preset", "ultrafast",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "engine classic" in result.stdout
    report = score_paths(small_clip, out, sample=48)  # locks read from the take sidecar
    assert report.locks_exact is True and report.frame_count_equal and report.audio_identical is True

    keyed = tmp_path / "keyed.mp4"
    result = _run(str(small_clip), "-o", str(keyed), "--relight-keyframe", f"1.0s:{graded}")
    assert result.exit_code == 0, result.output
    assert score_paths(small_clip, keyed, sample=48).keyframe_psnr[25] > 35

    custom = tmp_path / "custom.mp4"
    result = _run(
        str(small_clip), "-o", str(custom), "--relight", "custom", "--exposure", "-1", "--temperature", "30"
    )
    assert result.exit_code == 0, result.output
    assert VideoReader(custom).frame_at(10).mean() < VideoReader(small_clip).frame_at(10).mean() * 0.85


def test_keyframe_of_another_size_is_resized_with_a_note(
    small_clip: Path, graded: Path, tmp_path: Path
) -> None:
    bigger = tmp_path / "bigger.png"
    Image.open(graded).resize((320, 240)).save(bigger)
    result = _run(str(small_clip), "-o", str(tmp_path / "o.mp4"), "--relight-keyframe", f"1.0s:{bigger}")
    assert result.exit_code == 0, result.output
    assert "320x240; resized to 160x120" in result.output
    # Reported once, not once per place the still is read.
    assert result.output.count("resized to") == 1


# Each bad input: CLI flags, then the words the one-line error must contain.
BAD_INPUTS = {
    "keyframe aspect differs": (["--relight-keyframe", "1.0s:{wide}"], "aspect ratio differs"),
    "keyframe after the end": (["--relight-keyframe", "9s:{graded}"], "clip lasts 1.920 s"),
    "keyframe past the last frame": (["--relight-keyframe", "f48:{graded}"], "the clip has 48 frames"),
    "65 keyframes": (["--relight-keyframe", "f0:{graded}"] * 65, "at most 64"),
    "unknown preset": (["--relight", "sunrise"], "'sunrise' is not one of the allowed values"),
    "short lock mask clip": (
        ["--relight", "noon", "--lock", "mask:{short_mask}"],
        "has 10 frames but the clip has 48",
    ),
    "missing keyframe image": (["--relight-keyframe", "1.0s:{missing}"], "does not exist"),
    "lock outside the frame": (
        ["--relight", "noon", "--lock", "rect:500,10,20,20"],
        "starts outside the 160x120 frame",
    ),
    "prompt only with the classic engine": (
        ["--prompt", "a rainy night", "--engine", "classic"],
        "diffusion engine",
    ),
}


@pytest.fixture(scope="module")
def bad_files(small_clip: Path, graded: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("bad")
    wide = folder / "wide.png"
    Image.open(graded).resize((320, 120)).save(wide)
    short_mask = make_clip(folder / "short_mask.mp4", frames=10, width=160, height=120)
    return {
        "graded": str(graded),
        "wide": str(wide),
        "short_mask": str(short_mask),
        "missing": str(folder / "no.png"),
    }


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_clear_line_exit_two(
    case: str, small_clip: Path, bad_files: dict[str, str], tmp_path: Path
) -> None:
    flags, expected = BAD_INPUTS[case]
    out = tmp_path / "out.mp4"
    result = _run(str(small_clip), "-o", str(out), *(f.format(**bad_files) for f in flags))
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_bad_input_through_the_api(small_clip: Path, bad_files: dict[str, str], tmp_path: Path) -> None:
    def relight_keys(*texts: str) -> TransformSpec:
        return TransformSpec(operations=[RelightOp(keyframes=[GradedKeyframe.parse(t) for t in texts])])

    out = tmp_path / "out.mp4"
    with pytest.raises(SpecError, match="aspect ratio differs"):
        transform(small_clip, out, relight_keys(f"1.0s:{bad_files['wide']}"))
    with pytest.raises(SpecError, match="clip lasts"):
        transform(small_clip, out, relight_keys(f"2.5s:{bad_files['graded']}"))
    with pytest.raises(SpecError, match="at most 64"):
        validate_spec(
            {
                "operations": [
                    {
                        "op": "relight",
                        "keyframes": [{"at": {"frame": i}, "image": "k.png"} for i in range(65)],
                    }
                ]
            },
            TransformSpec,
        )
    with pytest.raises(SpecError, match="not one of the allowed values"):
        validate_spec({"operations": [{"op": "relight", "preset": "sunrise"}]}, TransformSpec)
    with pytest.raises(SpecError, match="has 10 frames"):
        spec = validate_spec(
            {"operations": [{"op": "relight"}], "locks": [{"kind": "mask", "path": bad_files["short_mask"]}]},
            TransformSpec,
        )
        transform(small_clip, out, spec)
    with pytest.raises(SpecError, match="diffusion engine"):
        transform(small_clip, out, TransformSpec(prompt="rain", engine="classic"))
    assert not out.exists()
    assert probe(small_clip).video.frame_count == 48  # the source is untouched


def test_flags_map_one_by_one_onto_the_spec(
    small_clip: Path, graded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spec the CLI hands the pipeline, flag by flag, and merged over a spec file (flags win)."""
    import shotcraft.pipeline

    built: list[TransformSpec] = []

    def fake_transform(source, output, spec, **kwargs):
        built.append(spec)
        return SimpleNamespace(path=output, frame_count=0, engine="fake", seconds=0.0, notices=[])

    monkeypatch.setattr(shotcraft.pipeline, "transform", fake_transform)
    result = _run(
        str(small_clip), "-o", str(tmp_path / "o.mp4"),
        "--prompt", "rainy night", "--strength", "flex-2", "-k", f"1.0s:{graded}",
        "--motion", "OFF", "--structure", "7", "--lock", "rect:10,10,60,40", "--reference", str(graded),
        "--look", "cartoon", "--relight", "golden-hour", "--exposure", "0.5",
        "--engine", "classic", "--seed", "3", "--crf", "20", "--encoder-preset", "fast",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert built[-1] == TransformSpec(
        prompt="rainy night",
        strength="flex_2",
        keyframes=[Keyframe.parse(f"1.0s:{graded}")],
        motion_adherence="off",
        structure_adherence=7,
        locks=[parse_lock("rect:10,10,60,40")],
        references=[Reference(image=graded, role="style")],
        operations=[RestyleOp(look="cartoon"), RelightOp(preset="golden_hour", exposure=0.5)],
        engine="classic",
        seed=3,
        output=OutputSpec(crf=20, preset="fast"),
    )

    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(
        "motion_adherence: 3\nstructure_adherence: 'off'\nlocks: [{kind: faces}]\n"
        "operations: [{op: relight, preset: night}]\noutput: {crf: 30}\n"
    )
    flags = ["--motion", "9", "--lock", "people", "--saturation", "0.2", "--lossless"]
    result = _run(str(small_clip), "-o", str(tmp_path / "o.mp4"), "--spec", str(spec_file), *flags)
    assert result.exit_code == 0, result.output
    assert built[-1] == TransformSpec(
        motion_adherence=9,
        structure_adherence="off",
        locks=[parse_lock("faces"), parse_lock("people")],
        operations=[RelightOp(preset="night"), RelightOp(saturation=0.2)],
        output=OutputSpec(crf=30, lossless=True),
    )


@pytest.mark.parametrize(("flag", "value"), [("--motion", "0"), ("--motion", "10"), ("--structure", "x")])
def test_adherence_flag_refused_in_one_line(flag: str, value: str, small_clip: Path, tmp_path: Path) -> None:
    result = _run(str(small_clip), "-o", str(tmp_path / "o.mp4"), flag, value)
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "'off' or a whole number from 1 to 9" in result.output


def test_motion_unused_by_relight_is_noticed(small_clip: Path, tmp_path: Path) -> None:
    result = _run(str(small_clip), "-o", str(tmp_path / "r.mp4"), "--relight", "night", "--motion", "9")
    assert result.exit_code == 0, result.output
    assert "motion_adherence 9 was not used" in result.output
    restyled = _run(str(small_clip), "-o", str(tmp_path / "s.mp4"), "--look", "cartoon", "--motion", "9")
    assert restyled.exit_code == 0, restyled.output
    assert "was not used" not in restyled.output
