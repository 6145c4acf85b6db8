"""Generator registry, construction, and the checkpoint format the runtime loads.

A generator checkpoint is two files side by side:

* ``NAME.safetensors``: the weights;
* ``NAME.json``: ``{"arch": ..., "args": {...}, "trained_on": ..., "metrics": {...}}``,
  enough to rebuild the model with no training config.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import InputNotFoundError, ModelNotFoundError, OutputExistsError, WeightsError
from ..fileio import set_ordinary_mode, writing
from .common import MAX_PARAMS, Generator, check_args, count_macs, count_params, pad_to, pad_to_multiple
from .deblurgan import DeblurGANGenerator
from .lite import DeblurGANLite

MODELS: dict[str, Callable[..., Generator]] = {
    "deblurgan": DeblurGANGenerator,
    "deblurgan-lite": DeblurGANLite,
}
DEFAULT_MODEL = "deblurgan-lite"
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"

__all__ = [
    "MODELS",
    "DEFAULT_MODEL",
    "WEIGHTS_DIR",
    "Generator",
    "build_model",
    "load_generator",
    "save_generator",
    "read_card",
    "shipped_weights",
    "count_macs",
    "count_params",
    "pad_to",
    "pad_to_multiple",
]


def build_model(name: str, **args: Any) -> Generator:
    """A freshly initialised generator of architecture ``name``."""
    try:
        ctor = MODELS[name]
    except KeyError:
        raise ModelNotFoundError(f"unknown model {name!r}", f"choose one of: {', '.join(sorted(MODELS))}") from None
    check_args(name, getattr(ctor, "ARGS", {}), args)
    try:
        with torch.device("meta"):  # its size first, with nothing allocated
            params = count_params(ctor(**args))
        if params > MAX_PARAMS:
            raise WeightsError(
                f"model {name!r} with {args} would have {params / 1e6:,.0f} M parameters (at most "
                f"{MAX_PARAMS / 1e6:,.0f} M)",
                "the model card is damaged or was edited",
            )
        return ctor(**args)
    except (TypeError, ValueError) as e:
        if isinstance(e, WeightsError):
            raise
        raise WeightsError(f"bad arguments for model {name!r}: {e}") from None


def shipped_weights(name: str = DEFAULT_MODEL) -> Path:
    """Path of the shipped ``.safetensors`` for a model name (may not exist)."""
    return WEIGHTS_DIR / f"{name}.safetensors"


def _resolve(name_or_path: str | os.PathLike | None) -> tuple[Path, Path]:
    """(weights, card) paths for a model name, a .safetensors/.json path or a stem."""
    if name_or_path is None or str(name_or_path) == "default":
        name_or_path = DEFAULT_MODEL
    s = str(name_or_path)
    if s in MODELS:
        w = shipped_weights(s)
        if not w.exists():
            raise WeightsError(
                f"no shipped weights for model {s!r} (looked for {w})",
                "pass --weights PATH to a generator exported with `streamdeblur-train export`",
            )
    else:
        p = Path(s).expanduser()
        if p.suffix == ".json":
            w = p.with_suffix(".safetensors")
        elif p.suffix == ".safetensors":
            w = p
        elif p.is_dir():
            raise WeightsError(f"{p} is a folder, not a generator", "pass the .safetensors file")
        else:
            w = p.with_name(p.name + ".safetensors") if p.suffix == "" else p
        if not w.exists():
            raise InputNotFoundError(
                f"generator weights not found: {w}", "check the path, or leave --weights out to use the shipped model"
            )
        if w.suffix != ".safetensors":
            raise WeightsError(f"{w} is not a .safetensors generator", "export one with `streamdeblur-train export`")
    card = w.with_suffix(".json")
    if not card.exists():
        raise WeightsError(
            f"{w} has no model card {card.name} beside it",
            "export the generator with `streamdeblur-train export`, which writes both",
        )
    return w, card


def read_card(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a generator's JSON card."""
    path = Path(path)
    try:
        card = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WeightsError(
            f"model card {path} is unreadable ({e.__class__.__name__}: {e})",
            "re-export the generator with `streamdeblur-train export`, which writes both files",
        ) from None
    if not isinstance(card, dict) or "arch" not in card or not isinstance(card.get("args", {}), dict):
        raise WeightsError(
            f"model card {path} lacks 'arch' and 'args'", "re-export the generator with `streamdeblur-train export`"
        )
    if not isinstance(card["arch"], str) or card["arch"] not in MODELS:  # a list is unhashable: else a TypeError
        raise WeightsError(
            f"model card {path} names unknown architecture {card['arch']!r}", f"known: {', '.join(sorted(MODELS))}"
        )
    return card


