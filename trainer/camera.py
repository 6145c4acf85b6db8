"""GoPro-style blur (Nah et al. 2017), reproduced offline: a virtual camera moves smoothly
over a large photo (translation, small rotation and zoom, sub-pixel); each blurry frame is
the average, in linear light, of 7-13 consecutive sharp renders and the sharp target is the
middle render. Optionally the motion within each render's own exposure (smooth streaks, not
ghosts) and objects moving over the background with their own blur. Deterministic in the seed.

The colour helpers and the trajectory-PSF blur are in :mod:`trainer.blur`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .blur import as_generator, linear_to_srgb, srgb_to_linear, to_float, to_uint8

__all__ = [
    "CLIP_CRF",
    "CLIP_FPS",
    "CLIP_SIZE",
    "CLIP_SUBFRAMES",
    "average_frames",
    "camera_video",
    "camera_video_warps",
    "gopro_pair",
]

#: how the sample clips are made (samples/make_samples.py), and the train-split panel's clips like them
CLIP_SIZE = (640, 360)
CLIP_SUBFRAMES = (7, 13)  # renders averaged per frame
CLIP_CRF = 22  # libx264, preset slow, yuv420p
CLIP_FPS = 30


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
    counts, poses = _frame_poses(photo.shape[:2], out_size, n_frames, subframes, motion, seed, scale)
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


def _frame_poses(
    photo_hw: tuple[int, ...],
    size: tuple[int, int],
    n_frames: int,
    subframes: int | tuple[int, int],
    motion: float,
    seed: int,
    scale: float | None,
) -> tuple[list[int], _Poses]:
    """Each frame's render count and the camera's pose at every render, drawn from ``seed``: the
    one place :func:`camera_video` and :func:`camera_video_warps` get them, so they agree."""
    rng = np.random.default_rng(seed)
    counts = [_subframe_count(subframes, rng) for _ in range(n_frames)]
    return counts, _camera_poses(photo_hw[:2], size, counts, motion, scale, rng)


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


def _view_matrix(poses: _Poses, f: float, size: tuple[int, int]) -> np.ndarray:
    """3x3 map from an output pixel (u, v) at sub-frame ``f`` to the photo point it shows:
    c + z R (u - uc, v - vc)."""
    z, a = float(_at(poses.zooms, f)), float(_at(poses.angles, f))
    pcx, pcy = float(_at(poses.cx, f)), float(_at(poses.cy, f))
    ca, sa = math.cos(a) * z, math.sin(a) * z
    uc, vc = (size[0] - 1) / 2, (size[1] - 1) / 2
    return np.array([[ca, -sa, pcx - ca * uc + sa * vc], [sa, ca, pcy - sa * uc - ca * vc], [0.0, 0.0, 1.0]])


def camera_video_warps(
    photo_hw: tuple[int, ...],
    size: tuple[int, int],
    n_frames: int,
    *,
    subframes: int | tuple[int, int] = (7, 13),
    motion: float = 1.0,
    seed: int = 0,
    scale: float | None = None,
) -> list[list[np.ndarray]]:
    """The exact blur of each frame :func:`camera_video` makes with the same arguments (a photo
    of shape ``photo_hw``, no moving objects, discrete exposure): per frame, for each render
    averaged into it, the 3x3 map from a pixel of that render to the point of the frame's sharp
    target (the middle render) it shows. So render i is ``cv2.warpAffine(sharp, T_i[:2], size,
    flags=INTER_LINEAR | WARP_INVERSE_MAP)`` and the blurred frame is their mean in linear light,
    up to the border the sharp frame does not show. Used to measure what deblurring with the
    blur known exactly could gain (``scripts/clip_ceiling.py``)."""
    out_size = int(size[0]), int(size[1])
    counts, poses = _frame_poses(photo_hw[:2], out_size, n_frames, subframes, motion, seed, scale)
    warps, t = [], 0
    for n in counts:
        to_sharp = np.linalg.inv(_view_matrix(poses, t + n // 2, out_size))
        warps.append([to_sharp @ _view_matrix(poses, t + i, out_size) for i in range(n)])
        t += n
    return warps


class _Scene:
    """What the camera sees at a (fractional) sub-frame, in linear light: the photo region
    under the camera's pose, and the moving objects in front of it."""

    def __init__(self, region: _Region, poses: _Poses, size: tuple[int, int], movers: list[_Mover]) -> None:
        self.region, self.poses, self.size, self.movers = region, poses, size, movers

    def background(self, f: float) -> np.ndarray:
        """The photo region warped to the camera's pose at sub-frame ``f``."""
        r = self.region
        w_out, h_out = self.size
        m = _view_matrix(self.poses, f, self.size)[:2]
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
    rng = as_generator(rng)
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
