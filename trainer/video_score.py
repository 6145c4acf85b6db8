"""Frame-by-frame PSNR of videos against a sharp reference (``streamdeblur-train video-psnr``;
the model card's real-video figure).

Each video after the reference gets its mean PSNR over the frames (8-bit RGB); the last
one is also counted against the first: how many frames it improves. All videos must have
the same number of frames and the same size: anything else is an error, not a partial score.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np

from streamdeblur.errors import DataError, InputError, InputNotFoundError

from .metrics import capped_psnr


def read_frames(path: str | os.PathLike) -> list[np.ndarray]:
    """Every frame of a video file as HxWx3 uint8 RGB."""
    p = Path(path)
    if not p.is_file():
        raise InputNotFoundError(f"video not found: {p}")
    if p.stat().st_size == 0:
        raise InputError(f"{p} is empty (0 bytes)", "it is not a video: write or copy it again")
    try:
        with av.open(str(p)) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    except (av.error.FFmpegError, ValueError) as e:
        reason = getattr(e, "strerror", None) or str(e)  # not "[Errno 1094995529] ..."
        raise InputError(f"cannot read video {p}: {reason}", "pass a video file PyAV can decode") from None
    if not frames:
        raise InputError(f"{p} has no video frames")
    return frames


def video_psnr(reference: str | os.PathLike, videos: Sequence[str | os.PathLike]) -> dict[str, Any]:
    """Each video's per-frame PSNR against ``reference``, its mean, and the last against the first."""
    ref = read_frames(reference)
    scores: list[dict[str, Any]] = []
    for v in videos:
        fr = read_frames(v)
        if len(fr) != len(ref) or fr[0].shape != ref[0].shape:
            raise DataError(
                f"{v} has {len(fr)} frames of {fr[0].shape[1]}x{fr[0].shape[0]}, "
                f"the reference {len(ref)} of {ref[0].shape[1]}x{ref[0].shape[0]}",
                "compare videos of the same length and size",
            )
        per = [capped_psnr(a, b) for a, b in zip(fr, ref)]
        scores.append({"video": str(v), "frames": len(fr), "psnr": float(np.mean(per)), "per_frame": per})
    result: dict[str, Any] = {"reference": str(reference), "videos": scores}
    if len(scores) > 1:
        first, last = np.array(scores[0]["per_frame"]), np.array(scores[-1]["per_frame"])
        result["last_vs_first"] = {
            "gain": float(last.mean() - first.mean()),
            "improved": int((last > first).sum()),
            "frames": len(last),
        }
    return result


def format_video_psnr(result: dict[str, Any]) -> str:
    """One line a video, then the last against the first."""
    lines = [f"{s['video']}: {s['psnr']:.2f} dB over {s['frames']} frames" for s in result["videos"]]
    if "last_vs_first" in result:
        c = result["last_vs_first"]
        lines.append(
            f"{result['videos'][-1]['video']} vs {result['videos'][0]['video']}: {c['gain']:+.2f} dB, "
            f"{c['improved']}/{c['frames']} frames improved"
        )
    return "\n".join(lines)
