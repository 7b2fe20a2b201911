"""The advisor answers the page's decision guide and FAQ the way the page does, and the cases it doesn't name.

Goals in these tables are paraphrases written after the rules, not the sentences the rules were written from.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from shotcraft.advisor import FACT_REASONS, REASONS, Advice, Assets, advise, normalise, read_goal
from shotcraft.cli import app
from shotcraft.spec import GenerateSpec, SpecError, TransformSpec

ITT = "invent-then-transform"


@pytest.fixture(scope="module")
def stills(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small PNGs standing in for a photo, references, a product shot and edited keyframes (160x120, the clip's size)."""
    folder = tmp_path_factory.mktemp("stills")
    rng = np.random.default_rng(7)
    paths = {}
    for name in ("photo", "style", "product", "key_a", "key_b", "key_c"):
        paths[name] = folder / f"{name}.png"
        Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(paths[name])
    return paths


@pytest.fixture(scope="module")
def clips(small_clip: Path, bikes: Path, clip_factory) -> dict[str, Path]:
    """'short': 1.9 s of real footage; 'long': bikes.mp4, 10 s, longer than a diffusion window; 'vfr': variable rate."""
    vfr = clip_factory("advisor_vfr.mp4", frames=12, width=64, height=48, fps=Fraction(25), vfr=True)
    return {"short": small_clip, "long": bikes, "vfr": vfr}


def make_assets(kind: dict[str, Any], stills: dict[str, Path], clips: dict[str, Path]) -> Assets:
    """Build Assets from a compact row: {"clip": "short", "images": ["photo"], "keyframes": ["0s:key_a"], ...}."""

    def keyframe(item: str) -> Path:
        at, _, name = item.rpartition(":")
        return Path(f"{at}:{stills[name]}") if at else stills[name]

    return Assets(
        clip=clips[kind["clip"]] if "clip" in kind else None,
        images=[stills[n] for n in kind.get("images", [])],
        references=[stills[n] for n in kind.get("references", [])],
        products=[stills[n] for n in kind.get("products", [])],
        keyframes=[keyframe(k) for k in kind.get("keyframes", [])],
        prompt=kind.get("prompt", ""),
    )


# (page line it answers, assets, goal, expected workflow, reasons that must be given)
PAGE = [
    # Decision guide: "Use Ray 3.2 for rescue and reuse"
    ("guide: the performance is good", {"clip": "short"},
     "The lead's acting is spot on; I only want to change how the place looks around her",
     "transform", ["footage", "performance"]),
    ("guide: the timing is already cut", {"clip": "short"},
     "This shot is locked in the edit, it mustn't get any longer or shorter",
     "transform", ["footage", "timing"]),
    ("guide: the environment needs to change", {"clip": "short"},
     "Put the cyclists on a snowy mountain road instead of the city",
     "transform", ["footage", "environment"]),
    ("guide: the product needs to change", {"clip": "short", "products": ["product"]},
     "The client redesigned the label, show theirs in this spot",
     "transform", ["footage", "swap"]),
    # "Use Ray 3 for invention"
    ("guide: no source clip exists", {"prompt": "a lighthouse keeper climbing the stairs"},
     "Nothing has been filmed yet, all we have is a script line",
     "invent", ["no_clip"]),
    ("guide: the scene direction is still open", {"prompt": "a chase through a market"},
     "We haven't settled on what this scene should even look like",
     "invent", ["explore"]),
    ("guide: broad creative exploration", {"prompt": "a desert chase"},
     "Give me lots of different takes on it so the team can riff",
     "invent", ["explore"]),
    # "Use both in sequence"
    ("guide: generate, pick the strongest, transform and localize", {"prompt": "a skateboarder at dawn"},
     "Rough out a couple of concepts, keep the best one, and roll it out in several countries",
     ITT, ["sequence", "localize"]),
    # FAQ
    ("faq: main difference (inventing)", {"prompt": "a lighthouse in a storm"},
     "Dream up a fresh shot of this for me",
     "invent", ["no_clip"]),
    ("faq: main difference (transforming with control)", {"clip": "short"},
     "Alter the existing take while keeping it under tight control",
     "transform", ["footage", "control"]),
    ("faq: when to choose Ray 3.2", {"clip": "short"},
     "The handheld move and the dancer's moves are worth keeping, the colours are not",
     "transform", ["footage", "camera", "performance"]),
    ("faq: when to choose Ray 3 (from an image)", {"images": ["photo"]},
     "Find a first look for the opening from this photo",
     "invent", ["explore"]),
    ("faq: when to choose Ray 3 (loose idea)", {"references": ["style"]},
     "I have a loose idea for a perfume spot, nothing concrete",
     "invent", ["explore"]),
    ("faq: both together", {"prompt": "a tram crossing a bridge"},
     "Try a few concepts first, then adapt the chosen one into French and German versions",
     ITT, ["sequence", "localize"]),
    ("faq: production when continuity matters", {"clip": "short"},
     "For the broadcast deliverable the shot has to stay consistent with the surrounding edit",
     "transform", ["footage", "continuity"]),
    ("faq: production while still brainstorming", {"prompt": "an opening shot for the pitch"},
     "Still bouncing around ideas for what the shot even is",
     "invent", ["explore"]),
    ("faq: product marketing with product footage", {"clip": "short", "products": ["product"]},
     "Refresh last year's commercial with the new packaging, plus a version for Japan",
     "transform", ["footage", "swap", "localize"]),
    ("faq: product marketing before filming", {"products": ["product"], "prompt": "the bottle on a beach"},
     "We haven't shot the campaign yet",
     "invent", ["no_clip", "product_reference"]),
    ("faq: more control over an existing clip", {"clip": "short", "keyframes": ["key_a", "key_b"]},
     "Stay faithful to the original, I want precise say over every frame",
     "transform", ["footage", "control", "restyle_keyframes"]),
    ("faq: beginner with footage", {"clip": "short"},
     "First time using this. Where should I begin?",
     "transform", ["footage", "beginner"]),
    ("faq: beginner with only an idea", {"prompt": "a fox in the snow"},
     "Total novice here with only a concept in my head",
     "invent", ["no_clip", "beginner"]),
]  # fmt: skip

