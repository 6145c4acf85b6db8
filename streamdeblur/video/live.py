"""Live sources: cameras, network streams, and a file played at its own frame rate (what
``preview`` shows and ``run --camera`` records), and the capture thread that keeps only
the newest frame of one.

A live source hands out frames as the world produces them: ``read()`` blocks until the
next one and stamps it with the capture clock (``Frame.captured_at`` from
``time.perf_counter()``; ``pts`` in 1/90000 s from the first frame), so latency and
recorded timestamps follow what the camera saw, not how fast we keep up.

Failure policy: a camera that cannot be opened, or that stops
delivering frames, raises :class:`~streamdeblur.errors.CameraError` with a one-line
reason. There is no silent reconnection. Nothing here waits forever: opening a URL and
reading from it carry OpenCV's FFmpeg timeouts, and :meth:`FrameSlot.take` adds a
watchdog around ``read()``.

``FilePlayback`` makes a file stand in for a camera (demos, tests): it decodes with
:class:`~streamdeblur.video.sources.FileSource` and releases each frame when its
presentation time comes, optionally looping. File or stream: :func:`~streamdeblur.video.urls.is_url`.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import CameraError, InputError, StreamTimeoutError
from ..pacing import Pacer
from ..redact import redact
from .frame import Frame
from .sources import FileSource
from .urls import is_url, local_path

log = logging.getLogger(__name__)

#: Timestamps of live frames: the capture clock in MPEG's 90 kHz ticks.
CAPTURE_TIME_BASE = Fraction(1, 90_000)
#: how often a still picture's frame is offered again in a preview (each one deblurred anew)
STILL_FPS = 10.0


@dataclass(frozen=True)
class LiveInfo:
    """What a live source delivers. ``fps`` is the nominal rate (None if unknown).

    It is also the :class:`~streamdeblur.video.sinks.FrameFormat` a recording of the
    source is written with: timestamps on the capture clock (``time_base``, so a recording
    plays back at the pace the frames were captured, dropped frames included), colours
    tagged BT.709, limited range, 4:2:0, no rotation.
    """

    width: int
    height: int
    fps: float | None
    name: str
    kind: str  # "camera" | "stream" | "file" | "picture"
    time_base: Fraction = CAPTURE_TIME_BASE

    # what a recording is tagged with (ffmpeg enum values: 1 = BT.709, 1 = limited range)
    pix_fmt: ClassVar[str] = "yuv420p"
    color_primaries: ClassVar[int] = 1
    color_trc: ClassVar[int] = 1
    colorspace: ClassVar[int] = 1
    color_range: ClassVar[int] = 1
    rotation: ClassVar[int] = 0
    field_order: ClassVar[int] = 0  # progressive, as far as a recording knows
    sample_aspect_ratio: ClassVar[Fraction | None] = None  # square pixels

    @property
    def rate(self) -> Fraction | None:
        """The nominal rate as an encoder wants it (29.97 -> 30000/1001); None if unknown."""
        return Fraction(self.fps).limit_denominator(1001) if self.fps else None


class LiveSource(ABC):
    """A source that produces frames in real time; ``read()`` returns None at the end."""

    info: LiveInfo

    def __init__(self) -> None:
        self._t0: float | None = None
        self._index = 0

    @abstractmethod
    def read(self) -> Frame | None:
        """Block until the next frame (None: the source ended normally)."""

    def close(self) -> None:
        """Release the device or file. Safe to call twice."""

    def _stamp(self, image: np.ndarray, **meta: object) -> Frame:
        now = time.perf_counter()
        if self._t0 is None:
            self._t0 = now
        frame = Frame(
            index=self._index,
            pts=round((now - self._t0) / CAPTURE_TIME_BASE),
            time_base=CAPTURE_TIME_BASE,
            image=image,
            captured_at=now,
            meta=dict(meta),
        )
        self._index += 1
        return frame

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def __enter__(self) -> LiveSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- OpenCV capture: cameras and network streams -------------------------------------


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """OpenCV logs every backend it tries when a device is missing; we raise our own message."""
    import cv2

    logging_mod = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging_mod is None:
        yield
        return
    old = logging_mod.getLogLevel()
    logging_mod.setLogLevel(logging_mod.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging_mod.setLogLevel(old)


def parse_camera(spec: str | int) -> int | str:
    """``0`` / ``"0"`` -> 0; ``"/dev/video2"`` -> the path. Anything else is an error."""
    if isinstance(spec, int):
        return spec
    s = str(spec).strip()
    if s.isdigit():
        return int(s)
    if s.startswith("/dev/"):
        return s
    raise CameraError(
        f"--camera {s!r} is not a camera index or device path",
        "use --camera 0 or --camera /dev/video2; for a file or URL pass it as the INPUT argument",
    )


def list_cameras() -> list[str]:
    """Video device nodes present on this machine (Linux); empty elsewhere or when none."""
    return sorted(glob.glob("/dev/video*"), key=lambda p: (len(p), p))


class OpenCVSource(LiveSource):
    """A camera (index or device path) or a network URL through ``cv2.VideoCapture``."""

    def __init__(self, target: int | str, *, timeout: float = 10.0, reconnect: float | None = None) -> None:
        super().__init__()
        import cv2

        self.target = target
        self.timeout = timeout
        #: a stream or camera that stops delivering is opened again for up to this many seconds
        self.reconnect = reconnect
        #: one line per time it dropped and came back
        self.reconnects: list[str] = []
        url = isinstance(target, str) and is_url(target)
        kind = "stream" if url else "camera"
        name = f"camera {target}" if kind == "camera" else redact(str(target))
        if kind == "camera" and sys.platform.startswith("linux"):
            node = f"/dev/video{target}" if isinstance(target, int) else str(target)
            if not os.path.exists(node):
                present = list_cameras()
                hint = (
                    f"cameras on this machine: {', '.join(present)}"
                    if present
                    else "no cameras found on this machine (no /dev/video*); "
                    "`streamdeblur preview FILE --loop` can stand in for one"
                )
                raise CameraError(f"{name} not found: {node} does not exist", hint)
        self._url = url
        cap = self._capture(name)
        if not cap.isOpened():
            cap.release()
            if kind == "camera":
                raise CameraError(
                    f"cannot open {name}",
                    "it may be in use by another program, or you lack permission (add yourself to the 'video' group)",
                )
            raise StreamTimeoutError(
                f"cannot open stream {name} within {timeout:g} s",
                "check the URL and that the server is up, or raise --timeout",
            )
        self.cap = cap
        with _quiet_opencv():
            ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise CameraError(
                f"{name} opened but delivered no frame", "check the device/stream, or try another --camera"
            )
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        h, w = first.shape[:2]
        self.info = LiveInfo(width=w, height=h, fps=fps if 0 < fps < 1000 else None, name=name, kind=kind)
        # the probe frame is not handed out: by the first read() it is stale (the model loaded meanwhile)
        self._pending: np.ndarray | None = first if kind == "stream" else None
        self._closed = False

    def _capture(self, name: str) -> Any:
        """``cv2.VideoCapture`` of the target, with the open and read timeouts (may not be open)."""
        import cv2

        ms = int(max(self.timeout, 0.1) * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        api = cv2.CAP_FFMPEG if self._url else cv2.CAP_ANY
        with _quiet_opencv():
            try:
                return cv2.VideoCapture(self.target, api, params)
            except cv2.error as e:  # pragma: no cover - depends on the OpenCV build
                raise CameraError(f"cannot open {name}: {str(e).strip().splitlines()[-1]}") from None

    def _reopen(self) -> np.ndarray | None:
        """``reconnect``: open the target again every second for up to ``reconnect`` seconds; its
        first frame (scaled to the first connection's size), or None if it did not come back."""
        import cv2

        name, t0 = self.info.name, time.monotonic()
        log.warning("%s stopped delivering frames; opening it again (--reconnect %g)", name, self.reconnect)
        while not self._closed and time.monotonic() - t0 < (self.reconnect or 0):
            cap = self._capture(name)
            with _quiet_opencv():
                ok, bgr = cap.read() if cap.isOpened() else (False, None)
            if ok and bgr is not None:
                self.cap.release()
                self.cap = cap
                took = time.monotonic() - t0
                self.reconnects.append(f"back after {took:.1f} s")
                log.warning("%s is back after %.1f s", name, took)
                if bgr.shape[:2] != (self.info.height, self.info.width):
                    bgr = cv2.resize(bgr, (self.info.width, self.info.height), interpolation=cv2.INTER_CUBIC)
                return bgr
            cap.release()
            time.sleep(min(1.0, max(0.0, t0 + (self.reconnect or 0) - time.monotonic())))
        return None

    def read(self) -> Frame | None:
        import cv2

        if self._closed:
            return None
        if self._pending is not None:
            bgr, self._pending = self._pending, None
        else:
            with _quiet_opencv():
                ok, bgr = self.cap.read()
            if (not ok or bgr is None) and self.reconnect and not self._closed:
                bgr = self._reopen()
                ok = bgr is not None
            if not ok or bgr is None:
                if self._closed:
                    return None
                if self.info.kind == "stream":
                    log.info("%s ended", self.info.name)
                    return None
                raise CameraError(
                    f"{self.info.name} stopped delivering frames (disconnected?)", "reconnect it and start again"
                )
        if bgr.ndim == 2:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
        else:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return self._stamp(rgb)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.cap.release()


# -- A file played in real time -----------------------------------------------------


class FilePlayback(LiveSource):
    """A file (decoded by :class:`~streamdeblur.video.sources.FileSource`) released frame by
    frame at its presentation times.

    Its frames are uint8 whatever the file's depth, as every live source's: a preview shows 8
    bits and a live recording is 8-bit 4:2:0 (:class:`LiveInfo`); ``run FILE`` keeps deep colour.
    With ``loop=True`` the file starts again at its end, so it can stand in for a camera.
    Frames come out at the file's own pace whatever the consumer does; a slow consumer
    sees the newest frame and the preview counts the rest as dropped, as with a camera.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        loop: bool = False,
        realtime: bool = True,
        start: float | None = None,
        deinterlace: str | None = None,
    ) -> None:
        super().__init__()
        self._spec = local_path(path)
        self.path = Path(self._spec)
        self.loop = loop
        self.realtime = realtime
        self.start = start  # seconds into the file where it (and each loop) starts
        self.deinterlace = deinterlace  # "frame" or "field": an interlaced file made progressive (FileSource)
        self._source = self._open()
        info = self._source.info
        self.info = LiveInfo(width=info.width, height=info.height, fps=info.fps, name=str(self.path), kind="file")
        self._period = 1.0 / info.fps if info.fps else 1.0 / 30.0
        self._frames = iter(self._source)
        self._start: float | None = None  # media time of this pass's first frame
        self._pacer = Pacer()
        self._offset = 0.0  # seconds of media time played in earlier loops
        self._last_t = 0.0
        self._played = 0
        self._closed = False

    def _open(self) -> FileSource:
        """The file from its start (or ``start``): every input error as `run` words it; 8-bit, as shown."""
        return FileSource(self._spec, deep=False, start=self.start, deinterlace=self.deinterlace)

    def read(self) -> Frame | None:
        if self._closed:
            return None
        frame = next(self._frames, None)
        if frame is None and self.loop and self._played:
            self._offset += self._last_t + self._period
            self._source.close()
            self._source = self._open()
            self._frames = iter(self._source)
            self._start, self._played = None, 0
            frame = next(self._frames, None)
        if frame is None:
            return None
        t = frame.time if frame.time is not None else frame.index * self._period
        if self._start is None:
            self._start = t
        t -= self._start
        self._played += 1
        self._last_t = t
        if self.realtime:
            self._pacer.wait(self._offset + t)
        return self._stamp(frame.image, media_time=self._offset + t)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._source.close()


class StillPlayback(LiveSource):
    """A still picture (``preview photo.jpg``) shown until the viewer quits: the same frame again
    at :data:`STILL_FPS`, so the view can be switched and paused as with a video. Read as ``run``
    reads it (:func:`~streamdeblur.stills.read_still`): upright by its EXIF orientation, 8 bits."""

    def __init__(self, path: str | os.PathLike) -> None:
        from ..stills import read_still, to_8bit

        super().__init__()
        still = read_still(path)
        for warning in still.warnings:  # what `run` says of the picture (its other frames, its alpha ...)
            log.warning("%s", warning)
        pixels = to_8bit(still.pixels)
        self._image = pixels
        h, w = pixels.shape[:2]
        self.info = LiveInfo(width=w, height=h, fps=STILL_FPS, name=str(path), kind="picture")
        self._next: float | None = None
        self._closed = False

    def read(self) -> Frame | None:
        if self._closed:
            return None
        now = time.perf_counter()
        if self._next is not None and self._next > now:
            time.sleep(self._next - now)
        self._next = max(now, self._next or now) + 1.0 / STILL_FPS
        return self._stamp(self._image.copy())

    def close(self) -> None:
        self._closed = True


def open_live(
    input: str | os.PathLike | None = None,
    *,
    camera: str | int | None = None,
    loop: bool = False,
    start: float | None = None,
    timeout: float = 10.0,
    reconnect: float | None = None,
    deinterlace: str | None = None,
) -> LiveSource:
    """The live source for ``preview`` and ``run --camera``: ``camera`` (index or /dev path),
    else a stream URL or a file, told apart by :func:`~streamdeblur.video.urls.is_url`.
    ``loop`` and ``start`` (seconds in) apply to a file."""
    if camera is not None and input is not None:
        raise InputError("give either INPUT or --camera, not both")
    if start is not None and (camera is not None or (input is not None and is_url(input))):
        raise InputError("--start applies to a file input; a camera or stream is live")
    if deinterlace is not None and (camera is not None or (input is not None and is_url(input))):
        raise InputError(
            "--deinterlace in preview applies to a file input",
            "deinterlace a stream with `streamdeblur run URL -o OUT --deinterlace frame`",
        )
    if camera is not None:
        if loop:
            raise InputError("--loop only applies to a file input")
        return OpenCVSource(parse_camera(camera), timeout=timeout, reconnect=reconnect)
    if input is None:
        raise InputError("no input", "pass a FILE or URL, or --camera 0")
    if is_url(input):
        if loop:
            raise InputError("--loop only applies to a file input")
        return OpenCVSource(str(input), timeout=timeout, reconnect=reconnect)
    from ..stills import is_still
    from .sequence import is_sequence

    if is_still(input) and not is_sequence(str(input)):  # f_%04d.png: pictures played as a video (25 fps)
        if start is not None:
            raise InputError("--start applies to a video file; a picture has one frame")
        return StillPlayback(input)
    return FilePlayback(input, loop=loop, start=start, deinterlace=deinterlace)


# -- newest frame wins --------------------------------------------------------------


class FrameSlot:
    """A one-slot mailbox: ``put`` replaces an unread frame (counted in ``dropped``)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._ended = False
        self._error: BaseException | None = None
        self.received = 0
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self.received += 1
            self._cond.notify_all()

    def end(self, error: BaseException | None = None) -> None:
        with self._cond:
            self._ended = True
            self._error = error
            self._cond.notify_all()

    def take(self, timeout: float) -> Frame | None:
        """The newest unread frame; None once the source ended and nothing is left.

        Raises the capture thread's error, or StreamTimeoutError after ``timeout`` seconds
        without a frame.
        """
        with self._cond:
            deadline = time.monotonic() + timeout
            while self._frame is None and not self._ended:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StreamTimeoutError(
                        f"no frame from the source for {timeout:g} s (disconnected or stalled?)",
                        "check the camera or stream and start again",
                    )
                self._cond.wait(left)
            if self._frame is not None:
                frame, self._frame = self._frame, None
                return frame
            if self._error is not None:
                raise self._error
            return None

    def counts(self) -> tuple[int, int]:
        """(received, dropped) read together: no frame put between them (frames in = shown + dropped)."""
        with self._cond:
            return self.received, self.dropped

    def discard(self) -> int:
        """Drop an unread frame (pause); returns how many were dropped (0 or 1)."""
        with self._cond:
            if self._frame is None:
                return 0
            self._frame = None
            self.dropped += 1
            return 1


class CaptureThread(threading.Thread):
    """Reads the source as fast as it delivers into the mailbox; errors end the mailbox.

    ``on_frame(captured_at)`` is called for each frame (the preview's input rate). The
    source is closed by this thread when it leaves its loop, never by another one while
    a ``read()`` is in flight (PyAV and OpenCV crash on a concurrent close).
    """

    def __init__(self, source: LiveSource, slot: FrameSlot, on_frame: Callable[[float], None] | None = None) -> None:
        super().__init__(name="live-capture", daemon=True)  # daemon: a wedged driver call cannot block exit
        self.source, self.slot, self.on_frame = source, slot, on_frame
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                frame = self.source.read()
                if frame is None:
                    break
                if self.on_frame is not None:
                    self.on_frame(frame.captured_at)
                self.slot.put(frame)
        except BaseException as e:  # handed to the consumer's thread, which raises it
            self.slot.end(e)
            return
        finally:
            try:
                self.source.close()
            except Exception:  # pragma: no cover - closing must not hide the real error
                log.exception("closing the source failed")
        self.slot.end()
