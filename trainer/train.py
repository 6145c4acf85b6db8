"""The training loop (after nanoGPT's train.py): :func:`train` reads top to bottom as the
steps of a run, each a function of its own below it.

1. :func:`run_settings`: the config, or a resumed checkpoint's (only
   :data:`RESUME_MAY_CHANGE` may change on resume).
2. :func:`build_networks`: the generator (fresh, from ``--init``, grown, or the
   checkpoint's), its weight average, the content loss, the critic and both optimisers.
3. :func:`restore`: a resumed run's optimiser and critic state, step, best score and RNG.
4. :class:`BatchSupply`: batch ``k`` made ahead by one background thread or by
   ``workers`` processes.
5. :func:`train_step`: per generator step, (once the adversarial phase has started)
   ``critic_steps`` WGAN-GP critic updates (:func:`critic_update`), then one generator
   update on ``content_weight * content + adv_weight * adversarial``
   (:func:`generator_update`).
6. :func:`report_step` (:class:`RunLog`: log.jsonl and the callback), then
   :func:`validate_and_checkpoint`: validation PSNR/SSIM every ``val_every`` steps on
   pairs the training never sees, ``best.pt`` when it improves, ``last.pt`` every
   ``ckpt_every`` steps.

Adam with DeblurGAN's settings (lr 1e-4, betas 0.5/0.999), a constant learning rate then
a linear decay to zero (:func:`lr_at`), AMP (bfloat16 autocast) on CUDA, and on the CPU with
``cpu_amp``.

A checkpoint holds everything the next step depends on (model, critic, both optimisers,
the torch RNG state, the step, the config and the model's args; :func:`checkpoint_state`),
and batch ``k`` depends only on ``(seed, k)``, so ``resume`` continues exactly as if the
run had never stopped. The steps above run in the order they always have: the random
draws (initial weights, critic, gradient penalties) come in the same order, so a
checkpoint written by an earlier version of this file resumes exactly too.
The settings live in :mod:`trainer.config`, the batches in :mod:`trainer.datasets`, the
scoring in :mod:`trainer.validation` and the checkpoints in :mod:`trainer.checkpoint`.

Progress goes to a callback (``on_event(kind, info)``); the CLI turns it into a progress
bar. Nothing here prints. (One job, the loop, hence one file of some 480 lines, in the
order a run goes.)
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from streamdeblur.errors import DataError, InputNotFoundError, OutputError, WeightsError
from streamdeblur.fileio import check_writable, write_atomic
from streamdeblur.models import Generator, build_model, load_generator

from .checkpoint import (
    CHECKPOINT_VERSION,
    Checkpoint,
    generator_from_checkpoint,
    grow_generator,
    load_checkpoint,
    save_checkpoint,
)
from .config import TrainConfig, check_config, pick_device
from .critic import PatchCritic
from .datasets import GoProPairs, MixedPairs, SyntheticPairs, batch_loader, training_data
from .losses import ContentLoss, critic_loss, generator_adv_loss, gradient_penalty
from .validation import input_scores, validate, validation_pairs

#: the progress callback: ``on_event(kind, info)``
Event = Callable[[str, dict], None]
#: where the training pairs come from (:func:`~trainer.datasets.training_data`)
TrainingPairs = SyntheticPairs | GoProPairs | MixedPairs
#: the settings a resumed run takes from the command line: its length (where the learning rate
#: reaches zero), the run folder, the reporting cadence, the device and the data workers
RESUME_MAY_CHANGE = ("steps", "out", "log_every", "val_every", "ckpt_every", "device", "workers")
#: what to pass to --resume instead of a file that is no training checkpoint
RESUME_FIX = "pass the RUN/last.pt of the run to go on with (to start from an exported generator: --init)"
#: one step's losses by name (critic, gp, adv, content, total), in that order
Losses = dict[str, float]


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


def autocast(amp: str | None) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on device type ``amp`` ("cuda" or "cpu"), or nothing when None."""
    return torch.autocast(amp, dtype=torch.bfloat16) if amp else contextlib.nullcontext()


