"""``streamdeblur-train``: make-data, train, eval, export. The only trainer module that prints.

Errors from the library (:class:`~streamdeblur.errors.StreamDeblurError`) become one line
on stderr and a non-zero exit code; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer

from streamdeblur.clitools import CliErrors

F = TypeVar("F", bound=Callable[..., Any])
PROG = "streamdeblur-train"

app = typer.Typer(
    name=PROG,
    help="Train, evaluate and export streamdeblur's DeblurGAN generators.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


state = CliErrors(PROG, interrupted="interrupted (resume with --resume RUN/last.pt)")
user_errors = state  # decorator: library errors -> one line + exit code
fail = state.fail


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks and debug logs.")] = False) -> None:
    state.set_debug(debug)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w <= 0 or h <= 0:
            raise ValueError
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a size like 512x384") from None
    return w, h


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


# ---------------------------------------------------------------- make-data


@app.command("make-data")
@user_errors
def make_data(
    out: Annotated[Path, typer.Option("--out", "-o", help="Dataset root to write (GoPro layout).")],
    size: Annotated[str, typer.Option(help="Frame size WxH.")] = "512x384",
    train_frames: Annotated[int, typer.Option(help="Frames per training sequence (one per photo and blur kind).")] = 8,
    test_frames: Annotated[int, typer.Option(help="Frames per test sequence (held-out photos).")] = 4,
    kinds: Annotated[str, typer.Option(help="Blur kinds, comma separated: gopro (averaged frames), traj (trajectory PSF).")] = "gopro,traj",
    photos: Annotated[Optional[Path], typer.Option(help="An extra folder of your own sharp photos (training split).")] = None,
    package: Annotated[Optional[list[str]], typer.Option("--package", help="Use only these photo packages (repeatable; 'none' with --photos: only your photos).")] = None,
    allow_missing: Annotated[bool, typer.Option(help="Skip photo packages that are not installed instead of failing.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed writes the same set.")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Write into a non-empty --out.")] = False,
) -> None:
    """Write a synthetic blur/sharp set in the GoPro layout from the photo packages of DATA.md.

    ROOT/{train,test}/<kind>_<photo>/{blur,sharp}/NNNNNN.png, kind gopro or traj; the test
    split's photos are never used for training. Some blurry frames get sensor noise and JPEG.
    A missing photo package is an error naming the apt-get install that fixes it.

    Example:  streamdeblur-train make-data --out data/synth --size 512x384
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .data import MakeDataConfig, make_dataset

    cfg = MakeDataConfig(
        out=str(out), size=_size(size), train_frames=train_frames, test_frames=test_frames,
        kinds=tuple(k.strip() for k in kinds.split(",") if k.strip()), seed=seed,
        packages=tuple(package) if package else None, photos_dir=str(photos) if photos else None,
        allow_missing=allow_missing, overwrite=overwrite,
    )
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("make-data", total=None)

        def progress(i: int, n: int, what: str) -> None:
            bar.update(task, completed=i, total=n, description=what)

        info = make_dataset(cfg, progress)
    n_train = sum(p["split"] == "train" for p in info["photos"])
    n_test = len(info["photos"]) - n_train
    typer.echo(f"wrote {info['frames']['train']} training and {info['frames']['test']} test pairs ({size}, kinds {','.join(cfg.kinds)}) "
               f"from {n_train} training and {n_test} held-out photos to {out}")
    if info.get("skipped"):
        typer.echo(f"skipped (photo too small for {size}): {', '.join(info['skipped'])}")


# ---------------------------------------------------------------- train


def _float_pair(text: str, option: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"{option} {text!r} is not LO,HI (e.g. 0.5,3)") from None
    return lo, hi


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