# Cases the page does not name.
BEYOND = [
    ("only a still image", {"images": ["photo"]}, "Make it move, gently", "invent", ["image_to_video"]),
    ("footage plus a new product photo", {"clip": "short", "products": ["product"]},
     "Our client switched suppliers; show their item instead", "transform", ["footage", "swap"]),
    ("clip longer than a model window", {"clip": "long"},
     "Restyle the street as a neon cyberpunk city", "transform", ["footage", "restyle_by_prompt"]),
    ("clip plus edited keyframes", {"clip": "short", "keyframes": ["0s:key_a", "50%:key_b"]},
     "Carry my painted frames through the whole shot", "transform", ["footage", "restyle_keyframes"]),
    ("edited keyframes, no clip", {"keyframes": ["key_a", "key_b"]},
     "Get from the first still to the second one", "invent", ["first_last"]),
    ("localization", {"clip": "short"},
     "We need Spanish, Italian and Brazilian cuts with translated on-screen titles", "transform", ["localize"]),
    ("relight", {"clip": "short"}, "Make it feel like it was filmed at dusk", "transform", ["relight"]),
    ("brainstorming with footage at hand", {"clip": "short"},
     "Brainstorm some possible directions for this footage", ITT, ["explore_then_transform"]),
    ("exploring looks while keeping the performance", {"clip": "short"},
     "Explore a few looks, but the actor's performance has to survive", "transform",
     ["footage", "performance", "explore_on_footage"]),
    ("a new shot although a clip is at hand", {"clip": "short"},
     "Create a brand new scene, unrelated to this one", "invent", ["new_shot_with_clip"]),
    ("footage named but not given", {}, "The take we shot is fine but the sky is dull; fix the lighting",
     "transform", ["footage", "rescue", "relight"]),
    ("a person in a shot to invent is not footage", {"prompt": "an actress dancing in the rain"},
     "Create a short clip of her performance for the teaser", "invent", ["no_clip"]),
    ("market versions of a shot not made yet", {"images": ["photo"]},
     "Animate this still, and we'll need localized versions for other markets", ITT, ["shot_first"]),
]  # fmt: skip


def _reason_text(key: str) -> str:
    return REASONS.get(key) or FACT_REASONS[key]


