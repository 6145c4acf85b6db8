"""Weights in and out of a run: checkpoints written and read (``RUN/last.pt``,
``RUN/best.pt``), the generator inside one, any generator file loaded (checkpoint or
exported), a trained generator grown into a bigger one (``--init`` with more blocks), and
a checkpoint exported as the runtime's ``NAME.safetensors`` + ``NAME.json``."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

import torch

from streamdeblur.errors import InputNotFoundError, OutputExistsError, WeightsError
from streamdeblur.fileio import writing
from streamdeblur.models import Generator, build_model, generator_paths, load_generator, save_generator

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1


class _CheckpointCore(TypedDict):
    version: int  # CHECKPOINT_VERSION
    step: int  # generator steps done
    config: dict[str, Any]  # the run's TrainConfig as a dict (TrainConfig.from_dict reads it)
    model: dict[str, Any]  # {"arch", "args", "state"}: the raw weights, what --resume trains on
    opt_g: dict[str, Any]  # the generator's Adam state
    rng: dict[str, Any]  # {"torch": its RNG state, "cuda": the GPU's or None}


class Checkpoint(_CheckpointCore, total=False):
    """A training checkpoint (``RUN/last.pt``, ``RUN/best.pt``) as ``torch.save`` writes it:
    everything the next step depends on (written by :func:`trainer.train.checkpoint_state`).
    The keys below may be missing from older checkpoints; readers use ``.get``."""

    ema: dict[str, Any] | None  # {"decay", "state"}: the weights' moving average, if the run kept one
    critic: dict[str, Any] | None  # {"args", "state"}: the PatchGAN critic, if the run has an adversarial phase
    opt_d: dict[str, Any] | None  # the critic's Adam state
    best: dict[str, Any]  # {"step", "psnr", "ssim", "per_kind"} of the best validation so far, or {}
    last_val: dict[str, Any]  # the same of the latest validation, or {} (absent in older checkpoints)
    trained_on: dict[str, Any]  # the training data's description
    input_scores: dict[str, Any]  # the blurry validation input's own PSNR/SSIM per kind


def save_checkpoint(path: Path, state: Checkpoint) -> Path:
    """``torch.save`` to a temporary name, then rename over the previous checkpoint: a crash
    never leaves half a checkpoint."""
    with writing(path, replace=True) as tmp:
        torch.save(state, str(tmp))
    return Path(path)


#: what to pass instead of a file that is no training checkpoint (export's, and eval's -w)
CHECKPOINT_FIX = "pass a run's RUN/last.pt or RUN/best.pt (what `streamdeblur-train train` writes)"
GENERATOR_FIX = "pass a run's RUN/last.pt or RUN/best.pt, or an exported generator (.safetensors with its .json)"


def load_checkpoint(path: str | os.PathLike, fix: str = CHECKPOINT_FIX) -> Checkpoint:
    """A checkpoint written by :func:`save_checkpoint`, its tensors on the CPU; one-line errors
    for a missing, truncated or foreign file (``fix``: what to pass instead of a foreign one)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputNotFoundError(
            f"checkpoint not found: {path}", "pass a .pt file written by `streamdeblur-train train` (e.g. RUN/last.pt)"
        )
    try:
        ck = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as e:
        raise WeightsError(
            f"{path} is not a readable training checkpoint ({e.__class__.__name__}); it may be truncated",
            "use another checkpoint (RUN/last.pt or RUN/best.pt)",
        ) from None
    if not isinstance(ck, dict) or "model" not in ck or "config" not in ck:
        raise WeightsError(f"{path} is not a streamdeblur-train checkpoint{_what_it_holds(ck)}", fix)
    return ck


def _what_it_holds(obj: object) -> str:
    """What a .pt that is no training checkpoint seems to be, for its error (or nothing)."""
    if isinstance(obj, torch.nn.Module):
        return " (it holds a whole PyTorch model)"
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return " (it holds bare weights: a state dict, without the run's settings)"
    return ""


def generator_from_checkpoint(ck: Checkpoint, source: str = "", *, ema: bool = True) -> Generator:
    """The checkpoint's generator: its weight average when the run kept one (``ema``), else the raw weights."""
    m = ck["model"]
    model = build_model(m["arch"], **m["args"])
    state = ck["ema"]["state"] if ema and ck.get("ema") else m["state"]
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise WeightsError(
            f"checkpoint {source} does not match architecture {m['arch']!r}: {str(e).splitlines()[0][:200]}"
        ) from None
    return model


