"""Subtitles: read SRT and WebVTT files, and mux them into a finished clip as soft text tracks.

Soft tracks are ``mov_text`` in MP4/MOV and ``subrip`` in Matroska, one per market language, added by a
remux that copies every existing stream packet for packet (video, audio and subtitles are untouched) and
appears under its final name only when complete.

>>> import tempfile, pathlib
>>> srt = pathlib.Path(tempfile.mkdtemp()) / "de.srt"
>>> _ = srt.write_text("1\\n00:00:00,500 --> 00:00:01,250\\nHallo <i>Welt</i>\\n", encoding="utf-8")
>>> read_subtitles(srt)
[Cue(start=0.5, end=1.25, text='Hallo Welt')]
>>> language_code("de"), language_code("pt-BR"), language_code("zz")
('deu', 'por', 'und')
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from shotcraft.errors import MediaError, read_user_text

_TIME = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})[,.](\d{1,3})")
_TAG = re.compile(r"<[^>]*>|\{\\[^}]*\}")

#: ISO 639-1 → 639-2/T for the languages markets usually are; containers store the three-letter code.
_LANGUAGES = {
    "ar": "ara", "bg": "bul", "cs": "ces", "da": "dan", "de": "deu", "el": "ell", "en": "eng", "es": "spa",
    "et": "est", "fa": "fas", "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin", "hr": "hrv", "hu": "hun",
    "id": "ind", "it": "ita", "ja": "jpn", "ko": "kor", "lt": "lit", "lv": "lav", "ms": "msa", "nl": "nld",
    "no": "nor", "pl": "pol", "pt": "por", "ro": "ron", "ru": "rus", "sk": "slk", "sl": "slv", "sr": "srp",
    "sv": "swe", "th": "tha", "tr": "tur", "uk": "ukr", "vi": "vie", "zh": "zho",
}  # fmt: skip


@dataclass(frozen=True)
class Cue:
    """One subtitle: shown from ``start`` to ``end`` seconds; ``text`` is plain (tags removed), lines
    joined by newlines."""

    start: float
    end: float
    text: str


def language_code(market: str) -> str:
    """The three-letter language code a container stores for a market such as ``de``, ``pt-BR`` or ``ja``."""
    head = re.split(r"[-_]", market.strip().lower())[0]
    if len(head) == 3:
        return head
    return _LANGUAGES.get(head, "und")


def _seconds(match: re.Match[str]) -> float:
    hours, minutes, seconds, millis = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis.ljust(3, "0")) / 1000


def read_subtitles(path: str | os.PathLike[str]) -> list[Cue]:
    """Cues of an SRT or WebVTT file (told apart by the ``WEBVTT`` header), sorted by start time."""
    path = Path(path)
    text = read_user_text(path, "subtitle file", MediaError)
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n").strip())
    is_vtt = blocks[0].startswith("WEBVTT") if blocks else False
    cues: list[Cue] = []
    for number, block in enumerate(blocks, start=1):
        lines = block.split("\n")
        timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing is None:
            if is_vtt and (number == 1 or lines[0].startswith(("NOTE", "STYLE", "REGION"))):
                continue
            raise MediaError(f"subtitle file {path.name}: block {number} has no 'start --> end' line")
        start_text, _, end_text = lines[timing].partition("-->")
        start, end = _TIME.search(start_text), _TIME.search(end_text)
        if start is None or end is None:
            raise MediaError(
                f"subtitle file {path.name}: block {number} has a malformed time line {lines[timing]!r}"
            )
        body = "\n".join(_TAG.sub("", line).strip() for line in lines[timing + 1 :]).strip()
        if body:
            cues.append(Cue(_seconds(start), _seconds(end), body))
    if not cues:
        raise MediaError(f"subtitle file {path.name} holds no cues")
    return sorted(cues, key=lambda c: c.start)


def cue_at(cues: list[Cue], seconds: float) -> Cue | None:
    """The cue on screen at ``seconds`` (the latest-starting one if cues overlap)."""
    shown = [c for c in cues if c.start <= seconds < c.end]
    return shown[-1] if shown else None


def mux_subtitles(
    video: str | os.PathLike[str],
    tracks: list[tuple[list[Cue], str]],
    output: str | os.PathLike[str],
) -> Path:
    """Copy ``video`` to ``output`` with one soft subtitle track per ``(cues, market)`` added."""
    video, output = Path(video), Path(output)
    suffix = output.suffix.lower()
    if suffix in (".mp4", ".m4v", ".mov"):
        codec, fmt = "mov_text", ("mov" if suffix == ".mov" else "mp4")
    elif suffix == ".mkv":
        codec, fmt = "subrip", "matroska"
    else:
        raise MediaError(f"soft subtitles need an .mp4, .mov or .mkv output, not {output.name}")
    tmp = output.with_name(f".{output.stem}.partial-{os.getpid()}{output.suffix}")
    try:
        with av.open(str(video), metadata_errors="ignore") as src, av.open(str(tmp), "w", format=fmt) as dst:
            mapping = {}
            for stream in src.streams:
                copied = dst.add_stream_from_template(stream)
                if stream.language:
                    copied.metadata["language"] = stream.language
                mapping[stream.index] = copied
            text_streams = []
            for _, market in tracks:
                stream = dst.add_mux_stream(codec)
                stream.time_base = Fraction(1, 1000)
                stream.metadata["language"] = language_code(market)
                text_streams.append(stream)
            # Cues go in first: the muxer's interleaving queue holds them (a few bytes each) until the
            # copied packets catch up, so the file comes out interleaved by time.
            for (cues, _), stream in zip(tracks, text_streams, strict=True):
                for cue in cues:
                    dst.mux(_text_packet(cue, stream, codec))
            for packet in src.demux():
                if packet.size == 0 and packet.pts is None:
                    continue
                packet.stream = mapping[packet.stream_index]
                dst.mux(packet)
        os.replace(tmp, output)
    except (av.error.FFmpegError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise MediaError(f"adding subtitles to {output.name} failed: {exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return output


def _text_packet(cue: Cue, stream: av.stream.Stream, codec: str) -> av.Packet:
    data = cue.text.encode("utf-8")
    # mov_text samples are a 16-bit big-endian length followed by the UTF-8 text (3GPP TS 26.245).
    packet = av.Packet(struct.pack(">H", len(data)) + data if codec == "mov_text" else data)
    packet.stream = stream
    packet.time_base = stream.time_base
    packet.pts = packet.dts = round(cue.start * 1000)
    packet.duration = max(1, round((cue.end - cue.start) * 1000))
    return packet
