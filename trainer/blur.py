"""Blur synthesis: how the deblurring benchmarks made their blur, reproduced offline.

Two kinds, both deterministic given a seed or a ``np.random.Generator``:

* **Trajectory PSFs** (Kupyn et al. 2018 after Boracchi & Foi 2012): a random camera
  trajectory (a random walk with inertia, a centripetal pull, Gaussian shake and
  occasional impulsive jerks) rasterised with sub-pixel splatting into a kernel that is
  convolved with the sharp image in linear light.
* **GoPro style** (Nah et al. 2017): a virtual camera over a large photo, 7-13 sharp
  renders averaged; in :mod:`trainer.camera`, which uses this file's linear-light helpers.
  Averaging in linear light is what a sensor integrating photons does; averaging
  gamma-encoded values makes highlights too dark in the blur.

Optional degradations of the blurry input (sensor noise, JPEG or H.264) follow, because
real footage is noisy and compressed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

__all__ = [
    "srgb_to_linear",
    "linear_to_srgb",
    "trajectory_psf",
    "blur_with_psf",
    "trajectory_pair",
    "add_noise_and_compression",
    "to_float",
    "to_uint8",
]


# --------------------------------------------------------------------------- colour


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear light (IEC 61966-2-1), float32."""
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.04045, x / 12.92, np.power((np.maximum(x, 0.04045) + 0.055) / 1.055, 2.4)).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] -> sRGB-encoded values, float32 (clipped to [0, 1])."""
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    encoded = np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(np.maximum(x, 0.0031308), 1 / 2.4) - 0.055)
    return encoded.astype(np.float32)


def to_float(img: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [0, 1]; float input is passed through as float32."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    return np.asarray(img, dtype=np.float32)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """float in [0, 1] -> uint8 with rounding (not truncation, which darkens by half a level)."""
    return np.rint(np.clip(img, 0.0, 1.0) * 255.0).astype(np.uint8)


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A seed (or None) as a generator; a generator as it is."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    """One draw, log-uniform in [lo, hi] (lo > 0): as likely in each doubling of the range."""
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


# --------------------------------------------------------------------------- trajectory PSFs


def _trajectory(rng: np.random.Generator, n_points: int, max_length: float, anxiety: float) -> np.ndarray:
    """Boracchi & Foi's random camera trajectory as DeblurGAN samples it (complex points)."""
    centripetal = 0.7 * rng.random()
    prob_big_shake = 0.2 * rng.random()
    gaussian_shake = 10.0 * rng.random()
    angle = 2 * math.pi * rng.random()
    step = max_length / (n_points - 1)
    v = complex(math.cos(angle), math.sin(angle)) * (anxiety if anxiety > 0 else step)
    x = np.zeros(n_points, dtype=np.complex128)
    # draw all random numbers up front: same stream whatever branch each step takes
    jerk = rng.random(n_points)
    jerk_angle = rng.random(n_points)
    shake = rng.standard_normal((n_points, 2))
    for t in range(n_points - 1):
        if jerk[t] < prob_big_shake * anxiety:  # an impulsive jerk turns the motion around
            next_dir = 2 * v * complex(math.cos(math.pi + jerk_angle[t] - 0.5), math.sin(math.pi + jerk_angle[t] - 0.5))
        else:
            next_dir = 0j
        dv = next_dir + anxiety * (gaussian_shake * complex(shake[t, 0], shake[t, 1]) - centripetal * x[t]) * step
        v = v + dv
        v = v / (abs(v) + 1e-12) * step  # inertia: constant speed, only the direction wanders
        x[t + 1] = x[t] + v
    return x


def trajectory_psf(
    size: int,
    rng: np.random.Generator | int | None = None,
    *,
    length: float | None = None,
    anxiety: float | None = None,
    n_points: int = 2000,
    exposure: float = 1.0,
) -> np.ndarray:
    """A ``size`` x ``size`` motion-blur kernel from a random camera trajectory.

    ``length`` is the path length in pixels (default: random in [0.25, 1] x (size - 2)),
    ``anxiety`` how shaky the hand is (DeblurGAN draws it uniformly in [0, 0.1]; at
    2000 points most such paths curl into a blob a few pixels wide, so the default here
    is 0.1 x U^4, mostly steady hands: streaks and gentle curves, sometimes a tangle),
    ``exposure`` the fraction of the trajectory the shutter sees. The trajectory is
    centred and, if its extent exceeds the kernel, shrunk to fit; each point is splatted
    bilinearly, so sub-pixel motion gives fractional weights. Non-negative, sums to 1.
    """
    if size < 3:
        raise ValueError(f"PSF size must be at least 3, got {size}")
    rng = as_generator(rng)
    if length is None:
        length = (0.25 + 0.75 * rng.random()) * (size - 2)
    if anxiety is None:
        anxiety = 0.1 * rng.random() ** 4
    pts = _trajectory(rng, n_points, max(float(length), 1e-3), float(anxiety))
    pts = pts[: max(2, int(round(n_points * float(np.clip(exposure, 0.0, 1.0)))))]
    xs, ys = pts.real.copy(), pts.imag.copy()
    extent = max(xs.max() - xs.min(), ys.max() - ys.min())
    if extent > size - 2:  # keep one free pixel on each side for the bilinear splat
        xs *= (size - 2) / extent
        ys *= (size - 2) / extent
    c = (size - 1) / 2
    xs += c - (xs.max() + xs.min()) / 2
    ys += c - (ys.max() + ys.min()) / 2
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    psf = np.zeros((size, size), dtype=np.float64)
    for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        np.add.at(psf, (np.clip(y0 + dy, 0, size - 1), np.clip(x0 + dx, 0, size - 1)), w)
    psf = np.maximum(psf, 0)
    return (psf / psf.sum()).astype(np.float32)


