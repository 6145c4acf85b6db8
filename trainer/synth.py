"""Synthesis of one training pair: a (blurred, sharp) crop from a photo, GoPro-style or
with a trajectory PSF (:mod:`trainer.blur`), then colour jitter, noise and JPEG as
:class:`SynthConfig` says, and the flips and turns applied to every training crop."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import blur, camera

BLUR_KINDS = ("gopro", "traj")


#: camera speeds of a "scene" pair by default (handheld shake and pans: the sample clips move at 0.8 and 1.0)
SCENE_MOTION = (0.3, 3.0)


@dataclass(frozen=True)
class SynthConfig:
    """How synthetic pairs are made (shared by make-data and on-the-fly training)."""

    gopro_fraction: float = 0.5  # the rest are trajectory-PSF pairs
    sharp_fraction: float = 0.0  # share of pairs with no blur at all: sharp frames must pass through
    subframes: tuple[int, int] = (7, 13)
    motion: tuple[float, float] = (0.3, 1.5)  # camera speed multiplier range
    #: draw the speed log-uniformly (as many pairs per doubling of the blur), not uniformly: in a
    #: wide range such as 0.5-8, uniform draws leave mild blur (0.5-1.5) a sliver of 13 %
    motion_log: bool = False
    psf_size: tuple[int, int] = (7, 31)
    degrade_fraction: float = 0.3  # share of blurry inputs with sensor noise and compression
    noise_sigma: tuple[float, float] = (0.0, 0.015)
    jpeg_quality: tuple[int, int] = (50, 95)
    h264_fraction: float = 0.0  # of the degraded inputs, the share through H.264 instead of JPEG
    h264_crf: tuple[int, int] = (18, 32)
    gamma: float = 0.0  # both images: x ** exp(U(-gamma, gamma)) in sRGB, a tone-curve change
    scale: tuple[float, float] = (0.3, 1.0)  # output px per (max-2048 px) photo px, log-uniform
    color_jitter: float = 0.1
    object_fraction: float = 0.0  # share of GoPro-style pairs with 1-2 objects moving over the moving background
    continuous: bool = False  # integrate motion within each sub-frame: smooth streaks, not ghosts (camera.camera_video)
    #: with ``continuous``, the share of GoPro-style pairs left as discrete ghosts anyway: frame-averaging
    #: datasets (GoPro, REDS) and tools show fast motion as 7-13 copies, a real exposure as a streak
    ghost_fraction: float = 0.0
    #: share of pairs drawn as a handheld camera's view of a whole scene (:data:`SCENE_MOTION`, the view
    #: covering 0.35-0.7 of the photo's short side, as the sample clips do), left clean: no colour change,
    #: noise or compression (the pairs that moved clip-like footage in the twenty-fifth session's probe)
    scene_fraction: float = 0.0
    #: of the "scene" pairs, the share whose blurry input is stored as a camera stores video: sensor
    #: noise (``noise_sigma``) and one H.264 frame (``h264_crf``), as the sample clips and phone footage are;
    #: the rest stay clean
    scene_compress: float = 0.0
    #: the "scene" pairs' frame, as a factor LO..HI (log-uniform) of the crop's size: the view is rendered
    #: at that size, so its blur and detail are as long in pixels as a frame that size shows them (the
    #: sample clips' 640x360 frames: about 2x a 256 crop), and a crop-sized window of it is the pair
    scene_zoom: tuple[float, float] = (1.0, 1.0)
    #: the "scene" pairs' camera speed, LO..HI (log-uniform; :data:`SCENE_MOTION`: handheld shake and pans,
    #: the sample clips' 0.8 and 1.0; up to the panel's strong blur, 4-7, with a larger HI)
    scene_motion: tuple[float, float] = SCENE_MOTION


def _static_view(photo: np.ndarray, size: tuple[int, int], rng: np.random.Generator, scale: float) -> np.ndarray:
    """A still camera's sharp view of ``size`` (W, H): a randomly placed, rotated, scaled crop."""
    seed = int(rng.integers(2**62))
    return next(camera.camera_video(photo, size, 1, subframes=1, motion=0.0, seed=seed, scale=scale))[1]


