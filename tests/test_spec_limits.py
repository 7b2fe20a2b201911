"""Every number and list in a spec has a range (issue 9): a seed that fits the database, list sizes that bound
the work, finite floats. Checked by the spec itself, so the CLI, the API and the studio's workers agree."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shotcraft.spec import (
    MAX_SEED,
    GenerateSpec,
    LocalizeOp,
    SpecError,
    TransformSpec,
    validate_spec,
)


@pytest.mark.parametrize(
    ("kind", "data", "words"),
    [
        (TransformSpec, {"seed": 2**63}, "seed"),
        (TransformSpec, {"seed": -1}, "seed"),
        (GenerateSpec, {"prompt": "x", "seed": 2**64}, "seed"),
        (GenerateSpec, {"prompt": "x", "takes": 17}, "takes"),
        (GenerateSpec, {"prompt": "x", "seed": MAX_SEED, "takes": 2}, "seed"),
        (GenerateSpec, {"prompt": "x", "steps": 10**9}, "steps"),
        (TransformSpec, {"output": {"crf": 52}}, "crf"),
        (TransformSpec, {"output": {"segment_seconds": 0}}, "segment_seconds"),
        (TransformSpec, {"output": {"segment_seconds": float("nan")}}, "segment_seconds"),
        (TransformSpec, {"operations": [{"op": "relight"}] * 10_000}, "10000 operations given; at most 16"),
        (TransformSpec, {"locks": [{"kind": "faces"}] * 65}, "65 locks given; at most 64"),
        (TransformSpec, {"references": [{"image": "a.png"}] * 17}, "at most 16"),
        (TransformSpec, {"keyframes": [{"at": {"frame": 0}, "image": "k.png"}] * 65}, "65 keyframes given"),
        (
            TransformSpec,
            {"operations": [{"op": "relight", "keyframes": [{"at": {"frame": 0}, "image": "k.png"}] * 65}]},
            "at most 64",
        ),
        (TransformSpec, {"locks": [{"kind": "polygon", "points": [[0, 0]] * 5000}]}, "at most 4096"),
        (TransformSpec, {"locks": [{"kind": "track", "box": [0, 0, 2**40, 4]}]}, "box"),
        (TransformSpec, {"locks": [{"kind": "rect", "x": 0, "y": 0, "width": 2**31, "height": 1}]}, "width"),
        (TransformSpec, {"keyframes": [{"at": {"frame": 2**63}, "image": "k.png"}]}, "frame"),
        (TransformSpec, {"keyframes": [{"at": {"seconds": float("inf")}, "image": "k.png"}]}, "seconds"),
        (TransformSpec, {"prompt": "x" * 10_001}, "prompt"),
        (LocalizeOp, {"markets": [f"m{i}" for i in range(65)]}, "at most 64"),
        (LocalizeOp, {"markets": ["de"], "replacements": {str(i): {"de": "x"} for i in range(1025)}}, "1024"),
    ],
)
def test_out_of_range_values_are_spec_errors(kind, data, words):
    with pytest.raises(SpecError, match=words):
        validate_spec(data, kind)


@settings(max_examples=200, derandomize=True, deadline=None, database=None)
@given(seed=st.integers())
def test_a_seed_is_accepted_exactly_when_it_fits_a_signed_64_bit_column(seed):
    ok = 0 <= seed <= MAX_SEED
    for kind, base in ((TransformSpec, {}), (GenerateSpec, {"prompt": "x", "takes": 1})):
        if ok:
            assert validate_spec({**base, "seed": seed}, kind).seed == seed
        else:
            with pytest.raises(SpecError, match="seed"):
                validate_spec({**base, "seed": seed}, kind)
