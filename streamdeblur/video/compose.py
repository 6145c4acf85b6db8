"""What the preview shows: a view composed of the original and deblurred frame (side by
side, a split wipe, or the deblurred one only), the status overlay drawn on it, and PNG
snapshots of it. A screen, a JPEG and a PNG snapshot take 8 bits: deep-colour frames (uint16)
are converted here, for display only (:func:`for_display`)."""

from __future__ import annotations

import errno
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

VIEWS: tuple[str, ...] = ("side", "split", "deblurred")
#: the views that show the original beside the deblurred picture (``run --view``'s comparisons)
COMPARISONS: tuple[str, ...] = ("side", "split")


def _label(image: np.ndarray, text: str, x: int, y: int, scale: float = 0.5) -> None:
    import cv2

    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x0, y0 = max(x, 0), max(y - th - 4, 0)
    x1, y1 = min(x + tw + 6, image.shape[1]), min(y + base + 2, image.shape[0])
    if x1 > x0 and y1 > y0:
        image[y0:y1, x0:x1] = (image[y0:y1, x0:x1] * 0.35).astype(np.uint8)
    cv2.putText(image, text, (x + 3, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def for_display(image: np.ndarray) -> np.ndarray:
    """``image`` as uint8 for a screen: itself when it is uint8; uint16 (deep colour) rounded to 8 bits."""
    if image.dtype == np.uint8:
        return image
    return ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def compose(original: np.ndarray, deblurred: np.ndarray, view: str, *, labels: bool = True) -> np.ndarray:
    """The picture for a view: ``side`` (2W x H), ``split`` (W x H wipe), ``deblurred`` (W x H); uint8
    whatever the frames' depth."""
    original, deblurred = for_display(original), for_display(deblurred)
    if view == "side":
        out = np.concatenate([original, deblurred], axis=1)
        if labels:
            h, w = original.shape[:2]
            _label(out, "original", 4, h - 8)
            _label(out, "deblurred", w + 4, h - 8)
        return out
    if view == "split":
        w = original.shape[1]
        mid = w // 2
        out = original.copy()
        out[:, mid:] = deblurred[:, mid:]
        out[:, max(mid - 1, 0) : mid + 1] = 255
        if labels:
            h = original.shape[0]
            _label(out, "original", 4, h - 8)
            _label(out, "deblurred", mid + 4, h - 8)
        return out
    if view == "deblurred":
        return np.ascontiguousarray(deblurred).copy()
    raise ValueError(f"view must be one of {VIEWS}, got {view!r}")


def draw_overlay(image: np.ndarray, lines: Sequence[str]) -> None:
    """Status lines in the top-left corner, white on a darkened band (in place)."""
    scale = min(0.55, max(0.35, image.shape[1] / 1100))
    step = round(40 * scale)
    y = step - 2
    for line in lines:
        _label(image, line, 4, y, scale)
        y += step


def save_png(image: np.ndarray, folder: Path) -> Path:
    """Write an RGB picture as PNG (temporary name, then a no-replace rename); returns the path."""
    import cv2

    from ..errors import OutputError
    from ..fileio import write_atomic

    folder = Path(folder)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    n = 0
    while (path := folder / f"streamdeblur-preview-{stamp}-{n:03d}.png").exists():
        n += 1
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    try:
        if not ok:
            raise OSError("PNG encoding failed")
        while True:  # never over a snapshot taken meanwhile (another preview, the same second)
            try:
                return write_atomic(path, buf.tobytes())
            except FileExistsError:
                if not folder.is_dir():  # the folder's own name is a file: no new name would do
                    raise NotADirectoryError(errno.ENOTDIR, "it is a file, not a folder", str(folder)) from None
                n += 1
                path = folder / f"streamdeblur-preview-{stamp}-{n:03d}.png"
    except OSError as e:
        raise OutputError(
            f"cannot write snapshot {path}: {e.strerror or e}", "check that --snapshot-dir exists and is writable"
        ) from None
