"""The shipped sample clips are what the README promises: short, small, real, paired."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
CLIPS = ["mountains", "wine"]


@pytest.mark.parametrize("name", CLIPS)
def test_sample_and_its_sharp_reference(name):
    blurred, sharp = SAMPLES / f"{name}.mp4", SAMPLES / f"{name}_sharp.mp4"
    for p in (blurred, sharp):
        assert p.stat().st_size <= 2_000_000
    with av.open(str(blurred)) as a, av.open(str(sharp)) as b:
        va, vb = a.streams.video[0], b.streams.video[0]
        assert (va.codec_context.width, va.codec_context.height) == (640, 360)
        assert va.frames == vb.frames and va.frames / float(va.average_rate) <= 5.0
        fa = next(a.decode(video=0)).to_ndarray(format="gray").astype(float)
        fb = next(b.decode(video=0)).to_ndarray(format="gray").astype(float)
    # same view, but the blurred one has lost detail (less gradient energy)
    assert abs(fa.mean() - fb.mean()) < 8
    grad = lambda x: np.abs(np.diff(x, axis=1)).mean()  # noqa: E731
    assert grad(fa) < 0.8 * grad(fb)


def test_one_sample_has_audio():
    with av.open(str(SAMPLES / "mountains.mp4")) as c:
        assert c.streams.audio and c.streams.audio[0].codec_context.name == "aac"
