"""ONNX export of a generator, and the cache of exports that ONNX Runtime, OpenVINO and
TensorRT builds read.

Why the exported graph is ``forward_padded`` and not ``forward``: a generator pads H and
W to its ``size_multiple`` with Python arithmetic and branches (reflect vs replicate)
that a trace would freeze at the example size. The ONNX therefore holds only the core
network, for inputs whose H and W are multiples of ``size_multiple``; each backend pads
with :func:`~streamdeblur.models.pad_to_multiple` (the very function PyTorch uses, so the
padded input is identical) and crops after, through
:meth:`streamdeblur.backends.base.Backend.run_padded`. The padding facts travel in the ONNX
metadata (``size_multiple``, ``min_size``).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from .errors import InputError, InputNotFoundError, OutputError, OutputExistsError
from .fileio import write_atomic
from .identity import weights_sha256
from .models import Generator
from .sizes import padded_size

log = logging.getLogger(__name__)

OPSET = 17
#: the newest opset of torch's TorchScript exporter (the one used here) where torch does not say it
_KNOWN_MAX_OPSET = 20
INPUT_NAME = "input"
OUTPUT_NAME = "output"
PRECISIONS = ("fp32", "fp16")


# --------------------------------------------------------------------------- hashing


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- export


class _Padded(nn.Module):
    """The generator's core network: input H and W already multiples of size_multiple."""

    def __init__(self, generator: Generator) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.generator.forward_padded(x)


class _Fp32Norm(nn.Module):
    """Runs a normalisation layer in float32 inside a half network.

    Mean and variance over many values lose too much in half (and can overflow); with
    explicit casts in the graph, a strongly typed TensorRT network keeps exactly this
    layer in float32 and everything else in half, as TensorRT's own guidance advises.
    """

    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.norm = norm.float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.float()).to(x.dtype)


def _to_half(model: nn.Module) -> nn.Module:
    from .models.lite import LayerNorm2d

    norms = (nn.InstanceNorm2d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, LayerNorm2d)
    model = model.half()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, norms):
                setattr(parent, name, _Fp32Norm(child))
    return model


def max_opset() -> int:
    """The newest ONNX opset the installed torch's TorchScript exporter supports (torch 2.x: 20; above
    it torch warns that the opset is unsupported, and from ONNX's newest on it fails with its graph on stdout)."""
    try:
        from torch.onnx import _constants
    except ImportError:  # pragma: no cover - present from torch 1.13 on
        return _KNOWN_MAX_OPSET
    top = getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", getattr(_constants, "ONNX_MAX_OPSET", None))
    return int(top) if isinstance(top, int) and top >= OPSET else _KNOWN_MAX_OPSET


def check_opset(opset: int) -> None:
    """The one-line error for an opset the export cannot write (checked before the model loads)."""
    top = max_opset()
    if opset < OPSET:
        raise InputError(f"opset {opset} is too old", f"use opset {OPSET} to {top}")
    if opset > top:
        raise InputError(
            f"opset {opset} is newer than torch {torch.__version__.split('+')[0]}'s ONNX exporter supports ({top})",
            f"use opset {OPSET} to {top}",
        )


def onnx_bytes(generator: Generator, precision: str = "fp32", opset: int = OPSET) -> bytes:
    """The generator as an ONNX model (dynamic batch, height, width) in memory.

    ``fp16``: weights, activations and I/O are half, normalisation layers float32 between
    explicit casts (see :class:`_Fp32Norm`); a strongly typed TensorRT network (the only
    kind TensorRT 11 builds; 10.x too) runs it so with no builder flag.
    """
    import onnx

    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}", f"choose one of: {', '.join(PRECISIONS)}")
    check_opset(opset)
    dtype = torch.float16 if precision == "fp16" else torch.float32
    model = copy.deepcopy(generator).to("cpu", torch.float32).eval()
    if precision == "fp16":
        model = _to_half(model)
    m = model.size_multiple
    example = torch.rand(1, 3, *padded_size(2 * m, 2 * m, m, model.min_size), dtype=dtype)
    dyn = {0: "batch", 2: "height", 3: "width"}
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter: the torch.export one needs onnxscript, which the
        # base install does not carry; this one is deterministic and handles our ops.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Padded(model),
            (example,),
            buf,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: dyn, OUTPUT_NAME: dyn},
            do_constant_folding=True,
            dynamo=False,
        )
    proto = onnx.load_from_string(buf.getvalue())
    meta = {
        "streamdeblur.arch": generator.arch,
        "streamdeblur.args": json.dumps(generator.arch_args, sort_keys=True),
        "streamdeblur.size_multiple": str(generator.size_multiple),
        "streamdeblur.min_size": str(generator.min_size),
        "streamdeblur.precision": precision,
        "streamdeblur.weights_sha256": weights_sha256(generator),
    }
    for k, v in meta.items():
        p = proto.metadata_props.add()
        p.key, p.value = k, v
    proto.producer_name = "streamdeblur"
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def export_onnx(
    generator: Generator,
    path: str | os.PathLike,
    precision: str = "fp32",
    opset: int = OPSET,
    *,
    overwrite: bool = True,
) -> Path:
    """Write the generator as ONNX to ``path`` (temporary name, then rename); with
    ``overwrite=False`` a file that appeared there meanwhile is not replaced."""
    path = Path(path)
    try:
        write_atomic(path, onnx_bytes(generator, precision, opset), replace=overwrite)
    except FileExistsError:
        if not path.parent.is_dir():  # mkdir met a file where the folder should be
            raise OutputError(
                f"cannot write {path}: {path.parent} is not a folder", "choose an output in a folder"
            ) from None
        raise OutputExistsError(
            f"{path} appeared while the ONNX was being exported and was left as it is", "pass --overwrite to replace it"
        ) from None
    except OSError as e:
        raise OutputError(
            f"cannot write {path}: {e.strerror or e}", "check the folder exists and is writable"
        ) from None
    return path


