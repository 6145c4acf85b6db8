"""Live sources for ``preview`` (and ``run --camera``): cameras, network streams, and a
file played at its own frame rate.

A live source hands out frames as the world produces them: ``read()`` blocks until the
next one and stamps it with the capture clock (``Frame.captured_at`` from
``time.perf_counter()``; ``pts`` in 1/90000 s from the first frame), so latency and
recorded timestamps follow what the camera saw, not how fast we keep up.

Failure policy (issue 6, item 6): a camera that cannot be opened, or that stops
delivering frames, raises :class:`~streamdeblur.errors.CameraError` with a one-line
reason. There is no silent reconnection. Nothing here waits forever: opening a URL and
reading from it carry OpenCV's FFmpeg timeouts, and the preview loop adds its own
watchdog (``PreviewConfig.timeout``) around ``read()``.

``FilePlayback`` makes a file stand in for a camera (demos, tests): it decodes with
PyAV and releases each frame when its presentation time comes, optionally looping.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import CameraError, InputError, InputNotFoundError, StreamTimeoutError
from .frame import Frame

log = logging.getLogger(__name__)

#: Timestamps of live frames: the capture clock in MPEG's 90 kHz ticks.
CAPTURE_TIME_BASE = Fraction(1, 90_000)

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


@dataclass(frozen=True)
class LiveInfo:
    """What a live source delivers. ``fps`` is the nominal rate (None if unknown)."""

    width: int
    height: int
    fps: float | None
    name: str
    kind: str  # "camera" | "stream" | "file"
    time_base: Fraction = CAPTURE_TIME_BASE


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
    raise CameraError(f"--camera {s!r} is not a camera index or device path", "use --camera 0 or --camera /dev/video2; for a file or URL pass it as the INPUT argument")


def list_cameras() -> list[str]:
    """Video device nodes present on this machine (Linux); empty elsewhere or when none."""
    return sorted(glob.glob("/dev/video*"), key=lambda p: (len(p), p))


class OpenCVSource(LiveSource):
    """A camera (index or device path) or a network URL through ``cv2.VideoCapture``."""

    def __init__(self, target: int | str, *, timeout: float = 10.0) -> None:
        super().__init__()
        import cv2

        self.target = target
        is_url = isinstance(target, str) and bool(_URL.match(target))
        kind = "stream" if is_url else "camera"
        name = f"camera {target}" if kind == "camera" else _redact(str(target))
        if kind == "camera" and sys.platform.startswith("linux"):
            node = f"/dev/video{target}" if isinstance(target, int) else str(target)
            if not os.path.exists(node):
                present = list_cameras()
                hint = (
                    f"cameras on this machine: {', '.join(present)}"
                    if present
                    else "no cameras found on this machine (no /dev/video*); `streamdeblur preview FILE --loop` can stand in for one"
                )
                raise CameraError(f"{name} not found: {node} does not exist", hint)
        ms = int(max(timeout, 0.1) * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        api = cv2.CAP_FFMPEG if is_url else cv2.CAP_ANY
        with _quiet_opencv():
            try:
                cap = cv2.VideoCapture(target, api, params)
            except cv2.error as e:  # pragma: no cover - depends on the OpenCV build
                raise CameraError(f"cannot open {name}: {str(e).strip().splitlines()[-1]}") from None
        if not cap.isOpened():
            cap.release()
            if kind == "camera":
                raise CameraError(f"cannot open {name}", "it may be in use by another program, or you lack permission (add yourself to the 'video' group)")
            raise StreamTimeoutError(f"cannot open stream {name} within {timeout:g} s", "check the URL and that the server is up, or raise --timeout")
        self.cap = cap
        with _quiet_opencv():
            ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise CameraError(f"{name} opened but delivered no frame", "check the device/stream, or try another --camera")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        h, w = first.shape[:2]
        self.info = LiveInfo(width=w, height=h, fps=fps if 0 < fps < 1000 else None, name=name, kind=kind)
        # the probe frame is not handed out: by the first read() it is stale (the model loaded meanwhile)
        self._pending: np.ndarray | None = first if kind == "stream" else None
        self._closed = False

    def read(self) -> Frame | None:
        import cv2

        if self._closed:
            return None
        if self._pending is not None:
            bgr, self._pending = self._pending, None
        else:
            with _quiet_opencv():
                ok, bgr = self.cap.read()
            if not ok or bgr is None:
                if self._closed:
                    return None
                if self.info.kind == "stream":
                    log.info("%s ended", self.info.name)
                    return None
                raise CameraError(f"{self.info.name} stopped delivering frames (disconnected?)", "reconnect it and start again")
        if bgr.ndim == 2:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
        else:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return self._stamp(rgb)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.cap.release()


def _redact(url: str) -> str:
    """Hide a password in ``scheme://user:pass@host`` before it reaches a message or log."""
    return re.sub(r"(://[^/:@]+):[^/@]*@", r"\1:***@", url)