def blur_with_psf(image: np.ndarray, psf: np.ndarray) -> np.ndarray:
    """Convolve an sRGB image with a PSF in linear light (reflected borders).

    Float input in [0, 1] gives float32 out; uint8 gives uint8.
    """
    was_uint8 = image.dtype == np.uint8
    lin = srgb_to_linear(to_float(image))
    # filter2D correlates; flipping the kernel makes it a true convolution
    kernel = np.ascontiguousarray(np.asarray(psf, dtype=np.float32)[::-1, ::-1])
    out = linear_to_srgb(cv2.filter2D(lin, -1, kernel, borderType=cv2.BORDER_REFLECT_101))
    return to_uint8(out) if was_uint8 else out


def trajectory_pair(
    sharp: np.ndarray, rng: np.random.Generator | int | None = None, *, psf_size: tuple[int, int] = (9, 31)
) -> tuple[np.ndarray, np.ndarray]:
    """(blurred, sharp) uint8 from a sharp uint8 image and a random trajectory PSF."""
    rng = as_generator(rng)
    size = int(rng.integers(psf_size[0], psf_size[1] + 1)) | 1
    return blur_with_psf(sharp, trajectory_psf(size, rng)), sharp


# --------------------------------------------------------------------------- degradations


def add_noise_and_compression(
    img: np.ndarray,
    rng: np.random.Generator | int | None = None,
    *,
    noise_sigma: tuple[float, float] = (0.0, 0.02),
    shot_noise: tuple[float, float] = (0.0, 0.01),
    jpeg_quality: tuple[int, int] | None = (40, 95),
    h264_crf: tuple[int, int] | None = None,
) -> np.ndarray:
    """Sensor noise (signal-dependent shot + read noise, in linear light), then JPEG and/or H.264.

    Each range is sampled uniformly; ``None`` skips that step. uint8 in, uint8 out.
    H.264 goes through PyAV's libx264 (one intra frame, yuv420p), as a streamed camera would.
    """
    rng = as_generator(rng)
    lin = srgb_to_linear(to_float(img))
    read = rng.uniform(*noise_sigma)
    shot = rng.uniform(*shot_noise)
    if read > 0 or shot > 0:
        sigma = np.sqrt(read**2 + shot * lin)
        lin = lin + sigma * rng.standard_normal(lin.shape).astype(np.float32)
    out = to_uint8(linear_to_srgb(lin))
    if jpeg_quality is not None:
        q = int(rng.integers(jpeg_quality[0], jpeg_quality[1] + 1))
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])
        if not ok:  # pragma: no cover - OpenCV always has JPEG
            raise RuntimeError("JPEG encoding failed")
        out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    if h264_crf is not None:
        out = h264_roundtrip(out, int(rng.integers(h264_crf[0], h264_crf[1] + 1)))
    return out


def h264_roundtrip(img: np.ndarray, crf: int) -> np.ndarray:
    """Encode one frame with libx264 and decode it back (even-sized padding is cropped)."""
    return h264_sequence([img], crf)[0]


def h264_sequence(
    frames: Sequence[np.ndarray],
    crf: int,
    *,
    preset: str = "veryfast",
    tune: str | None = "zerolatency",
    fps: int = 25,
) -> list[np.ndarray]:
    """Encode frames as one libx264 stream (yuv420p, inter-frame prediction, B-frames unless
    ``tune`` forbids them) and decode it back, in display order; odd sizes are padded to even
    and cropped back. The same frames can come back different in the last bits from one call to
    the next (seen at small sizes after torch is imported; not tracked down), so callers that
    compare models encode once and give every model the same frames."""
    from fractions import Fraction

    import av

    h, w = frames[0].shape[:2]
    ph, pw = h + (h & 1), w + (w & 1)
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = pw, ph, "yuv420p"
    codec.options = {
        "crf": str(crf),
        "preset": preset,
        **({"tune": tune} if tune else {}),
    }
    codec.time_base = Fraction(1, fps)  # x264's rate control reads it
    packets = []
    for i, img in enumerate(frames):
        padded = np.pad(img, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(padded, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        packets.extend(codec.encode(frame))
    packets.extend(codec.encode(None))
    dec = av.CodecContext.create("h264", "r")
    decoded = []
    for p in packets:
        decoded.extend(dec.decode(p))
    decoded.extend(dec.decode(None))
    if len(decoded) != len(frames):  # pragma: no cover
        raise RuntimeError(f"H.264 round trip gave {len(decoded)} frames for {len(frames)}")
    return [f.to_ndarray(format="rgb24")[:h, :w].copy() for f in decoded]