def synth_pair(
    photo: np.ndarray, size: tuple[int, int], rng: np.random.Generator, cfg: SynthConfig, kind: str | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """One (blurred, sharp, kind) uint8 pair of ``size`` (W, H) from a photo.

    ``kind`` None draws one: ``"scene"`` (a clean view of a whole scene, :func:`_scene_pair`) with
    ``cfg.scene_fraction``, else ``"sharp"`` (input = target, before noise/JPEG) with
    ``cfg.sharp_fraction``, else GoPro-style with ``cfg.gopro_fraction``, else trajectory.
    """
    if kind is None and cfg.scene_fraction > 0 and rng.random() < cfg.scene_fraction:
        kind = "scene"  # the extra draw only when asked for, so older configurations keep their pairs
    if kind == "scene":
        return (*_scene_pair(photo, size, rng, cfg), "scene")
    if kind is None:
        # the extra draw only when asked for, so runs without sharp pairs keep their batches
        if cfg.sharp_fraction > 0 and rng.random() < cfg.sharp_fraction:
            kind = "sharp"
        else:
            kind = "gopro" if rng.random() < cfg.gopro_fraction else "traj"
    w, h = size
    scale = blur.log_uniform(rng, *cfg.scale)
    # never ask for more photo than there is: the view's diagonal must fit in half the short side
    scale = max(scale, math.hypot(w, h) / (0.5 * min(photo.shape[:2])))
    if kind == "gopro":
        lo, hi = cfg.motion
        motion = blur.log_uniform(rng, lo, hi) if cfg.motion_log else rng.uniform(lo, hi)
        objects, continuous = _movers_and_streaks(rng, cfg)
        blurred, sharp = camera.gopro_pair(
            photo,
            (w, h),
            rng,
            subframes=cfg.subframes,
            motion=motion,
            scale=scale,
            objects=objects,
            continuous=continuous,
        )
    elif kind == "sharp":
        sharp = _static_view(photo, (w, h), rng, scale)
        blurred = sharp.copy()
    elif kind == "traj":
        k = int(rng.integers(cfg.psf_size[0], cfg.psf_size[1] + 1)) | 1
        pad = k // 2 + 1
        cw, ch = w + 2 * pad, h + 2 * pad
        # static camera: a randomly rotated, scaled crop, then the PSF
        sharp_big = _static_view(photo, (cw, ch), rng, scale)
        blurred = blur.blur_with_psf(sharp_big, blur.trajectory_psf(k, rng))[pad : pad + h, pad : pad + w]
        sharp = sharp_big[pad : pad + h, pad : pad + w]
    else:
        raise ValueError(f"unknown blur kind {kind!r}; choose from {BLUR_KINDS}, 'sharp' or 'scene'")
    blurred, sharp = finish_pair(blurred, sharp, rng, cfg)
    return blurred, sharp, kind


def _movers_and_streaks(rng: np.random.Generator, cfg: SynthConfig) -> tuple[int, bool]:
    """A GoPro-style pair's moving objects (0-2) and whether its renders are streaks (not ghosts)."""
    # the extra draws only when asked for, so configurations without objects or ghosts keep their pairs
    objects = int(rng.integers(1, 3)) if cfg.object_fraction > 0 and rng.random() < cfg.object_fraction else 0
    continuous = cfg.continuous and not (cfg.ghost_fraction > 0 and rng.random() < cfg.ghost_fraction)
    return objects, continuous


def _scene_pair(
    photo: np.ndarray, size: tuple[int, int], rng: np.random.Generator, cfg: SynthConfig
) -> tuple[np.ndarray, np.ndarray]:
    """A GoPro-style pair of a whole scene: :func:`camera.camera_video`'s own view scale (the view's
    diagonal covers 0.35-0.7 of the photo's short side), a camera speed in ``cfg.scene_motion``
    (log-uniform), moving objects and streaks as ``cfg`` says, rendered at ``cfg.scene_zoom`` times
    ``size`` and cropped to it; no :func:`finish_pair`, only, in ``cfg.scene_compress`` of them, the
    blurry input's noise and H.264."""
    w, h = size
    fw, fh = w, h
    if tuple(cfg.scene_zoom) != (1.0, 1.0):  # extra draws only when asked: older configurations keep their pairs
        zoom = blur.log_uniform(rng, *cfg.scene_zoom)
        fw, fh = max(w, round(w * zoom)), max(h, round(h * zoom))
    motion = blur.log_uniform(rng, *cfg.scene_motion)
    objects, continuous = _movers_and_streaks(rng, cfg)
    blurred, sharp = camera.gopro_pair(
        photo, (fw, fh), rng, subframes=cfg.subframes, motion=motion, scale=None, objects=objects, continuous=continuous
    )
    if (fw, fh) != (w, h):
        x, y = int(rng.integers(fw - w + 1)), int(rng.integers(fh - h + 1))
        blurred, sharp = blurred[y : y + h, x : x + w], sharp[y : y + h, x : x + w]
    # the extra draw only when asked for, so configurations without it keep their pairs
    if cfg.scene_compress > 0 and rng.random() < cfg.scene_compress:
        blurred = blur.add_noise_and_compression(
            blurred, rng, noise_sigma=cfg.noise_sigma, jpeg_quality=None, h264_crf=cfg.h264_crf
        )
    return np.ascontiguousarray(blurred), np.ascontiguousarray(sharp)


def finish_pair(
    blurred: np.ndarray, sharp: np.ndarray, rng: np.random.Generator, cfg: SynthConfig
) -> tuple[np.ndarray, np.ndarray]:
    """What every training pair goes through after its blur, synthetic or real.

    Both images: the colour jitter and tone curve (the same change, so the model learns to
    keep colours). The blurry input alone: sensor noise and JPEG or H.264, as a camera that
    stores video does.
    """
    if cfg.color_jitter > 0:
        blurred, sharp = color_jitter(blurred, sharp, rng, cfg.color_jitter)
    if cfg.gamma > 0:  # the extra draw only when asked for, so older configurations keep their pairs
        g = math.exp(rng.uniform(-cfg.gamma, cfg.gamma))
        blurred, sharp = (blur.to_uint8(np.power(blur.to_float(im), g)) for im in (blurred, sharp))
    if rng.random() < cfg.degrade_fraction:
        h264 = cfg.h264_fraction > 0 and rng.random() < cfg.h264_fraction
        blurred = blur.add_noise_and_compression(
            blurred,
            rng,
            noise_sigma=cfg.noise_sigma,
            jpeg_quality=None if h264 else cfg.jpeg_quality,
            h264_crf=cfg.h264_crf if h264 else None,
        )
    return np.ascontiguousarray(blurred), np.ascontiguousarray(sharp)


def color_jitter(
    a: np.ndarray, b: np.ndarray, rng: np.random.Generator, strength: float
) -> tuple[np.ndarray, np.ndarray]:
    """The same exposure, white-balance and saturation change on both images.

    Applied as one 3x3 matrix in linear light, which commutes with the (linear-light) blur,
    so the pair stays physically consistent.
    """
    gain = math.exp(rng.uniform(-strength, strength) * 3)  # exposure
    wb = np.exp(rng.uniform(-strength, strength, 3))  # white balance
    sat = 1 + rng.uniform(-strength, strength) * 3
    luma = np.array([0.2126, 0.7152, 0.0722], np.float32)
    m = (sat * np.eye(3) + (1 - sat) * np.outer(np.ones(3), luma)) * (gain * wb)[None, :]
    m = m.astype(np.float32)
    out = []
    for img in (a, b):
        lin = blur.srgb_to_linear(blur.to_float(img)) @ m.T
        out.append(blur.to_uint8(blur.linear_to_srgb(lin)))
    return out[0], out[1]


def augment_pair(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The same random flip and 90-degree turn on both images."""
    k = int(rng.integers(4))
    flip = rng.random() < 0.5
    out = []
    for img in (a, b):
        img = np.rot90(img, k)
        if flip:
            img = img[:, ::-1]
        out.append(np.ascontiguousarray(img))
    return out[0], out[1]