def autocast_device(cfg: TrainConfig, device: torch.device) -> str | None:
    """Where a run autocasts: CUDA when ``amp``, the CPU only when ``cpu_amp`` too."""
    if cfg.amp and (device.type == "cuda" or (device.type == "cpu" and cfg.cpu_amp)):
        return device.type
    return None


# ---------------------------------------------------------------- the loop


def train(cfg: TrainConfig, *, resume: str | os.PathLike | None = None, on_event: Event | None = None) -> dict:
    """Train (or continue training) a generator; returns a summary of the run."""
    emit = on_event or _ignore
    cfg, ck = run_settings(cfg, resume)
    device = pick_device(cfg.device)
    out = Path(cfg.out).expanduser()
    check_run_folder(out, resume, ck)
    torch.manual_seed(cfg.seed)
    nets = build_networks(cfg, ck, str(resume), device, emit)
    state = restore(nets, ck, device) if ck is not None else RunState()
    run = Run(cfg, device, autocast_device(cfg, device), out, nets, training_data(cfg), validation_pairs(cfg))
    # the folder only now the data and networks are there: a run refused before leaves nothing behind
    with RunFolder(out):
        if ck is not None:
            carry_over(Path(resume or ""), out, int(ck["step"]))
            cut_log(out / "log.jsonl", int(ck["step"]))
        emit("start", start_info(run, state))
        with BatchSupply(run.data, state.step, cfg, device) as batches:
            log = RunLog(out / "log.jsonl", emit)
            while state.step < cfg.steps:
                blurry, sharp = batches.get(state.step)
                lr, adv_now = lr_at(cfg, state.step), run.adversarial_at(state.step)
                losses = train_step(run, blurry, sharp, state.step, lr, adv_now)
                state.step += 1
                report_step(log, cfg, state.step, lr, adv_now, losses)
                validate_and_checkpoint(run, state, log)
    summary = {
        "step": state.step,
        "out": str(out),
        "last": str(out / "last.pt"),
        "best": state.best,
        "val": state.last_val,
        "input_scores": run.baseline,
    }
    emit("done", summary)
    return summary


def _ignore(kind: str, info: dict) -> None:
    pass


def check_run_folder(out: Path, resume: str | os.PathLike | None, ck: Checkpoint | None) -> None:
    """A new run never goes into a folder that holds one (its checkpoints would be replaced and its log
    mixed with the new run's), and a resumed one never replaces a later ``last.pt`` than its own."""
    if out.exists() and not out.is_dir():
        raise OutputError(
            f"--out {out} is a file, not a folder",
            "name a folder for the run (it holds last.pt, best.pt and log.jsonl)",
        )
    check_writable(out / "log.jsonl", "--out", "runs/lite")  # a file on the way to it, a read-only place
    last = out / "last.pt"
    if ck is None:
        if last.exists() or (out / "log.jsonl").exists():
            raise OutputError(
                f"--out {out} holds a run already", f"pass --resume {last} to go on with it, or another --out"
            )
        return
    if last.exists() and Path(resume or "").resolve() != last.resolve():
        step = int(load_checkpoint(last).get("step", 0))
        if step > int(ck["step"]):
            raise OutputError(
                f"{resume} is at step {ck['step']}, and going on from it would replace {last} (step {step})",
                f"resume {last}, or pass --out another folder",
            )


class RunFolder:
    """The run folder, made on entering (with the folders to it); a run that fails before its first
    ``last.pt`` leaves nothing behind: the files it wrote (its log, a ``best.pt``) are removed, and
    the folders it made. What was there before stays."""

    FILES = ("log.jsonl", "best.pt")

    def __init__(self, out: Path) -> None:
        self.out = out
        self.made: list[Path] = []  # deepest first
        self.there: set[str] = set()

    def __enter__(self) -> RunFolder:
        missing = self.out
        while not missing.exists():
            self.made.append(missing)
            missing = missing.parent
        self.out.mkdir(parents=True, exist_ok=True)
        self.there = {name for name in self.FILES if (self.out / name).exists()}
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is None or (self.out / "last.pt").exists():
            return
        for name in self.FILES:
            if name not in self.there:
                with contextlib.suppress(OSError):
                    (self.out / name).unlink(missing_ok=True)
        for folder in self.made:
            with contextlib.suppress(OSError):  # not empty: something else was put there meanwhile
                folder.rmdir()


