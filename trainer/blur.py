"""Blur synthesis: how the deblurring benchmarks made their blur, reproduced offline.

Two kinds, both deterministic given a seed or a ``np.random.Generator``:

* **Trajectory PSFs** (Kupyn et al. 2018 after Boracchi & Foi 2012): a random camera
  trajectory (a random walk with inertia, a centripetal pull, Gaussian shake and
  occasional impulsive jerks) rasterised with sub-pixel splatting into a kernel that is
  convolved with the sharp image in linear light.
* **GoPro style** (Nah et al. 2017): a virtual camera moves smoothly over a large photo
  (translation, small rotation and zoom, sub-pixel); each blurry frame is the average,
  in linear light, of 7-13 consecutive sharp renders and the sharp target is the middle
  render. Averaging in linear light is what a sensor integrating photons does; averaging
  gamma-encoded values makes highlights too dark in the blur.

Optional degradations of the blurry input (sensor noise, JPEG or H.264) follow, because
real footage is noisy and compressed. (One job, blur synthesis, hence one file of some
550 lines: the two kinds share the linear-light and degradation code.)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "srgb_to_linear",
    "linear_to_srgb",
    "trajectory_psf",
    "blur_with_psf",
    "average_frames",
    "camera_video",
    "gopro_pair",
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


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


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
    rng = _rng(rng)
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
    rng = _rng(rng)
    size = int(rng.integers(psf_size[0], psf_size[1] + 1)) | 1
    return blur_with_psf(sharp, trajectory_psf(size, rng)), sharp


# --------------------------------------------------------------------------- GoPro-style averaging


def average_frames(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Average sRGB frames in linear light, as a sensor integrating light would.

    uint8 frames give uint8 (one frame comes back unchanged: the sRGB round trip is exact
    at 8 bits); float frames give float32.
    """
    if len(frames) == 0:
        raise ValueError("average_frames needs at least one frame")
    acc = np.zeros(frames[0].shape, dtype=np.float32)
    for f in frames:
        acc += srgb_to_linear(to_float(f))
    out = linear_to_srgb(acc / len(frames))
    return to_uint8(out) if frames[0].dtype == np.uint8 else out


def _subframe_count(subframes: int | tuple[int, int], rng: np.random.Generator) -> int:
    """An odd count (so there is a middle render) within the requested range."""
    if isinstance(subframes, int):
        return max(1, subframes)
    lo, hi = int(subframes[0]), int(subframes[1])
    odd = [n for n in range(max(1, lo), hi + 1) if n % 2 == 1] or [max(1, lo)]
    return int(odd[rng.integers(len(odd))])


def _camera_path(
    rng: np.random.Generator, counts: list[int], motion: float, out_diag: float, zoom0: float
) -> np.ndarray:
    """Per sub-frame (x, y, angle, log-zoom) offsets of a smooth random camera, in output pixels.

    Velocity is an Ornstein-Uhlenbeck process around a target that changes every output
    frame: smooth within a frame (the blur is a clean streak or a gentle curve), varied
    between frames (some frames nearly sharp, some strongly blurred).
    """
    total = sum(counts)
    state = np.zeros(4)  # x, y (output px), angle (rad), log zoom
    # speeds per sub-frame; the scale makes a 13-frame window move about 0-26 px at motion=1
    max_speed = 2.0 * motion
    speed = max_speed * math.sqrt(rng.random())
    direction = 2 * math.pi * rng.random()
    vel = np.array([speed * math.cos(direction), speed * math.sin(direction), 0.0, 0.0])
    ang_scale = 0.6 * motion / max(out_diag, 1.0)  # a rotation that moves the corners ~0.3 px/sub-frame
    zoom_scale = 0.003 * motion
    vel[2] = ang_scale * rng.standard_normal()
    vel[3] = zoom_scale * rng.standard_normal()
    path = np.zeros((total, 4))
    t = 0
    for n in counts:
        speed = max_speed * math.sqrt(rng.random())
        direction += rng.normal(0.0, 0.8)
        target = np.array(
            [
                speed * math.cos(direction),
                speed * math.sin(direction),
                ang_scale * rng.standard_normal(),
                zoom_scale * rng.standard_normal(),
            ]
        )
        shake = rng.standard_normal((n, 4)) * np.array([0.05, 0.05, 0.05 * ang_scale, 0.05 * zoom_scale]) * motion
        for i in range(n):
            vel += 0.15 * (target - vel) + shake[i]
            state = state + vel
            path[t] = state
            t += 1
    return path