def load_generator(name_or_path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Generator:
    """Load a generator in eval mode.

    ``None`` or ``"default"``: the shipped default model; a registered model name: its
    shipped weights; otherwise a path to ``NAME.safetensors`` (or its ``.json``, or the
    stem). The result carries ``.card`` (the JSON) and ``.source`` (the weights path).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights, card_path = _resolve(name_or_path)
    card = read_card(card_path)
    try:
        model = build_model(card["arch"], **card.get("args", {}))
    except WeightsError as e:  # name the card: the arguments are its, not the user's
        raise WeightsError(
            f"model card {card_path}: {e.message}",
            "the card is damaged or was edited: re-export the generator with `streamdeblur-train export`",
        ) from None
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise WeightsError(
            f"{weights} is not a readable safetensors file ({e}); it may be truncated", "re-export or re-copy it"
        ) from None
    fits = "the .json card does not match the .safetensors: re-export both with `streamdeblur-train export`"
    mismatch = _state_mismatch(model.state_dict(), state)
    if mismatch:
        raise WeightsError(
            f"{weights.name} does not match architecture {card['arch']!r} in {card_path.name}: {mismatch}", fits
        )
    broken = [k for k, t in state.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if broken:  # it would run and write black or garbage frames, with no error anywhere
        more = f" (+{len(broken) - 1} more)" if len(broken) > 1 else ""
        raise WeightsError(
            f"{weights} holds NaN or infinite values (tensor {broken[0]!r}{more}): it is damaged, or its training "
            "diverged",
            "export it again from a checkpoint with finite losses, or leave --weights out for the shipped model",
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:  # pragma: no cover - _state_mismatch finds what load_state_dict would
        first = str(e).splitlines()[0][:120]
        raise WeightsError(
            f"{weights.name} does not match architecture {card['arch']!r} in {card_path.name}: {first}", fits
        ) from None
    model.card = card
    model.source = str(weights)
    return model.to(device).eval()


def _shape(t: Any) -> str:
    return "[" + ", ".join(str(d) for d in t.shape) + "]"


def _state_mismatch(expected: dict[str, Any], found: dict[str, Any]) -> str | None:
    """The first way ``found`` (a weights file) fails to fit ``expected`` (the model its
    card describes), in a few words, with how many more tensors differ; None if it fits."""
    shapes = [k for k in expected if k in found and tuple(found[k].shape) != tuple(expected[k].shape)]
    missing = [k for k in expected if k not in found]
    extra = [k for k in found if k not in expected]
    # integers where the model has floats (or the reverse): load_state_dict would truncate them and run
    kinds = [
        k
        for k in expected
        if k in found and k not in shapes and found[k].is_floating_point() != expected[k].is_floating_point()
    ]

    def more(n: int) -> str:
        return f" (+{n} more)" if n else ""

    others = len(shapes) + len(missing) + len(extra) + len(kinds) - 1
    if shapes:
        k = shapes[0]
        return f"tensor {k!r} is {_shape(found[k])} in the file, {_shape(expected[k])} by the card{more(others)}"
    if kinds:
        k = kinds[0]
        return (
            f"tensor {k!r} is {str(found[k].dtype).removeprefix('torch.')} in the file, "
            f"{str(expected[k].dtype).removeprefix('torch.')} in the model{more(others)}"
        )
    if missing:
        return f"tensor {missing[0]!r} the card needs is not in the file{more(others)}"
    if extra:
        return f"the file has tensor {extra[0]!r}, which the card has no place for{more(others)}"
    return None


def generator_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """The ``NAME.safetensors`` and ``NAME.json`` that :func:`save_generator` writes for ``path``
    (``NAME``, ``NAME.safetensors`` or ``NAME.anything``)."""
    w = Path(path)
    if w.suffix != ".safetensors":
        w = w.with_name(w.name + ".safetensors") if w.suffix == "" else w.with_suffix(".safetensors")
    return w, w.with_suffix(".json")


def save_generator(
    model: Generator,
    path: str | os.PathLike,
    *,
    trained_on: Any = None,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    half: bool = False,
    overwrite: bool = True,
) -> tuple[Path, Path]:
    """Write ``NAME.safetensors`` + ``NAME.json``, each through a temporary file and a rename
    (:func:`~streamdeblur.fileio.writing`).

    ``overwrite=False``: a pair that appeared under the name meanwhile is not replaced
    (:class:`~streamdeblur.errors.OutputExistsError`; nothing of this one is left).

    ``half`` stores the floating-point tensors as float16 (half the file; ``load_generator``
    casts them back to the model's float32, and GPU backends run in FP16 anyway).
    """
    from safetensors.torch import save_file

    w, card_path = generator_paths(path)
    w.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    card: dict[str, Any] = {
        "arch": model.arch,
        "args": model.arch_args,
        "params": count_params(model),
        "trained_on": trained_on,
        "metrics": metrics or {},
        "stored_dtype": "float16" if half else "float32",
    }
    if extra:
        card.update(extra)
    published = False  # the weights: removed again if the card cannot follow them
    try:
        with writing(card_path, replace=overwrite) as tmp_c:
            with writing(w, replace=overwrite) as tmp_w:  # weights first: a card alone is never loaded
                save_file(state, str(tmp_w), metadata={"arch": model.arch})
                set_ordinary_mode(tmp_w)  # safetensors writes 0600
                tmp_c.write_text(json.dumps(card, indent=2, sort_keys=False) + "\n")
            published = True
    except FileExistsError:
        if published:
            w.unlink()
        raise OutputExistsError(
            f"{w.name} or {card_path.name} appeared in {w.parent} while the generator was being written",
            "choose another name, or allow replacing it",
        ) from None
    return w, card_path
