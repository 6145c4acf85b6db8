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
The settings live in :mod:`trainer.config`, the batches in :mod:`trainer.datasets`, the
scoring in :mod:`trainer.validation` and the checkpoints in :mod:`trainer.checkpoint`.

Progress goes to a callback (``on_event(kind, info)``); the CLI turns it into a progress
bar. Nothing here prints.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from streamdeblur.errors import DataError, WeightsError
from streamdeblur.models import build_model, load_generator

from .checkpoint import CHECKPOINT_VERSION, generator_from_checkpoint, grow_generator, load_checkpoint, save_checkpoint
from .config import TrainConfig, check_config, pick_device
from .critic import PatchCritic
from .datasets import batch_loader, training_data
from .losses import ContentLoss, critic_loss, generator_adv_loss, gradient_penalty
from .validation import input_scores, validate, validation_pairs

Event = Callable[[str, dict], None]


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Constant until ``decay_start``, then linear to zero at ``steps``."""
    start = cfg.decay_start if cfg.decay_start is not None else cfg.steps // 2
    if step < start or cfg.steps <= start:
        return cfg.lr
    return cfg.lr * max(0.0, (cfg.steps - step) / (cfg.steps - start))


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float, step: int) -> None:
    """``ema = d * ema + (1 - d) * model``, with ``d`` ramped up over the first steps (as timm's ModelEmaV2)."""
    d = min(decay, (1.0 + step) / (10.0 + step))
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1.0 - d)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


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
