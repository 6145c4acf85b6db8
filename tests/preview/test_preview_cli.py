"""``streamdeblur preview`` as a user meets it (in process): a missing camera or display is
one line and exit 2, before any model loads; --record writes what was shown."""

from __future__ import annotations

import json
import os
import re
import signal

import av
import livefiles
import pytest
from livefiles import finish, read_mjpeg, start_cli, wait_for_line
from typer.testing import CliRunner

from streamdeblur.cli import app

media = livefiles.media  # the fixture


def test_cli_missing_camera(media):
    if os.path.exists("/dev/video99"):
        pytest.skip("this machine has a /dev/video99")
    r = CliRunner().invoke(
        app, ["preview", "--camera", "99", "--serve", "0", "--backend", "torch", "--weights", str(media["weights"])]
    )
    assert r.exit_code == 2
    lines = [line for line in r.output.splitlines() if "error" in line]
    assert lines == [lines[0]] and "camera 99 not found" in lines[0], r.output


def test_cli_no_display_suggests_serve(media, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    r = CliRunner().invoke(app, ["preview", str(media["still"]), "--weights", str(media["weights"])])
    assert r.exit_code == 2
    assert "no display" in r.output and "--serve" in r.output


def test_cli_option_mistakes_are_one_line(media):
    r = CliRunner().invoke(app, ["preview", "--serve", "0"])
    assert r.exit_code == 2 and "exactly one" in r.stderr
    r = CliRunner().invoke(app, ["preview", str(media["still"]), "--serve", "localhost:http"])
    assert (
        r.exit_code == 2
        and r.stderr.strip()
        == "streamdeblur: error: --serve expects [HOST:]PORT (e.g. 8080 or 0.0.0.0:8080), got 'localhost:http'"
    )
    r = CliRunner().invoke(app, ["preview", str(media["still"]), "--serve", "0", "--backend", "cuda"])
    assert r.exit_code == 2 and "openvino" in r.stderr  # typer lists the choices


def test_cli_record_writes_the_frames_shown(media, tmp_path):
    out = tmp_path / "rec.mp4"
    args = [
        "preview",
        str(media["still"]),
        "--loop",
        "--serve",
        "127.0.0.1:0",
        "--max-frames",
        "5",
        "--record",
        str(out),
        "--backend",
        "torch",
        "--weights",
        str(media["weights"]),
        "--json",
    ]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "frame limit reached: 5 frames shown" in r.stderr and f"recorded 5 frames to {out}" in r.stderr
    figures = json.loads(r.stdout)  # every frame that came in was shown or dropped
    assert figures["frames_in"] == figures["frames_shown"] + figures["dropped"] >= 5, figures
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 5
    r = CliRunner().invoke(app, args)  # the recording is never replaced without --overwrite
    assert r.exit_code == 2 and "already exists" in r.stderr and "serving" not in r.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_served_preview_stopped_by_sigterm_keeps_its_recording_as_ctrl_c_does(media, tmp_path, sig):
    """A headless ``preview --serve --record`` under systemd or docker is stopped by SIGTERM: it died at
    once, no line said so, and the recording was a hidden 48-byte temporary; now it ends as Ctrl-C does
    (the README's normal end of a preview): the recording finished under its name, exit 0."""
    out = tmp_path / "rec.mkv"
    proc = start_cli(
        ["preview", str(media["still"]), "--loop", "--serve", "127.0.0.1:0", "--record", str(out),
         "--backend", "torch", "--weights", str(media["weights"])]
    )  # fmt: skip
    m = wait_for_line(proc, r"serving the preview at http://(127\.0\.0\.1):(\d+)/")
    read_mjpeg(m.group(1), int(m.group(2)), 2)  # frames are flowing
    rc, err = finish(proc, sig)
    assert rc == 0, err
    assert f"interrupted ({signal.Signals(sig).name})" in err, err
    n = int(re.search(r"recorded (\d+) frames to", err).group(1))
    with av.open(str(out)) as c:
        assert n >= 2 and sum(1 for _ in c.decode(video=0)) == n
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.mkv"]


def test_cli_help_says_what_preview_takes_and_keeps():
    """preview's help said INPUT is 'a video file or a stream URL' (a picture is shown too, as the README
    says) and that --start keeps the audio, which a preview never plays or records."""
    r = CliRunner().invoke(app, ["preview", "--help"], terminal_width=200)
    assert r.exit_code == 0
    text = " ".join(r.stdout.split())
    assert "a picture (.jpg, .png ...: shown upright until you quit)" in text, text
    start = text[text.index("--start <str>") : text.index("--deinterlace <")]
    assert "audio" not in start and "seeks to the keyframe before" in start, start


def test_cli_deinterlace_on_a_picture_is_refused_as_start_is(media, tmp_path):
    """``preview photo.png --deinterlace field``: --start is refused for a picture, --deinterlace was
    silently ignored (as ``run photo.png -o x.png --deinterlace field`` refuses it)."""
    import cv2
    import numpy as np

    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.zeros((24, 32, 3), np.uint8))
    args = ["preview", str(photo), "--serve", "127.0.0.1:0", "--max-frames", "1", "--weights", str(media["weights"])]
    r = CliRunner().invoke(app, [*args, "--deinterlace", "field"])
    assert r.exit_code == 2, r.output
    assert r.stderr.strip() == (
        "streamdeblur: error: --deinterlace applies to a video file; a picture has one frame; leave it out"
    ), r.stderr


