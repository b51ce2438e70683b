"""Files people drop on a video player that are not videos, made as real programs make them."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 44_100


def write_song_with_cover(path: Path, seconds: float = 1.0) -> Path:
    """An MP3 with its album cover, as music players tag it: FFmpeg opens it as a one-picture "video"."""
    with av.open(str(path), "w") as song:
        cover = song.add_stream("mjpeg", rate=1)
        cover.width = cover.height = 64
        cover.pix_fmt = "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        music = song.add_stream("mp3", rate=SAMPLE_RATE)  # every stream before the first packet: that writes the header
        picture = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 200, np.uint8), format="rgb24")
        for packet in [*cover.encode(picture.reformat(format="yuvj420p")), *cover.encode()]:
            song.mux(packet)
        t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
        tone = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None],
                                          format="fltp", layout="mono")
        tone.sample_rate = SAMPLE_RATE
        for packet in [*music.encode(tone), *music.encode()]:
            song.mux(packet)
    return path


def write_sound_only(path: Path, codec: str, seconds: float = 1.0) -> Path:
    """Sound and no pictures in a container that videos use too: Ogg Vorbis, music saved as .mp4 (AAC) or .webm (Opus)."""
    rate = 48_000
    with av.open(str(path), "w") as sound:
        stream = sound.add_stream(codec, rate=rate, options={"strict": "experimental"} if codec == "vorbis" else {})
        stream.layout = "stereo"
        t = np.arange(int(rate * seconds)) / rate
        wave = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
        tone = av.AudioFrame.from_ndarray(np.stack([wave, wave]).reshape(1, -1), format="s16", layout="stereo")
        tone.sample_rate = rate
        for packet in [*stream.encode(tone), *stream.encode()]:
            sound.mux(packet)
    return path


def write_notes(path: Path) -> Path:
    """A plain text file, which FFmpeg draws as a video of its characters."""
    path.write_text("Shopping list\n" + "- milk\n- bread\n" * 40)
    return path
