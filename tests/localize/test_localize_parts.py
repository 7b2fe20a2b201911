"""The pieces of localization that need no video: tables, subtitles, OCR box matching, fonts, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from shotcraft.cli import app
from shotcraft.engines.classic import typeset
from shotcraft.engines.classic.localize import load_table, market_strings
from shotcraft.errors import MediaError
from shotcraft.media.subtitles import Cue, cue_at, read_subtitles
from shotcraft.signals.ocr import TextBox
from shotcraft.signals.text_tracks import match_strings
from shotcraft.spec import LocalizeOp, SpecError


def test_json_table_in_both_shapes(tmp_path: Path) -> None:
    mapping = tmp_path / "a.json"
    mapping.write_text('{"SALE": {"de": "RABATT", "ja": "セール"}}', encoding="utf-8")
    rows = tmp_path / "b.json"
    rows.write_text('[{"source": "SALE", "de": "RABATT", "ja": "セール"}, {"de": "x"}]', encoding="utf-8")
    assert (
        load_table(mapping).entries == load_table(rows).entries == {"SALE": {"de": "RABATT", "ja": "セール"}}
    )
    assert load_table(rows).broken == ("item 2 of b.json has no source text",)


def test_explicit_replacements_win_over_the_table(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("source,de\nSALE,RABATT\nOPEN,\n", encoding="utf-8")
    op = LocalizeOp(
        markets=["de"], table=table, replacements={"OPEN": {"de": "GEÖFFNET"}, "SALE": {"de": "AKTION"}}
    )
    assert market_strings(op, "de") == {"SALE": "AKTION", "OPEN": "GEÖFFNET"}
    with pytest.raises(SpecError, match="row 3 of t.csv has no 'de' text for 'OPEN'"):
        market_strings(LocalizeOp(markets=["de"], table=table), "de")


def test_vtt_cues_with_settings_notes_and_tags(tmp_path: Path) -> None:
    vtt = tmp_path / "s.vtt"
    vtt.write_text(
        "WEBVTT\n\nNOTE a comment\n\nintro\n00:01.000 --> 00:02.500 align:start\n<v Ana>Hola</v>\n<b>mundo</b>\n",
        encoding="utf-8",
    )
    cues = read_subtitles(vtt)
    assert cues == [Cue(1.0, 2.5, "Hola\nmundo")]
    assert cue_at(cues, 2.0) == cues[0] and cue_at(cues, 2.5) is None
    bad = tmp_path / "bad.srt"
    bad.write_text("1\n00:00:01 --> soon\nHi\n", encoding="utf-8")
    with pytest.raises(MediaError, match="block 1 has a malformed time line"):
        read_subtitles(bad)


def test_split_ocr_words_are_joined_to_match_a_string() -> None:
    def box(x0: float, text: str, width: float = 60) -> TextBox:
        quad = np.array([[x0, 10], [x0 + width, 10], [x0 + width, 40], [x0, 40]], np.float32)
        return TextBox(quad, text, 0.99)

    boxes = [box(0, "SUMMER"), box(70, "SALE"), box(300, "EXIT")]
    [(text, quad, score)] = match_strings(boxes, ["Summer sale"])
    assert text == "Summer sale" and score == 1.0
    assert quad[:, 0].min() == 0 and quad[:, 0].max() == 130
    assert match_strings(boxes, ["WINTER SALE NOW"]) == []


def test_fonts_cover_the_scripts_markets_need() -> None:
    for text, language, family in [
        ("Sommer", "de", "Noto Sans"), ("Лето", "ru", "Noto Sans"), ("Καλοκαίρι", "el", "Noto Sans"),
        ("여름", "ko", "Noto Sans CJK KR"), ("夏季", "zh", "Noto Sans CJK SC"), ("صيف", "ar", "Noto Sans Arabic"),
        ("קיץ", "he", "Heebo"), ("गर्मी", "hi", "Noto Sans Devanagari"), ("ฤดูร้อน", "th", "Noto Sans Thai"),
        ("கோடை", "ta", "Noto Sans Tamil"),
    ]:  # fmt: skip
        assert [run.face.name for run in typeset.choose_fonts(text, language).runs] == [family]
    with pytest.raises(typeset.UnsupportedScript, match="ETHIOPIC"):
        typeset.choose_fonts("ሽያጭ", "am")


def test_bidi_levels_put_numbers_and_brands_left_to_right_inside_rtl_text() -> None:
    assert typeset.bidi_levels("abc אבג") == [0, 0, 0, 0, 1, 1, 1]
    assert typeset.bidi_levels("אב 12-34 cd") == [1, 1, 1, 2, 2, 2, 2, 2, 1, 2, 2]
    # Arabic letters make the digits after them Arabic numbers (still read left to right, level 2).
    line = typeset.choose_fonts("خصم 50 Nike", "ar")
    assert [run.text for run in line.visual_runs] == ["Nike", " ", "50", "خصم "]


def test_cli_reports_bad_input_in_one_line(tmp_path: Path, small_clip: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "localize",
            str(small_clip),
            "--markets",
            "de",
            "--table",
            str(tmp_path / "none.csv"),
            "-o",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    assert "translation table" in result.output and "does not exist" in result.output
