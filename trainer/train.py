"""The training loop: one function, read top to bottom (after nanoGPT's train.py).

Per generator step: (if the adversarial phase has started) ``critic_steps`` WGAN-GP
critic updates on the batch, then one generator update on
``content_weight * content + adv_weight * adversarial``. Adam with DeblurGAN's settings
(lr 1e-4, betas 0.5/0.999), a constant learning rate then a linear decay to zero, AMP
(bfloat16 autocast) on CUDA, validation PSNR/SSIM every ``val_every`` steps on photos the
training never sees, and a checkpoint every ``ckpt_every`` steps written to a temporary
file and renamed.

A checkpoint holds everything the next step depends on (model, critic, both optimisers,
the torch RNG state, the step, the config and the model's args), and batch ``k`` depends
only on ``(seed, k)``, so ``resume`` continues exactly as if the run had never stopped.

Progress goes to a callback (``on_event(kind, info)``); the CLI turns it into a progress
bar. Nothing here prints.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from streamdeblur.errors import BackendUnavailableError, DataError, InputNotFoundError, WeightsError
from streamdeblur.models import MODELS, Generator, build_model, load_generator

from . import data as D
from .critic import PatchCritic
from .losses import ContentLoss, critic_loss, generator_adv_loss, gradient_penalty
from .metrics import psnr, ssim

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
Event = Callable[[str, dict], None]


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
    packages: tuple[str, ...] | None = None  # photo packages to use (default: all in DATA.md)
    allow_missing_packages: bool = False
    gopro_fraction: float = 0.5  # synthetic pairs: share of GoPro-style blur (the rest trajectory PSFs)
    sharp_fraction: float = 0.0  # synthetic pairs: share left unblurred, so sharp input stays sharp
    motion: tuple[float, float] = (0.3, 1.5)  # synthetic GoPro-style blur: camera speed range (blur strength)
    object_fraction: float = 0.0  # synthetic GoPro-style pairs: share with objects moving over the background
    continuous_blur: bool = False  # synthetic GoPro-style pairs: integrate motion within each sub-frame (streaks, not ghosts)
    # real pairs mixed into the synthetic ones: a GoPro-layout root (its train/ split), and their share
    real_data: str | None = None
    real_fraction: float = 0.5
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
    amp: bool = True  # bfloat16 autocast on CUDA; ignored on CPU
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
        for k in ("betas", "packages", "motion"):
            if isinstance(d.get(k), list):
                d[k] = tuple(d[k])
        return TrainConfig(**d)


def check_config(cfg: TrainConfig) -> None:
    """Reject bad values early with a message naming the option."""
    if cfg.model not in MODELS:
        raise WeightsError(f"unknown model {cfg.model!r}", f"choose one of: {', '.join(sorted(MODELS))}")
    positive = {"steps": cfg.steps, "batch_size": cfg.batch_size, "crop": cfg.crop, "critic_steps": cfg.critic_steps, "log_every": cfg.log_every, "val_every": cfg.val_every, "ckpt_every": cfg.ckpt_every}
    for k, v in positive.items():
        if v <= 0:
            raise DataError(f"--{k.replace('_', '-')} must be positive, got {v}")
    if cfg.lr <= 0:
        raise DataError(f"--lr must be positive, got {cfg.lr}")
    if not 0.0 <= cfg.motion[0] <= cfg.motion[1]:
        raise DataError(f"--motion must be LO,HI with 0 <= LO <= HI, got {cfg.motion[0]},{cfg.motion[1]}", "e.g. --motion 0.5,3")
    if cfg.real_data and cfg.data:
        raise DataError("--data and --real-data were both given", "use --real-data ROOT to mix real pairs into synthetic ones, or --data ROOT to train on that set alone")
    for k in ("gopro_fraction", "sharp_fraction", "object_fraction", "real_fraction"):
        if not 0.0 <= getattr(cfg, k) <= 1.0:
            raise DataError(f"--{k.replace('_', '-')} must be between 0 and 1, got {getattr(cfg, k)}")
    if not 0.0 <= cfg.ema_decay < 1.0:
        raise DataError(f"--ema-decay must be in [0, 1), got {cfg.ema_decay}", "use e.g. 0.999, or 0 to switch the average off")
    if cfg.workers < 1:
        raise DataError(f"--workers must be at least 1, got {cfg.workers}", "use 1 (one background thread) or the CPU cores to spare")
    if cfg.crop < 32:
        raise DataError(f"--crop {cfg.crop} is too small", "use at least 32 (the critic needs room)")


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Constant until ``decay_start``, then linear to zero at ``steps``."""
    start = cfg.decay_start if cfg.decay_start is not None else cfg.steps // 2
    if step < start or cfg.steps <= start:
        return cfg.lr
    return cfg.lr * max(0.0, (cfg.steps - step) / (cfg.steps - start))


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailableError("--device cuda was asked for but PyTorch sees no CUDA GPU", "use --device cpu (slow) or run on a GPU machine")
    return dev