def onnx_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The streamdeblur facts stored in an exported ONNX (empty for a foreign ONNX)."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except FileNotFoundError:
        raise InputNotFoundError(f"ONNX file not found: {path}") from None
    except Exception as e:  # protobuf raises its own DecodeError
        raise InputError(
            f"{path} is not a readable ONNX model ({e.__class__.__name__})",
            "export one with `streamdeblur export --format onnx`",
        ) from None
    return {p.key: p.value for p in proto.metadata_props if p.key.startswith("streamdeblur.")}


def cache_dir() -> Path:
    """Where exported ONNX files are cached: $STREAMDEBLUR_CACHE_DIR or ~/.cache/streamdeblur."""
    env = os.environ.get("STREAMDEBLUR_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "streamdeblur"


def cached_onnx(generator: Generator, precision: str = "fp32", directory: str | os.PathLike | None = None) -> Path:
    """The generator's ONNX, exported once and kept, keyed by its weights' sha256.

    Writers race safely: each writes its own temporary file and renames it over the
    same name, and both wrote the same bytes.
    """
    d = Path(directory) if directory is not None else cache_dir() / "onnx"
    sha = weights_sha256(generator)
    path = d / f"{generator.arch}-{precision}-{sha[:16]}-opset{OPSET}.onnx"
    if path.exists():
        if _is_export_of(path, sha, precision):
            return path
        # truncated (a full disk, a copy cut short) or edited: ONNX Runtime and OpenVINO would fail on it
        # on every run until someone found and deleted it; the cache makes it again instead
        log.warning("the cached ONNX %s is damaged or not this generator's: exporting it again", path)
    log.info("exporting %s (%s) to %s", generator.arch, precision, path)
    try:
        write_atomic(path, onnx_bytes(generator, precision), replace=True)  # a racing writer wrote the same bytes
    except OSError as e:
        raise OutputError(
            f"cannot write the generator's ONNX export into the cache folder {d} ({e.strerror or e})",
            "make it writable, or set STREAMDEBLUR_CACHE_DIR to a writable folder",
        ) from None
    return path


def _is_export_of(path: Path, sha: str, precision: str) -> bool:
    """Whether ``path`` is a whole, readable export of the generator whose weights digest is ``sha``."""
    try:
        meta = onnx_metadata(path)
    except (InputError, OSError):
        return False
    return meta.get("streamdeblur.weights_sha256") == sha and meta.get("streamdeblur.precision") == precision


def onnx_for(generator: Generator, precision: str, path: str | os.PathLike | None = None) -> tuple[Path, str]:
    """The ONNX a backend runs for ``generator``, and the precision it holds: ``path`` (an
    export of the same architecture; its own precision wins), else the cached export in
    ``precision``."""
    if path is None:
        return cached_onnx(generator, precision), precision
    path = Path(path)
    meta = onnx_metadata(path)
    if meta.get("streamdeblur.arch") not in (None, generator.arch):
        raise InputError(
            f"{path} is an export of {meta['streamdeblur.arch']!r}, not {generator.arch!r}",
            "export this generator with `streamdeblur export`",
        )
    sha = meta.get("streamdeblur.weights_sha256")
    if sha is not None and sha != weights_sha256(generator):  # it would run those weights, not these
        raise InputError(
            f"{path} is an export of other {generator.arch} weights (sha256 {sha[:12]}, these are "
            f"{weights_sha256(generator)[:12]})",
            "export this generator with `streamdeblur export`, or load the weights it came from",
        )
    return path, meta.get("streamdeblur.precision", precision)