# -- A file played in real time -----------------------------------------------------


class FilePlayback(LiveSource):
    """Decode a file with PyAV and release each frame at its presentation time.

    With ``loop=True`` the file starts again at its end, so it can stand in for a camera.
    Frames come out at the file's own pace whatever the consumer does; a slow consumer
    sees the newest frame and the preview counts the rest as dropped, as with a camera.
    """

    def __init__(self, path: str | os.PathLike, *, loop: bool = False, realtime: bool = True) -> None:
        super().__init__()
        import av

        self.path = Path(path)
        if not self.path.exists():
            raise InputNotFoundError(f"input not found: {self.path}", "check the path")
        if self.path.is_dir():
            raise InputError(f"{self.path} is a folder, not a video file")
        self.loop = loop
        self.realtime = realtime
        try:
            container = av.open(str(self.path))
        except av.FFmpegError as e:
            raise InputError(f"cannot read {self.path} as a video ({e.__class__.__name__}: {e})") from None
        if not container.streams.video:
            container.close()
            raise InputError(f"{self.path} has no video stream")
        vs = container.streams.video[0]
        rate = vs.average_rate or vs.guessed_rate
        fps = float(rate) if rate else None
        self.info = LiveInfo(width=vs.codec_context.width, height=vs.codec_context.height, fps=fps, name=str(self.path), kind="file")
        self._period = 1.0 / fps if fps else 1.0 / 30.0
        self._container = container
        self._frames = self._decode(container)
        self._clock0: float | None = None
        self._offset = 0.0  # seconds of media time played in earlier loops
        self._last_t = 0.0
        self._played = 0
        self._closed = False

    def _decode(self, container):  # type: ignore[no-untyped-def]
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        first: float | None = None
        for i, f in enumerate(container.decode(vs)):
            t = float(f.time) if f.time is not None else i * self._period
            if first is None:
                first = t
            yield t - first, f.to_ndarray(format="rgb24")

    def read(self) -> Frame | None:
        import av

        if self._closed:
            return None
        try:
            item = next(self._frames, None)
            if item is None and self.loop and self._played:
                self._offset += self._last_t + self._period
                self._container.close()
                self._container = av.open(str(self.path))
                self._frames = self._decode(self._container)
                self._played = 0
                item = next(self._frames, None)
        except av.FFmpegError as e:
            raise InputError(f"cannot decode {self.path} ({e.__class__.__name__}: {e})") from None
        if item is None:
            return None
        t, image = item
        self._played += 1
        self._last_t = t
        if self.realtime:
            now = time.perf_counter()
            if self._clock0 is None:
                self._clock0 = now
            delay = self._clock0 + self._offset + t - now
            if delay > 0:
                time.sleep(delay)
        return self._stamp(image, media_time=self._offset + t)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._container.close()


def is_url(spec: str) -> bool:
    return bool(_URL.match(spec))


def open_live(input: str | os.PathLike | None = None, *, camera: str | int | None = None, loop: bool = False, timeout: float = 10.0) -> LiveSource:
    """The live source for ``preview``: ``camera`` (index or /dev path), else a URL or a file."""
    if camera is not None and input is not None:
        raise InputError("give either INPUT or --camera, not both")
    if camera is not None:
        if loop:
            raise InputError("--loop only applies to a file input")
        return OpenCVSource(parse_camera(camera), timeout=timeout)
    if input is None:
        raise InputError("no input", "pass a FILE or URL, or --camera 0")
    s = str(input)
    if is_url(s) and not s.startswith("file://"):
        if loop:
            raise InputError("--loop only applies to a file input")
        return OpenCVSource(s, timeout=timeout)
    return FilePlayback(s.removeprefix("file://"), loop=loop)


def sink_info(info: LiveInfo):  # type: ignore[no-untyped-def]
    """The :class:`~streamdeblur.video.sources.SourceInfo` a FileSink needs for a live source.

    Timestamps are the capture clock (1/90000 s), so a recording plays back at the pace
    the frames were captured, dropped frames included; colours are tagged BT.709.
    """
    from .sources import SourceInfo

    rate = Fraction(info.fps).limit_denominator(1001) if info.fps else None
    return SourceInfo(
        spec=info.name,
        width=info.width,
        height=info.height,
        fps=info.fps,
        rate=rate,
        time_base=info.time_base,
        frame_count=None,
        duration=None,
        pix_fmt="yuv420p",
        bit_depth=8,
        color_primaries=1,
        color_trc=1,
        colorspace=1,
        color_range=1,
        rotation=0,
        codec="rawvideo",
        container=info.kind,
        is_live=True,
    )