@pytest.mark.parametrize(
    ("case", "kind", "goal", "workflow", "reasons"), PAGE + BEYOND, ids=[r[0] for r in PAGE + BEYOND]
)
def test_workflow_and_key_reasons(case, kind, goal, workflow, reasons, stills, clips) -> None:
    advice = advise(make_assets(kind, stills, clips), goal)
    assert advice.workflow == workflow, advice.to_text()
    for key in reasons:
        assert _reason_text(key) in advice.reasons, f"{case}: missing reason {key!r}\n{advice.to_text()}"
    assert advice.steps, case
    # The settings are spec vocabulary: they validate once the parts only the user can give are filled in.
    _check_settings(advice, workflow)


def test_every_rule_is_exercised_by_the_tables() -> None:
    expected = {key for row in PAGE + BEYOND for key in row[4]}
    assert set(REASONS) <= expected
    assert not set(REASONS) & set(FACT_REASONS), "a reason key must name one sentence"


def _check_settings(advice: Advice, workflow: str) -> None:
    assert (
        set(advice.settings)
        == {"invent": {"generate"}, "transform": {"transform"}, ITT: {"generate", "transform"}}[workflow]
    )
    if "generate" in advice.settings:
        generate = {"prompt": "filled in by the user", **advice.settings["generate"]}
        GenerateSpec.model_validate(generate)
    if "transform" in advice.settings:
        transform = json.loads(json.dumps(advice.settings["transform"]))
        for op in transform.get("operations", []):
            if op["op"] == "swap":
                op.setdefault("image", "product.png")
                op["corners"] = [[0, 0], [10, 0], [10, 10], [0, 10]]
            if op["op"] == "localize":
                op.setdefault("markets", ["DE"])
        TransformSpec.model_validate(transform)


def test_footage_worth_keeping_keeps_motion_and_locks_faces(stills, clips) -> None:
    advice = advise(
        make_assets({"clip": "short"}, stills, clips),
        "the actor's performance is perfect, give it a film look",
    )
    transform = advice.settings["transform"]
    assert transform["motion_adherence"] == 9
    assert {"kind": "faces"} in transform["locks"]
    assert transform["operations"] == [{"op": "restyle", "look": "film_print"}]


def test_exploring_on_kept_footage_moves_the_look_far_but_locks_faces(stills, clips) -> None:
    advice = advise(make_assets({"clip": "short"}, stills, clips), "play around with looks; the acting stays")
    transform = advice.settings["transform"]
    assert transform["strength"].startswith("reimagine") and {"kind": "faces"} in transform["locks"]
    assert transform["operations"] == [{"op": "restyle"}] and transform["engine"] == "diffusion"


def test_relight_preset_and_classic_engine(stills, clips) -> None:
    advice = advise(make_assets({"clip": "short"}, stills, clips), "Turn this into a moonlit scene")
    transform = advice.settings["transform"]
    assert transform["operations"] == [{"op": "relight", "preset": "night"}]
    assert transform["engine"] == "classic"
    assert transform["structure_adherence"] >= 8


def test_product_swap_uses_photo_as_reference_and_keeps_the_rest(stills, clips) -> None:
    advice = advise(
        make_assets({"clip": "short", "products": ["product"]}, stills, clips), "show the new can"
    )
    transform = advice.settings["transform"]
    swap = transform["operations"][0]
    assert swap["op"] == "swap" and swap["image"] == str(stills["product"]) and swap["occluders"] == "people"
    assert {"image": str(stills["product"]), "role": "product"} in transform["references"]
    assert transform["strength"] == "adhere_1" and transform["structure_adherence"] == 9
    assert any("four corners" in step for step in advice.steps)


def test_long_clip_says_classic_or_sliding_windows(stills, clips) -> None:
    advice = advise(make_assets({"clip": "long"}, stills, clips), "restyle it as a neon city at night")
    assert advice.clip is not None and advice.clip["seconds"] == 10.0 and advice.clip["frames"] == 250
    warning = next(w for w in advice.warnings if "diffusion window" in w)
    assert "classic engine handles any length" in warning and "sliding windows" in warning
    short = advise(make_assets({"clip": "short"}, stills, clips), "restyle it as a neon city at night")
    assert not any("diffusion window" in w for w in short.warnings)


def test_vfr_clip_is_flagged(stills, clips) -> None:
    advice = advise(make_assets({"clip": "vfr"}, stills, clips), "relight for golden hour")
    assert advice.clip["variable_frame_rate"] is True
    assert any("variable frame rate" in w for w in advice.warnings)