# ---------------------------------------------------------------- data


def training_data(cfg: TrainConfig) -> D.SyntheticPairs | D.GoProPairs | D.MixedPairs:
    if cfg.data:
        return D.GoProPairs(cfg.data, "train", crop=cfg.crop, batch_size=cfg.batch_size, seed=cfg.seed)
    if cfg.real_data and cfg.real_fraction >= 1.0:
        return D.GoProPairs(cfg.real_data, "train", crop=cfg.crop, batch_size=cfg.batch_size, seed=cfg.seed)
    photos = D.find_photos(cfg.packages, extra_dirs=[cfg.photos] if cfg.photos else (), allow_missing=cfg.allow_missing_packages or bool(cfg.photos))
    synth = D.SynthConfig(gopro_fraction=cfg.gopro_fraction, sharp_fraction=cfg.sharp_fraction, motion=tuple(cfg.motion), object_fraction=cfg.object_fraction, continuous=cfg.continuous_blur)
    synthetic = D.SyntheticPairs(photos, crop=cfg.crop, batch_size=cfg.batch_size, seed=cfg.seed, synth=synth)
    if cfg.real_data and cfg.real_fraction > 0.0:
        real = D.GoProPairs(cfg.real_data, "train", crop=cfg.crop, batch_size=cfg.batch_size, seed=cfg.seed)
        return D.MixedPairs(real, synthetic, cfg.real_fraction, batch_size=cfg.batch_size, seed=cfg.seed)
    return synthetic


def validation_pairs(cfg: TrainConfig) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Fixed (blurred, sharp, kind) pairs the model is scored on; never trained on."""
    if cfg.val_data:
        ds = D.GoProPairs(cfg.val_data, "test", max_frames=cfg.val_frames)
        return [(b, s, k) for b, s, k, _ in ds]
    if cfg.data:
        # a user's GoPro set: its test split, if it has one
        try:
            ds = D.GoProPairs(cfg.data, "test", max_frames=cfg.val_frames)
        except DataError:
            return []
        return [(b, s, k) for b, s, k, _ in ds]
    photos = [p for p in D.find_photos(cfg.packages, extra_dirs=[cfg.photos] if cfg.photos else (), allow_missing=True) if p.split == "test"]
    if not photos:
        return []
    rng = np.random.default_rng([cfg.seed, 999_983])
    pairs = []
    images: dict[int, np.ndarray] = {}
    for i in range(cfg.val_frames):
        kind = D.BLUR_KINDS[i % len(D.BLUR_KINDS)]
        photo = images.setdefault(i // len(D.BLUR_KINDS) % len(photos), D.load_photo(photos[i // len(D.BLUR_KINDS) % len(photos)]))
        synth = D.SynthConfig(color_jitter=0.0)
        b, s, k = D.synth_pair(photo, (cfg.val_size, cfg.val_size), rng, synth, kind=kind)
        pairs.append((b, s, k))
    return pairs


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    """``ema = d * ema + (1 - d) * model``, with ``d`` ramped up over the first steps (as timm's ModelEmaV2)."""
    d = min(decay, (1.0 + step) / (10.0 + step))
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1.0 - d)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


