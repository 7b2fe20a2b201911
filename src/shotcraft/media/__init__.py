"""Media core: probe, streaming read, atomic write with stream copy, exact timing."""

from shotcraft.errors import MediaError
from shotcraft.media.probe import AudioInfo, MediaInfo, SubtitleInfo, VideoInfo, probe
from shotcraft.media.read import VideoReader, read_frames
from shotcraft.media.write import VideoWriter, check_output_path, write_sidecar

__all__ = [
    "AudioInfo", "MediaError", "MediaInfo", "SubtitleInfo", "VideoInfo", "VideoReader", "VideoWriter",
    "check_output_path", "probe", "read_frames", "write_sidecar",
]  # fmt: skip