@app.command()
@user_errors
def train(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: last.pt, best.pt, log.jsonl.")] = Path("runs/deblurgan-lite"),
    model: Annotated[Optional[str], typer.Option(help="Generator architecture: deblurgan-lite (default) or deblurgan.")] = None,
    model_arg: Annotated[Optional[list[str]], typer.Option("--model-arg", help="Architecture argument KEY=VALUE (repeatable), e.g. width=24.")] = None,
    init: Annotated[Optional[Path], typer.Option(help="Start from this exported generator (.safetensors); with --model-arg adding blocks, grow it first (trained tensors kept, new blocks start as the identity).")] = None,
    data: Annotated[Optional[Path], typer.Option(help="Train on a GoPro-layout set (its train/ split) instead of fresh synthetic pairs.")] = None,
    photos: Annotated[Optional[Path], typer.Option(help="Extra folder of sharp photos for the synthetic pairs.")] = None,
    package: Annotated[Optional[list[str]], typer.Option("--package", help="Use only these photo packages (repeatable).")] = None,
    gopro_fraction: Annotated[float, typer.Option(help="Synthetic pairs: share with GoPro-style blur (the rest: trajectory PSFs).")] = 0.5,
    sharp_fraction: Annotated[float, typer.Option(help="Synthetic pairs: share left unblurred (teaches the model to leave sharp frames alone).")] = 0.0,
    motion: Annotated[str, typer.Option(help="Synthetic GoPro-style blur: camera speed range LO,HI (1 moves ~0-26 px over 13 sub-frames; `streamdeblur-train calibrate` matches it to real blur).")] = "0.3,1.5",
    object_fraction: Annotated[float, typer.Option(help="Synthetic GoPro-style pairs: share with 1-2 objects moving over the moving background.")] = 0.0,
    continuous_blur: Annotated[bool, typer.Option(help="Synthetic GoPro-style pairs: integrate the motion within each sub-frame too, so fast motion is a smooth streak, not 7-13 ghost copies.")] = False,
    real_data: Annotated[Optional[Path], typer.Option(help="Mix the real pairs of this GoPro-layout set (its train/ split) into the synthetic ones, e.g. ../shared/data/gopro-real.")] = None,
    real_fraction: Annotated[float, typer.Option(help="With --real-data: the share of crops that are real pairs (1: real pairs only).")] = 0.5,
    val_data: Annotated[Optional[Path], typer.Option(help="Validate on a GoPro-layout set's test/ split (default: synthetic pairs from the held-out photos).")] = None,
    val_frames: Annotated[int, typer.Option(help="Validation frames.")] = 24,
    steps: Annotated[Optional[int], typer.Option(help="Generator steps in all (default 20000; on --resume: the run's own).")] = None,
    batch_size: Annotated[int, typer.Option(help="Crops per batch.")] = 8,
    crop: Annotated[int, typer.Option(help="Training crop size in pixels.")] = 128,
    lr: Annotated[float, typer.Option(help="Adam learning rate (DeblurGAN: 1e-4; content-only on CPU: 1e-3 learns faster).")] = 1e-4,
    beta1: Annotated[float, typer.Option(help="Adam beta1 (DeblurGAN: 0.5).")] = 0.5,
    decay_start: Annotated[Optional[int], typer.Option(help="Step where the linear decay to zero starts (default: half of --steps).")] = None,
    content: Annotated[str, typer.Option(help="Content loss: pixel (L1/Charbonnier + FFT), perceptual (VGG-19 conv3_3, needs --vgg-weights) or both.")] = "pixel",
    pixel_loss: Annotated[str, typer.Option(help="l1, charbonnier, or psnr (minus the per-sample mean PSNR / 100, each capped at 50 dB: nearly sharp pairs weigh more than with l1).")] = "l1",
    fft_weight: Annotated[float, typer.Option(help="Weight of the FFT-amplitude term in the pixel loss.")] = 0.05,
    vgg_weights: Annotated[Optional[Path], typer.Option(help="Local torchvision vgg19 state dict for the perceptual loss.")] = None,
    content_weight: Annotated[float, typer.Option(help="Content loss weight (DeblurGAN: 100).")] = 100.0,
    adv_start_step: Annotated[Optional[int], typer.Option(help="Step where the WGAN-GP adversarial term starts; leave out for content-only (the practical choice on CPU).")] = None,
    adv_weight: Annotated[float, typer.Option(help="Adversarial loss weight.")] = 1.0,
    critic_steps: Annotated[int, typer.Option(help="Critic updates per generator step.")] = 5,
    critic_conditional: Annotated[bool, typer.Option(help="Let the critic see the blurry input too.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    amp: Annotated[bool, typer.Option(help="bfloat16 autocast on CUDA.")] = True,
    seed: Annotated[int, typer.Option(help="Random seed (weights, batches, penalties).")] = 0,
    log_every: Annotated[int, typer.Option(help="Write the losses every N steps.")] = 10,
    val_every: Annotated[int, typer.Option(help="Validate every N steps.")] = 500,
    ckpt_every: Annotated[int, typer.Option(help="Checkpoint RUN/last.pt every N steps.")] = 500,
    ema_decay: Annotated[float, typer.Option(help="Keep an exponential moving average of the weights with this decay (e.g. 0.999; 0 = off); validation, best.pt and export use it.")] = 0.0,
    resume: Annotated[Optional[Path], typer.Option(help="Continue exactly from a checkpoint (RUN/last.pt); its settings are kept.")] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for PyTorch.")] = None,
    workers: Annotated[int, typer.Option(help="Processes that make the batches (1: one background thread); on a GPU machine, the CPU cores to spare. The batches do not depend on it.")] = 1,
) -> None:
    """Train a generator: content loss, then (optionally) WGAN-GP with a PatchGAN critic.

    By default the batches are fresh synthetic pairs from the photo packages (random
    crops, scales, rotations, flips, colour jitter; GoPro-style and trajectory blur) and
    validation uses held-out photos. Checkpoints: RUN/last.pt (every --ckpt-every steps)
    and RUN/best.pt (best validation PSNR); losses in RUN/log.jsonl.

    Example (content-only, CPU):  streamdeblur-train train --out runs/lite --steps 20000 --lr 1e-3

    Example (with the GAN phase): streamdeblur-train train --out runs/gan --adv-start-step 5000
    """
    from .losses import PIXEL_LOSSES
    from .train import TrainConfig
    from .train import train as run_train

    _set_threads(threads)
    if content not in ("pixel", "perceptual", "both"):
        raise typer.BadParameter(f"--content must be pixel, perceptual or both, not {content!r}")
    if pixel_loss not in PIXEL_LOSSES:
        raise typer.BadParameter(f"--pixel-loss must be one of {', '.join(PIXEL_LOSSES)}, not {pixel_loss!r}")
    cfg = TrainConfig(
        out=str(out), model=model or "deblurgan-lite", model_args=_model_args(model_arg), init=str(init) if init else None,
        data=str(data) if data else None, photos=str(photos) if photos else None, packages=tuple(package) if package else None,
        gopro_fraction=gopro_fraction, sharp_fraction=sharp_fraction, motion=_float_pair(motion, "--motion"),
        object_fraction=object_fraction, continuous_blur=continuous_blur, real_data=str(real_data) if real_data else None, real_fraction=real_fraction,
        val_data=str(val_data) if val_data else None, val_frames=val_frames, steps=steps or 20000, batch_size=batch_size,
        crop=crop, lr=lr, betas=(beta1, 0.999), decay_start=decay_start, content=content, pixel_loss=pixel_loss,
        fft_weight=fft_weight, vgg_weights=str(vgg_weights) if vgg_weights else None, content_weight=content_weight,
        adv_start_step=adv_start_step, adv_weight=adv_weight, critic_steps=critic_steps, critic_conditional=critic_conditional,
        device=device, amp=amp, seed=seed, log_every=log_every, val_every=val_every, ckpt_every=ckpt_every,
        ema_decay=ema_decay, workers=workers,
    )
    if resume is not None:
        from .train import TrainConfig as TC
        from .train import load_checkpoint

        saved = TC.from_dict(load_checkpoint(resume)["config"])
        if model is not None and model != saved.model:
            from streamdeblur.errors import WeightsError

            raise WeightsError(f"checkpoint {resume} is a {saved.model!r} run but --model {model!r} was asked for", f"drop --model or pass --model {saved.model}")
        from dataclasses import replace

        cfg = replace(cfg, model=saved.model, steps=steps or saved.steps)
    _run_with_progress(lambda ev: run_train(cfg, resume=resume, on_event=ev))


def _fmt_losses(info: dict) -> str:
    keys = ("content", "adv", "critic", "gp")
    return "  ".join(f"{k} {info[k]:.4f}" for k in keys if k in info)


def _run_with_progress(fn: Callable[[Callable[[str, dict], None]], dict]) -> dict:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = Console(stderr=True)
    progress = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[losses]}"), console=console)
    task = None
    with progress:

        def on_event(kind: str, info: dict) -> None:
            nonlocal task
            if kind == "grown":
                progress.console.print(f"grown from --init into {info['args']} (output changed by at most {info['max_abs_change']:.1e})")
            elif kind == "start":
                task = progress.add_task("train", total=info["steps"], completed=info["step"], losses="")
                base = info["input_scores"].get("all")
                progress.console.print(
                    f"device {info['device']}{' (bf16 autocast)' if info['amp'] else ''}, {info['params'] / 1e6:.2f}M parameters, "
                    f"data: {info['data'].get('kind')}, {info['val_pairs']} validation pairs"
                    + (f" (blurry input: PSNR {base['psnr']:.2f} dB, SSIM {base['ssim']:.4f})" if base else "")
                )
            elif kind in ("tick", "step") and task is not None:
                progress.update(task, completed=info["step"], losses=_fmt_losses(info))
                if kind == "step":
                    progress.update(task, losses=f"{_fmt_losses(info)}  lr {info['lr']:.2e}  {info['steps_per_s']:.2f} it/s")
            elif kind == "val":
                m, base = info["metrics"], info["input"]
                parts = [f"{k} {v['psnr']:.2f} dB / {v['ssim']:.4f} ({v['psnr'] - base[k]['psnr']:+.2f} dB)" for k, v in m.items() if k in base]
                progress.console.print(f"step {info['step']}: validation " + "; ".join(parts))
            elif kind == "checkpoint":
                logging.getLogger(PROG).info("checkpoint %s", info["path"])
            elif kind == "done":
                best = info.get("best") or {}
                progress.console.print(f"done at step {info['step']}: {info['last']}" + (f"; best validation PSNR {best['psnr']:.2f} dB at step {best['step']}" if best else ""))

        return fn(on_event)


# ---------------------------------------------------------------- eval


@app.command("eval")
@user_errors
def eval_cmd(
    root: Annotated[Path, typer.Argument(help="GoPro-layout dataset root.")],
    weights: Annotated[Optional[list[Path]], typer.Option("--weights", "-w", help="A training checkpoint (.pt) or exported generator (.safetensors); repeatable.")] = None,
    split: Annotated[str, typer.Option(help="Which split to score.")] = "test",
    max_frames: Annotated[Optional[int], typer.Option(help="Score at most N frames (an even spread).")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the results here, with every frame's PSNR per method and each model's pass-through PSNR (default: ROOT/eval.json).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for PyTorch.")] = None,
) -> None:
    """PSNR / SSIM per blur kind: the blurry input, unsharp masking and each generator.

    PSNR on 8-bit RGB; SSIM as scikit-image (Gaussian sigma 1.5, data range 255). Also
    PSNR(model(sharp), sharp) (does the model leave sharp frames alone?) and the mean
    per-channel colour shift of the output against the sharp frame.

    Example:  streamdeblur-train eval data/synth -w runs/lite/best.pt -w streamdeblur/weights/deblurgan-lite.safetensors
    """
    from .evaluate import evaluate, format_table
    from .train import pick_device

    _set_threads(threads)
    result = evaluate(root, [str(w) for w in weights or []], split=split, max_frames=max_frames, device=pick_device(device))
    typer.echo(format_table(result))
    path = json_out or (root / f"eval-{split}.json")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, path)
    typer.echo(f"wrote {path}")


# ---------------------------------------------------------------- export


@app.command()
@user_errors
def calibrate(
    root: Annotated[Path, typer.Argument(help="GoPro-layout set of real pairs, e.g. ../shared/data/gopro-real.")],
    motion: Annotated[Optional[list[str]], typer.Option("--motion", help="A synthetic camera-speed range LO,HI to compare (repeatable).")] = None,
    crop: Annotated[int, typer.Option(help="Crop size: the scale the model trains at.")] = 256,
    samples: Annotated[int, typer.Option(help="Crops per source.")] = 96,
    split: Annotated[str, typer.Option(help="Which split of ROOT to measure (never the test split for tuning).")] = "train",
    object_fraction: Annotated[float, typer.Option(help="Share of synthetic pairs with moving objects.")] = 0.0,
    continuous_blur: Annotated[bool, typer.Option(help="Integrate motion within sub-frames (as `train --continuous-blur`).")] = True,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write every crop's figures here.")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="Histograms of real vs synthetic blur (PNG; needs matplotlib).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Blur strength of real pairs vs synthetic GoPro-style pairs: PSNR and blur extent per crop.

    Example:  streamdeblur-train calibrate ../shared/data/gopro-real --motion 0.3,1.5 --motion 2,6 --plot calib.png
    """
    from . import calibrate as C

    motions = [_float_pair(m, "--motion") for m in (motion or ["0.3,1.5", "2,6"])]
    result = C.calibrate(root, motions, crop=crop, samples=samples, split=split, object_fraction=object_fraction, continuous=continuous_blur, seed=seed)
    typer.echo(f"{samples} crops of {crop}x{crop} per source")
    typer.echo(f"{'source':<52}{'PSNR mean':>10}{'p10':>7}{'p50':>7}{'p90':>7}{'sigma mean':>12}{'p50':>7}")
    for row in result["rows"]:
        p, g = row["psnr"], row["sigma"]
        typer.echo(f"{row['source']:<52}{p['mean']:>10.2f}{p['p10']:>7.2f}{p['p50']:>7.2f}{p['p90']:>7.2f}{g['mean']:>12.2f}{g['p50']:>7.2f}")
    if json_out:
        json_out.write_text(json.dumps(result, indent=1))
        typer.echo(f"wrote {json_out}")
    if plot:
        C.plot(result, plot)
        typer.echo(f"wrote {plot}")


@app.command()
@user_errors
def export(
    checkpoint: Annotated[Path, typer.Argument(help="A training checkpoint (RUN/best.pt or RUN/last.pt).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="NAME or NAME.safetensors; NAME.json is written beside it.")],
    metrics: Annotated[Optional[Path], typer.Option(help="An eval JSON whose numbers for this checkpoint go into the card.")] = None,
    half: Annotated[bool, typer.Option("--half", help="Store the weights as float16: half the file, loaded back as float32 (outputs within 1 level of the float32 file).")] = False,
) -> None:
    """Write a checkpoint's generator as NAME.safetensors + NAME.json for the runtime.

    The card holds arch, args, what it was trained on and its metrics; load it with
    streamdeblur.models.load_generator(PATH) or `streamdeblur run --weights PATH`.

    Example:  streamdeblur-train export runs/lite/best.pt -o streamdeblur/weights/deblurgan-lite
    """
    from .evaluate import export_checkpoint

    w, card = export_checkpoint(checkpoint, out, metrics_json=metrics, half=half)
    typer.echo(f"wrote {w} and {card}")


def main() -> None:
    app(prog_name=PROG)


if __name__ == "__main__":
    main()
