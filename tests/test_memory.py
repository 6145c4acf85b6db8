"""Frames too large for memory (issue 27): the real CLI under ``ulimit -v`` tiles a frame
that would not fit whole, and a frame that would not fit even in tiles is one line, exit 2."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from streamdeblur.errors import FrameMemoryError
from streamdeblur.tiling import ACTIVATION_BYTES_PER_PIXEL, auto_tile
from streamdeblur.video.frame import Frame

CLI = str(Path(sys.executable).with_name("streamdeblur"))
CAP_KB = 3_000_000  # ulimit -v: about 3 GB of address space; torch, OpenVINO and FFmpeg load well under it


def one_frame(path: Path, size: int) -> Path:
    """A one-frame lossless video of ``size`` x ``size`` pixels."""
    with av.open(str(path), "w") as c:
        st = c.add_stream("ffv1", rate=1)
        st.width = st.height = size
        st.pix_fmt = "yuv420p"
        img = (np.indices((size, size)).sum(0) % 256).astype(np.uint8)[..., None].repeat(3, 2)
        for p in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            c.mux(p)
        for p in st.encode():
            c.mux(p)
    return path


def run_capped(args: list[str]) -> subprocess.CompletedProcess[str]:
    cmd = f"ulimit -v {CAP_KB}; exec {shlex.join([CLI, *args])}"
    return subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)


def test_auto_tile_picks_a_tile_that_fits_or_refuses_in_one_line():
    gb = 2**30
    assert auto_tile(1, 512, 512, 16, available=8 * gb) is None  # fits whole
    tile = auto_tile(1, 4096, 4096, 16, available=2 * gb)
    assert tile is not None and tile % 16 == 0 and 128 <= tile < 4096
    assert tile * tile * ACTIVATION_BYTES_PER_PIXEL <= 2 * gb
    with pytest.raises(FrameMemoryError, match="--max-tile"):
        auto_tile(1, 16000, 16000, 16, available=8 * gb)  # 16000x16000 under 8 GB: not even in tiles


def test_a_frame_too_large_to_run_whole_is_tiled_under_a_memory_cap(tmp_path: Path, tiny_weights: Path):
    src = one_frame(tmp_path / "in.mkv", 2048)
    out = tmp_path / "out.mkv"
    res = run_capped(["run", str(src), "-o", str(out), "--codec", "ffv1", "--weights", str(tiny_weights),
                      "--batch", "1"])  # fmt: skip
    assert res.returncode == 0, res.stderr
    notices = [line for line in res.stderr.splitlines() if "do not fit in memory whole" in line]
    assert len(notices) == 1 and "--max-tile" in notices[0], res.stderr
    with av.open(str(out)) as c:
        frame = next(c.decode(video=0))
        assert (frame.width, frame.height) == (2048, 2048)


def test_a_frame_too_large_even_in_tiles_is_one_line_exit_2(tmp_path: Path, tiny_weights: Path):
    src = one_frame(tmp_path / "in.mkv", 4096)
    res = run_capped(["run", str(src), "-o", str(tmp_path / "out.mkv"), "--codec", "ffv1",
                      "--weights", str(tiny_weights)])  # fmt: skip
    assert res.returncode == 2, res.stderr
    errors = [line for line in res.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and "--max-tile" in errors[0] and "internal error" not in errors[0], res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "out.mkv").exists()


class _HugeDecode:
    """A source whose second frame cannot be allocated, as a 16000x16000 frame (768 MB as RGB) under a cap."""

    def __iter__(self):
        yield Frame(0, 0, None, np.zeros((16, 16, 3), np.uint8))
        raise MemoryError("Unable to allocate 732. MiB for an array with shape (16000, 16000, 3)")


def test_a_frame_that_cannot_be_decoded_for_memory_is_one_line():
    from streamdeblur.pipeline import Pipeline
    from streamdeblur.video.sinks import NullSink

    class Identity:
        def process(self, frames):
            return frames

    with pytest.raises(FrameMemoryError) as err:
        Pipeline(_HugeDecode(), Identity(), NullSink(), batch=1).run()
    assert err.value.exit_code == 2 and "\n" not in str(err.value)
    assert str(err.value).startswith("out of memory decoding a frame (Unable to allocate")


def test_an_allocation_failure_during_inference_names_max_tile(lite, monkeypatch):
    from streamdeblur.backends import create_backend

    backend = create_backend("torch", lite, "cpu")

    def fail(x):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(backend, "infer", fail)
    with pytest.raises(FrameMemoryError, match=r"a 64x48 frame ran out of host memory; .*--max-tile") as err:
        backend.process(np.zeros((1, 48, 64, 3), np.uint8))
    assert err.value.exit_code == 2
    monkeypatch.setattr(backend, "infer", lambda x: (_ for _ in ()).throw(RuntimeError("shape mismatch")))
    with pytest.raises(RuntimeError, match="shape mismatch"):  # other errors stay as they are
        backend.process(np.zeros((1, 48, 64, 3), np.uint8))
