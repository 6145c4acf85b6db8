"""``record_live``: the library form of ``streamdeblur run --camera``, a live source deblurred
into a file by the same Pipeline and FileSink as :func:`streamdeblur.api.deblur_video`.

Newest frame wins (:class:`NewestFrames`), timestamps are the capture clock (a
:class:`~streamdeblur.video.live.LiveInfo` is the recording's
:class:`~streamdeblur.video.sinks.FrameFormat`), and stopping (Ctrl-C, ``duration``, the
end of the source) is the normal end: the file is finished under its own name.
:func:`live_sink` is also the file ``preview --record`` writes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import Cancelled
from .pipeline import Notify, OnProgress, Pipeline, PipelineStats
from .video.frame import Frame
from .video.live import CaptureThread, FrameSlot, LiveInfo, LiveSource, open_live
from .video.sinks import FileSink, check_destination
from .video.urls import is_stream_output

if TYPE_CHECKING:
    from .backends.base import Backend
    from .backends.options import BackendOptions


def live_sink(
    output: str | os.PathLike,
    info: LiveInfo,
    *,
    codec: str | None = None,
    crf: int | None = None,
    preset: str | None = None,
    overwrite: bool = False,
    reconnect: float | None = None,
    bitrate: int | None = None,
    window: float | None = None,
) -> FileSink:
    """The :class:`~streamdeblur.video.sinks.FileSink` that records a live source: capture-clock
    timestamps, colours tagged BT.709 (what :class:`~streamdeblur.video.live.LiveInfo` says); sent to a
    stream URL, the encoder is tuned for zero latency (live in, live out)."""
    live_out = is_stream_output(str(output))
    return FileSink(
        output, info, codec=codec, crf=crf, preset=preset, overwrite=overwrite, low_latency=live_out,
        reconnect=reconnect if live_out else None, bitrate=bitrate, window=window,
    )  # fmt: skip


class NewestFrames:
    """Iterate a live source newest-frame-first: the :class:`~streamdeblur.pipeline.FrameSource`
    of a live recording.

    A capture thread reads the source at its own pace; iteration hands out the newest
    frame each time the pipeline asks, so a model slower than the camera skips frames
    (counted in ``dropped``) instead of falling behind. Timestamps stay those of the
    capture clock. Iteration ends at the end of the source or after ``duration`` seconds
    of capture; a stalled source raises after ``timeout``.
    """

    def __init__(self, source: LiveSource, *, duration: float | None = None, timeout: float = 10.0) -> None:
        self.source = source
        self.info: LiveInfo = source.info
        self.duration = duration
        self.timeout = timeout
        self._slot = FrameSlot()
        self._capture = CaptureThread(source, self._slot)
        self.ended_by = ""  # "end of input" | "duration"

    @property
    def received(self) -> int:
        return self._slot.received

    @property
    def started(self) -> bool:
        """Whether iteration began (from then on the capture thread closes the source)."""
        return self._capture.ident is not None

    def __iter__(self) -> Iterator[Frame]:
        self._capture.start()
        try:
            while True:
                frame = self._slot.take(self.timeout)
                if frame is None:
                    self.ended_by = "end of input"
                    return
                # frame.time: the capture clock, zero at the first frame the source delivered
                if self.duration is not None and (frame.time or 0.0) >= self.duration:
                    self.ended_by = "duration"  # this frame was captured past the end: not recorded
                    return
                yield frame
        finally:
            self._capture.stop.set()  # the capture thread closes the source
            self._capture.join(timeout=2.0)


@dataclass(frozen=True)
class LiveRecording:
    """What a finished live recording did, for the CLI's final line and for scripts."""

    output: Path | str  # a file, or a stream URL
    frames: int
    captured: int
    dropped: int
    seconds: float
    backend: str
    stop_reason: str


