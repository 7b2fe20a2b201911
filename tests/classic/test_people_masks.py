"""People masks on real footage (bikes.mp4): remade at a cut, steady along the flow, true to a hand-drawn
ground truth (tests/data/people_bikes), BlazePose keeping cars out of them, and the ``min-size`` option."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from shotcraft.errors import SpecError
from shotcraft.media.read import VideoReader
from shotcraft.media.samples import sample_clip
from shotcraft.plan import plan_transform
from shotcraft.signals import mediapipe_models, people, pose, temporal_masks
from shotcraft.signals.flow import compute_flow, warp
from shotcraft.spec import FacesLock, PeopleLock, RelightOp, TransformSpec, parse_lock

TRUTH = Path(__file__).parent.parent / "data" / "people_bikes"
FIRST, CUT, LAST = 26, 30, 43  # the end of shot 1 (no one), the cut, the man in shot 2 until he turns to go


def truth(frame: int) -> np.ndarray:
    return np.asarray(Image.open(TRUTH / f"f{frame:03d}.png").convert("L")) > 127


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def flow_iou(frame: np.ndarray, previous: np.ndarray, mask: np.ndarray, before: np.ndarray) -> float:
    """The IoU of ``mask`` with the previous frame's mask carried onto it along the flow."""
    return iou(mask, warp(before.astype(np.float32), compute_flow(frame, previous)) > 0.5)


@pytest.fixture(scope="module")
def bikes() -> tuple[list[np.ndarray], list[np.ndarray]]:
    frames = list(VideoReader(sample_clip("bikes")).frames(FIRST, LAST + 2))  # and f44, as he leaves
    masks = [mask > 0.5 for mask in people.people_masks(frames)]
    return frames, masks


def test_the_man_is_locked_from_the_first_frame_after_the_cut(bikes):
    _, masks = bikes
    for index in range(FIRST, CUT):
        assert not masks[index - FIRST].any(), f"f{index}: shot 1 has no one in it"
    for index in (CUT, CUT + 1):  # the old lock missed f30 and caught him at f31: a one-frame pop
        assert iou(masks[index - FIRST], truth(index)) >= 0.85, f"f{index}"
    # Held at the frame's edge in the dark; the pose gate keeps the car door beside him from being locked
    # too (0.57 with the selfie model alone), and the motion check most of the selfie model's spill onto it
    # (0.66 without it, 0.775 with). Holding the old verdict only where the flow truly carries the picture
    # lets go of the spill held beside him (0.808 here, where f44 is the last frame read; 0.840 in the whole
    # clip), and the guided filter's wider window brings the edge onto his (0.817; 0.858 in the whole clip).
    # A sliver of the door stays; the slow fall on a moving body no skeleton holds (he turns to go) holds a
    # little more of it (0.8125; 0.849 in the whole clip). Where the man's skeleton is lost for a frame
    # (f43) the carried track (people.PartTrack) re-finds him with a sliver of the dark car beside his coat
    # (0.807; 0.845 in the whole clip). At f44 neither model sees him, and a held region carried pixel by
    # pixel along the smooth flow lagged behind his trailing edge, keeping the car door he uncovered; carried
    # as one piece (temporal_masks._rigid_where_unseen) it follows him (0.906 here and in the whole clip).
    assert iou(masks[44 - FIRST], truth(44)) >= 0.88


def test_the_mask_holds_along_the_flow_within_the_shot(bikes):
    frames, masks = bikes
    overlaps = []
    for index in range(CUT + 1, LAST + 1):
        i = index - FIRST
        overlaps.append(flow_iou(frames[i], frames[i - 1], masks[i], masks[i - 1]))
        jump = abs(float(masks[i].mean()) - float(masks[i - 1].mean()))
        assert jump <= 0.05, f"f{index}: the locked share jumps by {jump:.1%} of the frame"
    # The model loses the man for a frame at f36: he is held, not dropped and found again (the edge of his
    # still arm, which no skeleton holds that frame, is let go: mean 0.902 before the frames' still check).
    assert np.mean(overlaps) >= 0.89 and min(overlaps) >= 0.75, [round(v, 2) for v in overlaps]