@torch.no_grad()
def run_generator(model: torch.nn.Module, img: np.ndarray, device: torch.device, amp: bool = False) -> np.ndarray:
    """One HxWx3 uint8 frame through the generator, back to uint8."""
    x = D.to_tensor([img]).to(device)
    ctx = torch.autocast("cuda", dtype=torch.bfloat16) if (amp and device.type == "cuda") else contextlib.nullcontext()
    with ctx:
        y = model(x)
    return D.from_tensor(y.float())[0]


def validate(model: torch.nn.Module, pairs: list, device: torch.device, amp: bool) -> dict:
    """Mean PSNR/SSIM of the model's output per blur kind and overall."""
    was = model.training
    model.eval()
    per: dict[str, list[tuple[float, float]]] = {}
    for b, s, k in pairs:
        out = run_generator(model, b, device, amp)
        m = (psnr(out, s), ssim(out, s))
        per.setdefault(k, []).append(m)
        per.setdefault("all", []).append(m)
    model.train(was)
    return {k: {"psnr": float(np.mean([m[0] for m in v])), "ssim": float(np.mean([m[1] for m in v])), "n": len(v)} for k, v in per.items()}


def input_scores(pairs: list) -> dict:
    """The same numbers for the blurry input itself: the bar a model has to clear."""
    per: dict[str, list[tuple[float, float]]] = {}
    for b, s, k in pairs:
        m = (psnr(b, s), ssim(b, s))
        per.setdefault(k, []).append(m)
        per.setdefault("all", []).append(m)
    return {k: {"psnr": float(np.mean([m[0] for m in v])), "ssim": float(np.mean([m[1] for m in v])), "n": len(v)} for k, v in per.items()}


class _Steps(torch.utils.data.Dataset):
    """Batches ``start .. stop - 1`` of a training source, as a map-style data set."""

    def __init__(self, source: D.SyntheticPairs | D.GoProPairs, start: int, stop: int) -> None:
        self.source, self.start, self.stop = source, start, stop

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor, torch.Tensor]:
        b, s = self.source.batch(self.start + i)
        return self.start + i, b, s


def _quiet_worker(_: int) -> None:
    import cv2

    cv2.setNumThreads(1)  # each worker process is one core's worth of synthesis


def batch_loader(source: D.SyntheticPairs | D.GoProPairs, start: int, stop: int, workers: int, prefetch: int, *, pin: bool = False) -> torch.utils.data.DataLoader:
    """Batches ``start ..`` in order, made by ``workers`` processes (PyTorch's DataLoader).

    Batch ``k`` depends only on (seed, k), so the batches, and the run, are the same as with
    the single background thread; only the wall-clock time changes.
    """
    return torch.utils.data.DataLoader(
        _Steps(source, start, stop), batch_size=None, shuffle=False, num_workers=workers,
        prefetch_factor=max(1, prefetch), pin_memory=pin, worker_init_fn=_quiet_worker,
        # spawned, not forked: a fork of a process whose OpenMP/OpenCV thread pools have run
        # can deadlock in the child (seen here); each worker reloads the photos itself
        multiprocessing_context="spawn", persistent_workers=False,
    )


# ---------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, state: dict) -> Path:
    """``torch.save`` to a temporary name, then rename: a crash never leaves half a checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, str(tmp))
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputNotFoundError(f"checkpoint not found: {path}", "pass a .pt file written by `streamdeblur-train train` (e.g. RUN/last.pt)")
    try:
        ck = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as e:
        raise WeightsError(f"{path} is not a readable training checkpoint ({e.__class__.__name__}); it may be truncated", "use another checkpoint (RUN/last.pt or RUN/best.pt)") from None
    if not isinstance(ck, dict) or "model" not in ck or "config" not in ck:
        raise WeightsError(f"{path} is not a streamdeblur-train checkpoint", "a generator .safetensors is loaded with load_generator, not --resume")
    return ck


def generator_from_checkpoint(ck: dict, source: str = "", *, ema: bool = True) -> Generator:
    """The checkpoint's generator: its weight average when the run kept one (``ema``), else the raw weights."""
    m = ck["model"]
    model = build_model(m["arch"], **m["args"])
    state = ck["ema"]["state"] if ema and ck.get("ema") else m["state"]
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise WeightsError(f"checkpoint {source} does not match architecture {m['arch']!r}: {str(e).splitlines()[0][:200]}") from None
    return model


