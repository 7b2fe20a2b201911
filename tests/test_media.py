"""The media core under the output contract: exact timing, copied audio, exact pixels, clear errors."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from shotcraft.media import MediaError, VideoReader, VideoWriter, probe
from shotcraft.media.synth import make_clip, truncate_file
from shotcraft.pipeline import transform
from shotcraft.spec import OutputSpec, TransformSpec


def packet_hashes(path: Path, kind: str = "audio") -> list[list[str]]:
    """Payload hashes of every packet, per stream of ``kind``."""
    with av.open(str(path)) as container:
        streams = list(getattr(container.streams, kind))
        hashes: dict[int, list[str]] = {s.index: [] for s in streams}
        for packet in container.demux(streams):
            if packet.size:
                hashes[packet.stream_index].append(hashlib.sha256(bytes(packet)).hexdigest())
    return list(hashes.values())


def same_yuv(a: Path, b: Path) -> bool:
    for fa, fb in zip(VideoReader(a).av_frames(), VideoReader(b).av_frames(), strict=True):
        if fa.format.name != fb.format.name:
            return False
        sample_bytes = 2 if fa.format.components[0].bits > 8 else 1
        for pa, pb in zip(fa.planes, fb.planes, strict=True):
            if not np.array_equal(_plane(pa, sample_bytes), _plane(pb, sample_bytes)):
                return False
    return True


def _plane(plane, sample_bytes: int) -> np.ndarray:
    """A plane's samples without the row padding (whose bytes are undefined)."""
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : plane.width * sample_bytes]


# -- probe ----------------------------------------------------------------------------------------------------


def test_probe_real_clips(bikes: Path, bigbuckbunny: Path, carphone: Path) -> None:
    b = probe(bikes).video
    assert (b.width, b.height, b.fps, b.frame_count, b.duration) == (640, 272, 25, 250, 10)
    info = probe(bigbuckbunny)
    assert info.video.frame_count == 132 and info.video.duration == Fraction(132, 25)
    assert [(a.codec, a.channels) for a in info.audio] == [("aac", 6)]
    c = probe(carphone).video
    assert c.fps == Fraction(30000, 1001) and not c.vfr


def test_probe_reports_vfr_and_rotation(clip_factory) -> None:
    vfr = probe(clip_factory("vfr.mp4", frames=20, vfr=True)).video
    assert vfr.vfr and vfr.frame_count == 20
    rotated = probe(clip_factory("rot.mp4", frames=4, rotation=90)).video
    assert rotated.rotation == 90 and rotated.display_size == (rotated.height, rotated.width)


# -- read -----------------------------------------------------------------------------------------------------


def test_frame_accurate_access(bikes: Path) -> None:
    reader = VideoReader(bikes)
    sequential = list(reader.frames(95, 105))
    for offset in (0, 4, 9):
        assert np.array_equal(reader.frame_at(95 + offset), sequential[offset])
    assert np.array_equal(reader.frame_at_time(4.2), reader.frame_at(105))
    assert np.array_equal(reader.frame_at(-1), reader.frame_at(249))
    assert sum(len(chunk) for chunk in reader.chunks(64)) == 250


def test_read_out_of_range(bikes: Path) -> None:
    reader = VideoReader(bikes)
    with pytest.raises(MediaError, match="outside the clip"):
        reader.frame_at(250)
    with pytest.raises(MediaError, match="outside the clip"):
        reader.frame_at_time(10.0)


# -- identity transform: the output contract ------------------------------------------------------------------


def test_identity_bigbuckbunny_lossless(bigbuckbunny: Path, tmp_path: Path) -> None:
    out = tmp_path / "identity.mp4"
    result = transform(bigbuckbunny, out, TransformSpec(output=OutputSpec(lossless=True)))
    src, dst = probe(bigbuckbunny), probe(out)
    assert result.frame_count == dst.video.frame_count == 132
    assert dst.video.fps == 25 and dst.video.duration == src.video.duration
    assert dst.video.pts == src.video.pts
    assert packet_hashes(out) == packet_hashes(bigbuckbunny)
    assert same_yuv(bigbuckbunny, out)
    assert result.sidecar.exists()


def test_identity_keeps_ntsc_rate(carphone: Path, tmp_path: Path) -> None:
    out = tmp_path / "carphone.mp4"
    transform(carphone, out)
    src, dst = probe(carphone).video, probe(out).video
    assert dst.fps == Fraction(30000, 1001)
    assert (dst.frame_count, dst.duration) == (src.frame_count, src.duration)