def _bench():
    path = Path(__file__).resolve().parents[2] / "bench" / "people_masks.py"
    spec = importlib.util.spec_from_file_location("bench_people_masks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_bench_judges_steadiness_where_someone_is_in_view():
    masks = np.zeros((12, 20, 20), bool)
    masks[6:, 5:15, 5:15] = True  # someone enters at f6 ...
    masks[8] = False  # ... and the mask blinks off for a frame
    still = [np.zeros((20, 20, 2), np.float32)] * 12
    (row,) = _bench()._steadiness(masks, [(0, 12)], still)
    # 5 empty pairs before f6 made the median over all pairs look perfect
    assert row["median_iou"] == 1.0
    assert row["in_view_pairs"] == 6 and row["in_view_mean"] == pytest.approx(3 / 6)
    assert row["enter_leave"] == 3 and row["max_jump"] == 0.0


def test_nothing_is_carried_over_a_cut():
    photo = cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    wall = cv2.cvtColor(cv2.resize(data.brick(), (256, 256)), cv2.COLOR_GRAY2RGB)
    masks = list(people.people_masks([photo] * 4 + [wall] * 3))
    person = masks[3] > 0.5
    assert person.mean() > 0.2
    for after in masks[4:]:
        assert not (after > 0.5)[person].any()


def small_person(height: int) -> np.ndarray:
    """The astronaut photo ``height`` px tall on a plain grey 256x256 canvas."""
    canvas = np.full((256, 256, 3), 128, np.uint8)
    photo = cv2.resize(data.astronaut(), (height, height), interpolation=cv2.INTER_AREA)
    canvas[256 - height :, 40 : 40 + height] = photo
    return canvas


def test_min_size_leaves_out_people_shorter_than_it():
    frames = [small_person(100)] * 2  # the person is about 100/256 = 0.39 of the frame's height
    assert all(mask.any() for mask in people.people_masks(frames, min_size=0.2))
    assert not any(mask.any() for mask in people.people_masks(frames, min_size=0.6))


def test_min_size_is_parsed_from_the_cli_form():
    assert parse_lock("people:min-size=0.25") == PeopleLock(min_size=0.25)
    assert parse_lock("people:min-size=0.2@6") == PeopleLock(min_size=0.2, feather=6)
    assert parse_lock("faces:min-size=0.1") == FacesLock(min_size=0.1)
    assert parse_lock("people") == PeopleLock(min_size=0.0)
    with pytest.raises(SpecError, match="unknown"):
        parse_lock("people:size=0.2")
    with pytest.raises(SpecError, match="not a number"):
        parse_lock("people:min-size=big")
    with pytest.raises(SpecError, match="not valid"):
        parse_lock("people:min-size=2")


@pytest.fixture(scope="module")
def cyclist() -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
    """The cyclist's shot (f76-136): a van passes in front of him (f83-102, hidden), then a car (f95-105)."""
    frames = list(VideoReader(sample_clip("bikes")).frames(76, 137))
    return frames, {76 + i: mask > 0.5 for i, mask in enumerate(people.people_masks(frames))}


def test_the_cyclist_leaves_behind_the_van_without_a_pop_or_a_stale_blob(cyclist):
    frames, masks = cyclist
    for index in range(83, 102):  # hidden by the van: both models lose him, nothing of him is held on it
        assert not masks[index].any(), f"f{index}: {masks[index].mean():.1%} of the frame locked on the van"
    overlaps = {}
    for index in range(77, 137):
        now, before = masks[index], masks[index - 1]
        if now.any() != before.any():
            continue  # he goes behind the van (f83) or comes out (f103): a person leaving or entering
        jump = abs(float(now.mean()) - float(before.mean()))
        assert jump <= 0.05, f"f{index}: the locked share jumps by {jump:.1%} of the frame"
        if now.any():  # behind the van no one is in view: an empty pair says nothing of his mask
            overlaps[index] = flow_iou(frames[index - 76], frames[index - 77], now, before)
    # Over the 40 pairs he is in view (the 18 empty pairs behind the van counted as 1 before).
    assert np.median(list(overlaps.values())) >= 0.9
    # f81-82: the van's nose covers his legs; the mask lets them go as it does (0.77 at f81: before, the old
    # verdict was held where the flow drags it along the van, a strip of leg drawn on its nose), and at f82
    # the pose model still draws them on it (3.9 % of the frame, one frame). Elsewhere the mask only changes
    # as the van uncovers him (f104-108, 0.75 at f104) or he turns.
    worst = {i: round(v, 2) for i, v in overlaps.items() if v < 0.75 and i not in (81, 82)}
    assert not worst, worst


def test_without_litert_people_are_the_selfie_models_with_a_notice(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # as on a platform without its wheel
    monkeypatch.setattr(people, "PoseTracker", None)  # and nothing may reach for BlazePose
    assert not mediapipe_models.pose_available()
    clip = sample_clip("bikes")
    plan = plan_transform(clip, TransformSpec(operations=[RelightOp(preset="night")], locks=[PeopleLock()]))
    assert pose.POSE_FALLBACK_NOTICE in plan.notices
    frame = next(VideoReader(clip).frames(103, 104))
    mask = next(people.people_lock_masks(plan, PeopleLock(), _OneFrame(frame))) > 0.5
    assert iou(mask, truth(103)) < 0.3  # the passing car is locked with him, as before BlazePose


class _OneFrame:
    def __init__(self, frame: np.ndarray):
        self.frame = frame

    def frames(self, *_range: int):
        yield self.frame


@pytest.mark.parametrize(
    ("frame", "least"),
    [
        # The selfie model is as sure of the passing car (f103) and the pavement under the wheel (f125) as
        # of the cyclist (truth IoU 0.13 and 0.52 without the pose gate). What is still missed: the passer-by
        # in white half hidden behind him, whom BlazePose does not find (the truth includes him; his arm was
        # locked at f103 only through the passing car's motion smeared onto it, 0.733 before the still check).
        # 0.696 while the old verdict was held where the flow drags it along the car: 0.773. The guided
        # filter's wider window (_to_edges) takes in more of his arm and leg at f125 (0.746 → 0.755).
        (103, 0.75),
        (125, 0.75),
    ],
)
def test_the_passing_car_and_the_pavement_are_not_the_cyclist(cyclist, frame, least):
    assert iou(cyclist[1][frame], truth(frame)) >= least


def test_the_pose_tracker_follows_the_cyclist_and_not_the_car():
    frames = list(VideoReader(sample_clip("bikes")).frames(100, 106))
    tracker, selfie = pose.PoseTracker(), people.PeopleSegmenter()
    for index, frame in enumerate(frames, start=100):
        found = tracker.update(frame, selfie.probability(frame, size=(320, 136))).people
        if index < 103:
            continue  # the car hides him
        assert len(found) == 1, f"f{index}"
        body = cv2.resize(found[0].probability, (640, 272)) > 0.5
        assert iou(body, truth(103)) > 0.6 if index == 103 else body[:, :300].sum() == 0  # not on the car


def test_a_region_the_pose_model_sees_replaces_the_selfie_spill():
    selfie = np.zeros((40, 60), np.float32)
    selfie[5:35, 20:30] = 1.0  # a person ...
    selfie[25:35, 0:20] = 1.0  # ... and a car touching them
    selfie[5:15, 45:55] = 1.0  # someone else, apart
    inside = np.zeros_like(selfie, bool)
    inside[0:40, 15:35] = True
    body = np.zeros_like(selfie)
    body[5:35, 20:30] = 0.95
    roi = pose.PoseRoi((25.0, 20.0), 20.0, 0.0)
    gated = pose.gate_by_pose(selfie, [pose.PosePerson(roi, 1.0, body, inside, roi, np.zeros((11, 2)))])
    assert (gated[5:35, 20:30] == np.float32(0.95)).all()
    assert not gated[25:35, 0:15].any(), "the car's part outside the person's region is dropped"
    assert (gated[5:15, 45:55] == 1).all(), "a region no skeleton touches stays"


def test_a_pose_region_stands_on_the_hips_and_turns_with_the_body():
    upright = pose.PoseRoi.from_points(np.array([100.0, 200.0]), np.array([100.0, 120.0]))
    assert upright.centre == (100.0, 200.0) and upright.size == pytest.approx(200.0)
    assert upright.angle == pytest.approx(0.0)
    lying = pose.PoseRoi.from_points(np.array([100.0, 200.0]), np.array([180.0, 200.0]))  # head to the right
    assert lying.angle == pytest.approx(np.pi / 2)
    top_of_crop = lying.matrix(256) @ np.array([128.0, 0.0, 1.0])
    assert top_of_crop == pytest.approx([200.0, 200.0])  # the crop's "up" is towards the head


@pytest.fixture(scope="module")
def walkers() -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """The walkers' shot (f187-241: legs only, passing a bollard and a parked bicycle), frames and masks:
    a walker's legs are in view until f212, from f213 no one is."""
    frames = list(VideoReader(sample_clip("bikes")).frames(187, 242))
    masks = [mask > 0.5 for mask in people.people_masks(frames)]
    return dict(enumerate(frames, start=187)), dict(enumerate(masks, start=187))


def test_a_walkers_legs_hold_along_the_flow_while_in_view(walkers):
    frames, masks = walkers
    overlaps = [flow_iou(frames[i], frames[i - 1], masks[i], masks[i - 1]) for i in range(188, 213)]
    # Every pair here has the legs in view (an empty mask scores 0: the mask blinked, no one left). The
    # selfie model loses the moving, motion-blurred legs for frames at a time (f193-197, f205-212): mean 0.62
    # while the old verdict was held everywhere, 0.58 holding it only where the flow carries the picture
    # (Motion.carried), 0.635 with the slow fall on a moving body no skeleton holds (MaskSettings.slow_fall).
    # Carrying the legs once found and re-finding them by their colours (people.PartTrack) holds what
    # the selfie model loses at f193-211: 0.706; 0.720 with the track held where the selfie model only half
    # sees the legs (f194-199, f209-212). Still far from issue #11's 0.9: the bag between the legs comes and
    # goes (f192-197), and the walker leaving at the right edge is blurred (f209-212, 0.45-0.56).
    assert np.mean(overlaps) >= 0.715, [round(v, 2) for v in overlaps]


def test_legs_both_models_lose_for_a_frame_are_carried(walkers):
    _, masks = walkers
    # At f193 BlazePose and the selfie model both lose the legs BlazePose held until f192 (its "gone"
    # dropped all held there: 11.9 % → 3.2 % of the frame). The track carries them and finds them again by
    # their colours against the pavement (7.4 %), and holds the dark trousers the selfie model misses on
    # f195-211; the largest jump was f209 (4.9 %), the walker leaving at the frame's right edge. Held where
    # the selfie model only half sees him (f194: 6.5 → 8.4 %), the largest left is f193 (4.5 %).
    jumps = {i: abs(float(masks[i].mean()) - float(masks[i - 1].mean())) for i in range(188, 213)}
    assert max(jumps.values()) <= 0.047, {i: f"{v:.1%}" for i, v in jumps.items() if v > 0.047}


def test_parked_things_no_skeleton_explains_are_never_locked(walkers):
    _, walkers = walkers
    # The selfie model takes the parked bicycle's chain guard for a person once the walkers have gone (up to
    # 3.1 % of the frame locked on f225-241 without the motion check); nothing moves there.
    for index in range(213, 242):
        assert not walkers[index].any(), f"f{index}: {walkers[index].mean():.1%} of the frame locked"
    # Legs without a body are kept while they move (0.53 before the motion check, 0.58 with it: the bag on
    # the bicycle between the legs is dropped). The flow smears the legs' motion over the parked bicycle seen
    # between them; the frames show it standing still (0.654 with that check, Motion.still); 0.684 with the
    # legs' edges following the picture where the flow drags the old verdict (Motion.carried), 0.696 with the
    # guided filter's window reaching across the model's blur of the legs (0.708 with the legs carried, as
    # much more of the trousers as of the bag between them; 0.724 held where the selfie model half sees them).
    assert iou(walkers[200], truth(200)) >= 0.70


def test_motion_support_keeps_what_moves_and_drops_what_is_uncovered():
    still = np.zeros((48, 64, 2), np.float32)
    walking = still.copy()
    walking[10:30, 10:20] = (6.0, 0.0)  # legs moving against a still background
    smeared = walking.copy()
    smeared[10:30, 20:30] = (6.0, 0.0)  # the flow back smears them over what they uncovered ...
    support = people.MotionSupport()
    nobody = np.zeros((48, 64), bool)
    assert not support.update(temporal_masks.Motion(None, still), nobody)[0].any(), (
        "a shot's first frame: nothing moved"
    )
    now, _ = support.update(temporal_masks.Motion(smeared, walking, np.ones((48, 64), bool)), nobody)
    assert now[12:28, 12:18].all(), "the legs move both ways"
    assert not now[12:28, 24:30].any(), "... which stands still on the way ahead"
    for _ in range(5):  # they stop: held for a few frames, then let go
        later, _ = support.update(temporal_masks.Motion(still, still, np.ones((48, 64), bool)), nobody)
    assert not later.any()
    skeleton = np.zeros((48, 64), bool)
    skeleton[5:10, 40:50] = True
    assert support.update(temporal_masks.Motion(still, still), skeleton)[0][5:10, 40:50].all()


def test_the_frames_overrule_the_flow_where_a_textured_background_stands_still():
    rng = np.random.default_rng(1)
    background = cv2.GaussianBlur(rng.integers(0, 256, (48, 64), dtype=np.uint8), (0, 0), 1.0)
    leg = cv2.GaussianBlur(rng.integers(0, 256, (20, 8), dtype=np.uint8), (0, 0), 1.0)

    def frame(x: int) -> np.ndarray:
        picture = background.copy()
        picture[10:30, x : x + 8] = leg
        return picture

    smeared = np.zeros((48, 64, 2), np.float32)
    smeared[5:35, 10:40] = (-6.0, 0.0)  # a smooth flow: the leg's motion spread over the still background
    greys = (frame(14), frame(20), frame(26))  # the leg walks 6 px right a frame
    still = temporal_masks.Motion(smeared, -smeared, np.ones((48, 64), bool), greys).still
    assert still[12:28, 32:38].all(), "the background beside the leg matches the frames before and after"
    assert not still[12:28, 21:27].any(), "the leg matches neither"
    supported, _ = people.MotionSupport().update(
        temporal_masks.Motion(smeared, -smeared, np.ones((48, 64), bool), greys), np.zeros((48, 64), bool)
    )
    assert supported[12:28, 21:27].all() and not supported[12:28, 32:38].any()


def test_a_moving_edge_follows_the_picture_where_the_flow_drags_the_old_verdict():
    rng = np.random.default_rng(2)
    background = cv2.GaussianBlur(rng.integers(0, 256, (48, 64), dtype=np.uint8), (0, 0), 1.0)

    def frame(x: int) -> tuple[np.ndarray, np.ndarray]:
        picture, person = background.copy(), np.zeros((48, 64), np.float32)
        picture[10:40, x : x + 12], person[10:40, x : x + 12] = 250, 1.0
        return picture, person

    (grey0, person0), (grey1, person1) = frame(20), frame(26)
    smooth = np.zeros((48, 64, 2), np.float32)  # a flow that missed the person's step (smooth over the edge)
    motion = temporal_masks.Motion(smooth, None, np.ones((48, 64), bool), (grey0, grey1, None))
    assert motion.carried[12:38, 20:26].sum() == 0, "uncovered background does not match the person"
    assert motion.carried[12:38, 40:60].all() and motion.carried[12:38, 27:31].all()
    smoother = temporal_masks.TemporalMask((64, 48))
    smoother.update(np.dstack([grey0] * 3), None, person0)
    mask = smoother.update(np.dstack([grey1] * 3), smooth, person1, carried=motion.carried) > 0.5
    assert not mask[12:38, 20:25].any(), "the edge the person left is not held on the background"
    assert mask[12:38, 27:37].all()


def test_a_moving_body_the_selfie_model_loses_for_frames_is_held_only_where_slow():
    picture = np.full((48, 64), 60, np.uint8)
    picture[10:40, 20:32] = 250
    frame, still = np.dstack([picture] * 3), np.zeros((48, 64, 2), np.float32)
    person = np.zeros((48, 64), np.float32)
    person[10:40, 20:32] = 1.0
    slow = np.zeros((48, 64), bool)
    slow[:, :32] = True  # moving, no skeleton, the flow consistent both ways
    held = {}
    for name, where in (("slow", slow), ("fast", None)):
        smoother = temporal_masks.TemporalMask((64, 48))
        smoother.update(frame, None, person)
        for _ in range(3):  # the model loses them for three frames
            mask = smoother.update(frame, still, np.zeros_like(person), slow=where) > 0.5
        held[name] = mask[12:38, 22:30].all()
    assert held == {"slow": True, "fast": False}


def test_a_part_track_refinds_a_lost_leg_only_for_someone_a_skeleton_vouched_for():
    picture = np.full((60, 80, 3), 170, np.uint8)
    picture[10:50, 30:40] = 20  # dark trousers on a light pavement
    leg = np.zeros((60, 80), np.float32)
    leg[10:50, 30:40] = 1.0
    upper = leg.copy()
    upper[30:] = 0.0  # the selfie model keeps the upper leg ...
    doubt = np.maximum(upper, 0.3 * leg)  # ... and is only a little sure of the lower
    still, nobody = np.zeros((60, 80, 2), np.float32), np.zeros((60, 80), bool)
    found = {}
    for name, skeleton in (("vouched", leg > 0.5), ("never vouched", nobody)):
        track = people.PartTrack()
        track.update(picture, temporal_masks.Motion(None), leg, leg, skeleton, None)
        found[name] = track.update(picture, temporal_masks.Motion(still), doubt, upper, nobody, None)
    assert found["vouched"][32:48, 32:38].all() and not found["vouched"][:, :25].any()
    assert not found["never vouched"].any(), "a blob no skeleton ever stood in (a taxi's sign) is not grown"


def test_a_part_track_holds_a_leg_the_selfie_model_only_half_sees():
    picture = np.full((60, 80, 3), 170, np.uint8)
    picture[10:50, 30:40] = 20  # dark trousers on a light pavement
    leg = np.zeros((60, 80), np.float32)
    leg[10:50, 30:40] = 1.0
    still, nobody, locked = np.zeros((60, 80, 2), np.float32), np.zeros((60, 80), bool), np.zeros_like(leg)
    found = {}
    # Nothing is locked this frame; the selfie model is a little sure of the leg (bikes f194: above 0.5 on
    # 24 of the walker's 3666 carried px, at 0.25 on 271) or has lost it entirely.
    for name, selfie in (("half seen", 0.3 * leg), ("lost", 0.1 * leg)):
        track = people.PartTrack()
        track.update(picture, temporal_masks.Motion(None), leg, leg, leg > 0.5, None)
        found[name] = track.update(picture, temporal_masks.Motion(still), selfie, locked, nobody, None)
    assert found["half seen"][12:48, 32:38].all()
    assert not found["lost"].any(), "a person both models lose entirely is let go"
