"""The preview loop (streamdeblur.preview.run_preview): the newest frame wins, stale frames
are dropped before inference and never after, the recording keeps the capture clock,
--max-frames and --loop, and a stalled source is an error, not a hang.

A "slow model" here waits until the source delivered more frames (livefiles.Counted),
so every inference sees frames replaced meanwhile: drops happen by construction, not by
how a sleep lines up with a busy machine."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import livefiles
import numpy as np
import pytest
from livefiles import FPS, Collect, Counted, H, W, process_with, slower_than

from streamdeblur.errors import StreamTimeoutError
from streamdeblur.preview import PreviewConfig, run_preview
from streamdeblur.recording import live_sink
from streamdeblur.video.frame import Frame
from streamdeblur.video.live import FilePlayback, LiveInfo, LiveSource

media = livefiles.media  # the fixture


def test_slow_model_drops_stale_frames_before_inference_never_after(media):
    """A model slower than the camera: the newest frame wins, every inferred frame is shown."""

    class Rec:
        frames: list[Frame] = []

        def write(self, f):
            self.frames.append(f)

        def close(self):
            pass

        def abort(self):
            raise AssertionError("the run ended cleanly; the recording must be kept")

    rec = Rec()
    viewer = Collect()
    src = Counted(FilePlayback(media["pan"]))
    stats = run_preview(
        src, slower_than(src, media["backend"]), [viewer], PreviewConfig(overlay=False, warmup=False), recorder=rec
    )
    inferred = [f.index for f in rec.frames]
    assert stats.frames_in == 60
    assert stats.dropped > 0
    assert stats.frames_shown == len(viewer.images) == len(inferred) == len(stats.latencies_ms)
    assert stats.frames_shown + stats.dropped == stats.frames_in  # nothing lost after inference
    assert inferred == sorted(set(inferred)) and inferred[-1] == 59  # in order; the last frame is shown
    assert max(np.diff(inferred)) > 1  # stale frames were skipped, not queued


def test_record_keeps_capture_clock_timestamps(media, tmp_path):
    out = tmp_path / "rec.mp4"
    src = Counted(FilePlayback(media["pan"]))
    stats = run_preview(
        src, slower_than(src, media["backend"]), [Collect()], PreviewConfig(), recorder=live_sink(out, src.info)
    )
    assert out.exists()
    with av.open(str(out)) as c:
        times = [f.time for f in c.decode(video=0)]
    assert len(times) == stats.frames_shown < 60
    assert times == sorted(times)
    # the clip lasts 59/30 s at its own pace; the recording spans that, not frames/fps
    assert times[-1] - times[0] >= 59 / FPS - 0.07


def test_max_frames_and_loop(media):
    viewer = Collect()
    stats = run_preview(
        FilePlayback(media["still"], loop=True),
        process_with(media["backend"]),
        [viewer],
        PreviewConfig(max_frames=33, warmup=False),
    )
    assert stats.frames_shown == 33 == len(viewer.images)  # more than the 30-frame file: it looped
    assert stats.stop_reason == "frame limit reached"


def test_stalled_source_is_an_error_not_a_hang(media):
    class Stalled(LiveSource):
        def __init__(self):
            super().__init__()
            self.info = LiveInfo(W, H, 30.0, "stalled camera", "camera")
            self._stop = threading.Event()

        def read(self):
            self._stop.wait()  # a driver that never returns a frame
            return None

        def close(self):
            self._stop.set()

    errors: list[BaseException] = []

    def go() -> None:
        try:
            run_preview(
                Stalled(), process_with(media["backend"]), [Collect()], PreviewConfig(timeout=0.5, warmup=False)
            )
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(60)
    assert not t.is_alive(), "run_preview hung on a source that delivers nothing"
    assert len(errors) == 1 and isinstance(errors[0], StreamTimeoutError)
    assert "no frame from the source for 0.5 s" in str(errors[0])


@pytest.mark.parametrize("where", ["proc", "file"])
def test_a_snapshot_that_cannot_be_saved_is_said_and_the_preview_and_its_recording_go_on(media, tmp_path, where):
    """'s' with a --snapshot-dir that cannot be written (a file of that name, a full or read-only disk)
    ended the preview with an error and dropped its recording, minutes or hours of it; the failed
    snapshot is now one notice."""

    class SavesOnce(Collect):
        def show(self, image):
            super().show(image)
            return ["save"] if len(self.images) == 3 else []

    out = tmp_path / "rec.mkv"
    said: list[str] = []
    src = FilePlayback(media["still"], loop=True)
    folder = Path("/proc/streamdeblur-snapshots") if where == "proc" else tmp_path / "shots"
    if where == "file":  # a file where the folder should be: the snapshot's writer retried new names for ever
        folder.write_text("a file")
    config = PreviewConfig(max_frames=6, warmup=False, snapshot_dir=folder)
    stats = run_preview(
        src,
        process_with(media["backend"]),
        [SavesOnce()],
        config,
        recorder=live_sink(out, src.info),
        on_event=said.append,
    )
    assert stats.frames_shown == 6 and stats.stop_reason == "frame limit reached" and stats.snapshots == []
    assert any(s.startswith("warning: cannot write snapshot") and "--snapshot-dir" in s for s in said), said
    assert any(s.endswith("the preview goes on") for s in said), said
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 6


def test_a_source_that_stalls_keeps_what_was_recorded(media, tmp_path):
    """A camera or stream recorded with --record that stalls (no --reconnect) ends the preview with its
    one-line error, as before; the recording of what came before was dropped, where `run` keeps a stream's
    frames received. Now it is finished under its name."""

    class StallsAfter(LiveSource):
        def __init__(self, inner: LiveSource, n: int) -> None:
            super().__init__()
            self.inner, self.n, self.info = inner, n, inner.info
            self._stop = threading.Event()

        def read(self):
            if self.n == 0:
                self._stop.wait()  # a driver that never returns a frame again
                return None
            self.n -= 1
            return self.inner.read()

        def close(self):
            self._stop.set()
            self.inner.close()

    out = tmp_path / "rec.mkv"
    src = StallsAfter(FilePlayback(media["still"]), 4)
    said: list[str] = []
    config = PreviewConfig(timeout=1.0, warmup=False)
    with pytest.raises(StreamTimeoutError):
        run_preview(src, lambda im: im, [Collect()], config, recorder=live_sink(out, src.info), on_event=said.append)
    with av.open(str(out)) as c:
        n = sum(1 for _ in c.decode(video=0))
    assert 1 <= n <= 4
    assert any(f"the {n} frames recorded before the input stopped are kept" in s for s in said), said


def test_a_picture_is_deblurred_once_not_again_for_every_frame_shown(media, tmp_path):
    """``preview photo.jpg`` offers the picture again ten times a second so the view can be switched; the
    model ran on it every time, so a large photo on a CPU kept the CPU busy for good and the window (and
    its keys) answered once per inference. The picture is now deblurred once and shown again."""
    import cv2

    from streamdeblur.video.live import StillPlayback

    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), media["input"][..., ::-1])
    calls: list[int] = []
    model = process_with(media["backend"])

    def process(im):
        calls.append(1)
        return model(im)

    viewer = Collect()
    stats = run_preview(
        StillPlayback(photo), process, [viewer], PreviewConfig(max_frames=5, warmup=False, overlay=False)
    )
    assert stats.frames_shown == 5 and len(calls) == 1
    assert all(np.array_equal(v, viewer.images[0]) for v in viewer.images)


def test_a_picture_shown_says_what_run_says_of_it(tmp_path, caplog):
    """``preview photo.png`` of a transparent picture showed it flattened without the warning ``run`` gives
    (the source read the picture and left its warnings out)."""
    import cv2

    from streamdeblur.video.live import StillPlayback

    rgba = np.zeros((24, 32, 4), np.uint8)
    rgba[..., 1], rgba[:12, :, 3] = 200, 255  # the lower half transparent
    photo = tmp_path / "logo.png"
    cv2.imwrite(str(photo), rgba)
    with caplog.at_level("WARNING", logger="streamdeblur"):
        StillPlayback(photo).close()
    assert any("logo.png has an alpha channel" in r.getMessage() for r in caplog.records), caplog.text
