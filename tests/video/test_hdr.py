"""HDR10 footage (PQ with a mastering display and content light levels, as HDR cameras and grades
store it) keeps that metadata through a run, so an HDR screen tone-maps the output as the input."""

from __future__ import annotations

import logging

import av
import numpy as np
import pytest

from streamdeblur import deblur_video
from streamdeblur.api import RunOptions
from streamdeblur.models import build_model
from streamdeblur.video.hdr import Hdr10, hdr10_from_frame

MASTERING = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(40000000,50)"
SOURCE_HDR = Hdr10((13250, 34500, 7500, 3000, 34000, 16000, 15635, 16450, 40000000, 50), (1000, 400))


def hdr10_clip(path, *, metadata: bool = True) -> None:
    params = "log-level=error" + (f":hdr10=1:master-display={MASTERING}:max-cll=1000,400" if metadata else "")
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx265", rate=25, options={"x265-params": params})
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p10le"
        cc = s.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 9, 16, 9, 1  # BT.2020, PQ
        for i in range(4):
            rgb = rng.integers(0, 65536, (64, 96, 3), dtype=np.uint16)
            f = av.VideoFrame.from_ndarray(rgb, format="rgb48le").reformat(
                format="yuv420p10le", dst_colorspace="bt2020"
            )
            f.pts = i
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode():
            out.mux(p)


def first_hdr10(path) -> Hdr10 | None:
    with av.open(str(path)) as c:
        return hdr10_from_frame(next(c.decode(video=0)))


def identity():
    return build_model("deblurgan-lite", width=8, enc_blocks=[1], dec_blocks=[1], middle_blocks=1)


@pytest.mark.parametrize(("ext", "codec"), [(".mp4", None), (".mkv", "libx265")])
def test_hdr10_metadata_is_carried_by_x264_and_x265(tmp_path, ext, codec):
    src = tmp_path / "hdr10.mkv"
    hdr10_clip(src)
    assert first_hdr10(src) == SOURCE_HDR
    out = tmp_path / f"out{ext}"
    result = deblur_video(src, out, RunOptions(backend="torch", device="cpu", codec=codec), generator=identity())
    assert result.frames == 4
    assert first_hdr10(out) == SOURCE_HDR
    with av.open(str(out)) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.color_primaries, cc.color_trc, cc.colorspace) == (9, 16, 9)


def test_an_encoder_that_cannot_write_it_says_so_once_and_plain_video_gets_none(tmp_path, caplog):
    src = tmp_path / "hdr10.mkv"
    hdr10_clip(src)
    with caplog.at_level(logging.WARNING, logger="streamdeblur"):
        deblur_video(src, tmp_path / "out.mkv", RunOptions(backend="torch", codec="ffv1"), generator=identity())
    said = [r.getMessage() for r in caplog.records if "HDR10" in r.getMessage()]
    assert len(said) == 1
    assert "mastering display 0.005-4000 nits, MaxCLL 1000, MaxFALL 400" in said[0] and "libx264 or libx265" in said[0]
    plain = tmp_path / "plain.mkv"
    hdr10_clip(plain, metadata=False)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="streamdeblur"):
        deblur_video(plain, tmp_path / "plain_out.mp4", RunOptions(backend="torch"), generator=identity())
    assert first_hdr10(tmp_path / "plain_out.mp4") is None
    assert not [r for r in caplog.records if "HDR10" in r.getMessage()]