def test_keyframes_on_a_clip_are_placed_by_time(stills, clips) -> None:
    timed = advise(
        make_assets({"clip": "short", "keyframes": ["0s:key_a", "f40:key_b"]}, stills, clips),
        "propagate my edits",
    )
    placed = timed.settings["transform"]["keyframes"]
    assert [k["at"] for k in placed] == [{"seconds": 0.0}, {"frame": 40}]
    assert timed.settings["transform"]["motion_adherence"] == 9
    assert not any("spread evenly" in w for w in timed.warnings)
    untimed = advise(
        make_assets({"clip": "short", "keyframes": ["key_a", "key_b", "key_c"]}, stills, clips), "propagate"
    )
    assert [k["at"] for k in untimed.settings["transform"]["keyframes"]] == [
        {"fraction": 0.0}, {"fraction": 0.5}, {"fraction": 1.0},
    ]  # fmt: skip
    assert any("spread evenly" in w for w in untimed.warnings)


def test_keyframes_without_clip_become_first_and_last_frame(stills, clips) -> None:
    advice = advise(
        make_assets({"keyframes": ["key_a", "key_b", "key_c"]}, stills, clips), "a shot between these"
    )
    generate = advice.settings["generate"]
    assert generate["image"] == str(stills["key_a"]) and generate["end_image"] == str(stills["key_c"])
    assert any("first and last" in w for w in advice.warnings)


def test_exploring_asks_for_more_draft_takes_than_a_plain_invention(stills, clips) -> None:
    exploring = advise(
        make_assets({"prompt": "a fox"}, stills, clips), "let's experiment with a bunch of options"
    )
    plain = advise(make_assets({"prompt": "a fox"}, stills, clips), "a fox running through snow")
    assert exploring.settings["generate"]["takes"] > plain.settings["generate"]["takes"]
    assert exploring.settings["generate"]["quality"] == plain.settings["generate"]["quality"] == "draft"
    assert any("final" in step for step in plain.steps)


def test_after_exploring_with_footage_the_clip_is_transformed_not_the_take(stills, clips) -> None:
    advice = advise(
        make_assets({"clip": "short"}, stills, clips), "not sure yet where to take this footage, explore"
    )
    assert advice.workflow == ITT
    assert advice.steps[-1].startswith("Transform the clip")
    assert advice.settings["generate"]["duration"] == pytest.approx(48 / 25)
    assert advice.settings["transform"]["operations"] == [{"op": "restyle"}]


def test_markets_come_in_the_order_named() -> None:
    _, values = read_goal("Could we get a Korean and a Mexican edition, then a French one?")
    assert values["markets"] == ["KR", "MX", "FR"]


def test_sequence_steps_run_invent_then_pick_then_transform(stills, clips) -> None:
    advice = advise(
        make_assets({"prompt": "a tram"}, stills, clips),
        "explore, choose the strongest take, then localise it",
    )
    text = " ".join(advice.steps).lower()
    assert text.index("draft takes") < text.index("strongest take") < text.index("transform the kept take")


@pytest.mark.parametrize(
    ("goal", "intent"),
    [
        ("I'd love to re-light the scene so it reads as late afternoon sun", "relight"),
        ("Could we get a Korean and a Mexican edition?", "localize"),
        ("Localisation for the DACH region please", "localize"),
        ("swap out the soda for our new energy drink", "swap"),
        ("transport the couple into an underwater palace", "environment"),
        ("The talent's line reading is what sells it", "performance"),
        ("The picture lock happened last week", "timing"),
        ("keep the dolly exactly as it is", "camera"),
        ("we need a 9:16 cut for reels", "reframe"),
        ("pick your favourite option and then restyle it", "sequence"),
        ("Newbie question: how do I start?", "beginner"),
        ("We have no footage whatsoever", "no_footage"),
        ("Salvage this take, the focus is soft", "rescue"),
        ("Brighten it up a little and warm it", "light_words"),
        ("Our hero shot exists, it just needs the new branding on the truck", "has_footage"),
        ("What's the best way to get started if I've never done this?", "beginner"),
        ("The edit is final; the shot has to match the next one", "continuity"),
    ],
)
def test_goal_paraphrases_are_understood(goal: str, intent: str) -> None:
    intents, _ = read_goal(goal)
    assert intent in intents, intents