@pytest.mark.parametrize(("name", "words"), [("IMG_0001.HEIC", "is a HEIC picture"), ("shot.dng", "is a RAW picture")])
def test_cli_a_heic_or_raw_photo_is_refused_by_name_as_run_refuses_it(media, tmp_path, name, words):
    """A phone's HEIC or a camera's DNG: run refuses it in one line saying how to convert it; preview
    handed it to FFmpeg, which shows one tile of a HEIC (a DNG's raw sensor data), once, then 'end of input'."""
    photo = tmp_path / name
    photo.write_bytes(media["still"].read_bytes())  # what FFmpeg opens: the preview never looked at the name
    args = ["preview", str(photo), "--serve", "127.0.0.1:0", "--max-frames", "1", "--weights", str(media["weights"])]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"streamdeblur: error: {name} {words}, which cannot be read here;"), line


def test_cli_backend_options_reach_preview_live(media, monkeypatch):
    """--openvino-precision / --openvino-hint (or STREAMDEBLUR_OPENVINO_*) become the
    BackendOptions preview_live opens its backend with."""
    import streamdeblur.preview
    from streamdeblur.backends import BackendOptions
    from streamdeblur.errors import InputError

    seen = []

    def fake_preview_live(input, **kw):
        seen.append(kw)
        raise InputError("stopped before the first frame")

    monkeypatch.setattr(streamdeblur.preview, "preview_live", fake_preview_live)
    args = ["preview", str(media["still"]), "--backend", "openvino", "--device", "cpu", "-w", str(media["weights"])]
    r = CliRunner().invoke(app, [*args, "--openvino-hint", "latency"], env={"STREAMDEBLUR_OPENVINO_PRECISION": "fp32"})
    assert r.exit_code == 2 and "stopped before the first frame" in r.stderr, r.output
    (kw,) = seen
    assert kw["backend_options"] == BackendOptions(openvino_precision="fp32", openvino_hint="latency")
    assert (kw["backend"], kw["device"], str(kw["weights"])) == ("openvino", "cpu", str(media["weights"]))


def test_cli_a_phone_photo_is_shown_upright_until_quit(media, tmp_path):
    """``preview photo.jpg``: the picture as ``run`` reads it (turned upright by its EXIF
    orientation, not on its side as FFmpeg decodes it), offered again until the viewer quits."""
    import numpy as np
    from PIL import Image

    src = tmp_path / "portrait.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 64 wide, 48 high; shown 48 wide, 64 high
    Image.fromarray(np.full((48, 64, 3), 120, np.uint8)).save(src, exif=exif.tobytes())
    out = tmp_path / "rec.mp4"
    r = CliRunner().invoke(
        app,
        ["preview", str(src), "--serve", "127.0.0.1:0", "--max-frames", "3", "--record", str(out)]
        + ["--backend", "torch", "--weights", str(media["weights"])],
    )
    assert r.exit_code == 0, r.output
    assert "picture, 48x64" in r.stderr and "frame limit reached: 3 frames shown" in r.stderr
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 3 and frames[0].shape == (64, 48, 3)


def test_cli_record_of_a_file_with_sound_says_the_sound_is_not_recorded(media, tmp_path):
    """--record writes the frames preview shows (it skips others to stay live), so there is no timeline for
    the input's audio: it was left out without a word. One warning with the way to keep it; none for a file
    without sound."""
    from videofiles import random_frames, write_video

    clip = tmp_path / "talk.mkv"
    write_video(clip, random_frames(8, 64, 48), audio=True)
    for source, warned in ((clip, True), (media["still"], False)):
        out = tmp_path / f"rec-{warned}.mp4"
        args = ["preview", str(source), "--serve", "127.0.0.1:0", "--max-frames", "3", "--record", str(out)]
        r = CliRunner().invoke(app, [*args, "--backend", "torch", "--weights", str(media["weights"])])
        assert r.exit_code == 0, r.output
        line = (
            f"streamdeblur: warning: --record writes the deblurred video only: {clip}'s audio is not recorded "
            "(preview skips frames to stay live); to keep it, deblur with `streamdeblur run INPUT -o OUT`"
        )
        assert (line in r.stderr.splitlines()) is warned, r.stderr
        with av.open(str(out)) as c:
            assert len(c.streams.video) == 1 and not c.streams.audio


def test_cli_an_image_sequence_is_played_as_run_reads_it(media, tmp_path):
    """``preview shot_%04d.png`` (a render's frames) said 'input not found' though ``run`` reads the same
    pattern as a video: its name ends in .png, so it was taken for one picture."""
    import cv2
    import numpy as np

    (tmp_path / "render").mkdir()
    for i in range(1, 5):
        cv2.imwrite(str(tmp_path / "render" / f"shot_{i:04d}.png"), np.full((24, 32, 3), 40 * i, np.uint8))
    out = tmp_path / "rec.mkv"
    args = ["preview", str(tmp_path / "render" / "shot_%04d.png"), "--serve", "127.0.0.1:0", "--max-frames", "4",
            "--record", str(out), "--backend", "torch", "--weights", str(media["weights"])]  # fmt: skip
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "shot_%04d.png (file, 32x24, 25.00 fps)" in r.stderr  # FFmpeg's default rate for a sequence
    with av.open(str(out)) as c:  # played at its rate, newest frame wins: some may be dropped on a slow CPU
        assert sum(1 for _ in c.decode(video=0)) >= 1
