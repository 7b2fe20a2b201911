"""Specs: the brief's vocabulary, loadable from files and flags, with one clear message per problem."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shotcraft.plan import plan_transform
from shotcraft.spec import (
    DEFAULT_ADHERENCE,
    GenerateSpec,
    Keyframe,
    RectLock,
    SpecError,
    TimePoint,
    TransformSpec,
    adherence_level,
    load_spec,
    parse_lock,
    parse_time_point,
    validate_spec,
)


def test_time_points() -> None:
    assert parse_time_point("4.2s") == TimePoint(seconds=4.2)
    assert parse_time_point("25%") == TimePoint(fraction=0.25)
    assert parse_time_point("f12") == parse_time_point("12") == TimePoint(frame=12)
    with pytest.raises(SpecError, match="ambiguous"):
        parse_time_point("0.5")
    with pytest.raises(SpecError, match="not valid"):
        parse_time_point("150%")


def test_locks_parse() -> None:
    assert parse_lock("rect:10,10,200,120") == RectLock(x=10, y=10, width=200, height=120)
    assert parse_lock("rect:0,0,8,8@6").feather == 6
    assert parse_lock("polygon:0,0,10,0,10,10").kind == "polygon"
    assert parse_lock("people").kind == "people"
    with pytest.raises(SpecError, match="unknown"):
        parse_lock("blob:1")
    with pytest.raises(SpecError, match="pairs"):
        parse_lock("polygon:0,0,10")


def test_adherence_and_presets() -> None:
    spec = TransformSpec(motion_adherence="off", structure_adherence=9, strength="flex-2")
    assert (spec.motion_adherence, spec.structure_adherence, spec.strength) == ("off", 9, "flex_2")
    with pytest.raises(SpecError, match="motion_adherence"):
        validate_spec({"motion_adherence": 10}, TransformSpec)
    with pytest.raises(SpecError, match="'hyper' is not one of"):
        validate_spec({"strength": "hyper"}, TransformSpec)
    with pytest.raises(SpecError, match="golden_hour"):
        validate_spec({"operations": [{"op": "relight", "preset": "sunset-ish"}]}, TransformSpec)


@pytest.mark.parametrize(
    ("given", "parsed", "level"),
    [("off", "off", 0), ("OFF", "off", 0), (1, 1, 1), (9, 9, 9), ("5", 5, 5), (" 7 ", 7, 7)],
)
def test_adherence_parses_once(given: object, parsed: object, level: int) -> None:
    spec = validate_spec({"motion_adherence": given, "structure_adherence": given}, TransformSpec)
    assert spec.motion_adherence == spec.structure_adherence == parsed
    assert adherence_level(spec.motion_adherence) == level
    # The JSON form keeps "off" as "off", and reads back to the same spec.
    assert json.loads(spec.model_dump_json())["motion_adherence"] == parsed
    assert validate_spec(json.loads(spec.model_dump_json()), TransformSpec) == spec
    assert TransformSpec().motion_adherence == DEFAULT_ADHERENCE == 5


@pytest.mark.parametrize("given", [0, 10, "x", "0", "12", "-1", 5.5, True, None, "", "²"])
def test_adherence_refused_in_one_line(given: object) -> None:
    with pytest.raises(SpecError) as err:
        validate_spec({"structure_adherence": given}, TransformSpec)
    assert err.value.problems == [str(err.value)]
    assert "\n" not in str(err.value)
    assert str(err.value).startswith("structure_adherence: ")
    assert "'off' or a whole number from 1 to 9" in str(err.value)


def test_keyframe_limit() -> None:
    keys = [{"at": {"frame": i}, "image": "k.png"} for i in range(65)]
    with pytest.raises(SpecError, match="65 keyframes given; at most 64"):
        validate_spec({"keyframes": keys}, TransformSpec)


def test_load_yaml_and_json(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(
        "prompt: rainy night street\nmotion_adherence: 7\nkeyframes:\n  - at: {seconds: 1.5}\n    image: key.png\n"
        "locks:\n  - {kind: rect, x: 0, y: 0, width: 10, height: 10}\noperations:\n  - {op: relight, preset: golden-hour}\n"
    )
    spec = load_spec(tmp_path / "spec.yaml", TransformSpec)
    assert spec.keyframes[0].image == tmp_path / "key.png"  # relative to the spec file
    assert spec.operations[0].preset == "golden_hour"
    (tmp_path / "spec.json").write_text('{"prompt": "x", "takes": 3}')
    assert load_spec(tmp_path / "spec.json", GenerateSpec).takes == 3
    (tmp_path / "bad.yaml").write_text("prompt: [unclosed")
    with pytest.raises(SpecError, match="not valid"):
        load_spec(tmp_path / "bad.yaml", TransformSpec)
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml", TransformSpec)


def test_generate_needs_input() -> None:
    with pytest.raises(SpecError, match="needs a prompt"):
        validate_spec({}, GenerateSpec)


def _still(path: Path, w: int, h: int) -> Path:
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(path)
    return path


def test_plan_places_keyframes_and_reports_every_problem(bikes: Path, tmp_path: Path) -> None:
    good = _still(tmp_path / "good.png", 640, 272)
    half = _still(tmp_path / "half.png", 320, 136)
    square = _still(tmp_path / "square.png", 300, 300)
    spec = TransformSpec(keyframes=[Keyframe.parse(f"4.2s:{good}"), Keyframe.parse(f"100%:{half}")])
    plan = plan_transform(bikes, spec)
    assert [k.index for k in plan.keyframes] == [105, 249]
    assert plan.keyframe_image(plan.keyframes[1]).shape == (272, 640, 3)
    assert any("resized" in n for n in plan.notices)

    bad = TransformSpec(
        keyframes=[
            Keyframe.parse(f"12s:{good}"),
            Keyframe.parse(f"f3:{square}"),
            Keyframe.parse(f"f5:{tmp_path / 'gone.png'}"),
        ],
        locks=[RectLock(x=700, y=0, width=10, height=10)],
    )
    with pytest.raises(SpecError) as err:
        plan_transform(bikes, bad)
    text = "\n".join(err.value.problems)
    assert "12 s but the clip lasts 10.000 s" in text
    assert "aspect ratio differs" in text
    assert "gone.png does not exist" in text
    assert "outside the 640x272 frame" in text


def test_mask_clip_shorter_than_source(bikes: Path, clip_factory) -> None:
    mask = clip_factory("mask_short.mp4", frames=10, width=640, height=272)
    with pytest.raises(SpecError, match="has 10 frames but the clip has 250"):
        plan_transform(bikes, TransformSpec(locks=[parse_lock(f"mask:{mask}")]))
    wrong = clip_factory("mask_size.mp4", frames=250, width=320, height=136)
    with pytest.raises(SpecError, match="320x136 but the clip is 640x272"):
        plan_transform(bikes, TransformSpec(locks=[parse_lock(f"mask:{wrong}")]))


def test_every_relight_operation_keeps_its_graded_keyframes(bikes: Path, tmp_path: Path) -> None:
    first, second = _still(tmp_path / "g1.png", 640, 272), _still(tmp_path / "g2.png", 640, 272)
    spec = validate_spec(
        {
            "operations": [
                {"op": "relight", "keyframes": [{"at": {"frame": 10}, "image": str(first)}]},
                {
                    "op": "relight",
                    "preset": "night",
                    "keyframes": [{"at": {"frame": 200}, "image": str(second)}],
                },
            ]
        },
        TransformSpec,
    )
    plan = plan_transform(bikes, spec)
    assert [(k.index, k.image) for k in plan.relight_keyframes] == [(10, first), (200, second)]


def _adherence_notices(clip: Path, **spec: object) -> list[str]:
    return [n for n in plan_transform(clip, validate_spec(spec, TransformSpec)).notices if "adherence" in n]


def test_unused_adherence_is_noticed(bikes: Path, tmp_path: Path) -> None:
    relight = [{"op": "relight", "preset": "night"}]
    assert _adherence_notices(bikes, operations=relight, motion_adherence=9) == [
        "motion_adherence 9 was not used: adherence steers restyle and keyframe propagation "
        "(and a swap by a whole edited frame), not relight"
    ]
    (both,) = _adherence_notices(bikes, operations=relight, motion_adherence="off", structure_adherence=2)
    assert both.startswith("motion_adherence off and structure_adherence 2 were not used")
    # Left at the default, or read by a restyle or keyframe propagation: no notice.
    assert _adherence_notices(bikes, operations=relight) == []
    assert (
        _adherence_notices(bikes, operations=[{"op": "restyle", "look": "cartoon"}], motion_adherence=9) == []
    )
    key = _still(tmp_path / "key.png", 640, 272)
    keyed = {"keyframes": [{"at": {"frame": 0}, "image": str(key)}]}
    assert _adherence_notices(bikes, operations=relight, motion_adherence=9, **keyed) == []
    # A swap by a picture on a planar region does not read them; a swap by an edited frame propagates it.
    corners = [[100, 50], [300, 50], [300, 200], [100, 200]]
    planar = {"op": "swap", "image": str(_still(tmp_path / "label.png", 64, 48)), "corners": corners}
    (note,) = _adherence_notices(bikes, operations=[planar], structure_adherence=8)
    assert note.endswith("not a planar swap")
    edited = {**planar, "image": str(key)}
    assert _adherence_notices(bikes, operations=[edited], structure_adherence=8) == []