def record_live(
    source: LiveSource | str | os.PathLike | None,
    output: str | os.PathLike,
    *,
    camera: str | int | None = None,
    loop: bool = False,
    backend: str = "auto",
    device: str | None = None,
    backend_options: BackendOptions | None = None,
    weights: str | None = None,
    duration: float | None = None,
    timeout: float = 10.0,
    reconnect: float | None = None,
    codec: str | None = None,
    crf: int | None = None,
    preset: str | None = None,
    overwrite: bool = False,
    bitrate: int | None = None,
    window: float | None = None,
    on_open: Callable[[LiveInfo], None] | None = None,
    on_ready: Notify | None = None,
    on_progress: OnProgress | None = None,
) -> LiveRecording:
    """Deblur a live source into ``output``: an open :class:`LiveSource` (this call closes
    it), a file or URL to open (``loop`` for a file), or ``camera`` (index or /dev path).
    ``backend`` names the backend to open (``auto``, ``torch`` ...), as ``run --backend``;
    ``backend_options`` are what it opens with (``--max-tile``, ``--precision`` ...).

    ``on_open(info)`` is called once the source is open (a missing camera fails first),
    ``on_ready(backend description)`` once the model is loaded and warm, ``on_progress``
    per frame written (from the writer thread). Ctrl-C, the end of ``duration`` or the end
    of the source all finish a playable file under ``output``'s own name.
    """
    from .backends import create_backend
    from .encoding import plan_encoder
    from .models import load_generator
    from .video.adaptive import check_window_output
    from .video.containers import (
        AUTO_PRESET,
        check_bitrate,
        check_codec_in_container,
        check_encoder_settings,
        output_codec,
    )

    if not isinstance(source, LiveSource):
        source = open_live(source, camera=camera, loop=loop, timeout=timeout, reconnect=reconnect)
    try:
        if on_open is not None:
            on_open(source.info)
        out = check_destination(output, overwrite=overwrite)  # a file, or a stream URL (rtmp://, udp:// ...)
        check_codec_in_container(out, output_codec(out, codec))  # before the model loads
        check_encoder_settings(output_codec(out, codec), preset, crf)
        check_bitrate(output_codec(out, codec), bitrate)
        if window is not None:
            check_window_output(out)
        opened = create_backend(
            backend, load_generator(weights), device, backend_options
        )  # the open backend; `backend` names it
    except BaseException:
        source.close()
        raise
    frames = NewestFrames(source, duration=duration, timeout=timeout)
    try:
        if preset == AUTO_PRESET:  # calibrated on the camera's frame size before the first frame is recorded
            i = source.info
            preset = plan_encoder(output_codec(out, codec), preset, None, opened, i.width, i.height, 1).preset
        sink = live_sink(
            out, source.info, codec=codec, crf=crf, preset=preset, overwrite=overwrite, reconnect=reconnect,
            bitrate=bitrate, window=window,
        )  # fmt: skip
        stats, reason = _record(frames, opened, sink, on_ready=on_ready, on_progress=on_progress)
    finally:
        if not frames.started:
            source.close()  # iteration never began: nobody else will close it
        opened.close()
    dropped = max(frames.received - stats.frames_out, 0)
    return LiveRecording(out, stats.frames_out, frames.received, dropped, stats.seconds, opened.describe(), reason)


def _record(
    frames: NewestFrames, backend: Backend, sink: FileSink, *, on_ready: Notify | None, on_progress: OnProgress | None
) -> tuple[PipelineStats, str]:
    """Warm ``backend`` up, run the pipeline until the source ends, ``duration`` passes or
    Ctrl-C, and finish the file (dropped on any other error); the stats and why it stopped."""
    reason = "end of input"
    try:
        backend.process(np.zeros((frames.info.height, frames.info.width, 3), np.uint8)[None])  # warm-up
        if on_ready is not None:
            on_ready(backend.describe())
        pipe = Pipeline(frames, backend, sink, batch=1, on_progress=on_progress)
        try:
            stats = pipe.run()
            if frames.ended_by == "duration":
                reason = f"{frames.duration:g} s recorded"
        except Cancelled:  # Ctrl-C: the normal way to end a live recording
            stats = pipe.stats
            reason = "interrupted (Ctrl-C)"
        sink.close()
    except BaseException:
        sink.abort()
        raise
    return stats, reason
