"""`streamdeblur.deblur_frames(input)`: the deblurred frames of a file or stream for the user's
own code (a detector, a tracker), in order, with the input's timestamps, through the same
reader -> model pipeline as a run, on a real video and a real (tiny, non-identity) model."""

from __future__ import annotations

import threading

import av
import numpy as np
import pytest
from livefiles import Feed, media  # noqa: F401 - media is a fixture
from videofiles import write_video

from streamdeblur import RunOptions, deblur_frames
from streamdeblur.errors import InputError, InputNotFoundError


def test_every_frame_deblurred_in_order_with_its_timestamps(media):  # noqa: F811
    backend = media["backend"]
    with av.open(str(media["pan"])) as c:
        decoded = [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]
    options = RunOptions(backend="torch", weights=str(media["weights"]), batch=4)
    with deblur_frames(media["pan"], options) as frames:
        assert (frames.info.width, frames.info.height) == decoded[0][1].shape[1::-1]
        got = list(frames)
    assert [f.index for f in got] == list(range(60)) and [f.pts for f in got] == [p for p, _ in decoded]
    for f, (_, img) in zip(got[::15], decoded[::15]):
        want = backend.process(img[None])[0]
        assert np.abs(f.image.astype(int) - want.astype(int)).max() <= 1  # the model's output (batched as 4)
        assert np.abs(f.image.astype(int) - img.astype(int)).mean() > 5  # and not the input


def test_stopping_early_ends_the_threads_and_closes_the_input(media):  # noqa: F811
    before = {t.name for t in threading.enumerate()}
    frames = deblur_frames(media["pan"], RunOptions(backend="torch", weights=str(media["weights"])))
    first = [next(frames) for _ in range(3)]
    frames.close()
    assert [f.index for f in first] == [0, 1, 2]
    assert not {t.name for t in threading.enumerate() if t.name.startswith("streamdeblur")} - before
    with pytest.raises(StopIteration):
        next(frames)


def test_a_stream_through_a_drop(tmp_path, media):  # noqa: F811
    """A drone's feed (a TCP server here) that drops once: with reconnect, the frames of both
    connections, timestamps running on."""
    with av.open(str(media["still"])) as c:
        images = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)][:10]
    blobs = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.ts"
        write_video(path, images, codec="libx264", pix_fmt="yuv420p", rate=30)
        blobs.append(path.read_bytes())
    feed = Feed(blobs)
    feed.start()
    options = RunOptions(backend="torch", weights=str(media["weights"]), reconnect=1.5, timeout=2)
    with deblur_frames(feed.url, options) as frames:
        got = list(frames)
        warnings = frames.warnings
    assert len(got) == 20
    times = [f.time for f in got]
    assert all(b > a for a, b in zip(times, times[1:]))
    assert any("dropped 1 time and was opened again" in w for w in warnings)


def test_refusals_come_before_the_first_frame(tmp_path, media):  # noqa: F811
    with pytest.raises(InputNotFoundError):
        deblur_frames(tmp_path / "missing.mp4")
    with pytest.raises(InputError, match="codec, crf apply to an output file; deblur_frames writes none"):
        deblur_frames(media["pan"], RunOptions(codec="libx264", crf=20))
    with pytest.raises(InputError, match="--reconnect applies to a stream URL"):
        deblur_frames(media["pan"], RunOptions(reconnect=5))


@pytest.mark.parametrize(("options", "words"), [
    ({"batch": 2.5}, "batch must be a whole number of frames, 1 or more, got 2.5"),  # ran, batching 2.5
    ({"batch": "4"}, "batch must be a whole number"),  # a TypeError from a comparison
    ({"bitrate": 0}, "bitrate must be whole bits a second from 10_000"),  # passed; the encoder got no rate
    ({"bitrate": "6M"}, "parse_bitrate('6M')"),
])  # fmt: skip
def test_library_options_a_caller_gets_wrong_are_input_errors(options, words):
    with pytest.raises(InputError) as e:
        RunOptions(**options)
    assert words in str(e.value)


def test_a_failure_in_the_pipeline_is_raised_from_next_not_a_wait_forever(media):  # noqa: F811
    """A model that fails mid-run (here a backend the caller closed too soon) ends the loop with its
    error: the failed pipeline's stop had kept the end from the consumer, whose next() waited forever."""
    from streamdeblur.backends import create_backend
    from streamdeblur.models import load_generator

    backend = create_backend("onnxruntime", load_generator(media["weights"]), "cpu")
    backend.close()
    outcome: list[BaseException | int] = []

    def consume() -> None:
        try:
            with deblur_frames(media["pan"], RunOptions(batch=1), backend=backend) as frames:
                outcome.append(sum(1 for _ in frames))
        except BaseException as e:  # noqa: BLE001 - what the loop ended with
            outcome.append(e)

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    consumer.join(timeout=60)
    assert not consumer.is_alive(), "next() never returned after the pipeline failed"
    assert isinstance(outcome[0], RuntimeError) and "backend is closed" in str(outcome[0])


def test_a_live_source_newest_frame_first(media):  # noqa: F811
    """A camera (a file played in real time stands in for one): newest frame wins, as `run
    --camera`; the frames come out deblurred on the capture clock, and the source is closed."""
    from streamdeblur.video.live import FilePlayback

    live = FilePlayback(media["pan"])
    with deblur_frames(live, RunOptions(backend="torch", weights=str(media["weights"]))) as frames:
        assert frames.info.kind == "file"
        got = list(frames)
        skipped = frames.warnings
    assert 1 <= len(got) <= 60
    times = [f.time for f in got]
    assert all(b > a for a, b in zip(times, times[1:])) and times[-1] < 2.5  # 60 frames at 30 fps: the capture clock
    with av.open(str(media["pan"])) as c:
        pan = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    want = media["backend"].process(pan[got[-1].index][None])[0]  # the source numbers the frames it read
    assert np.abs(got[-1].image.astype(int) - want.astype(int)).max() <= 1  # the model's output
    assert len(got) == 60 or "skipped for newer ones" in skipped[0]
    with pytest.raises(InputError, match="exactly one"):
        deblur_frames(media["pan"], camera=0)
