"""The preview's views (streamdeblur.video.compose): side by side, a split wipe, the result only."""

from __future__ import annotations

import livefiles
import numpy as np
from livefiles import H, W

from streamdeblur.video.compose import compose

media = livefiles.media  # the fixture


def test_views_compose_side_split_deblurred(media):
    a, b = media["input"], media["deblurred"]
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 20, "the test generator must change the picture"
    side = compose(a, b, "side", labels=False)
    assert side.shape == (H, 2 * W, 3)
    assert np.array_equal(side[:, :W], a) and np.array_equal(side[:, W:], b)
    split = compose(a, b, "split", labels=False)
    assert split.shape == (H, W, 3)
    assert np.array_equal(split[:, : W // 2 - 2], a[:, : W // 2 - 2])
    assert np.array_equal(split[:, W // 2 + 2 :], b[:, W // 2 + 2 :])
    assert np.array_equal(compose(a, b, "deblurred"), b)