def load_any_generator(path: str | os.PathLike, device: str | torch.device = "cpu") -> Generator:
    """A generator from a training checkpoint (.pt) or an exported .safetensors/.json."""
    p = Path(path).expanduser()
    if p.suffix in (".pt", ".pth", ".ckpt"):
        model = generator_from_checkpoint(load_checkpoint(p), str(p))
        model.card = {"arch": model.arch, "args": model.arch_args}  # type: ignore[attr-defined]
        return model.to(device).eval()
    return load_generator(p, device)


def grow_generator(model: Generator, new_args: dict, *, source: str = "--init") -> Generator:
    """``model`` rebuilt with ``new_args`` (e.g. more blocks), keeping every trained tensor.

    Progressive growing: each tensor of the trained model must exist, with the same shape,
    in the new one; the added tensors keep their fresh initialisation. deblurgan-lite's
    blocks start as the identity (zero residual scales), so a grown deblurgan-lite computes
    exactly what the trained one did and training goes on from there. The largest change
    of the output on a test input is kept as ``.grow_change`` (0 for deblurgan-lite).
    """
    args = {**model.arch_args, **new_args}
    if args == model.arch_args:
        model.grow_change = 0.0  # type: ignore[attr-defined]
        return model
    try:
        grown = build_model(model.arch, **args)
    except (TypeError, ValueError) as e:
        raise WeightsError(f"--model-arg {new_args} is not a valid {model.arch!r} architecture: {e}", "see `streamdeblur models` for the arguments") from None
    old, new = model.state_dict(), grown.state_dict()
    misfit = [k for k, v in old.items() if k not in new or new[k].shape != v.shape]
    if misfit:
        changed = ", ".join(f"{k}={new_args[k]}" for k in new_args if model.arch_args.get(k) != new_args[k])
        raise WeightsError(
            f"{source} ({model.arch_args}) cannot grow into {changed}: {len(misfit)} of its tensors have no place there (first: {misfit[0]})",
            "keep the width and only add blocks (enc_blocks, middle_blocks, dec_blocks may grow), or drop --model-arg",
        )
    new.update(old)
    grown.load_state_dict(new)
    grown.eval()
    model.eval()
    with torch.no_grad():
        x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
        change = float((grown(x) - model(x)).abs().max())
    if change > 1e-6:
        log.warning("the grown %s does not start where %s ended (max change %.3g): its new layers are not identities", model.arch, source, change)
    grown.grow_change = change  # type: ignore[attr-defined]
    return grown


# ---------------------------------------------------------------- the loop