def test_saying_there_is_no_footage_does_not_count_as_having_it() -> None:
    intents, _ = read_goal("There's no source video yet; we haven't filmed anything")
    assert "no_footage" in intents and "has_footage" not in intents


def test_replacing_the_sky_is_an_environment_change_and_the_target_light_is_named_last() -> None:
    intents, values = read_goal("Swap the daytime sky for a sunset")
    assert "environment" in intents and "swap" not in intents
    assert values["preset"] == "golden_hour"


def test_words_that_only_look_like_markets_or_aspects_are_not_requests() -> None:
    intents, values = read_goal("polish the dutch angle shot in the town square")
    assert "localize" not in intents and "reframe" not in intents and "markets" not in values


def test_normalise_keeps_ratios_and_drops_accents() -> None:
    assert normalise("Localisé — 9:16 for Reels, don't crop!") == "localise 9:16 for reels dont crop"


def test_unrecognised_goal_rests_on_the_assets_and_says_so(stills, clips) -> None:
    advice = advise(make_assets({"clip": "short"}, stills, clips), "hmm")
    assert advice.workflow == "transform"
    assert any("recognises" in w for w in advice.warnings)


def test_bad_inputs_give_clear_spec_errors(stills, clips, tmp_path: Path) -> None:
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    with pytest.raises(SpecError, match="the clip cannot be used: notes.mp4 is not a readable media file"):
        advise(Assets(clip=not_video), "relight it")
    with pytest.raises(SpecError, match="does not exist"):
        advise(Assets(clip=tmp_path / "missing.mp4"), "relight it")
    with pytest.raises(SpecError) as missing:
        advise(Assets(images=[tmp_path / "a.png"], products=[tmp_path / "b.png"]), "an ad")
    assert len(missing.value.problems) == 2
    with pytest.raises(SpecError, match="goal"):
        advise(Assets(prompt="a fox"), "   ")


