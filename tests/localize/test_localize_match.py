"""A market version must match the sign, not only its words: stroke weight, ink colour and the board's
grain where the old letters were (the demo sign), the old text gone on every frame of a board that grows
to twice its size over real footage, and nothing drawn anywhere but over the text it replaces (bikes'
taxi sign)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from shotcraft.engines.classic import text_matte, typeset
from shotcraft.markets import localize, signage_frames, signage_quads
from shotcraft.media.read import VideoReader
from shotcraft.media.samples import sample_clip
from shotcraft.media.synth import make_clip
from shotcraft.signals.ocr import read_text, similarity
from shotcraft.signals.text_tracks import find_text_tracks
from shotcraft.spec import OutputSpec

from .conftest import FRAMES, SOURCE

pytest.importorskip("rapidocr")

BOARD = dict(appear=2, grow=2.0, margin=0.2, span=0.35, board=(38, 84, 60), ink=(240, 228, 196))
BOARD_FRAMES = 48


def _plate_of(path: Path, track, index: int) -> np.ndarray:
    frame = VideoReader(path).frame_at(index)
    ph, pw = track.plate.shape[:2]
    return cv2.warpPerspective(frame, track.plate_to_frame(index), (pw, ph), flags=cv2.WARP_INVERSE_MAP)


@pytest.fixture(scope="module")
def japanese(sign_clip: Path) -> Path:
    # Written losslessly: what is measured is the localization, not how much grain the encoder keeps.
    [result] = localize(
        sign_clip, sign_clip.parent / "match", ["ja"], replacements={SOURCE: {"ja": "夏のセール"}},
        output=OutputSpec(lossless=True),
    )  # fmt: skip
    assert result.problems == []
    return result.path


def test_weight_and_colour_match_the_source(sign_clip: Path, japanese: Path) -> None:
    track = find_text_tracks(VideoReader(sign_clip), [SOURCE], every=8)[0]
    old = text_matte.analyse(track.plate, track.box)
    for index in range(track.reference, FRAMES, 5):
        if index not in track.homographies:
            continue
        new = text_matte.analyse(_plate_of(japanese, track, index), track.box)
        ratio = new.stroke / old.stroke
        assert 0.75 < ratio < 1.3, (index, new.stroke, old.stroke)
        distance = float(np.linalg.norm(np.subtract(new.ink, old.ink)))
        assert distance < 30, (index, new.ink, old.ink)


def test_the_fill_carries_the_boards_grain(sign_clip: Path, japanese: Path) -> None:
    track = find_text_tracks(VideoReader(sign_clip), [SOURCE], every=8)[0]
    old = text_matte.analyse(track.plate, track.box)
    near = np.ones((9, 9), np.uint8)  # the high-pass below reaches about 4 px
    holes = cv2.dilate(old.letters, np.ones((5, 5), np.uint8)) > 0
    # The bare board round the old letters, clear of them and of the board's rim and rules.
    ring = (cv2.erode(old.plain.astype(np.uint8), near) > 0) & ~(cv2.dilate(holes.astype(np.uint8), near) > 0)
    checked = 0
    for index in range(track.reference, FRAMES, 5):
        if index not in track.homographies:
            continue
        plate = _plate_of(japanese, track, index)
        grey = plate.astype(np.float32).mean(axis=2)
        grain = grey - cv2.GaussianBlur(grey, (0, 0), 1.5)
        # Where the old letters were and the new ones are not, clear of the new letters' edges.
        written = cv2.dilate(text_matte.analyse(plate, track.box).letters, near) > 0
        filled = holes & ~written & (cv2.erode(old.surface.astype(np.uint8), near) > 0)
        ratio = float(grain[filled].std() / grain[ring].std())
        assert 0.8 < ratio < 1.25, (index, ratio)
        checked += 1
    assert checked >= 4


def test_a_static_face_is_set_bolder_to_match() -> None:
    line = typeset.choose_fonts("夏のセール", "ja")
    weight, embolden = typeset.match_stroke(line, 40, 6.0)
    assert embolden > 0
    stroke = typeset.stroke_width(
        typeset.render_line(line, 40, (0, 0, 0), weight=weight, embolden=embolden).alpha, 4
    )
    assert abs(stroke - 6.0) < 0.6, stroke


def test_the_letters_marks_are_part_of_the_text() -> None:
    # Dots and umlauts are too small to pass for letters on their own: left out of the matte, they
    # would stay on the sign when the old text is taken off.
    layer = typeset.render_line(typeset.choose_fonts("Übergröße für", "de"), 18, (0, 0, 0))
    h, w = layer.alpha.shape
    plate = np.full((h + 40, w + 60, 3), (225, 215, 190), np.float32)
    alpha = layer.alpha[..., None]
    plate[20 : 20 + h, 30 : 30 + w] = (
        plate[20 : 20 + h, 30 : 30 + w] * (1 - alpha) + np.array([30, 40, 110]) * alpha
    )
    plate = np.clip(plate + np.random.default_rng(1).normal(0, 4, plate.shape), 0, 255).astype(np.uint8)
    x0, y0, x1, y1 = layer.ink
    found = text_matte.analyse(plate, (27 + x0, 17 + y0, x1 - x0 + 6, y1 - y0 + 6)).letters > 0
    truth = np.zeros(found.shape, np.uint8)
    truth[20 : 20 + h, 30 : 30 + w] = layer.alpha > 0.5
    count, pieces, stats, _ = cv2.connectedComponentsWithStats(truth)
    missed = [tuple(stats[k]) for k in range(1, count) if stats[k, 4] >= 2 and not found[pieces == k].any()]
    assert missed == []


def test_a_board_little_bigger_than_its_text_is_refilled_with_grain() -> None:
    # Round letters a few pixels from the board's edge the bare board is slivers: the fill's grain
    # must still come from them, not leave a flat wash where the letters were.
    layer = typeset.render_line(typeset.choose_fonts("FRESH BREAD", "en"), 40, (0, 0, 0))
    x0, y0, x1, y1 = layer.ink
    w, h = x1 - x0, y1 - y0
    plate = np.full((h + 60, w + 60, 3), 120, np.float32)
    plate[25 : 35 + h, 25 : 35 + w] = (38, 84, 60)
    noise = np.random.default_rng(3).normal(0, 6, (*plate.shape[:2], 1)).astype(np.float32)
    bare = plate + noise
    ink = np.zeros(plate.shape[:2], np.float32)
    ink[30 : 30 + h, 30 : 30 + w] = layer.alpha[y0:y1, x0:x1]
    sign = bare * (1 - ink[..., None]) + (np.array((240, 228, 196)) + noise) * ink[..., None]
    image = np.clip(sign, 0, 255).astype(np.uint8)
    box = (27, 27, w + 6, h + 6)
    text = text_matte.analyse(image, box)
    margin = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))  # as localize: a tenth of the box height
    covered = cv2.dilate((text.coverage > 0.05).astype(np.uint8) * 255, margin)
    covered[~text.surface] = 0
    clean, grain = text_matte.clean_plate(image, text, covered)
    inside = cv2.erode(covered, np.ones((7, 7), np.uint8)) > 0  # clear of the fill's edge

    def high_pass(rgb: np.ndarray) -> np.ndarray:
        grey = rgb.mean(axis=2)
        return grey - cv2.GaussianBlur(grey, (0, 0), 1.5)

    ratio = float(high_pass(clean + grain)[inside].std() / high_pass(bare)[inside].std())
    assert 0.6 < ratio < 1.3, ratio


@pytest.fixture(scope="module")
def growing_board(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("board")
    source = make_clip(
        folder / "board.mp4", frames=BOARD_FRAMES, width=480, height=272, fps=25,
        content=signage_frames("FRESH BREAD", BOARD_FRAMES, 480, 272, **BOARD),
    )  # fmt: skip
    [result] = localize(source, folder / "out", ["de"], replacements={"FRESH BREAD": {"de": "FRISCHES BROT"}})
    assert result.problems == []
    return source, result.path


def test_the_old_text_is_gone_on_every_frame_of_a_growing_board(growing_board: tuple[Path, Path]) -> None:
    _, output = growing_board
    truth = signage_quads(
        "FRESH BREAD", BOARD_FRAMES, 480, 272, **{k: BOARD[k] for k in ("appear", "grow", "margin", "span")}
    )
    bare = list(signage_frames("FRESH BREAD", BOARD_FRAMES, 480, 272, **{**BOARD, "ink": BOARD["board"]}))
    for index, frame in enumerate(VideoReader(output).frames()):
        if truth[index] is None:
            continue
        # OCR reads the new text, all of it, and nothing of the old.
        read = " ".join(box.text for box in read_text(frame))
        assert similarity(read, "FRISCHES BROT") > 0.85, (index, read)
        # Inside the old text's true box, away from the new letters, the board looks bare.
        box = np.zeros(frame.shape[:2], np.uint8)
        cv2.fillConvexPoly(box, np.round(truth[index]).astype(np.int32), 1)
        clean = bare[index].astype(np.float32)
        new_ink = (np.abs(frame.astype(np.float32) - clean).max(axis=2) > 60).astype(np.uint8)
        region = (box > 0) & ~(cv2.dilate(new_ink, np.ones((5, 5), np.uint8)) > 0)
        error = np.abs(cv2.GaussianBlur(frame.astype(np.float32) - clean, (0, 0), 1.0)).mean(axis=2)[region]
        assert np.percentile(error, 99) < 40, (index, float(np.percentile(error, 99)))


def _taxi_letters(frame: np.ndarray) -> tuple[int, int, int, int] | None:
    """The TAXI sign's red letters in a bikes frame (x0, y0, x1, y1), found by their colour: letter-sized
    red pieces in the rows the sign crosses (a tail light is shorter than the letters)."""
    rgb = frame.astype(np.int16)
    red = (rgb[..., 0] - rgb[..., 1:].max(axis=2) > 20) & (rgb[..., 0] > 55)
    red = cv2.morphologyEx(red.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    _, _, stats, _ = cv2.connectedComponentsWithStats(red)
    letters = [s for s in stats[1:] if 24 <= s[3] <= 45 and s[2] <= 60 and s[4] >= 150 and 90 <= s[1] <= 200]
    if not letters:
        return None
    boxes = np.array(letters)
    return (
        int(boxes[:, 0].min()), int(boxes[:, 1].min()),
        int((boxes[:, 0] + boxes[:, 2]).max()), int((boxes[:, 1] + boxes[:, 3]).max()),
    )  # fmt: skip


def test_text_off_the_frame_edge_is_left_alone_with_a_notice(tmp_path: Path) -> None:
    source = sample_clip("bikes")
    [result] = localize(source, tmp_path, ["de"], replacements={"TAXI": {"de": "DROSCHKE"}})
    assert any("runs off the edge of the picture" in n for n in result.take.notices), result.take.notices
    before, after = VideoReader(source), VideoReader(result.path)
    drawn_on = 0
    # From before the taxi comes into view (frame 38) to after its sign has passed (frame 76): on every
    # frame, whatever changed lies on the sign round the old letters (the new word is longer, so it
    # may reach a letter's height past them along the line), and nothing changes without letters.
    for index in range(38, 80):
        source_frame = before.frame_at(index)
        difference = np.abs(source_frame.astype(np.int16) - after.frame_at(index)).max(axis=2)
        changed = cv2.GaussianBlur(difference.astype(np.float32), (0, 0), 2) > 25
        letters = _taxi_letters(source_frame) if index < 76 else None
        allowed = np.zeros(changed.shape, bool)
        if letters is not None:
            x0, y0, x1, y1 = letters
            grow = y1 - y0
            allowed[max(0, y0 - grow // 2) : y1 + grow // 2, max(0, x0 - grow) : x1 + grow] = True
        outside = np.count_nonzero(changed & ~allowed)
        assert outside == 0, (index, outside, letters, np.argwhere(changed & ~allowed)[:3].tolist())
        drawn_on += bool(changed.any())
    assert drawn_on >= 8  # the sign is replaced while it is whole in the picture (frames 67-75)