def carry_over(resume: Path, out: Path, step: int) -> None:
    """A run resumed into another folder (``--resume runs/a/last.pt --out runs/b``) starts it with the old
    folder's log and its ``best.pt`` (when it is not from past the checkpoint), so the new folder holds the
    whole run; the old folder is left as it was."""
    src = resume.parent
    if not src.is_dir() or src.resolve() == out.resolve():
        return
    if (src / "log.jsonl").is_file() and not (out / "log.jsonl").exists():
        write_atomic(out / "log.jsonl", (src / "log.jsonl").read_bytes())
    best = src / "best.pt"
    if best.is_file() and not (out / "best.pt").exists() and int(load_checkpoint(best).get("step", 0)) <= step:
        write_atomic(out / "best.pt", best.read_bytes())


def cut_log(path: Path, step: int) -> None:
    """A resumed run's log, from the checkpoint's step on, is the new run's: the lines an interrupted run
    wrote past its last checkpoint are taken out (else steps after it would be there twice)."""
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = [ln for ln in lines if (at := _step_of(ln)) is None or at <= step]
    if len(kept) != len(lines):
        write_atomic(path, "".join(kept).encode(), replace=True)


def _step_of(line: str) -> int | None:
    try:
        step = json.loads(line).get("step")
    except (ValueError, AttributeError):
        return None
    return int(step) if isinstance(step, (int, float)) else None


# ---------------------------------------------------------------- 1-3: settings, networks, resumed state


def run_settings(cfg: TrainConfig, resume: str | os.PathLike | None) -> tuple[TrainConfig, Checkpoint | None]:
    """The run's checked settings, and the checkpoint it resumes (``None`` for a new run).

    On resume the saved run's settings rule; only those in :data:`RESUME_MAY_CHANGE` are
    taken from ``cfg``.
    """
    ck = None
    if resume is not None:
        ck = load_checkpoint(resume, RESUME_FIX)
        saved = TrainConfig.from_dict(ck["config"])
        if saved.model != cfg.model:
            raise WeightsError(
                f"checkpoint {resume} is a {saved.model!r} run but --model {cfg.model!r} was asked for",
                f"drop --model or pass --model {saved.model}",
            )
        cfg = replace(saved, **{name: getattr(cfg, name) for name in RESUME_MAY_CHANGE})
    cfg = cfg.resolved()
    check_config(cfg)
    return cfg, ck


@dataclass
class Networks:
    """What a run trains, and the optimisers and losses that train it."""

    model: Generator
    ema: torch.nn.Module | None  # the weights' moving average (``ema_decay`` > 0)
    content: ContentLoss
    critic: PatchCritic | None  # only when the adversarial phase starts within the run
    opt_g: torch.optim.Adam
    opt_d: torch.optim.Adam | None

    @property
    def scored(self) -> torch.nn.Module:
        """What validation, best.pt and export see: the average when the run keeps one."""
        return self.ema if self.ema is not None else self.model


def build_networks(cfg: TrainConfig, ck: Checkpoint | None, source: str, device: torch.device, emit: Event) -> Networks:
    """The generator, its average, the content loss, the critic and both optimisers, built in
    the order their random initialisations are drawn."""
    model = starting_generator(cfg, ck, source, emit).to(device).train()
    ema: torch.nn.Module | None = None
    if cfg.ema_decay > 0:
        ema = copy.deepcopy(model).eval().requires_grad_(False)
        if ck is not None and ck.get("ema"):
            ema.load_state_dict(ck["ema"]["state"])
    content = ContentLoss(cfg.content, pixel=cfg.pixel_loss, fft_weight=cfg.fft_weight, vgg_weights=cfg.vgg_weights)
    content = content.to(device)
    critic = None
    if cfg.adv_start_step is not None and cfg.adv_start_step < cfg.steps:
        critic = PatchCritic(cfg.critic_width, conditional=cfg.critic_conditional).to(device).train()
    opt_g = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_d = torch.optim.Adam(critic.parameters(), lr=cfg.lr, betas=cfg.betas) if critic is not None else None
    return Networks(model, ema, content, critic, opt_g, opt_d)