def test_identity_keeps_vfr_timestamps(clip_factory, tmp_path: Path) -> None:
    source = clip_factory("vfr_src.mp4", frames=20, vfr=True, audio_channels=2)
    out = tmp_path / "vfr_out.mp4"
    transform(source, out)
    src, dst = probe(source), probe(out)
    assert dst.video.vfr
    assert [p * dst.video.time_base for p in dst.video.pts] == [
        p * src.video.time_base for p in src.video.pts
    ]
    assert packet_hashes(out) == packet_hashes(source)


def test_identity_keeps_rotation_and_several_audio_tracks(clip_factory, tmp_path: Path) -> None:
    source = clip_factory("rot_src.mp4", frames=10, rotation=270, audio_channels=2, audio_tracks=3)
    out = tmp_path / "rot_out.mp4"
    transform(source, out)
    dst = probe(out)
    assert dst.video.rotation == 270
    assert len(dst.audio) == 3
    assert packet_hashes(out) == packet_hashes(source)


def test_rgb_frames_lossless_roundtrip(small_clip: Path, tmp_path: Path) -> None:
    """Engine output (RGB arrays) written losslessly decodes to exactly the same RGB."""
    info = probe(small_clip)
    frames = list(VideoReader(small_clip, info).frames())
    frames = [np.ascontiguousarray(255 - f) for f in frames]  # any change: inverted
    out = tmp_path / "rgb.mp4"
    with VideoWriter(out, info, OutputSpec(lossless=True)) as writer:
        writer.write_all(frames)
    for written, read in zip(frames, VideoReader(out).frames(), strict=True):
        assert np.array_equal(written, read)
    assert packet_hashes(out) == packet_hashes(small_clip)


@pytest.mark.parametrize(
    ("name", "fmt", "codec"),
    [
        ("out.mov", "mov_prores", "prores"),
        ("out_h265.mp4", "mp4_h265", "hevc"),
        ("out.mkv", "mp4_h264", "h264"),
    ],
)
def test_output_formats(small_clip: Path, tmp_path: Path, name: str, fmt: str, codec: str) -> None:
    out = tmp_path / name
    transform(small_clip, out, TransformSpec(output=OutputSpec(format=fmt)))
    dst, src = probe(out), probe(small_clip)
    assert dst.video.codec == codec
    assert (dst.video.frame_count, dst.video.fps, dst.video.duration) == (48, 25, src.video.duration)
    assert packet_hashes(out) == packet_hashes(small_clip)


