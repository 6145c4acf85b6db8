"""docs/ARCHITECTURE.md's "Add a backend" recipe, run as written: its toy backend, registered
for this test only, is chosen by name and deblurs a real video through ``deblur_video``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from videofiles import random_frames, read_video, write_video

from streamdeblur import BackendOptions, RunOptions, deblur_video
from streamdeblur.backends import BACKENDS, choose_backend, create_backend
from streamdeblur.errors import InputError

ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "ARCHITECTURE.md"
pytestmark = pytest.mark.usefixtures("one_thread")


def _recipe() -> str:
    """The Python block of the "Add a backend" section."""
    section = ARCHITECTURE.read_text().split("### Add a backend", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return code


@pytest.fixture
def toy(monkeypatch):
    """The recipe's backend class, registered in BACKENDS until the test ends."""
    monkeypatch.setitem(BACKENDS, "toy", None)  # undone at teardown: the key goes again
    namespace: dict = {}
    exec(compile(_recipe(), str(ARCHITECTURE), "exec"), namespace)
    assert BACKENDS["toy"] is namespace["ToyBackend"]
    return namespace["ToyBackend"]


def test_the_toy_backend_is_chosen_by_name_and_matches_the_generator(toy, lite, photo_batch):
    assert choose_backend("toy", "cpu") == ("toy", "cpu", "toy on cpu (asked for)")
    with create_backend("toy", lite, "cpu", BackendOptions(max_tile=128)) as backend:
        assert isinstance(backend, toy) and backend.describe() == "toy (cpu, fp32)"
        y = backend.infer(photo_batch)  # 240x320 through 128-px tiles: the base class tiles
        ref = lite(photo_batch)
        assert y.shape == ref.shape and (y - ref).abs().max().item() < 2e-2
        frames = np.zeros((2, 37, 51, 3), np.uint8)
        assert backend.process(frames).shape == frames.shape


def test_the_toy_backend_deblurs_a_video(toy, tiny_weights, tmp_path):
    clip, out = tmp_path / "in.mkv", tmp_path / "out.mkv"
    write_video(clip, random_frames(4, 48, 32))
    result = deblur_video(clip, out, RunOptions(backend="toy", device="cpu", weights=str(tiny_weights), codec="ffv1"))
    assert (result.backend, result.device, result.frames) == ("toy", "cpu", 4)
    # the tiny generator is the identity at initialisation: the frames come back
    got = [img for _, _, img in read_video(out)]
    want = [img for _, _, img in read_video(clip)]
    assert len(got) == 4 and all(np.abs(a.astype(int) - b.astype(int)).max() <= 1 for a, b in zip(got, want))


def test_misspelled_or_bad_options_fail_before_any_backend_opens(toy):
    with pytest.raises(TypeError, match="max_tiel"):
        BackendOptions(max_tiel=64)  # type: ignore[call-arg]
    with pytest.raises(InputError, match="max_tile"):
        BackendOptions(max_tile=0)
