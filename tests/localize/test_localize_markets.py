"""Market versions end to end on real footage with a moving, perspective-turning sign.

OCR is slow on a CPU, so outputs are read on a handful of sampled frames where the sign is visible.
"""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from shotcraft.markets import localize
from shotcraft.media.probe import probe
from shotcraft.media.read import VideoReader
from shotcraft.signals.ocr import normalise, read_text

from .conftest import APPEAR, FRAMES, SOURCE

pytest.importorskip("rapidocr")

TEXTS = {"de": "SOMMERSCHLUSSVERKAUF", "fr": "SOLDES D'ÉTÉ", "ja": "夏のセール", "ar": "تخفيضات الصيف"}
SAMPLED = list(range(APPEAR, FRAMES, 4))


@pytest.fixture(scope="module")
def table(sign_clip: Path) -> Path:
    path = sign_clip.with_name("strings.csv")
    header = "source," + ",".join(TEXTS)
    path.write_text(f"{header}\n{SOURCE}," + ",".join(TEXTS.values()) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def markets(sign_clip: Path, table: Path) -> dict[str, Path]:
    subs = sign_clip.with_name("de.srt")
    subs.write_text("1\n00:00:00,200 --> 00:00:01,000\nWillkommen\n", encoding="utf-8")
    results = localize(sign_clip, sign_clip.parent / "out", ["de", "ja"], table=table, subtitles={"de": subs})
    assert [r.problems for r in results] == [[], []]
    return {r.market: r.path for r in results}


def _texts(path: Path, frames: list[int]) -> list[list[str]]:
    reader = VideoReader(path)
    return [[normalise(b.text) for b in read_text(reader.frame_at(i))] for i in frames]


def test_source_shows_the_sign_where_it_is_visible(sign_clip: Path) -> None:
    # Guards the OCR checks below: the source string must be readable in the source clip.
    seen = _texts(sign_clip, SAMPLED)
    assert sum(normalise(SOURCE) in texts for texts in seen) >= 0.9 * len(SAMPLED)
    assert _texts(sign_clip, [0]) == [[]]


@pytest.mark.parametrize("market", ["de", "ja"])
def test_each_market_shows_its_text_and_never_the_source(markets: dict[str, Path], market: str) -> None:
    seen = _texts(markets[market], SAMPLED)
    found = sum(normalise(TEXTS[market]) in texts for texts in seen)
    assert found >= 0.9 * len(SAMPLED), seen
    assert not any(normalise(SOURCE) in " ".join(texts) for texts in seen), seen


def test_every_market_keeps_frames_fps_and_audio(sign_clip: Path, markets: dict[str, Path]) -> None:
    source = probe(sign_clip)
    source_audio = _audio_packets(sign_clip)
    for path in markets.values():
        info = probe(path)
        assert info.video.frame_count == source.video.frame_count == FRAMES
        assert info.video.fps == source.video.fps
        assert info.video.duration == source.video.duration
        assert _audio_packets(path) == source_audio


def test_soft_subtitles_are_muxed_per_market(markets: dict[str, Path]) -> None:
    subs = probe(markets["de"]).subtitles
    assert [(s.codec, s.language) for s in subs] == [("mov_text", "deu")]
    assert not probe(markets["ja"]).subtitles


def test_bad_markets_are_reported_and_the_others_made(sign_clip: Path, tmp_path: Path) -> None:
    table = tmp_path / "broken.csv"
    table.write_text(
        f"source,de,fr,am\n{SOURCE},RABATT,,ሽያጭ\nONLY,ONE,TWO,THREE,FOUR,FIVE\n", encoding="utf-8"
    )
    results = {
        r.market: r for r in localize(sign_clip, tmp_path / "out", ["de", "fr", "am", "it"], table=table)
    }
    assert results["de"].path is not None and results["de"].path.is_file()
    assert any("row 3 of broken.csv has 6 fields" in n for n in results["de"].take.notices)
    assert results["fr"].problems == ["row 2 of broken.csv has no 'fr' text for 'SUMMER SALE'"]
    assert results["am"].problems == ["no installed font covers 'ሽያጭ' (ETHIOPIC)"]
    assert results["it"].problems == [
        "market 'it' is not in translation table broken.csv (it has de, fr, am)"
    ]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.mp4")) == ["sign_de.mp4"]


def test_burned_subtitles_are_readable(sign_clip: Path, table: Path, tmp_path: Path) -> None:
    subs = tmp_path / "fr.vtt"
    subs.write_text("WEBVTT\n\n00:00.000 --> 00:00.400\nBIENVENUE\n", encoding="utf-8")
    [result] = localize(
        sign_clip,
        tmp_path,
        ["fr"],
        table=table,
        subtitles={"fr": subs},
        burn_subtitles=True,
        soft_subtitles=False,
    )
    assert not probe(result.path).subtitles
    assert "bienvenue" in _texts(result.path, [3])[0]
    assert "bienvenue" not in _texts(result.path, [20])[0]


def _audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]