def starting_generator(cfg: TrainConfig, ck: Checkpoint | None, source: str, emit: Event) -> Generator:
    """The checkpoint's raw weights on resume; else ``--init`` (grown by ``--model-arg``); else fresh."""
    if ck is not None:
        return generator_from_checkpoint(ck, source, ema=False)
    if not cfg.init:
        return build_model(cfg.model, **cfg.model_args)
    try:
        model = load_generator(cfg.init)
    except InputNotFoundError as e:  # its fix names run's --weights
        raise InputNotFoundError(f"--init: {e.message}", "check the path (an exported .safetensors)") from None
    if model.arch != cfg.model:
        raise WeightsError(
            f"--init {cfg.init} is a {model.arch!r} generator, not {cfg.model!r}",
            f"pass --model {model.arch} or another --init",
        )
    if cfg.model_args:
        model, change = grow_generator(model, cfg.model_args, source=str(cfg.init))
        emit("grown", {"args": model.arch_args, "max_abs_change": change})
    return model


@dataclass
class RunState:
    """What changes as the run goes: the steps done, the best validation and the latest one."""

    step: int = 0
    best: dict[str, Any] = field(default_factory=dict)  # step, psnr, ssim, per_kind of the best validation
    last_val: dict[str, Any] = field(default_factory=dict)  # the same of the latest validation


def restore(nets: Networks, ck: Checkpoint, device: torch.device) -> RunState:
    """A resumed run's optimiser and critic state, its step and best score; the RNG where it stopped."""
    nets.opt_g.load_state_dict(ck["opt_g"])
    if nets.critic is not None and ck.get("critic") is not None:
        nets.critic.load_state_dict(ck["critic"]["state"])
        nets.opt_d.load_state_dict(ck["opt_d"])  # type: ignore[union-attr]
    state = RunState(step=int(ck["step"]), best=ck.get("best", {}), last_val=ck.get("last_val") or {})
    torch.set_rng_state(ck["rng"]["torch"])
    if device.type == "cuda" and ck["rng"].get("cuda") is not None:
        torch.cuda.set_rng_state(ck["rng"]["cuda"], device)
    return state


@dataclass
class Run:
    """A run's fixed parts: its settings, where it runs, what it trains, and what on."""

    cfg: TrainConfig
    device: torch.device
    amp: str | None  # the device type it autocasts to bfloat16 on, or None
    out: Path
    nets: Networks
    data: TrainingPairs
    val_pairs: list[tuple[np.ndarray, np.ndarray, str]]  # (blurry, sharp, kind), never trained on
    baseline: dict = field(init=False)  # the blurry input's own scores: the bar to clear

    def __post_init__(self) -> None:
        self.baseline = input_scores(self.val_pairs) if self.val_pairs else {}

    def adversarial_at(self, step: int) -> bool:
        """Whether step ``step`` trains the critic and adds the adversarial loss."""
        return self.nets.critic is not None and step >= self.cfg.adv_start_step  # type: ignore[operator]


def start_info(run: Run, state: RunState) -> dict:
    """The ``start`` event: where the run starts, on what, and the bar it has to clear."""
    return {
        "step": state.step,
        "steps": run.cfg.steps,
        "device": str(run.device),
        "amp": run.amp,
        "params": sum(p.numel() for p in run.nets.model.parameters()),
        "data": run.data.describe(),
        "val_pairs": len(run.val_pairs),
        "input_scores": run.baseline,
        "config": asdict(run.cfg),
    }


def checkpoint_state(run: Run, state: RunState) -> Checkpoint:
    """Everything the next step depends on (the format ``resume``, ``export`` and ``eval`` read)."""
    nets, cfg, device = run.nets, run.cfg, run.device
    return {
        "version": CHECKPOINT_VERSION,
        "step": state.step,
        "config": asdict(cfg),
        "model": {"arch": nets.model.arch, "args": nets.model.arch_args, "state": nets.model.state_dict()},
        "ema": {"decay": cfg.ema_decay, "state": nets.ema.state_dict()} if nets.ema is not None else None,
        "critic": {"args": nets.critic.args, "state": nets.critic.state_dict()} if nets.critic is not None else None,
        "opt_g": nets.opt_g.state_dict(),
        "opt_d": nets.opt_d.state_dict() if nets.opt_d is not None else None,
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        },
        "best": state.best,
        "last_val": state.last_val,
        "trained_on": run.data.describe(),
        "input_scores": run.baseline,
    }