def train(cfg: TrainConfig, *, resume: str | os.PathLike | None = None, on_event: Event | None = None) -> dict:
    """Train (or continue training) a generator; returns a summary of the run."""
    emit = on_event or (lambda kind, info: None)
    ck = None
    if resume is not None:
        ck = load_checkpoint(resume)
        saved = TrainConfig.from_dict(ck["config"])
        if saved.model != cfg.model:
            raise WeightsError(
                f"checkpoint {resume} is a {saved.model!r} run but --model {cfg.model!r} was asked for",
                f"drop --model or pass --model {saved.model}",
            )
        # the saved run's settings rule; only the length, the reporting cadence, the device and the data workers may change
        cfg = replace(saved, steps=cfg.steps, out=cfg.out, log_every=cfg.log_every, val_every=cfg.val_every, ckpt_every=cfg.ckpt_every, device=cfg.device, workers=cfg.workers)
    cfg = cfg.resolved()
    check_config(cfg)
    device = pick_device(cfg.device)
    use_amp = cfg.amp and device.type == "cuda"
    out = Path(cfg.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)

    # models, losses, optimisers
    if ck is not None:
        model = generator_from_checkpoint(ck, str(resume), ema=False)
    elif cfg.init:
        model = load_generator(cfg.init)
        if model.arch != cfg.model:
            raise WeightsError(f"--init {cfg.init} is a {model.arch!r} generator, not {cfg.model!r}", f"pass --model {model.arch} or another --init")
        if cfg.model_args:
            model = grow_generator(model, cfg.model_args, source=str(cfg.init))
            emit("grown", {"args": model.arch_args, "max_abs_change": model.grow_change})  # type: ignore[attr-defined]
    else:
        model = build_model(cfg.model, **cfg.model_args)
    model = model.to(device).train()
    ema: torch.nn.Module | None = None
    if cfg.ema_decay > 0:
        ema = copy.deepcopy(model).eval().requires_grad_(False)
        if ck is not None and ck.get("ema"):
            ema.load_state_dict(ck["ema"]["state"])
    scored = ema if ema is not None else model  # what validation, best.pt and export see
    content = ContentLoss(cfg.content, pixel=cfg.pixel_loss, fft_weight=cfg.fft_weight, vgg_weights=cfg.vgg_weights).to(device)
    adversarial = cfg.adv_start_step is not None and cfg.adv_start_step < cfg.steps
    critic = PatchCritic(cfg.critic_width, conditional=cfg.critic_conditional).to(device).train() if adversarial else None
    opt_g = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_d = torch.optim.Adam(critic.parameters(), lr=cfg.lr, betas=cfg.betas) if critic is not None else None

    step = 0
    best: dict[str, Any] = {}
    if ck is not None:
        opt_g.load_state_dict(ck["opt_g"])
        if critic is not None and ck.get("critic") is not None:
            critic.load_state_dict(ck["critic"]["state"])
            opt_d.load_state_dict(ck["opt_d"])  # type: ignore[union-attr]
        step = int(ck["step"])
        best = ck.get("best", {})
        torch.set_rng_state(ck["rng"]["torch"])
        if device.type == "cuda" and ck["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(ck["rng"]["cuda"], device)

    train_data = training_data(cfg)
    val_pairs = validation_pairs(cfg)
    baseline = input_scores(val_pairs) if val_pairs else {}
    emit("start", {"step": step, "steps": cfg.steps, "device": str(device), "amp": use_amp, "params": sum(p.numel() for p in model.parameters()), "data": train_data.describe(), "val_pairs": len(val_pairs), "input_scores": baseline, "config": asdict(cfg)})
    log_path = out / "log.jsonl"

    def record(kind: str, info: dict) -> None:
        with log_path.open("a") as f:
            f.write(json.dumps({"event": kind, **info}) + "\n")
        emit(kind, info)

    def checkpoint_state() -> dict:
        return {
            "version": CHECKPOINT_VERSION,
            "step": step,
            "config": asdict(cfg),
            "model": {"arch": model.arch, "args": model.arch_args, "state": model.state_dict()},
            "ema": {"decay": cfg.ema_decay, "state": ema.state_dict()} if ema is not None else None,
            "critic": {"args": critic.args, "state": critic.state_dict()} if critic is not None else None,
            "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict() if opt_d is not None else None,
            "rng": {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None},
            "best": best,
            "trained_on": train_data.describe(),
            "input_scores": baseline,
        }

    def autocast() -> contextlib.AbstractContextManager:
        return torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else contextlib.nullcontext()

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batches")
    pending: dict[int, Any] = {}
    loader = iter(batch_loader(train_data, step, cfg.steps, cfg.workers, cfg.prefetch, pin=device.type == "cuda")) if cfg.workers > 1 else None

    def get_batch(k: int) -> tuple[torch.Tensor, torch.Tensor]:
        if loader is not None:
            j, b, s = next(loader)
            if j != k:  # pragma: no cover - the loader keeps order
                raise RuntimeError(f"batch {j} arrived for step {k}")
        else:
            for j in range(k, min(k + 1 + cfg.prefetch, cfg.steps)):
                if j not in pending:
                    pending[j] = pool.submit(train_data.batch, j)
            b, s = pending.pop(k).result()
        return b.to(device, non_blocking=True), s.to(device, non_blocking=True)

    last_val: dict = {}
    t0, seen = time.monotonic(), 0
    window: dict[str, list[float]] = {}  # losses since the last log line: the log shows their mean
    try:
        while step < cfg.steps:
            blurry, sharp = get_batch(step)
            lr = lr_at(cfg, step)
            for opt in (opt_g, opt_d):
                if opt is not None:
                    for g in opt.param_groups:
                        g["lr"] = lr
            adv_now = critic is not None and step >= cfg.adv_start_step  # type: ignore[operator]
            losses: dict[str, float] = {}

            # 1) critic: Wasserstein distance estimate with a gradient penalty
            if adv_now:
                cond = blurry if cfg.critic_conditional else None
                for _ in range(cfg.critic_steps):
                    with torch.no_grad(), autocast():
                        fake = model(blurry)
                    fake = fake.float()
                    with autocast():
                        d = critic_loss(critic(sharp, cond), critic(fake, cond))  # type: ignore[misc]
                    gp = gradient_penalty(critic, sharp, fake, cond, cfg.gp_weight)  # fp32: second-order grads
                    opt_d.zero_grad(set_to_none=True)  # type: ignore[union-attr]
                    (d.float() + gp).backward()
                    opt_d.step()  # type: ignore[union-attr]
                losses["critic"] = d.item()
                losses["gp"] = gp.item()

            # 2) generator: content (x content_weight) + adversarial
            with autocast():
                restored = model(blurry)
                c = content(restored.float(), sharp)
                total = cfg.content_weight * c
                if adv_now:
                    for p in critic.parameters():  # type: ignore[union-attr]
                        p.requires_grad_(False)
                    a = generator_adv_loss(critic(restored, blurry if cfg.critic_conditional else None))  # type: ignore[misc]
                    total = total + cfg.adv_weight * a
                    losses["adv"] = a.item()
            opt_g.zero_grad(set_to_none=True)
            total.float().backward()
            opt_g.step()
            if ema is not None:
                ema_update(ema, model, cfg.ema_decay, step)
            if adv_now:
                for p in critic.parameters():  # type: ignore[union-attr]
                    p.requires_grad_(True)
            losses["content"] = c.item()
            losses["total"] = total.item()
            if not math.isfinite(losses["total"]):
                raise DataError(f"the loss became {losses['total']} at step {step}", "lower --lr, or resume from an earlier checkpoint")
            step += 1
            seen += 1
            for k, v in losses.items():
                window.setdefault(k, []).append(v)

            if step % cfg.log_every == 0 or step == cfg.steps:
                rate = seen / max(time.monotonic() - t0, 1e-9)
                means = {k: float(np.mean(v)) for k, v in window.items()}
                window.clear()
                record("step", {"step": step, "lr": lr, "steps_per_s": rate, "phase": "adversarial" if adv_now else "content", **means})
            else:
                emit("tick", {"step": step, **losses})
            if val_pairs and (step % cfg.val_every == 0 or step == cfg.steps):
                last_val = validate(scored, val_pairs, device, use_amp)
                improved = not best or last_val["all"]["psnr"] > best.get("psnr", -1.0)
                if improved:
                    best = {"step": step, "psnr": last_val["all"]["psnr"], "ssim": last_val["all"]["ssim"], "per_kind": last_val}
                record("val", {"step": step, "weights": "ema" if ema is not None else "raw", "metrics": last_val, "input": baseline, "best_step": best.get("step")})
                if improved:
                    save_checkpoint(out / "best.pt", checkpoint_state())
            if step % cfg.ckpt_every == 0 or step == cfg.steps:
                path = save_checkpoint(out / "last.pt", checkpoint_state())
                emit("checkpoint", {"step": step, "path": str(path)})
    finally:
        for f in pending.values():
            f.cancel()
        pool.shutdown(wait=True)
    summary = {"step": step, "out": str(out), "last": str(out / "last.pt"), "best": best, "val": last_val, "input_scores": baseline}
    emit("done", summary)
    return summary