def test_png_sequence_output(small_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "frames"
    transform(small_clip, out)
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 48
    assert packet_hashes(out / "audio.mka") == packet_hashes(small_clip)


def test_odd_dimensions_kept_exactly_in_444(clip_factory, tmp_path: Path) -> None:
    source = clip_factory("odd.mp4", frames=6, width=641, height=361, pix_fmt="yuv444p")
    out = tmp_path / "odd_out.mp4"
    result = transform(source, out, TransformSpec(output=OutputSpec(lossless=True)))
    dst = probe(out).video
    assert (dst.width, dst.height, dst.pix_fmt) == (641, 361, "yuv444p")
    assert same_yuv(source, out)
    assert not any("odd dimensions" in n for n in result.notices)


def test_odd_dimensions_from_420_written_as_444_with_notice(clip_factory, tmp_path: Path) -> None:
    """x264 cannot hold odd sizes in 4:2:0: the output keeps 641x361 as 4:4:4 and says so."""
    source = clip_factory("odd420.mkv", frames=6, width=641, height=361, pix_fmt="yuv420p", codec="ffv1")
    out = tmp_path / "odd420_out.mp4"
    result = transform(source, out, TransformSpec(output=OutputSpec(lossless=True)))
    dst = probe(out).video
    assert (dst.width, dst.height, dst.frame_count, dst.pix_fmt) == (641, 361, 6, "yuv444p")
    assert any("641x361 has odd dimensions" in n for n in result.notices)
    for a, b in zip(VideoReader(source).frames(), VideoReader(out).frames(), strict=True):
        assert np.abs(a.astype(int) - b).mean() < 2  # only the chroma upsampling differs


def test_ten_bit_source_stays_ten_bit(clip_factory, tmp_path: Path) -> None:
    source = clip_factory("tenbit.mp4", frames=6, pix_fmt="yuv420p10le")
    out = tmp_path / "tenbit_out.mp4"
    transform(source, out, TransformSpec(output=OutputSpec(lossless=True)))
    dst = probe(out).video
    assert dst.bit_depth == 10 and dst.pix_fmt == "yuv420p10le"
    for a, b in zip(VideoReader(source).av_frames(), VideoReader(out).av_frames(), strict=True):
        assert np.array_equal(a.to_ndarray(), b.to_ndarray())


# -- bad input: one clear reason each, nothing left behind ----------------------------------------------------


def _zero_frame_clip(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height = 64, 48
        container.start_encoding()
        container.mux(stream.encode(None))
    return path


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=48000)
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((2, 1024), np.float32), format="fltp", layout="stereo"
            )
            frame.sample_rate, frame.pts = 48000, i * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, bikes: d / "missing.mp4", "does not exist"),
        (
            lambda d, bikes: (d / "notes.mp4").write_text("not a video") and d / "notes.mp4",
            "not a readable media file",
        ),
        (lambda d, bikes: (d / "empty.mp4").write_bytes(b"") or d / "empty.mp4", "empty"),
        (lambda d, bikes: truncate_file(bikes, d / "truncated.mp4", 0.4), "truncated|damaged|not a readable"),
        (lambda d, bikes: _zero_frame_clip(d / "zero.mp4"), "zero frames|no video"),
        (lambda d, bikes: _audio_only(d / "audio.m4a"), "audio only"),
    ],
)
def test_bad_sources(tmp_path: Path, bikes: Path, make, message: str) -> None:
    source = make(tmp_path, bikes)
    out = tmp_path / "out.mp4"
    with pytest.raises(MediaError, match=message):
        transform(source, out)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_truncated_clip_reports_where(tmp_path: Path, bikes: Path) -> None:
    """A clip cut off mid-file either fails to probe or ends early with a clear reason; never a silent short output."""
    source = truncate_file(bikes, tmp_path / "cut.mp4", 0.7)
    out = tmp_path / "cut_out.mp4"
    try:
        info = probe(source)
    except MediaError:
        return
    result = transform(source, out)
    assert result.frame_count == info.video.frame_count == probe(out).video.frame_count


def test_output_equal_to_source_refused(small_clip: Path) -> None:
    before = small_clip.read_bytes()
    with pytest.raises(MediaError, match="is the source clip"):
        transform(small_clip, small_clip)
    assert small_clip.read_bytes() == before


def test_unwritable_output_folder(small_clip: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(MediaError, match="cannot create output folder|not writable"):
        transform(small_clip, blocker / "out.mp4")


def test_failed_write_leaves_no_output(small_clip: Path, tmp_path: Path) -> None:
    info = probe(small_clip)
    out = tmp_path / "partial.mp4"
    with pytest.raises(RuntimeError), VideoWriter(out, info) as writer:
        writer.write(next(VideoReader(small_clip, info).frames()))
        raise RuntimeError("engine crashed")
    assert list(tmp_path.iterdir()) == []


def test_disk_full_is_one_line(small_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = probe(small_clip)
    writer = VideoWriter(tmp_path / "full.mp4", info)

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer, "_encode", no_space)
    with pytest.raises(MediaError, match="disk is full"):
        writer.write(np.zeros((120, 160, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_wrong_frame_size_rejected(small_clip: Path, tmp_path: Path) -> None:
    with (
        pytest.raises(MediaError, match="expected"),
        VideoWriter(tmp_path / "x.mp4", probe(small_clip)) as writer,
    ):
        writer.write(np.zeros((10, 10, 3), np.uint8))


def test_make_clip_real_footage(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "f.mp4", frames=5, width=96, height=64, footage="bikes")
    assert probe(path).video.frame_count == 5


def test_subtitle_streams_copied(small_clip: Path, tmp_path: Path) -> None:
    import subprocess

    import imageio_ffmpeg

    srt = tmp_path / "subs.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nHello\n\n2\n00:00:01,000 --> 00:00:01,900\nWorld\n")
    source = tmp_path / "with_subs.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(small_clip), "-i", str(srt),
         "-map", "0", "-map", "1", "-c", "copy", "-c:s", "mov_text", "-metadata:s:s:0", "language=deu", str(source)],
        check=True,
    )  # fmt: skip
    out = tmp_path / "subs_out.mp4"
    transform(source, out)
    info = probe(out)
    assert [(s.codec, s.language) for s in info.subtitles] == [("mov_text", "deu")]
    assert packet_hashes(out, "subtitles") == packet_hashes(source, "subtitles")
    assert packet_hashes(out) == packet_hashes(source)