def camera_video(
    photo: np.ndarray,
    size: tuple[int, int],
    n_frames: int,
    *,
    subframes: int | tuple[int, int] = (7, 13),
    motion: float = 1.0,
    seed: int = 0,
    scale: float | None = None,
    objects: int = 0,
    continuous: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (blurred, sharp) uint8 RGB frames of a virtual camera moving over ``photo``.

    ``continuous`` also integrates the motion *within* each sub-frame's exposure (extra
    renders at most ~1 px apart, centred on it), as a real 240 fps frame is itself
    exposed while the camera moves: fast motion then gives a smooth streak, not 7-13
    sharp ghost copies. The sharp target stays the instantaneous middle render.

    ``objects`` moving objects (soft-edged pieces of the photo, each with its own
    velocity, up to ~3x the camera's) cross the view in front of the moving background,
    as people and cars do in GoPro footage: their blur differs from the camera's.

    ``size`` is (W, H) of the output. Each output frame averages ``subframes``
    consecutive renders (an odd count drawn per frame from a range, or a fixed int) in
    linear light; the sharp target is the middle render. ``motion`` scales the camera's
    speed (0: a static camera, blurred == sharp up to rounding). ``scale`` is output
    pixels per photo pixel (default: random, so the view covers 1/3 to 2/3 of the
    photo's short side, clipped so the whole path stays inside the photo).
    Deterministic in ``seed``.

    The steps: the sub-frame counts and the camera's poses (:func:`_camera_poses`), the
    photo region they visit in linear light (:func:`_linear_region`), the moving objects
    (:func:`_moving_objects`), then each output frame exposed (:func:`_expose`) from the
    scene's renders (:class:`_Scene`).
    """
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"photo must be HxWx3 uint8 RGB, got {photo.shape} {photo.dtype}")
    out_size = int(size[0]), int(size[1])
    rng = np.random.default_rng(seed)
    counts = [_subframe_count(subframes, rng) for _ in range(n_frames)]
    poses = _camera_poses(photo.shape[:2], out_size, counts, motion, scale, rng)
    region = _linear_region(photo, poses)
    movers = []
    if objects > 0:
        movers = _moving_objects(region.lin, out_size, objects, motion, sum(counts), np.random.default_rng([seed, 1]))
    scene = _Scene(region, poses, out_size, movers)
    t = 0
    for n in counts:
        blurred, sharp = _expose(scene, t, n, continuous)
        t += n
        yield to_uint8(linear_to_srgb(blurred)), to_uint8(linear_to_srgb(sharp))


@dataclass
class _Poses:
    """Where the virtual camera looks at each sub-frame, in photo pixels."""

    path: np.ndarray  # (x, y, angle, log zoom) per sub-frame as drawn, in output pixels (_camera_path)
    zooms: np.ndarray  # photo px per output px
    angles: np.ndarray  # rotation (rad)
    cx: np.ndarray  # the view's centre
    cy: np.ndarray
    half: np.ndarray  # the view's radius


def _camera_poses(
    photo_hw: tuple[int, ...],
    size: tuple[int, int],
    counts: list[int],
    motion: float,
    scale: float | None,
    rng: np.random.Generator,
) -> _Poses:
    """The camera's path (:func:`_camera_path`) at ``scale`` output px per photo px (random
    when ``None``), shrunk where it would leave the photo, and placed at random inside it."""
    ph, pw = photo_hw
    out_diag = math.hypot(*size)
    if scale is None:
        # output px per photo px: the view's diagonal covers 0.35-0.7 of the photo's short side
        scale = out_diag / (min(ph, pw) * rng.uniform(0.35, 0.7))
    path = _camera_path(rng, counts, motion, out_diag, 0.0)
    start_angle = rng.uniform(-0.05, 0.05)
    # photo px per output px for each render
    zooms = np.exp(path[:, 3]) / scale
    angles = start_angle + path[:, 2]
    # the path in photo pixels (translation was in output pixels)
    cx_rel, cy_rel = path[:, 0] / scale, path[:, 1] / scale
    half = 0.5 * out_diag * zooms  # radius of the view in photo px
    span_x, span_y = _spans(cx_rel, cy_rel, half)
    need_w, need_h = span_x[1] - span_x[0], span_y[1] - span_y[0]
    if need_w > pw - 2 or need_h > ph - 2:
        # the path is longer than the photo allows: shrink the view, keeping the motion in output px
        shrink = max(need_w / (pw - 2), need_h / (ph - 2))
        zooms, cx_rel, cy_rel, half = zooms / shrink, cx_rel / shrink, cy_rel / shrink, half / shrink
        span_x, span_y = _spans(cx_rel, cy_rel, half)
        need_w, need_h = span_x[1] - span_x[0], span_y[1] - span_y[0]
    ox = rng.uniform(1.0, max(1.0, pw - 1 - need_w)) - span_x[0]
    oy = rng.uniform(1.0, max(1.0, ph - 1 - need_h)) - span_y[0]
    return _Poses(path, zooms, angles, cx_rel + ox, cy_rel + oy, half)


def _spans(cx: np.ndarray, cy: np.ndarray, half: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """The (min, max) x and y the views centred at (cx, cy) with radius ``half`` reach."""
    return ((cx - half).min(), (cx + half).max()), ((cy - half).min(), (cy + half).max())


@dataclass
class _Region:
    """The part of the photo the path visits, in linear light, at about output resolution."""

    lin: np.ndarray  # float32 linear light
    x0: int  # its top-left corner in the photo
    y0: int
    sx: float  # region px per photo px
    sy: float


def _linear_region(photo: np.ndarray, poses: _Poses) -> _Region:
    """Crop just the region the path visits, resize it (area filter: no aliasing) to about
    output resolution, and convert it once to linear light."""
    ph, pw = photo.shape[:2]
    cx, cy, reach = poses.cx, poses.cy, poses.half.max()
    x0 = int(max(0, math.floor(cx.min() - reach - 2)))
    x1 = int(min(pw, math.ceil(cx.max() + reach + 3)))
    y0 = int(max(0, math.floor(cy.min() - reach - 2)))
    y1 = int(min(ph, math.ceil(cy.max() + reach + 3)))
    region = photo[y0:y1, x0:x1]
    work_scale = min(1.0, 1.0 / float(poses.zooms.min()))  # never upsample in the pre-resize
    rw, rh = max(2, int(round((x1 - x0) * work_scale))), max(2, int(round((y1 - y0) * work_scale)))
    if (rw, rh) != (x1 - x0, y1 - y0):
        region = cv2.resize(region, (rw, rh), interpolation=cv2.INTER_AREA)
    return _Region(srgb_to_linear(region.astype(np.float32) / 255.0), x0, y0, rw / (x1 - x0), rh / (y1 - y0))


def _at(arr: np.ndarray, f: float) -> np.ndarray:
    """Linear interpolation of a per-sub-frame array at a fractional sub-frame index (clamped)."""
    f = min(max(f, 0.0), len(arr) - 1.0)
    i0 = int(math.floor(f))
    i1 = min(i0 + 1, len(arr) - 1)
    return arr[i0] + (arr[i1] - arr[i0]) * (f - i0)


class _Scene:
    """What the camera sees at a (fractional) sub-frame, in linear light: the photo region
    under the camera's pose, and the moving objects in front of it."""

    def __init__(self, region: _Region, poses: _Poses, size: tuple[int, int], movers: list[_Mover]) -> None:
        self.region, self.poses, self.size, self.movers = region, poses, size, movers

    def background(self, f: float) -> np.ndarray:
        """The photo region warped to the camera's pose at sub-frame ``f``."""
        p, r = self.poses, self.region
        w_out, h_out = self.size
        # output pixel centre (u, v) -> photo point c + z R (u - uc, v - vc), then into the region
        z, a, pcx, pcy = float(_at(p.zooms, f)), float(_at(p.angles, f)), float(_at(p.cx, f)), float(_at(p.cy, f))
        ca, sa = math.cos(a) * z, math.sin(a) * z
        uc, vc = (w_out - 1) / 2, (h_out - 1) / 2
        # photo coords of output (u, v)
        m = np.array([[ca, -sa, pcx - ca * uc + sa * vc], [sa, ca, pcy - sa * uc - ca * vc]])
        # region coords: (p - x0 + 0.5) * s - 0.5
        m[0] *= r.sx
        m[0, 2] += (-r.x0 + 0.5) * r.sx - 0.5
        m[1] *= r.sy
        m[1, 2] += (-r.y0 + 0.5) * r.sy - 0.5
        return cv2.warpAffine(
            r.lin, m, (w_out, h_out), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT_101
        )

    def render(self, f: float) -> np.ndarray:
        """The background with each moving object blended over it at its place at sub-frame ``f``."""
        r = self.background(f)
        for tex, mask, pos in self.movers:
            px, py = _at(pos, f)
            m = np.float32([[1, 0, px], [0, 1, py]])
            a = cv2.warpAffine(mask, m, self.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
            o = cv2.warpAffine(tex, m, self.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            r = r * (1.0 - a) + o * a
        return r

    def exposed(self, f: int, still: np.ndarray) -> np.ndarray:
        """Sub-frame ``f`` integrated over its own exposure: the mean of ``k`` renders about 1 px
        apart, ``k`` the pixels its fastest point (camera or object) moves; ``still`` (its render
        at ``f``) when that is under a pixel."""
        step = float(np.hypot(*(_at(self.poses.path[:, :2], f + 0.5) - _at(self.poses.path[:, :2], f - 0.5))))
        for _, _, pos in self.movers:
            step = max(step, float(np.hypot(*(_at(pos, f + 0.5) - _at(pos, f - 0.5)))))
        k = max(1, int(math.ceil(step)))
        if k == 1:
            return still
        return sum(self.render(f + (j + 0.5) / k - 0.5) for j in range(k)) / k


def _expose(scene: _Scene, t: int, n: int, continuous: bool) -> tuple[np.ndarray, np.ndarray]:
    """One output frame in linear light: the mean of sub-frames ``t .. t+n-1`` (each over its
    own exposure when ``continuous``), and the middle one as it is (the sharp target)."""
    w_out, h_out = scene.size
    acc = np.zeros((h_out, w_out, 3), dtype=np.float32)
    sharp = None
    for i in range(n):
        r = scene.render(t + i)
        if i == n // 2:
            sharp = r
        if continuous:
            r = scene.exposed(t + i, r)
        acc += r
    assert sharp is not None  # n >= 1
    return acc / n, sharp


#: a moving object: its texture (linear light), its soft mask, its top-left offset per sub-frame
_Mover = tuple[np.ndarray, np.ndarray, np.ndarray]


def _moving_objects(
    lin: np.ndarray, size: tuple[int, int], count: int, motion: float, total: int, rng: np.random.Generator
) -> list[_Mover]:
    """``count`` (texture, soft elliptical mask, per-sub-frame top-left offset) objects cut from ``lin``."""
    w_out, h_out = size
    rh, rw = lin.shape[:2]
    out = []
    for _ in range(count):
        ow = int(np.clip(rng.uniform(0.15, 0.5) * w_out, 8, rw - 1))
        oh = int(np.clip(rng.uniform(0.15, 0.5) * h_out, 8, rh - 1))
        y, x = int(rng.integers(rh - oh + 1)), int(rng.integers(rw - ow + 1))
        tex = np.ascontiguousarray(lin[y : y + oh, x : x + ow])
        if rng.random() < 0.5:  # a different brightness, so the object stands out as real ones do
            tex = np.clip(tex * rng.uniform(0.5, 1.6), 0.0, 1.0).astype(np.float32)
        yy, xx = np.mgrid[0:oh, 0:ow].astype(np.float32)
        r2 = ((xx - (ow - 1) / 2) / (ow / 2)) ** 2 + ((yy - (oh - 1) / 2) / (oh / 2)) ** 2
        mask = np.clip((1.0 - r2) * 4.0, 0.0, 1.0).astype(np.float32)  # soft edge
        speed = rng.uniform(0.5, 6.0) * motion  # output px per sub-frame
        ang = rng.uniform(0, 2 * math.pi)
        v = np.array([math.cos(ang), math.sin(ang)]) * speed
        mid = total // 2
        start = np.array([rng.uniform(-0.2 * ow, w_out - 0.8 * ow), rng.uniform(-0.2 * oh, h_out - 0.8 * oh)])
        pos = start + (np.arange(total)[:, None] - mid) * v[None, :]
        out.append((tex, mask, pos.astype(np.float32)))
    return out


def gopro_pair(
    photo: np.ndarray,
    size: tuple[int, int],
    rng: np.random.Generator | int | None = None,
    *,
    subframes: int | tuple[int, int] = (7, 13),
    motion: float = 1.0,
    scale: float | None = None,
    objects: int = 0,
    continuous: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """One GoPro-style (blurred, sharp) uint8 pair of ``size`` (W, H) from ``photo``."""
    rng = _rng(rng)
    seed = int(rng.integers(0, 2**63 - 1))
    frames = camera_video(
        photo,
        size,
        1,
        subframes=subframes,
        motion=motion,
        seed=seed,
        scale=scale,
        objects=objects,
        continuous=continuous,
    )
    return next(frames)


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
    rng = _rng(rng)
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
        out = _h264_roundtrip(out, int(rng.integers(h264_crf[0], h264_crf[1] + 1)))
    return out


def _h264_roundtrip(img: np.ndarray, crf: int) -> np.ndarray:
    """Encode one frame with libx264 and decode it back (even-sized padding is cropped)."""
    import av

    h, w = img.shape[:2]
    ph, pw = h + (h & 1), w + (w & 1)
    padded = np.pad(img, ((0, ph - h), (0, pw - w), (0, 0)), mode="edge")
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = pw, ph, "yuv420p"
    codec.options = {"crf": str(crf), "preset": "veryfast", "tune": "zerolatency"}
    from fractions import Fraction

    codec.time_base = Fraction(1, 25)
    frame = av.VideoFrame.from_ndarray(padded, format="rgb24").reformat(format="yuv420p")
    frame.pts = 0
    packets = list(codec.encode(frame)) + list(codec.encode(None))
    dec = av.CodecContext.create("h264", "r")
    frames = []
    for p in packets:
        frames.extend(dec.decode(p))
    frames.extend(dec.decode(None))
    if not frames:  # pragma: no cover
        raise RuntimeError("H.264 round trip produced no frame")
    return frames[0].to_ndarray(format="rgb24")[:h, :w].copy()
