"""Frame sizes, said once: the ``WIDTHxHEIGHT`` parser every option uses, and the padded
size a generator runs at.

Every size a user types is width x height (``1280x720``), as FFmpeg writes it. Inside the
code a frame's shape is ``(height, width)`` (NumPy's order); :func:`parse_size` returns
``(width, height)`` and :func:`parse_size_hw` the same size as ``(height, width)``.
"""

from __future__ import annotations

import re

from .errors import InputError

_SIZE = re.compile(r"\s*(\d+)\s*[xX]\s*(\d+)\s*")


def parse_size(
    text: str,
    option: str = "--size",
    *,
    minimum: int = 1,
    maximum: int | None = None,
    even: bool = False,
    example: str = "1280x720",
) -> tuple[int, int]:
    """``'1280x720'`` -> ``(1280, 720)``: width x height, each in [minimum, maximum].

    ``even=True`` also asks for even sides (H.264 in 4:2:0 needs them). A bad value is an
    :class:`InputError` naming ``option`` and a value that works.
    """
    m = _SIZE.fullmatch(text or "")
    if not m:
        raise InputError(f"{option} {text!r} is not a size", f"write width x height, e.g. {option} {example}")
    w, h = int(m.group(1)), int(m.group(2))
    hi = f"{maximum}x{maximum}" if maximum else "any size"
    if w < minimum or h < minimum or (maximum is not None and (w > maximum or h > maximum)):
        raise InputError(f"{option} {text!r} is out of range", f"use {minimum}x{minimum} to {hi}")
    if even and (w % 2 or h % 2):
        raise InputError(
            f"{option} {text!r} has an odd side", f"use even sizes (the H.264 encoder needs them), e.g. {example}"
        )
    return w, h


def parse_size_hw(text: str, option: str = "--size", **kw) -> tuple[int, int]:
    """:func:`parse_size`, returned as ``(height, width)``."""
    w, h = parse_size(text, option, **kw)
    return h, w


def parse_sizes(text: str, option: str = "--resolutions", **kw) -> tuple[tuple[int, int], ...]:
    """``'640x360,1280x720'`` -> ``((640, 360), (1280, 720))``, duplicates dropped."""
    parts = [p for p in (text or "").split(",") if p.strip()]
    if not parts:
        raise InputError(f"no size given to {option}", f"write e.g. {option} 640x360,1280x720")
    return tuple(dict.fromkeys(parse_size(p, option, **kw) for p in parts))


def round_up(n: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is at least ``n``."""
    return -(-n // multiple) * multiple


def padded_size(height: int, width: int, multiple: int, min_size: int = 1) -> tuple[int, int]:
    """The ``(height, width)`` a generator runs a ``height x width`` frame at: each side
    padded up to a multiple of ``multiple`` and to at least ``min_size``."""
    return round_up(max(height, min_size), multiple), round_up(max(width, min_size), multiple)
