"""Pipeline behaviour a user would notice: no frame lost or reordered, errors reach the
caller and stop everything, no thread left behind."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from videofiles import random_frames, read_video, write_video

from streamdeblur.backends import create_backend
from streamdeblur.errors import Cancelled
from streamdeblur.models import build_model
from streamdeblur.pipeline import Pipeline
from streamdeblur.video.sinks import FileSink, NullSink
from streamdeblur.video.sources import open_source


def identity_backend():
    return create_backend(
        "torch", build_model("deblurgan-lite", width=8, enc_blocks=[1], dec_blocks=[1], middle_blocks=1), "cpu"
    )


def wait_until(condition, timeout=30.0, what="the condition"):
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.005)


class BackpressureSink(FileSink):
    """A real file sink whose first write waits until the reader and inference have filled
    every queue and stage: from then on they must wait for the writer, not drop or buffer."""

    pipe: Pipeline
    full = 0  # frames in flight when everything is full
    ahead: list[int]

    def write(self, frame):
        if self.frames_written == 0:
            wait_until(lambda: self.pipe.stats.frames_in >= self.full, what=f"{self.full} frames in flight")
        self.ahead.append(self.pipe.stats.frames_in - self.frames_written)
        super().write(frame)


class FailingBackend:
    """A real backend whose third batch raises, as an out-of-memory error would."""

    def __init__(self, inner, fail_at=3):
        self.inner, self.calls, self.fail_at = inner, 0, fail_at

    def process(self, frames):
        self.calls += 1
        if self.calls == self.fail_at:
            raise MemoryError("injected: out of memory in batch 3")
        return self.inner.process(frames)


def _threads():
    return {t for t in threading.enumerate() if t.is_alive()}


def test_slow_writer_loses_no_frame_and_keeps_order(tmp_path):
    frames = random_frames(40, 48, 32)
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    pts = write_video(src, frames)
    batch, queue_size = 4, 3
    with open_source(src) as s:
        sink = BackpressureSink(dst, s.info, codec="ffv1")
        sink.pipe = Pipeline(s, identity_backend(), sink, batch=batch, queue_size=queue_size)
        # both queues, a batch in inference, the frame the reader holds and the one the writer holds
        sink.full, sink.ahead = 2 * queue_size + batch + 2, []
        stats = sink.pipe.run()
        sink.close()
    assert stats.frames_in == stats.frames_out == 40
    out = read_video(dst)
    assert [p for p, _, _ in out] == pts
    assert all(np.array_equal(o, f) for (_, _, o), f in zip(out, frames))
    assert max(sink.ahead) == sink.full  # the reader waited for the writer: memory stays bounded


def test_error_in_inference_ends_run_with_that_error_and_no_thread_left(tmp_path):
    src = tmp_path / "in.mkv"
    write_video(src, random_frames(60, 48, 32))
    before = _threads()
    backend = FailingBackend(identity_backend())
    with open_source(src) as s:
        sink = FileSink(tmp_path / "out.mkv", s.info, codec="ffv1")
        with pytest.raises(MemoryError, match="injected"):
            Pipeline(s, backend, sink, batch=2, queue_size=2).run()
        sink.abort()
        assert s.frames_read < 60  # the reader stopped instead of decoding everything
    assert _threads() == before  # every stage thread has ended
    assert backend.calls == 3  # nothing ran after the failure
    assert not (tmp_path / "out.mkv").exists()
    assert list(tmp_path.iterdir()) == [src]  # and the temporary file is gone


def test_error_in_writer_stops_reader_and_inference(tmp_path):
    src = tmp_path / "in.mkv"
    write_video(src, random_frames(60, 48, 32))
    before = _threads()

    class BadSink(NullSink):
        def write(self, frame):
            if frame.index == 5:
                raise OSError(28, "No space left on device")
            super().write(frame)

    with open_source(src) as s:
        with pytest.raises(OSError, match="No space"):
            Pipeline(s, identity_backend(), BadSink(), batch=2, queue_size=2).run()
        assert s.frames_read < 60  # the reader stopped instead of decoding everything
    assert _threads() == before


def test_error_in_reader_reaches_caller():
    before = _threads()

    def frames():
        from streamdeblur.video.frame import Frame

        for i in range(3):
            yield Frame(i, i, None, np.zeros((16, 16, 3), np.uint8))
        raise ValueError("decoder broke at frame 3")

    sink = NullSink()
    with pytest.raises(ValueError, match="frame 3"):
        Pipeline(frames(), identity_backend(), sink, batch=2).run()
    assert _threads() == before


def test_stop_from_another_thread_ends_the_run_early(tmp_path):
    src = tmp_path / "in.mkv"
    write_video(src, random_frames(200, 48, 32))
    sink = NullSink()
    with open_source(src) as s:
        pipe = Pipeline(
            s,
            identity_backend(),
            sink,
            batch=1,
            queue_size=2,
            on_progress=lambda p: pipe.stop() if p.frames_done == 10 else None,
        )
        stats = pipe.run()
    assert stats.stopped and 10 <= stats.frames_out < 200


def test_keyboard_interrupt_in_caller_becomes_cancelled_with_threads_joined(tmp_path):
    src = tmp_path / "in.mkv"
    write_video(src, random_frames(200, 48, 32))
    before = _threads()

    import _thread

    def progress(p):
        if p.frames_done == 5:
            _thread.interrupt_main()  # what Ctrl-C does: KeyboardInterrupt in the main thread

    with open_source(src) as s:
        pipe = Pipeline(s, identity_backend(), NullSink(), batch=1, queue_size=2, on_progress=progress)
        with pytest.raises(Cancelled):
            pipe.run()
    assert 5 <= pipe.stats.frames_out < 200
    assert _threads() == before


def test_progress_reports_total_and_every_frame(tmp_path):
    src = tmp_path / "in.mp4"
    write_video(src, random_frames(9, 32, 32), codec="libx264", pix_fmt="yuv420p")
    seen = []
    with open_source(src) as s:
        assert s.info.frame_count == 9
        Pipeline(s, identity_backend(), NullSink(), batch=4, on_progress=seen.append).run()
    assert [p.frames_done for p in seen] == list(range(1, 10))
    assert all(p.total == 9 for p in seen) and seen[-1].eta == 0.0


class BlockedBackend:
    """A real backend whose second call does not return until the test lets it, as a large
    CPU batch takes seconds; entering that call sends SIGTERM to the main thread."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0
        self.release = threading.Event()
        self.finished = threading.Event()

    def process(self, frames):
        import _thread
        import signal

        self.calls += 1
        if self.calls == 2:
            _thread.interrupt_main(signal.SIGTERM)  # as `kill -TERM`: the handler runs in the main thread
            assert self.release.wait(60), "never released"
            self.finished.set()
        return self.inner.process(frames)


def test_interrupt_does_not_wait_for_a_long_inference_call_with_a_grace(tmp_path):
    """With ``interrupt_grace`` the caller gets Cancelled (carrying the signal) although
    inference is mid-call; the stage is named in ``abandoned`` and ends by itself."""
    import signal

    from streamdeblur.signals import stop_on_signals

    src = tmp_path / "in.mkv"
    write_video(src, random_frames(30, 48, 32))
    backend = BlockedBackend(identity_backend())
    try:
        with open_source(src) as s, stop_on_signals():
            pipe = Pipeline(s, backend, NullSink(), batch=2, interrupt_grace=0.2)
            with pytest.raises(Cancelled) as e:
                pipe.run()
            assert not backend.finished.is_set()  # run() returned while the call still runs
    finally:
        backend.release.set()
    assert e.value.exit_code == 143 and e.value.signum == signal.SIGTERM
    assert pipe.abandoned == ("inference",)
    wait_until(
        lambda: not any(t.name == "streamdeblur-inference" for t in threading.enumerate()),
        what="the inference stage ending",
    )
