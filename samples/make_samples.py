"""Make the sample clips: a virtual camera moving over a real photo, GoPro-style blur.

Each clip is written twice: NAME.mp4 (blurred: every frame averages 7-13 consecutive
sharp renders in linear light, as the GoPro benchmark did with 240 fps footage) and
NAME_sharp.mp4 (the middle render of each frame, the reference a deblurrer aims at).
The photos are ones the trainer holds out (trainer/photos.py marks them "test"), so the
quick start shows the model on pictures it never saw. Deterministic: same seed, same
frames.

    python samples/make_samples.py            # writes into samples/
    python samples/make_samples.py --out /tmp/s --seconds 2
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from trainer.camera import CLIP_CRF, CLIP_FPS, CLIP_SIZE, CLIP_SUBFRAMES, camera_video  # noqa: E402
from trainer.images import read_image  # noqa: E402


@dataclass(frozen=True)
class Clip:
    name: str
    photo: str
    credit: str
    seed: int
    motion: float
    audio: bool


CLIPS = [
    Clip(
        "mountains",
        "/usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg",
        "Picos de Europa by Aitzol Berasategi, 2018, CC-BY-4.0 (Debian package lomiri-wallpapers-16.04)",
        seed=11,
        motion=0.8,
        audio=True,
    ),
    Clip(
        "wine",
        "/usr/share/backgrounds/Wine_by_Jakkub_Mede.jpg",
        "Wine by Jakub Mede, 2018, CC-BY-4.0 (Debian package lomiri-wallpapers-16.04)",
        seed=5,
        motion=1.0,
        audio=False,
    ),
]
SIZE = CLIP_SIZE
FPS = CLIP_FPS


def _tone(seconds: float, rate: int = 48000, seed: int = 0) -> np.ndarray:
    """A quiet two-note chime over soft noise (stereo float32): something to check that audio survives."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    env = 0.5 - 0.5 * np.cos(2 * np.pi * np.minimum(t, 1.0) / 2.0)
    note = np.where((t % 1.0) < 0.5, 440.0, 660.0)
    chime = 0.15 * np.sin(2 * np.pi * note * t) * env
    noise = 0.02 * rng.standard_normal((2, t.size))
    return (chime[None, :] + noise).astype(np.float32)


def _write(path: Path, frames: list[np.ndarray], audio: np.ndarray | None) -> None:
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    with av.open(str(tmp), "w", options={"movflags": "+faststart"}) as out:
        v = out.add_stream("libx264", rate=FPS, options={"crf": str(CLIP_CRF), "preset": "slow"})
        v.width, v.height, v.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        cc = v.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace, cc.color_range = 1, 1, 1, 1  # BT.709, limited range
        a = None
        if audio is not None:
            a = out.add_stream("aac", rate=48000, options={"b": "96k"})
            a.layout = "stereo"
        for i, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="itu709", dst_color_range=1
            )
            f.pts, f.time_base = i, Fraction(1, FPS)
            for p in v.encode(f):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
        if a is not None and audio is not None:
            for k in range(0, audio.shape[1], 1024):
                af = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(audio[:, k : k + 1024]), format="fltp", layout="stereo"
                )
                af.sample_rate, af.pts = 48000, k
                for p in a.encode(af):
                    out.mux(p)
            for p in a.encode():
                out.mux(p)
    tmp.replace(path)


def make(clip: Clip, out_dir: Path, seconds: float) -> list[Path]:
    photo = read_image(clip.photo)
    n = int(round(seconds * FPS))
    blurred, sharp = [], []
    for b, s in camera_video(
        photo, size=SIZE, n_frames=n, subframes=CLIP_SUBFRAMES, motion=clip.motion, seed=clip.seed
    ):
        blurred.append(b)
        sharp.append(s)
    audio = _tone(n / FPS, seed=clip.seed) if clip.audio else None
    paths = [out_dir / f"{clip.name}.mp4", out_dir / f"{clip.name}_sharp.mp4"]
    _write(paths[0], blurred, audio)
    _write(paths[1], sharp, None)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent, help="output folder (default: samples/)"
    )
    ap.add_argument("--seconds", type=float, default=4.0, help="clip length (at most 5)")
    ap.add_argument("--only", nargs="*", help="clip names to make (default: all)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for clip in CLIPS:
        if args.only and clip.name not in args.only:
            continue
        for p in make(clip, args.out, min(args.seconds, 5.0)):
            print(f"{p}  {p.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