# ---------------------------------------------------------------- 4: the batches


class BatchSupply:
    """Batch ``k`` on the device, made ahead: by one background thread that keeps ``prefetch``
    batches in flight, or (``workers`` > 1) by the processes of :func:`~trainer.datasets.batch_loader`.
    The batches are the same either way. Use it as a context manager: leaving it cancels the
    batches not yet started."""

    def __init__(self, data: TrainingPairs, start: int, cfg: TrainConfig, device: torch.device) -> None:
        self.data, self.stop, self.prefetch, self.device = data, cfg.steps, cfg.prefetch, device
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batches")
        self.pending: dict[int, Future] = {}
        self.loader: Iterator[tuple[int, torch.Tensor, torch.Tensor]] | None = None
        if cfg.workers > 1:
            loader = batch_loader(data, start, cfg.steps, cfg.workers, cfg.prefetch, pin=device.type == "cuda")
            self.loader = iter(loader)  # draws one number from torch's RNG (the workers' base seed)

    def get(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(blurry, sharp) of step ``k``; the next steps' batches are started meanwhile."""
        if self.loader is not None:
            j, b, s = next(self.loader)
            if j != k:  # pragma: no cover - the loader keeps order
                raise RuntimeError(f"batch {j} arrived for step {k}")
        else:
            for j in range(k, min(k + 1 + self.prefetch, self.stop)):
                if j not in self.pending:
                    self.pending[j] = self.pool.submit(self.data.batch, j)
            b, s = self.pending.pop(k).result()
        return b.to(self.device, non_blocking=True), s.to(self.device, non_blocking=True)

    def __enter__(self) -> BatchSupply:
        return self

    def __exit__(self, *exc: object) -> None:
        for f in self.pending.values():
            f.cancel()
        self.pool.shutdown(wait=True)


# ---------------------------------------------------------------- 5: one step


def train_step(run: Run, blurry: torch.Tensor, sharp: torch.Tensor, step: int, lr: float, adv_now: bool) -> Losses:
    """One generator step at learning rate ``lr``, after the critic's when ``adv_now``; its losses."""
    nets = run.nets
    for opt in (nets.opt_g, nets.opt_d):
        if opt is not None:
            for g in opt.param_groups:
                g["lr"] = lr
    losses = critic_update(nets, run.cfg, blurry, sharp, run.amp) if adv_now else {}
    losses.update(generator_update(nets, run.cfg, blurry, sharp, step, adv_now, run.amp))
    if not math.isfinite(losses["total"]):
        raise DataError(
            f"the loss became {losses['total']} at step {step}", "lower --lr, or resume from an earlier checkpoint"
        )
    return losses


def critic_update(
    nets: Networks, cfg: TrainConfig, blurry: torch.Tensor, sharp: torch.Tensor, amp: str | None
) -> Losses:
    """``critic_steps`` critic updates: the Wasserstein distance estimate with a gradient penalty."""
    critic, opt_d = nets.critic, nets.opt_d
    assert critic is not None and opt_d is not None  # adv_now implies both
    cond = blurry if cfg.critic_conditional else None
    for _ in range(cfg.critic_steps):
        with torch.no_grad(), autocast(amp):
            fake = nets.model(blurry)
        fake = fake.float()
        with autocast(amp):
            d = critic_loss(critic(sharp, cond), critic(fake, cond))
        gp = gradient_penalty(critic, sharp, fake, cond, cfg.gp_weight)  # fp32: second-order grads
        opt_d.zero_grad(set_to_none=True)
        (d.float() + gp).backward()
        opt_d.step()
    return {"critic": d.item(), "gp": gp.item()}


def generator_update(
    nets: Networks,
    cfg: TrainConfig,
    blurry: torch.Tensor,
    sharp: torch.Tensor,
    step: int,
    adv_now: bool,
    amp: str | None,
) -> Losses:
    """One generator update on ``content_weight * content`` (+ ``adv_weight * adversarial``
    when ``adv_now``, the critic frozen meanwhile), then the weight average's."""
    losses: Losses = {}
    critic = nets.critic
    with autocast(amp):
        restored = nets.model(blurry)
        c = nets.content(restored.float(), sharp)
        total = cfg.content_weight * c
        if adv_now:
            assert critic is not None  # adv_now implies a critic
            critic.requires_grad_(False)
            a = generator_adv_loss(critic(restored, blurry if cfg.critic_conditional else None))
            total = total + cfg.adv_weight * a
            losses["adv"] = a.item()
    nets.opt_g.zero_grad(set_to_none=True)
    total.float().backward()
    nets.opt_g.step()
    if nets.ema is not None:
        ema_update(nets.ema, nets.model, cfg.ema_decay, step)
    if adv_now:
        critic.requires_grad_(True)  # type: ignore[union-attr]
    losses["content"] = c.item()
    losses["total"] = total.item()
    return losses


# ---------------------------------------------------------------- 6: reporting, validation, checkpoints


class RunLog:
    """``RUN/log.jsonl`` (one JSON object per line: ``{"event": kind, ...}``) and the progress callback.

    A ``step`` line holds the mean of each loss since the previous one and the steps per
    second since the run (or the resume) started; between lines the callback gets ``tick``
    with the step's own losses.
    """

    def __init__(self, path: Path, emit: Event) -> None:
        self.path, self.emit = path, emit
        self.window: dict[str, list[float]] = {}  # losses since the last step line
        self.t0, self.seen = time.monotonic(), 0

    def record(self, kind: str, info: dict) -> None:
        """An event written to log.jsonl and sent to the callback."""
        with self.path.open("a") as f:
            f.write(json.dumps({"event": kind, **info}) + "\n")
        self.emit(kind, info)

    def add(self, losses: Losses) -> None:
        self.seen += 1
        for k, v in losses.items():
            self.window.setdefault(k, []).append(v)

    def flush(self, step: int, lr: float, phase: str) -> None:
        """The ``step`` line: the losses' means since the last one."""
        rate = self.seen / max(time.monotonic() - self.t0, 1e-9)
        means = {k: float(np.mean(v)) for k, v in self.window.items()}
        self.window.clear()
        self.record("step", {"step": step, "lr": lr, "steps_per_s": rate, "phase": phase, **means})


def report_step(log: RunLog, cfg: TrainConfig, step: int, lr: float, adv_now: bool, losses: Losses) -> None:
    """After step ``step`` (counted from 1): a log line every ``log_every`` steps and at the end, else a tick."""
    log.add(losses)
    if step % cfg.log_every == 0 or step == cfg.steps:
        log.flush(step, lr, "adversarial" if adv_now else "content")
    else:
        log.emit("tick", {"step": step, **losses})


def validate_and_checkpoint(run: Run, state: RunState, log: RunLog) -> None:
    """Every ``val_every`` steps and at the end: validation, and ``best.pt`` when it improves;
    every ``ckpt_every`` steps and at the end: ``last.pt``."""
    cfg, step = run.cfg, state.step
    if run.val_pairs and (step % cfg.val_every == 0 or step == cfg.steps):
        val = validate(run.nets.scored, run.val_pairs, run.device, run.amp == "cuda")
        state.last_val = {"step": step, "psnr": val["all"]["psnr"], "ssim": val["all"]["ssim"], "per_kind": val}
        improved = not state.best or val["all"]["psnr"] > state.best.get("psnr", -1.0)
        if improved:
            state.best = dict(state.last_val)
        log.record(
            "val",
            {
                "step": step,
                "weights": "ema" if run.nets.ema is not None else "raw",
                "metrics": val,
                "input": run.baseline,
                "best_step": state.best.get("step"),
            },
        )
        if improved:
            save_checkpoint(run.out / "best.pt", checkpoint_state(run, state))
    if step % cfg.ckpt_every == 0 or step == cfg.steps:
        path = save_checkpoint(run.out / "last.pt", checkpoint_state(run, state))
        log.emit("checkpoint", {"step": step, "path": str(path)})
