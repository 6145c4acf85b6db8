"""A training run's settings: :class:`TrainConfig` (every knob; each ``train`` option maps
onto one field), :func:`check_config` (bad values refused early, naming the option) and
:func:`pick_device` (the device ``--device`` names)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

import torch

from streamdeblur.errors import BackendUnavailableError, DataError, WeightsError
from streamdeblur.models import MODELS


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a run; each CLI option of ``train`` maps onto one field."""

    out: str = "runs/deblurgan-lite"
    model: str = "deblurgan-lite"
    model_args: dict = field(default_factory=dict)
    init: str | None = None  # a .safetensors generator to start from (fine-tuning)
    # data: a GoPro-layout root (its train/ split), else fresh synthetic pairs from photos
    data: str | None = None
    photos: str | None = None  # extra folder of sharp photos for synthetic pairs
    packages: tuple[str, ...] | None = None  # photo packages to use (default: all the catalogue's)
    allow_missing_packages: bool = False
    gopro_fraction: float = 0.5  # synthetic pairs: share of GoPro-style blur (the rest trajectory PSFs)
    sharp_fraction: float = 0.0  # synthetic pairs: share left unblurred, so sharp input stays sharp
    motion: tuple[float, float] = (0.3, 1.5)  # synthetic GoPro-style blur: camera speed range (blur strength)
    motion_log: bool = False  # draw the camera speed log-uniformly within --motion (more mild blur)
    object_fraction: float = 0.0  # synthetic GoPro-style pairs: share with objects moving over the background
    continuous_blur: bool = (
        False  # synthetic GoPro-style pairs: integrate motion within each sub-frame (streaks, not ghosts)
    )
    ghost_fraction: float = 0.0  # with continuous_blur: share of GoPro-style pairs left as discrete ghosts
    scene_fraction: float = 0.0  # synthetic pairs: share drawn as a clean view of a whole scene (synth.SCENE_MOTION)
    scene_compress: float = 0.0  # of those views, the share whose blurry input gets noise and H.264 (as stored)
    scene_zoom: tuple[float, float] = (1.0, 1.0)  # those views rendered at LO..HI x the crop's size, then cropped
    scene_motion: tuple[float, float] = (0.3, 3.0)  # those views' camera speed, LO..HI (synth.SCENE_MOTION)
    # real pairs mixed into the synthetic ones: a GoPro-layout root (its train/ split), and their share
    real_data: str | None = None
    real_fraction: float = 0.5
    # real pairs made to look like other footage: both frames at a random size (factor LO..HI),
    # then the synthetic pairs' colour, tone, noise and compression (below) on them too
    real_augment: bool = False
    real_scale: tuple[float, float] = (0.35, 1.0)
    # the blurry input's degradation (synthetic pairs, and real ones with real_augment)
    degrade_fraction: float = 0.3  # share of inputs with sensor noise and compression
    h264_fraction: float = 0.0  # of those, the share through H.264 (the rest JPEG)
    gamma: float = 0.0  # tone-curve change on both images: x ** exp(U(-g, g))
    val_data: str | None = None  # a GoPro-layout root (its test/ split); default: held-out photos
    val_frames: int = 24
    val_size: int = 256
    steps: int = 20000
    batch_size: int = 8
    crop: int = 128
    # optimisation (DeblurGAN: Adam 1e-4, betas 0.5/0.999, constant then linear decay to 0)
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)
    decay_start: int | None = None  # default: half of steps
    # content loss
    content: str = "pixel"  # pixel | perceptual | both
    pixel_loss: str = "l1"  # l1 | charbonnier | psnr
    fft_weight: float = 0.05
    vgg_weights: str | None = None
    content_weight: float = 100.0
    # adversarial phase (WGAN-GP with a PatchGAN critic); None = content only
    adv_start_step: int | None = None
    adv_weight: float = 1.0
    critic_steps: int = 5
    gp_weight: float = 10.0
    critic_width: int = 64
    critic_conditional: bool = False
    # machinery
    device: str = "auto"
    amp: bool = True  # bfloat16 autocast on CUDA; on the CPU only with cpu_amp
    # bfloat16 autocast on the CPU as well (1.2x a training step on a CPU with AVX512-BF16; slower on one
    # without); validation stays float32 there
    cpu_amp: bool = False
    seed: int = 0
    log_every: int = 10
    val_every: int = 500
    ckpt_every: int = 500
    prefetch: int = 2
    # processes that make the batches (1: one background thread). A GPU trains faster than one
    # CPU thread can synthesise pairs; the batches are the same whatever the number.
    workers: int = 1
    # exponential moving average of the generator's weights (0 = off); when on, validation,
    # best.pt and export use the average, which damps the step-to-step swing of the weights
    ema_decay: float = 0.0

    def resolved(self) -> TrainConfig:
        """Fill in defaults that depend on other fields, so a checkpoint stores what ran."""
        cfg = self
        if cfg.decay_start is None:
            cfg = replace(cfg, decay_start=cfg.steps // 2)
        return cfg

    @staticmethod
    def from_dict(d: dict) -> TrainConfig:
        names = {f.name for f in fields(TrainConfig)}
        d = {k: v for k, v in d.items() if k in names}
        for k in ("betas", "packages", "motion", "real_scale", "scene_zoom", "scene_motion"):
            if isinstance(d.get(k), list):
                d[k] = tuple(d[k])
        return TrainConfig(**d)


def check_config(cfg: TrainConfig) -> None:
    """Reject bad values early with a message naming the option."""
    if cfg.model not in MODELS:
        raise WeightsError(f"unknown model {cfg.model!r}", f"choose one of: {', '.join(sorted(MODELS))}")
    positive = {
        "steps": cfg.steps,
        "batch_size": cfg.batch_size,
        "crop": cfg.crop,
        "critic_steps": cfg.critic_steps,
        "log_every": cfg.log_every,
        "val_every": cfg.val_every,
        "ckpt_every": cfg.ckpt_every,
    }
    for k, v in positive.items():
        if v <= 0:
            raise DataError(f"--{k.replace('_', '-')} must be positive, got {v}")
    _check_numbers(cfg)
    if cfg.lr <= 0:
        raise DataError(f"--lr must be positive, got {cfg.lr:g}", "e.g. --lr 1e-4")
    if not 0.0 <= cfg.betas[0] < 1.0:
        raise DataError(f"--beta1 must be in [0, 1), got {cfg.betas[0]:g}", "e.g. --beta1 0.5 (DeblurGAN's)")
    if not 0.0 <= cfg.betas[1] < 1.0:
        raise DataError(f"Adam's beta2 must be in [0, 1), got {cfg.betas[1]:g}", "e.g. 0.999 (DeblurGAN's)")
    if not 0 <= cfg.seed < 2**64:
        raise DataError(f"--seed must be a whole number from 0 to {2**64 - 1}, got {cfg.seed}", "e.g. --seed 1")
    for k in ("val_frames", "decay_start", "adv_start_step"):
        if (v := getattr(cfg, k)) is not None and v < 0:
            raise DataError(f"--{k.replace('_', '-')} must be 0 or more, got {v}")
    for k in ("fft_weight", "content_weight", "adv_weight", "gp_weight"):
        if getattr(cfg, k) < 0:
            raise DataError(f"--{k.replace('_', '-')} must be 0 or more, got {getattr(cfg, k):g}")
    if not 0.0 <= cfg.motion[0] <= cfg.motion[1]:
        raise DataError(
            f"--motion must be LO,HI with 0 <= LO <= HI, got {cfg.motion[0]},{cfg.motion[1]}", "e.g. --motion 0.5,3"
        )
    if cfg.motion_log and cfg.motion[0] <= 0:
        raise DataError(
            f"--motion-log needs a positive LO, got --motion {cfg.motion[0]},{cfg.motion[1]}", "e.g. --motion 0.3,8"
        )
    if cfg.ghost_fraction > 0 and not cfg.continuous_blur:
        raise DataError(
            f"--ghost-fraction {cfg.ghost_fraction} needs --continuous-blur (without it every pair is ghosted)",
            "add --continuous-blur, or leave --ghost-fraction out",
        )
    if cfg.real_data and cfg.data:
        raise DataError(
            "--data and --real-data were both given",
            "use --real-data ROOT to mix real pairs into synthetic ones, or --data ROOT to train on that set alone",
        )
    if not 0.0 < cfg.real_scale[0] <= cfg.real_scale[1] <= 1.0:
        raise DataError(
            f"--real-scale must be LO,HI with 0 < LO <= HI <= 1, got {cfg.real_scale[0]},{cfg.real_scale[1]}",
            "e.g. --real-scale 0.35,1",
        )
    if not 1.0 <= cfg.scene_zoom[0] <= cfg.scene_zoom[1] <= 4.0:
        raise DataError(
            f"--scene-zoom must be LO,HI with 1 <= LO <= HI <= 4, got {cfg.scene_zoom[0]},{cfg.scene_zoom[1]}",
            "e.g. --scene-zoom 1,3",
        )
    if not 0.0 < cfg.scene_motion[0] <= cfg.scene_motion[1] <= 8.0:
        raise DataError(
            f"--scene-motion must be LO,HI with 0 < LO <= HI <= 8, got {cfg.scene_motion[0]},{cfg.scene_motion[1]}",
            "e.g. --scene-motion 0.3,6",
        )
    if cfg.gamma < 0:
        raise DataError(f"--gamma must be 0 or more, got {cfg.gamma}", "e.g. --gamma 0.25")
    for k in (
        "gopro_fraction",
        "sharp_fraction",
        "object_fraction",
        "ghost_fraction",
        "scene_fraction",
        "scene_compress",
        "real_fraction",
        "degrade_fraction",
        "h264_fraction",
    ):
        if not 0.0 <= getattr(cfg, k) <= 1.0:
            raise DataError(f"--{k.replace('_', '-')} must be between 0 and 1, got {getattr(cfg, k)}")
    if not 0.0 <= cfg.ema_decay < 1.0:
        raise DataError(
            f"--ema-decay must be in [0, 1), got {cfg.ema_decay}", "use e.g. 0.999, or 0 to switch the average off"
        )
    if cfg.workers < 1:
        raise DataError(
            f"--workers must be at least 1, got {cfg.workers}",
            "use 1 (one background thread) or the CPU cores to spare",
        )
    if cfg.crop < 32:
        raise DataError(f"--crop {cfg.crop} is too small", "use at least 32 (the critic needs room)")


def _check_numbers(cfg: TrainConfig) -> None:
    """Every float setting a finite number: NaN passes every range check (``nan <= 0`` is False)."""
    for f in fields(cfg):
        name, value, default = f.name, getattr(cfg, f.name), f.default
        if name == "betas":  # the CLI sets beta1 alone (beta2 is 0.999)
            name, value, default = "beta1", value[0], default[0]
        values = value if isinstance(value, tuple) else (value,)
        if all(not isinstance(v, float) or math.isfinite(v) for v in values):
            continue
        option = "--" + name.replace("_", "-")
        example = ",".join(f"{v:g}" for v in default) if isinstance(default, tuple) else f"{default:g}"
        what = "LO,HI of finite numbers" if isinstance(value, tuple) else "a finite number"
        raise DataError(
            f"{option} must be {what}, got {','.join(f'{v:g}' for v in values)}", f"e.g. {option} {example}"
        )


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailableError(
            "--device cuda was asked for but PyTorch sees no CUDA GPU",
            "use --device cpu (slow) or run on a GPU machine",
        )
    return dev
