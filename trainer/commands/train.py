"""``streamdeblur-train train``: the options of a run, and its progress bar."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from .common import PROG, Content, Device, PixelLoss, app, float_pair, progress_bar, set_threads, user_errors


def _model_args(items: list[str] | None) -> dict:
    args: dict = {}
    for item in items or []:
        if "=" not in item:
            raise typer.BadParameter(f"--model-arg {item!r} is not KEY=VALUE (e.g. width=24)")
        k, v = item.split("=", 1)
        try:
            args[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            args[k.strip()] = v
    return args


def _refuse_what_a_resume_keeps(ctx: typer.Context) -> None:
    """On ``--resume``, an option the checkpoint fixes (``--lr``, ``--data`` ...) given anyway is a
    one-line error, not silently ignored."""
    from streamdeblur.errors import InputError

    from ..train import RESUME_MAY_CHANGE

    may = {"resume", "out", "model", "threads", *RESUME_MAY_CHANGE}
    # (typer's own copy of click: its ParameterSource matched by name)
    given = [n for n in ctx.params if n not in may and ctx.get_parameter_source(n).name == "COMMANDLINE"]
    if given:
        names = ", ".join("--" + n.replace("_", "-") for n in given)
        raise InputError(
            f"{names} cannot change when a run is resumed (the checkpoint's settings are kept)",
            f"drop {'them' if len(given) > 1 else 'it'}, or export the run and start a new one from it with --init",
        )


@app.command()
@user_errors
def train(
    ctx: typer.Context,
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out",
            "-o",
            help="Run folder: last.pt, best.pt, log.jsonl (default runs/deblurgan-lite; on --resume the checkpoint's,"
            " and another folder starts with its log and best.pt).",
        ),
    ] = None,
    model: Annotated[
        Optional[str], typer.Option(help="Generator architecture: deblurgan-lite (default) or deblurgan.")
    ] = None,
    model_arg: Annotated[
        Optional[list[str]],
        typer.Option("--model-arg", help="Architecture argument KEY=VALUE (repeatable), e.g. width=24."),
    ] = None,
    init: Annotated[
        Optional[Path],
        typer.Option(
            help=(
                "Start from this exported generator (.safetensors); with --model-arg adding blocks, grow it first "
                "(trained tensors kept, new blocks start as the identity)."
            )
        ),
    ] = None,
    data: Annotated[
        Optional[Path],
        typer.Option(help="Train on a GoPro-layout set (its train/ split) instead of fresh synthetic pairs."),
    ] = None,
    photos: Annotated[
        Optional[Path], typer.Option(help="Extra folder of sharp photos for the synthetic pairs.")
    ] = None,
    package: Annotated[
        Optional[list[str]], typer.Option("--package", help="Use only these photo packages (repeatable).")
    ] = None,
    gopro_fraction: Annotated[
        float, typer.Option(help="Synthetic pairs: share with GoPro-style blur (the rest: trajectory PSFs).")
    ] = 0.5,
    sharp_fraction: Annotated[
        float,
        typer.Option(help="Synthetic pairs: share left unblurred (teaches the model to leave sharp frames alone)."),
    ] = 0.0,
    motion: Annotated[
        str,
        typer.Option(
            help=(
                "Synthetic GoPro-style blur: camera speed range LO,HI (1 moves ~0-26 px over 13 sub-frames; "
                "`streamdeblur-train calibrate` matches it to real blur)."
            )
        ),
    ] = "0.3,1.5",
    motion_log: Annotated[
        bool,
        typer.Option(
            help=(
                "Draw the camera speed log-uniformly within --motion (as many pairs per doubling of the blur), so a "
                "wide range such as 0.3,8 still trains mild blur."
            )
        ),
    ] = False,
    object_fraction: Annotated[
        float,
        typer.Option(help="Synthetic GoPro-style pairs: share with 1-2 objects moving over the moving background."),
    ] = 0.0,
    continuous_blur: Annotated[
        bool,
        typer.Option(
            help=(
                "Synthetic GoPro-style pairs: integrate the motion within each sub-frame too, so fast motion is a "
                "smooth streak, not 7-13 ghost copies."
            )
        ),
    ] = False,
    ghost_fraction: Annotated[
        float,
        typer.Option(
            help=(
                "With --continuous-blur: share of GoPro-style pairs left as 7-13 discrete ghost copies anyway, as "
                "frame-averaging datasets (GoPro_Large) and tools show fast motion."
            )
        ),
    ] = 0.0,
    scene_fraction: Annotated[
        float,
        typer.Option(
            help=(
                "Share of synthetic pairs drawn as a handheld camera's view of a whole scene (the view covering "
                "0.35-0.7 of the photo's short side, camera speed 0.3-3), left clean: no colour change, noise or "
                "compression."
            )
        ),
    ] = 0.0,
    scene_compress: Annotated[
        float,
        typer.Option(
            help=(
                "Of the --scene-fraction views, the share whose blurry input is stored as a camera stores video: "
                "sensor noise and H.264 (CRF 18-32), as the sample clips and phone footage are."
            )
        ),
    ] = 0.0,
    scene_zoom: Annotated[
        str,
        typer.Option(
            help=(
                "The --scene-fraction views' frame as a factor LO,HI of --crop (log-uniform, 1-4): each is rendered "
                "that large and a crop taken, so its blur and detail are as many pixels long as in a frame that size "
                "(a 640x360 clip: about 2 for --crop 256)."
            )
        ),
    ] = "1,1",
    scene_motion: Annotated[
        str,
        typer.Option(
            help=(
                "The --scene-fraction views' camera speed LO,HI (log-uniform, as --motion's; default 0.3,3: handheld "
                "shake and pans, the sample clips' 0.8 and 1.0; the panel's strong blur is 4-7)."
            )
        ),
    ] = "0.3,3",
    real_data: Annotated[
        Optional[Path],
        typer.Option(
            help=(
                "Mix the real pairs of this GoPro-layout set (its train/ split) into the synthetic ones, e.g. "
                "GOPRO_Large."
            )
        ),
    ] = None,
    real_fraction: Annotated[
        float, typer.Option(help="With --real-data: the share of crops that are real pairs (1: real pairs only).")
    ] = 0.5,
    real_augment: Annotated[
        bool,
        typer.Option(
            help=(
                "With --real-data or --data: give the real pairs a random size (--real-scale) and the synthetic pairs' "
                "colour, tone, noise and compression, so the model learns blur, not one dataset's look."
            )
        ),
    ] = False,
    real_scale: Annotated[
        str,
        typer.Option(
            help=(
                "With --real-augment: the range LO,HI of the factor both real frames are shrunk by (footage of other "
                "sizes; the blur shrinks too)."
            )
        ),
    ] = "0.35,1",
    degrade_fraction: Annotated[
        float, typer.Option(help="Share of blurry inputs given sensor noise and JPEG or H.264.")
    ] = 0.3,
    h264_fraction: Annotated[
        float,
        typer.Option(help="Of the degraded inputs, the share through H.264 (libx264, CRF 18-32) instead of JPEG."),
    ] = 0.0,
    gamma: Annotated[
        float,
        typer.Option(
            help=(
                "Tone-curve change on both images of a pair: x ** exp(U(-G, G)) (e.g. 0.25: brighter and darker "
                "footage)."
            )
        ),
    ] = 0.0,
    val_data: Annotated[
        Optional[Path],
        typer.Option(
            help="Validate on a GoPro-layout set's test/ split (default: synthetic pairs from the held-out photos)."
        ),
    ] = None,
    val_frames: Annotated[int, typer.Option(help="Validation frames.")] = 24,
    steps: Annotated[
        Optional[int], typer.Option(help="Generator steps in all (default 20000; on --resume: the run's own).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Crops per batch.")] = 8,
    crop: Annotated[int, typer.Option(help="Training crop size in pixels.")] = 128,
    lr: Annotated[
        float, typer.Option(help="Adam learning rate (DeblurGAN: 1e-4; content-only on CPU: 1e-3 learns faster).")
    ] = 1e-4,
    beta1: Annotated[float, typer.Option(help="Adam beta1 (DeblurGAN: 0.5).")] = 0.5,
    decay_start: Annotated[
        Optional[int], typer.Option(help="Step where the linear decay to zero starts (default: half of --steps).")
    ] = None,
    content: Annotated[
        Content,
        typer.Option(
            help="Content loss: pixel (L1/Charbonnier + FFT), perceptual (VGG-19 conv3_3, needs --vgg-weights) or both."
        ),
    ] = Content.pixel,
    pixel_loss: Annotated[
        PixelLoss,
        typer.Option(
            help=(
                "l1, charbonnier, or psnr (minus the per-sample mean PSNR / 100, each capped at 50 dB: nearly sharp "
                "pairs weigh more than with l1)."
            )
        ),
    ] = PixelLoss.l1,
    fft_weight: Annotated[float, typer.Option(help="Weight of the FFT-amplitude term in the pixel loss.")] = 0.05,
    vgg_weights: Annotated[
        Optional[Path], typer.Option(help="Local torchvision vgg19 state dict for the perceptual loss.")
    ] = None,
    content_weight: Annotated[float, typer.Option(help="Content loss weight (DeblurGAN: 100).")] = 100.0,
    adv_start_step: Annotated[
        Optional[int],
        typer.Option(
            help=(
                "Step where the WGAN-GP adversarial term starts; leave out for content-only (the practical choice on "
                "CPU)."
            )
        ),
    ] = None,
    adv_weight: Annotated[float, typer.Option(help="Adversarial loss weight.")] = 1.0,
    critic_steps: Annotated[int, typer.Option(help="Critic updates per generator step.")] = 5,
    critic_conditional: Annotated[bool, typer.Option(help="Let the critic see the blurry input too.")] = False,
    device: Annotated[Device, typer.Option(help="auto (CUDA where there is a GPU), cpu or cuda.")] = Device.auto,
    amp: Annotated[bool, typer.Option(help="bfloat16 autocast on CUDA.")] = True,
    cpu_amp: Annotated[
        bool,
        typer.Option(
            help=(
                "bfloat16 autocast on the CPU too (about 1.2x a training step on CPUs with AVX512-BF16 or AMX, "
                "slower on others; validation stays float32)."
            )
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="Random seed (weights, batches, penalties).")] = 0,
    log_every: Annotated[
        Optional[int], typer.Option(help="Write the losses every N steps (default 10; on --resume: the run's own).")
    ] = None,
    val_every: Annotated[
        Optional[int], typer.Option(help="Validate every N steps (default 500; on --resume: the run's own).")
    ] = None,
    ckpt_every: Annotated[
        Optional[int],
        typer.Option(help="Checkpoint RUN/last.pt every N steps (default 500; on --resume: the run's own)."),
    ] = None,
    ema_decay: Annotated[
        float,
        typer.Option(
            help=(
                "Keep an exponential moving average of the weights with this decay (e.g. 0.999; 0 = off); validation, "
                "best.pt and export use it."
            )
        ),
    ] = 0.0,
    resume: Annotated[
        Optional[Path],
        typer.Option(
            help=(
                "Continue exactly from a checkpoint (RUN/last.pt); its settings are kept (only --steps, --out, "
                "--log-every, --val-every, --ckpt-every, --device, --workers and --threads may be given)."
            )
        ),
    ] = None,
    threads: Annotated[Optional[int], typer.Option(min=1, help="CPU threads for PyTorch.")] = None,
    workers: Annotated[
        int,
        typer.Option(
            help=(
                "Processes that make the batches (1: one background thread); on a GPU machine, the CPU cores to spare. "
                "The batches do not depend on it."
            )
        ),
    ] = 1,
) -> None:
    """Train a generator: content loss, then (optionally) WGAN-GP with a PatchGAN critic.

    By default the batches are fresh synthetic pairs from the photo packages (random
    crops, scales, rotations, flips, colour jitter; GoPro-style and trajectory blur) and
    validation uses held-out photos. Checkpoints: RUN/last.pt (every --ckpt-every steps)
    and RUN/best.pt (best validation PSNR); losses in RUN/log.jsonl.

    Example (content-only, CPU):  streamdeblur-train train --out runs/lite --steps 20000 --lr 1e-3

    Example (with the GAN phase): streamdeblur-train train --out runs/gan --adv-start-step 5000
    """
    from ..checkpoint import load_checkpoint
    from ..config import TrainConfig
    from ..train import RESUME_FIX
    from ..train import train as run_train

    if resume is not None:
        _refuse_what_a_resume_keeps(ctx)
    set_threads(threads)
    if out is None:  # a resumed run goes on in its own folder, beside the checkpoint it resumes
        out = resume.parent if resume is not None else Path(TrainConfig.out)
    cfg = TrainConfig(
        out=str(out),
        model_args=_model_args(model_arg),
        init=str(init) if init else None,
        data=str(data) if data else None,
        photos=str(photos) if photos else None,
        packages=tuple(package) if package else None,
        gopro_fraction=gopro_fraction,
        sharp_fraction=sharp_fraction,
        motion=float_pair(motion, "--motion"),
        motion_log=motion_log,
        object_fraction=object_fraction,
        continuous_blur=continuous_blur,
        ghost_fraction=ghost_fraction,
        scene_fraction=scene_fraction,
        scene_compress=scene_compress,
        scene_zoom=float_pair(scene_zoom, "--scene-zoom", "1,3"),
        scene_motion=float_pair(scene_motion, "--scene-motion", "0.3,6"),
        real_data=str(real_data) if real_data else None,
        real_fraction=real_fraction,
        real_augment=real_augment,
        real_scale=float_pair(real_scale, "--real-scale"),
        degrade_fraction=degrade_fraction,
        h264_fraction=h264_fraction,
        gamma=gamma,
        val_data=str(val_data) if val_data else None,
        val_frames=val_frames,
        batch_size=batch_size,
        crop=crop,
        lr=lr,
        betas=(beta1, 0.999),
        decay_start=decay_start,
        content=content.value,
        pixel_loss=pixel_loss.value,
        fft_weight=fft_weight,
        vgg_weights=str(vgg_weights) if vgg_weights else None,
        content_weight=content_weight,
        adv_start_step=adv_start_step,
        adv_weight=adv_weight,
        critic_steps=critic_steps,
        critic_conditional=critic_conditional,
        device=device.value,
        amp=amp,
        cpu_amp=cpu_amp,
        seed=seed,
        ema_decay=ema_decay,
        workers=workers,
    )
    # the run's own model, length and cadence on --resume, unless asked for (train() refuses
    # another model); a fresh run's defaults otherwise
    ck = load_checkpoint(resume, RESUME_FIX) if resume is not None else None
    own = TrainConfig.from_dict(ck["config"]) if ck is not None else TrainConfig()
    if ck is not None and steps is not None and steps <= int(ck["step"]):  # it would stop at once, saying done
        raise typer.BadParameter(
            f"{resume} is at step {ck['step']} already; pass --steps above it to go on (or leave --steps out)"
        )
    asked = {"steps": steps, "log_every": log_every, "val_every": val_every, "ckpt_every": ckpt_every}
    cfg = replace(
        cfg,
        model=model or own.model,
        **{name: getattr(own, name) if value is None else value for name, value in asked.items()},
    )
    last = Path(cfg.out).expanduser() / "last.pt"
    user_errors.interrupted = lambda: (
        f"interrupted (go on with: streamdeblur-train train --resume {last})"
        if last.exists()
        else "interrupted before the first checkpoint (start again)"
    )
    _run_with_progress(lambda ev: run_train(cfg, resume=resume, on_event=ev))


def _fmt_losses(info: dict) -> str:
    keys = ("content", "adv", "critic", "gp")
    return "  ".join(f"{k} {info[k]:.4f}" for k in keys if k in info)


def _run_with_progress(fn: Callable[[Callable[[str, dict], None]], dict]) -> dict:
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = progress_bar(
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[losses]}"),
    )
    task = None
    with progress:

        def on_event(kind: str, info: dict) -> None:
            nonlocal task
            if kind == "grown":
                progress.console.print(
                    f"grown from --init into {info['args']} (output changed by at most {info['max_abs_change']:.1e})"
                )
            elif kind == "start":
                task = progress.add_task("train", total=info["steps"], completed=info["step"], losses="")
                base = info["input_scores"].get("all")
                progress.console.print(
                    f"device {info['device']}{' (bf16 autocast)' if info['amp'] else ''}, "
                    f"{info['params'] / 1e6:.2f}M parameters, "
                    f"data: {info['data'].get('kind')}, {info['val_pairs']} validation pairs"
                    + (f" (blurry input: PSNR {base['psnr']:.2f} dB, SSIM {base['ssim']:.4f})" if base else "")
                )
            elif kind in ("tick", "step") and task is not None:
                progress.update(task, completed=info["step"], losses=_fmt_losses(info))
                if kind == "step":
                    progress.update(
                        task, losses=f"{_fmt_losses(info)}  lr {info['lr']:.2e}  {info['steps_per_s']:.2f} it/s"
                    )
            elif kind == "val":
                m, base = info["metrics"], info["input"]
                parts = [
                    f"{k} {v['psnr']:.2f} dB / {v['ssim']:.4f} ({v['psnr'] - base[k]['psnr']:+.2f} dB)"
                    for k, v in m.items()
                    if k in base
                ]
                progress.console.print(f"step {info['step']}: validation " + "; ".join(parts))
            elif kind == "checkpoint":
                logging.getLogger(PROG).info("checkpoint %s", info["path"])
            elif kind == "done":
                best = info.get("best") or {}
                progress.console.print(
                    f"done at step {info['step']}: {info['last']}"
                    + (f"; best validation PSNR {best['psnr']:.2f} dB at step {best['step']}" if best else "")
                )

        return fn(on_event)