def test_cli_text_and_json(stills, clips) -> None:
    runner = CliRunner()
    args = [
        "advise",
        "--clip",
        str(clips["short"]),
        "--product",
        str(stills["product"]),
        "--goal",
        "new bottle, German version",
    ]
    text = runner.invoke(app, args)
    assert text.exit_code == 0, text.output
    assert "Workflow: transform" in text.output and "op: swap" in text.output
    as_json = runner.invoke(app, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert data["workflow"] == "transform"
    assert [op["op"] for op in data["settings"]["transform"]["operations"]] == ["swap", "localize"]
    assert data["settings"]["transform"]["operations"][1]["markets"] == ["DE"]


def test_cli_bad_clip_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mov"
    bad.write_bytes(b"\x00" * 64)
    result = CliRunner().invoke(app, ["advise", "--clip", str(bad), "--goal", "relight"])
    assert result.exit_code == 2
    assert "clip cannot be used" in result.output


# What the user says they HAVE, without --clip: (goal, workflow, words the advice must say it relied on,
# whether the words leave it open). Written for this table, after the rules, not from them.
HAVE = [
    ("put our new label on the bottle in the kitchen scene", "transform",
     ["'new label' → swap", "'the kitchen scene' → a shot that may exist"], True),
    ("a German cut of the spot we shot last week", "transform", ["'german' → market DE", "'spot we shot' → footage you have"], False),
    ("this interview needs a night grade", "transform", ["'this interview' → footage you have", "'night' → relight preset night"], False),
    ("make the same clip feel like golden hour", "transform", ["'the same clip' → footage you have"], False),
    ("our ad needs French and Spanish versions", "transform", ["'our ad' → footage you have", "'french' → market FR"], False),
    ("swap the logo on the truck in these shots", "transform", ["'these shots' → footage you have"], False),
    ("give the interview footage a film look", "transform", ["'footage' → footage you have", "'film look' → look film_print"], False),
    ("relight our hero shot for dusk", "transform", ["'our hero shot' → footage you have", "'dusk' → relight preset blue_hour"], False),
    ("the product shots from the shoot need the rebranded can", "transform", ["'from the shoot' → footage you have"], False),
    ("a Japanese version of our commercial", "transform", ["'japanese' → market JP", "'our commercial' → footage you have"], False),
    ("grade the footage from yesterday to look like night", "transform", ["'footage' → footage you have"], False),
    ("the spot needs a vertical version for reels", "transform", ["'the spot' → a shot that may exist"], True),
    # nothing had: these are still inventions
    ("a night version of a city street", "invent", ["'night' → relight preset night"], False),
    ("make a brand new spot of a bottle on a beach, then a German version", ITT, ["'new spot' → a new shot"], False),
    ("we have no footage yet; a lighthouse at dusk in French and German", ITT, ["'no footage' → no footage yet"], False),
]  # fmt: skip


@pytest.mark.parametrize(("goal", "workflow", "words", "open_"), HAVE, ids=[row[0] for row in HAVE])
def test_what_the_user_has_is_read_from_the_goal(
    goal: str, workflow: str, words: list[str], open_: bool
) -> None:
    advice = advise(Assets(), goal)
    assert advice.workflow == workflow, advice.to_text()
    for said in words:
        assert said in advice.understood, advice.understood
    assert (advice.question is not None) == open_, advice.to_text()
    if workflow == "transform":
        assert "transform" in advice.settings and "generate" not in advice.settings


def test_an_open_reading_gives_both_branches_and_the_question_that_decides() -> None:
    advice = advise(Assets(), "put our new label on the bottle in the kitchen scene")
    assert advice.question is not None and "--clip" in advice.question
    have, lack = advice.branches
    assert (have.workflow, lack.workflow) == ("transform", ITT)
    assert have.settings["transform"]["operations"][0]["op"] == "swap"
    assert set(lack.settings) == {"generate", "transform"}
    assert "Open:" in advice.to_text()
    # Said plainly, it is not open.
    assert advise(Assets(), "put our new label on the bottle in the kitchen scene we shot").question is None


def test_write_sequence_makes_a_file_sequence_run_carries_out(tmp_path: Path, clips) -> None:
    plan = tmp_path / "plan.yaml"
    args = ["advise", "--clip", str(clips["short"]), "--goal", "this interview needs a night grade"]
    result = CliRunner().invoke(app, [*args, "--write-sequence", str(plan)])
    assert result.exit_code == 0, result.output
    from shotcraft.sequence import load_sequence, run_sequence

    reports = run_sequence(load_sequence(plan))
    assert [(r.name, r.state) for r in reports] == [("start", "done"), ("relight", "done")]
    record = json.loads((tmp_path / "plan-output/relight.mp4.json").read_text())
    assert record["spec"]["operations"] == [
        {**record["spec"]["operations"][0], "op": "relight", "preset": "night"}
    ]
    again = CliRunner().invoke(app, [*args, "--write-sequence", str(plan)])
    assert again.exit_code == 2 and "already exists" in again.output


def test_written_sequence_for_an_idea_invents_picks_and_localizes(tmp_path: Path) -> None:
    from shotcraft.sequence import load_sequence, sequence_of_advice

    advice = advise(
        Assets(prompt="a tram at dawn"), "try a few concepts, keep the best, then French and German versions"
    )
    text = sequence_of_advice(advice)
    (tmp_path / "plan.yaml").write_text(text, encoding="utf-8")
    seq = load_sequence(tmp_path / "plan.yaml")
    assert [s.kind for s in seq.steps] == ["invent", "pick", "markets"]
    assert seq.spec.markets is not None and seq.spec.markets.markets == ["FR", "DE"]
    assert "strings.csv" in text.split("name:")[0]  # the header says what to write before running


def test_a_server_that_cannot_invent_gets_only_what_it_can_run(stills, clips) -> None:
    # No clip, an idea to invent: nothing to run yet, and the advice says to bring the footage first.
    idea = advise(Assets(), "make a short video of a lighthouse in a storm", can_invent=False)
    assert (idea.workflow, idea.settings) == ("transform", {})
    assert "upload" in idea.steps[0] and "not available" in idea.reasons[0]
    # A clip whose direction is still open would be explored by inventing; here it is transformed.
    explore = Assets(clip=clips["short"], references=[stills["style"]])
    assert advise(explore, "explore a few looks for this shot").workflow == "invent-then-transform"
    limited = advise(explore, "explore a few looks for this shot", can_invent=False)
    assert limited.workflow == "transform" and set(limited.settings) == {"transform"}
