"""`run IN -o OUT --view side|split`: a comparison video, the original and the deblurred frame
side by side (twice as wide) or as a wipe, labelled, with the input's audio and timestamps, to
show a client or judge the model on one's own footage."""

from __future__ import annotations

import av
import numpy as np
import pytest
from livefiles import media  # noqa: F401 - a fixture
from typer.testing import CliRunner
from videofiles import read_video

from streamdeblur import RunOptions, deblur_frames
from streamdeblur.cli import app
from streamdeblur.errors import InputError

runner = CliRunner()
LABEL_ROWS = 32  # the labels sit in the bottom rows


def test_side_by_side_holds_the_original_left_and_the_deblurred_right(tmp_path, media):  # noqa: F811
    out = tmp_path / "compare.mkv"
    args = ["-w", str(media["weights"]), "--backend", "torch", "--codec", "ffv1", "--pix-fmt", "bgr0"]
    res = runner.invoke(app, ["run", str(media["still"]), "-o", str(out), "--view", "side", *args])
    assert res.exit_code == 0, res.output
    got = read_video(out)
    with av.open(str(media["still"])) as c:
        want = [float(f.pts * f.time_base) for f in c.decode(video=0)]
    assert [float(p * tb) for p, tb, _ in got] == pytest.approx(want, abs=1e-3)  # every frame, its timestamp
    _, _, first = got[0]
    h, w = media["input"].shape[:2]
    assert first.shape == (h, 2 * w, 3)
    top = slice(0, h - LABEL_ROWS)
    assert np.abs(first[top, :w].astype(int) - media["input"][top].astype(int)).max() <= 1
    assert np.abs(first[top, w:].astype(int) - media["deblurred"][top].astype(int)).max() <= 1
    assert np.abs(media["deblurred"].astype(int) - media["input"].astype(int)).mean() > 5  # they do differ


def test_split_is_a_wipe_of_the_same_size(tmp_path, media):  # noqa: F811
    out = tmp_path / "wipe.mkv"
    args = ["-w", str(media["weights"]), "--backend", "torch", "--codec", "ffv1", "--pix-fmt", "bgr0"]
    res = runner.invoke(app, ["run", str(media["still"]), "-o", str(out), "--view", "split", *args])
    assert res.exit_code == 0, res.output
    _, _, first = read_video(out)[0]
    h, w = media["input"].shape[:2]
    assert first.shape == (h, w, 3)
    top, mid = slice(0, h - LABEL_ROWS), w // 2
    assert np.abs(first[top, : mid - 2].astype(int) - media["input"][top, : mid - 2].astype(int)).max() <= 1
    assert np.abs(first[top, mid + 2 :].astype(int) - media["deblurred"][top, mid + 2 :].astype(int)).max() <= 1


def test_a_comparison_is_for_an_output_file(tmp_path, media):  # noqa: F811
    res = runner.invoke(app, ["run", "--camera", "0", "-o", str(tmp_path / "c.mp4"), "--view", "side"])
    assert res.exit_code == 2 and "--view applies to a file or stream input" in res.stderr
    with pytest.raises(InputError, match="view applies to an output file"):
        deblur_frames(media["still"], RunOptions(view="side"))


def test_a_folder_of_clips_gets_a_comparison_each_but_not_in_segments(tmp_path, media):  # noqa: F811
    out = tmp_path / "compare"
    args = ["-w", str(media["weights"]), "--backend", "torch", "--view", "side", "-q"]
    res = runner.invoke(app, ["run", str(media["still"]), str(media["pan"]), "-o", str(out), *args])
    assert res.exit_code == 0, res.output
    h, w = media["input"].shape[:2]
    for name in ("still.mp4", "pan.mp4"):
        with av.open(str(out / name)) as c:
            assert (c.streams.video[0].width, c.streams.video[0].height) == (2 * w, h)
    res = runner.invoke(app, ["run", str(media["pan"]), "-o", str(tmp_path / "p.mp4"), "--segments", "2", *args])
    assert res.exit_code == 2 and "--view with --segments: a comparison is written in one piece" in res.stderr


def test_a_picture_comparison_side_by_side(tmp_path, media, photo):  # noqa: F811
    import cv2

    src = tmp_path / "shot.png"
    cv2.imwrite(str(src), photo[..., ::-1])
    out = tmp_path / "compare.png"
    args = ["-w", str(media["weights"]), "--backend", "torch", "--view", "side", "-q"]
    res = runner.invoke(app, ["run", str(src), "-o", str(out), *args])
    assert res.exit_code == 0, res.output
    got = cv2.imread(str(out))[..., ::-1]
    h, w = photo.shape[:2]
    assert got.shape == (h, 2 * w, 3)
    top = slice(0, h - LABEL_ROWS)
    want = media["backend"].process(photo[None])[0]
    assert np.abs(got[top, :w].astype(int) - photo[top].astype(int)).max() <= 1
    assert np.abs(got[top, w:].astype(int) - want[top].astype(int)).max() <= 1
