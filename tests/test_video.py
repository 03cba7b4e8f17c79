import time

import numpy as np
import pytest
from helpers import write_avi

from lrcn.core.errors import VideoError
from lrcn.runtime import decode as D
from lrcn.runtime import video as V

EXPECTED_FRAMES = {  # decodable frames per ../shared/data/README.md
    "tree_cinepak_wrong_count.avi": 68,
    "no_duration_vp9.webm": 74,
    "hmdb51_swing_baseball_mpeg4.avi": 140,
    "h265_10bits.mp4": 30,
    "pigs_in_a_polka.gif": 30,
    "carphone_qcif_distorted.mp4": 120,
}


@pytest.mark.parametrize("name,count", sorted(EXPECTED_FRAMES.items()))
def test_counts_frames_by_decoding_not_container(shared_videos, name, count):
    v = V.decode_video(shared_videos / name, 32)
    assert v.num_decoded == count
    assert v.frames.shape == (count, 32, 32, 3)


def test_every_shared_video_reads_or_fails_in_one_line(shared_videos):
    for f in sorted(shared_videos.iterdir()):
        try:
            clip = V.read_clip(f, 8, 32)
            assert clip.frames.shape == (8, 32, 32, 3)
            assert max(clip.indices) < clip.num_decoded
        except VideoError as e:
            assert "\n" not in str(e) and f.name in str(e)


def test_av1_decodes_every_frame_through_whichever_backend_can(shared_videos):
    """What a user relies on: the clip decodes to its 125 frames. OpenCV 5.0's FFmpeg opened this file
    and read nothing (PyAV took over); 5.1's decodes AV1 itself. Either is right."""
    pytest.importorskip("av")
    clip = V.read_clip(shared_videos / "av1_video.mkv", 6, 32)
    assert clip.num_decoded == 125 and clip.frames.shape == (6, 32, 32, 3)
    assert clip.backend in ("opencv", "pyav")


class _OpensAndReadsNothing:
    """A capture as OpenCV 5.0 gave for AV1: opened, sized, and no frame."""

    def isOpened(self):
        return True

    def get(self, prop):
        return 0.0

    def read(self):
        return False, None

    def release(self):
        pass


def test_pyav_takes_over_when_opencv_opens_a_file_and_reads_nothing(shared_videos, monkeypatch):
    pytest.importorskip("av")
    monkeypatch.setattr(D, "open_file_capture", lambda path: _OpensAndReadsNothing())
    clip = V.read_clip(shared_videos / "av1_video.mkv", 6, 32)
    assert clip.backend == "pyav" and clip.num_decoded == 125
    assert clip.frames.shape == (6, 32, 32, 3) and clip.frames.any()


def test_sampled_fps(tmp_path):
    p = write_avi(tmp_path / "ten.avi", [np.full((16, 16, 3), i * 20, np.uint8) for i in range(11)])
    clip = V.read_clip(p, 6, 16)
    assert clip.indices == [0, 2, 4, 6, 8, 10]
    assert clip.sampled_fps == pytest.approx(5.0)  # 10 fps video, every other frame


@pytest.mark.parametrize("content", [b"", b"\x00\x01garbage" * 100, b"hello, not a video\n"])
def test_bad_files_raise_video_error(tmp_path, content):
    p = tmp_path / "bad.mp4"
    p.write_bytes(content)
    with pytest.raises(VideoError, match="bad.mp4"):
        V.read_clip(p, 4, 16)


def test_directory_and_missing(tmp_path):
    (tmp_path / "dir.avi").mkdir()
    with pytest.raises(VideoError, match="directory"):
        V.read_clip(tmp_path / "dir.avi", 4, 16)
    with pytest.raises(VideoError, match="no such file"):
        V.read_clip(tmp_path / "nope.avi", 4, 16)


def test_memory_stays_bounded_on_long_videos(tmp_path):
    p = write_avi(tmp_path / "long.avi", [np.full((8, 8, 3), i % 250, np.uint8) for i in range(50)])
    v = V.decode_video(p, 8, max_keep=16)
    assert v.num_decoded == 50 and len(v.frames) <= 16 and v.stride == 4
    clip = V.clip_from_video(v, V.sample_indices(len(v.frames), 4))
    assert clip.indices[-1] <= 49


def test_hung_decoder_is_bounded_in_time(tmp_path, monkeypatch):
    p = tmp_path / "slow.avi"
    p.write_bytes(b"x" * 10)

    def hang(self, stop):
        stop.wait(60)
        raise VideoError("never")
        yield

    monkeypatch.setattr(D.FrameReader, "frames", hang)
    t0 = time.perf_counter()
    with pytest.raises(VideoError, match="longer than"):
        V.decode_video(p, 8, timeout_s=0.3)
    assert time.perf_counter() - t0 < 30  # 0.3 s here; the hang would last 60 s (generous: a loaded machine)
