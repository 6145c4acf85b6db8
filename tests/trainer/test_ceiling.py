"""The blur-known ceiling: camera_video's blur rebuilt from its camera path, and inverted."""

from __future__ import annotations

import numpy as np
import pytest

from trainer.blur import linear_to_srgb, srgb_to_linear, to_float, to_uint8
from trainer.camera import camera_video, camera_video_warps
from trainer.ceiling import blur_operator, deconvolve
from trainer.metrics import psnr

SIZE = (96, 72)
OPTIONS = {"subframes": (7, 13), "motion": 1.5, "seed": 4}
M = 12  # interior: the border shows photo the sharp frame does not


def _inner(a: np.ndarray) -> np.ndarray:
    return a[M:-M, M:-M]


@pytest.fixture(scope="module")
def clip(photo: np.ndarray) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[list[np.ndarray]]]:
    frames = list(camera_video(photo, SIZE, 4, **OPTIONS))
    return frames, camera_video_warps(photo.shape, SIZE, 4, **OPTIONS)


def test_warps_rebuild_each_blurred_frame_from_its_sharp_one(clip) -> None:
    frames, warps = clip
    assert [len(w) % 2 for w in warps] == [1] * 4  # an odd count per frame: a middle render
    for (blurred, sharp), w in zip(frames, warps):
        assert np.allclose(w[len(w) // 2], np.eye(3))  # the middle render is the sharp target
        rebuilt = to_uint8(linear_to_srgb(blur_operator(srgb_to_linear(to_float(sharp)), w)))
        assert psnr(_inner(rebuilt), _inner(blurred)) > 40.0
        assert psnr(_inner(blurred), _inner(sharp)) < 35.0  # it is blurred: the check is not trivial


def test_the_known_blur_inverted_recovers_detail(clip) -> None:
    frames, warps = clip
    gains = [
        psnr(_inner(deconvolve(b, w, lam=0.01)), _inner(s)) - psnr(_inner(b), _inner(s))
        for (b, s), w in zip(frames, warps)
    ]
    assert np.mean(gains) > 2.0
    with pytest.raises(ValueError, match="lam"):
        deconvolve(frames[0][0], warps[0], lam=0.0)