def weight_labels(weights: Sequence[str | os.PathLike]) -> list[str]:
    """How a table names each generator: an exported file by its file name, a checkpoint by its
    path; the path as given wherever two would get the same name (two ``deblurgan-lite.safetensors``
    in different folders are two columns, not one)."""
    short = [Path(w).name if Path(w).suffix == ".safetensors" else str(w) for w in weights]
    return [str(w) if short.count(name) > 1 else name for w, name in zip(weights, short)]


def load_any_generator(path: str | os.PathLike, device: str | torch.device = "cpu") -> Generator:
    """A generator from a training checkpoint (.pt) or an exported .safetensors/.json."""
    p = Path(path).expanduser()
    if p.suffix in (".pt", ".pth", ".ckpt"):
        model = generator_from_checkpoint(load_checkpoint(p, GENERATOR_FIX), str(p))
        model.card = {"arch": model.arch, "args": model.arch_args}  # type: ignore[attr-defined]
        return model.to(device).eval()
    return load_generator(p, device)


def grow_generator(model: Generator, new_args: dict, *, source: str = "--init") -> tuple[Generator, float]:
    """``model`` rebuilt with ``new_args`` (e.g. more blocks), keeping every trained tensor,
    and the largest change of its output that made.

    Progressive growing: each tensor of the trained model must exist, with the same shape,
    in the new one; the added tensors keep their fresh initialisation. deblurgan-lite's
    blocks start as the identity (zero residual scales), so a grown deblurgan-lite computes
    exactly what the trained one did and training goes on from there. The change is the
    largest difference of the output on a test input (0 for deblurgan-lite).
    """
    args = {**model.arch_args, **new_args}
    if args == model.arch_args:
        return model, 0.0
    try:
        grown = build_model(model.arch, **args)
    except (TypeError, ValueError) as e:
        raise WeightsError(
            f"--model-arg {new_args} is not a valid {model.arch!r} architecture: {e}",
            "see `streamdeblur models` for the arguments",
        ) from None
    old, new = model.state_dict(), grown.state_dict()
    misfit = [k for k, v in old.items() if k not in new or new[k].shape != v.shape]
    if misfit:
        changed = ", ".join(f"{k}={new_args[k]}" for k in new_args if model.arch_args.get(k) != new_args[k])
        raise WeightsError(
            f"{source} ({model.arch_args}) cannot grow into {changed}:"
            f" {len(misfit)} of its tensors have no place there (first: {misfit[0]})",
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
        log.warning(
            "the grown %s does not start where %s ended (max change %.3g): its new layers are not identities",
            model.arch,
            source,
            change,
        )
    return grown, change


def export_checkpoint(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    *,
    metrics_json: str | os.PathLike | None = None,
    half: bool = False,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """A training checkpoint's generator -> ``NAME.safetensors`` + ``NAME.json`` (``half``: float16 tensors).

    An existing pair (either file) is replaced only with ``overwrite``: exporting over the shipped
    weights by a slip of ``-o`` would lose them (:class:`OutputExistsError`, before any work)."""
    if not overwrite:
        _refuse_taken(out)
    ck = load_checkpoint(checkpoint)
    model = generator_from_checkpoint(ck, str(checkpoint)).eval()
    cfg = ck.get("config", {})
    metrics: dict[str, Any] = {}

    # The validation of the weights exported is the one taken at the checkpoint's own step (the
    # latest, or the best where that was this step); the best one, where another step's, as such.
    def card(val: dict[str, Any]) -> dict[str, Any]:
        keys = ("step", "psnr", "ssim", "per_kind")
        return {k: val.get(k) for k in keys} | {"input": ck.get("input_scores")}

    best = ck.get("best") or {}
    own = next((v for v in (ck.get("last_val"), best) if v and v.get("step") == ck.get("step")), {})
    if own:
        metrics["validation"] = card(own)
    if best and best.get("step") != own.get("step"):
        metrics["best_validation"] = card(best)
    if metrics_json is not None:
        metrics["eval"] = _eval_column(metrics_json, checkpoint)
    trained_on = {
        "data": ck.get("trained_on"),
        "steps": ck.get("step"),
        # init: the weights this run started from (its steps come on top of theirs)
        "recipe": {
            k: cfg.get(k)
            for k in (
                "init",
                "steps",
                "decay_start",
                "batch_size",
                "crop",
                "lr",
                "betas",
                "content",
                "pixel_loss",
                "fft_weight",
                "content_weight",
                "adv_start_step",
                "critic_steps",
                "seed",
                "gopro_fraction",
                "sharp_fraction",
                "ema_decay",
            )
        },
        # which weights were written: the run's moving average, or the last optimiser step's
        "weights": "ema" if ck.get("ema") else "raw",
    }
    return save_generator(model, out, trained_on=trained_on, metrics=metrics, half=half, overwrite=overwrite)


def average_generators(
    weights: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    metrics_json: str | os.PathLike | None = None,
    half: bool = False,
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """The element-wise mean of generators of one architecture (``weights``: exported files; a "model
    soup" of fine-tunes of one another) -> ``NAME.safetensors`` + ``NAME.json``, whose card names each
    one that went in and what it was trained on. Generators of other architectures or sizes are refused
    (:class:`WeightsError`) before anything is written; ``metrics_json``: an eval JSON with a column for
    ``NAME.safetensors``, as :func:`export_checkpoint` takes."""
    if len(weights) < 2:
        raise WeightsError("average needs two generators or more", "give each exported .safetensors file")
    if not overwrite:
        _refuse_taken(out)
    try:
        models = [load_generator(w) for w in weights]
    except InputNotFoundError as e:  # its fix names run's --weights
        raise InputNotFoundError(e.message, "check the path (an exported .safetensors)") from None
    first = models[0]
    for w, m in zip(weights[1:], models[1:], strict=True):
        if (m.arch, m.arch_args) != (first.arch, first.arch_args):
            raise WeightsError(
                f"{w} is {m.arch} {m.arch_args}, {weights[0]} is {first.arch} {first.arch_args}",
                "average generators of one architecture only (fine-tunes of one another)",
            )
    states = [m.state_dict() for m in models]
    mean = {
        k: torch.stack([s[k].float() for s in states]).mean(0).to(v.dtype) if v.is_floating_point() else v
        for k, v in states[0].items()
    }
    soup = build_model(first.arch, **first.arch_args)
    soup.load_state_dict(mean)
    metrics: dict[str, Any] = {}
    if metrics_json is not None:
        metrics["eval"] = _eval_column(metrics_json, generator_paths(out)[0])
    members = [{"weights": Path(w).name, "trained_on": m.card.get("trained_on")} for w, m in zip(weights, models)]
    trained_on = {"averaged": members, "weights": f"the element-wise mean of {len(members)} generators"}
    return save_generator(soup, out, trained_on=trained_on, metrics=metrics, half=half, overwrite=overwrite)


def _eval_column(metrics_json: str | os.PathLike, weights: str | os.PathLike) -> dict[str, Any]:
    """What an eval JSON (``streamdeblur-train eval --json``) says of the input, the unsharp mask and, if
    it has a column for ``weights`` (the same path, or the same run folder and file name), of those weights:
    for a card."""
    p = Path(metrics_json)
    if not p.is_file():
        raise InputNotFoundError(f"--metrics file not found: {p}", "pass the JSON written by `streamdeblur-train eval`")
    try:
        ev = json.loads(p.read_text())
        res = ev["results"]
    except (ValueError, KeyError, TypeError):
        raise WeightsError(f"--metrics {p} is not a `streamdeblur-train eval` JSON") from None
    # the same file, or (an eval run from another folder) the same run folder and name: never another run's
    # last.pt because it is also called last.pt
    mine = [k for k in res if k == str(weights) or Path(k).resolve() == Path(weights).resolve()]
    mine = mine or [k for k in res if Path(k).parts[-2:] == Path(weights).parts[-2:] and len(Path(k).parts) > 1]
    column = {
        "root": ev.get("root"),
        "split": ev.get("split"),
        "input": res.get("input"),
        "unsharp": res.get("unsharp"),
    }
    if mine:
        column["model"] = res[mine[0]]
    return column


def _refuse_taken(out: str | os.PathLike) -> None:
    """A generator pair (either file) already at ``out`` is replaced only with ``--overwrite``: checked
    before any work, so a slip of ``-o`` onto the shipped weights costs nothing."""
    taken = [p for p in generator_paths(out) if os.path.lexists(p)]
    if taken:
        raise OutputExistsError(f"{taken[0]} exists", "pass --overwrite to replace it, or choose another --out")
