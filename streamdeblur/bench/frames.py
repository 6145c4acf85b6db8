"""The frames a benchmark feeds: a synthetic moving texture an encoder has real work on,
or an input file decoded (and timed) frame by frame, looped when it is too short."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from ..errors import InputError


def at_depth(img: np.ndarray, depth: int | None) -> np.ndarray:
    """``img`` as ``depth``-bit frames: 16 -> uint16 (8-bit values widened, x257, with detail
    below the eighth bit, as a 10-16-bit video has), 8 -> uint8 (rounded); None: as it is."""
    if depth is None or (depth == 16) == (img.dtype == np.uint16):
        return img
    if depth == 16:
        fine = np.arange(img.size, dtype=np.int64).reshape(img.shape) * 97 % 257 - 128  # fixed, not random: cheap
        return np.clip(img.astype(np.int64) * 257 + fine, 0, 65535).astype(np.uint16)
    return ((img.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def synthetic_frames(width: int, height: int, count: int, seed: int = 0, depth: int | None = None) -> list[np.ndarray]:
    """Frames an encoder has real work on: a multi-scale texture with hard-edged shapes
    and text, panned a few pixels a frame, with light sensor-like noise; uint8, or uint16
    with ``depth`` 16 (:func:`at_depth`)."""
    import cv2

    rng = np.random.default_rng(seed)
    dx, dy = 3, 2  # pixels per frame
    ch, cw = height + dy * count + 2, width + dx * count + 2
    canvas = np.zeros((ch, cw, 3), np.float32)
    weight = 1.0
    for scale in (128, 32, 8, 2):
        small = rng.random((max(2, ch // scale), max(2, cw // scale), 3), dtype=np.float32)
        canvas += weight * cv2.resize(small, (cw, ch), interpolation=cv2.INTER_CUBIC)
        weight *= 0.45
    canvas -= canvas.min()
    canvas *= 255.0 / max(float(canvas.max()), 1e-6)
    img = canvas.astype(np.uint8)
    n_shapes = max(6, (cw * ch) // 20000)
    for _ in range(n_shapes):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, cw)), int(rng.integers(0, ch))
        s = int(rng.integers(4, max(5, min(cw, ch) // 6)))
        if rng.random() < 0.5:
            cv2.rectangle(img, (x, y), (x + s, y + s // 2), color, -1)
        else:
            cv2.circle(img, (x, y), s // 2, color, 2)
    scale = max(0.3, height / 400)
    for i in range(0, ch, max(12, int(40 * scale))):
        cv2.putText(
            img,
            f"streamdeblur bench {i:05d}",
            (4, i),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (240, 240, 240),
            max(1, int(scale * 2)),
        )
    frames = []
    for t in range(count):
        crop = img[t * dy : t * dy + height, t * dx : t * dx + width].astype(np.int16)
        crop += rng.integers(-3, 4, crop.shape, dtype=np.int16)
        frames.append(at_depth(np.clip(crop, 0, 255).astype(np.uint8), depth))
    return frames


def _resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    if (img.shape[1], img.shape[0]) == size:
        return img
    interp = cv2.INTER_AREA if size[0] < img.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(img, size, interpolation=interp)


def decode_frames(
    spec: str, count: int, size: tuple[int, int] | None, depth: int | None = None
) -> Iterator[tuple[np.ndarray, float]]:
    """(frame, seconds spent decoding it) for ``count`` frames, looping the file if it is
    shorter; resized to ``size`` and brought to ``depth`` (:func:`at_depth`) outside the timed part."""
    from ..video.sources import open_source

    done = 0
    while done < count:
        t0 = time.perf_counter()
        src = open_source(spec)
        opened = time.perf_counter() - t0
        try:
            it = iter(src)
            got = 0
            while done < count:
                t0 = time.perf_counter()
                try:
                    f = next(it)
                except StopIteration:
                    break
                dt = time.perf_counter() - t0 + opened
                opened = 0.0
                got += 1
                done += 1
                yield at_depth(_resize(f.image, size) if size else f.image, depth), dt
            if got == 0:  # pragma: no cover - open_source refuses files without frames
                raise InputError(f"input {spec} yielded no frames")
        finally:
            src.close()
