"""Fuzz the video readers with random and mutated bytes (hypothesis). Run by test_fuzz_video.py as

    python tests/fuzz_video.py SEED_DIR EXAMPLES TIMEOUT_S

in a process of its own, so that a native decoder that crashes (a segfault in FFmpeg or OpenCV)
shows up as the exit code instead of taking pytest down. Every input goes through
`decode_video` (clip mode and training, under its watchdog) and `FileSource.frames` (stream
mode); each must yield frames or raise the project's own error in one line naming the file.
Prints one summary line and exits 0 when every input behaved.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from lrcn.core.errors import LrcnError
from lrcn.runtime.sources import FileSource
from lrcn.runtime.video import VIDEO_EXTENSIONS, decode_video

SIZE = 16


@st.composite
def mutated(draw, seeds: list[bytes]) -> bytes:
    """A real video with bytes flipped, a chunk of junk spliced in, and maybe its tail cut off."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 24))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(data)))
        data[at:at] = draw(st.binary(min_size=1, max_size=256))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def check(path: Path, timeout_s: float) -> str:
    """'frames' or 'refused'; raises AssertionError (or the foreign exception) otherwise."""
    outcome = "frames"
    try:
        video = decode_video(path, SIZE, timeout_s=timeout_s)
        assert video.frames.shape[1:] == (SIZE, SIZE, 3) and 1 <= len(video.frames) <= video.num_decoded
    except LrcnError as e:
        assert str(e).startswith(f"{path}: ") and "\n" not in str(e), repr(e)
        outcome = "refused"
    try:
        for frame in FileSource(path).frames():
            assert frame.image.ndim == 3 and frame.image.dtype.name == "uint8"
    except LrcnError as e:
        assert str(e).startswith(f"{path}: ") and "\n" not in str(e), repr(e)
    return outcome


def main(seed_dir: str, examples: int, timeout_s: float) -> None:
    seeds = [p.read_bytes() for p in sorted(Path(seed_dir).iterdir()) if p.is_file() and p.stat().st_size]
    tally = {"frames": 0, "refused": 0}
    slowest = [0.0]
    work = Path(tempfile.mkdtemp(prefix="fuzz-video-"))

    @settings(
        max_examples=examples,
        deadline=timedelta(seconds=2 * timeout_s + 5),
        database=None,
        derandomize=True,
        phases=(Phase.explicit, Phase.generate),  # no shrinking: bounded time
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.one_of(st.binary(max_size=4096), mutated(seeds)), ext=st.sampled_from(VIDEO_EXTENSIONS))
    def fuzz(data: bytes, ext: str) -> None:
        path = work / f"input{ext}"
        path.write_bytes(data)
        t0 = time.monotonic()
        tally[check(path, timeout_s)] += 1
        slowest[0] = max(slowest[0], time.monotonic() - t0)

    fuzz()
    print(
        f"fuzz ok: {sum(tally.values())} inputs, {tally['frames']} decoded, {tally['refused']} refused, "
        f"slowest {slowest[0]:.2f} s"
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
