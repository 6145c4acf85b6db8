"""ONNX export, TensorRT engine build, engine sidecar and cache naming.

Why the exported graph is ``forward_padded`` and not ``forward``: a generator pads H and
W to its ``size_multiple`` with Python arithmetic and branches (reflect vs replicate)
that a trace would freeze at the example size. The ONNX therefore holds only the core
network, for inputs whose H and W are multiples of ``size_multiple``; each backend pads
on its own device with :func:`~streamdeblur.models.pad_to_multiple` (the very function
PyTorch uses, so the padded input is identical) and crops after. The padding facts travel
in the ONNX metadata and the engine sidecar (``size_multiple``, ``min_size``).

An engine depends on: the ONNX bytes, the precision, the optimization profile, the
builder settings, the TensorRT version and the GPU. All of them go into the sidecar, and
a hash of them into the file name, so the same inputs find the existing engine and
different ones never collide (the vs-mlrt habit). TensorRT itself is imported lazily:
the base install has none.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import (
    BackendUnavailableError,
    EngineMismatchError,
    InputError,
    InputNotFoundError,
    OutputError,
    OutputExistsError,
    ShapeError,
)
from .fileio import write_atomic
from .models import Generator

log = logging.getLogger(__name__)

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "output"
PRECISIONS = ("fp32", "fp16")
SIDECAR_VERSION = 1
DEFAULT_ENGINES_DIR = Path("engines")
PIP_TENSORRT = "pip install 'streamdeblur[tensorrt]'"

#: (stage, fraction done or None, seconds elapsed) -> None
ProgressCallback = Callable[[str, "float | None", float], None]


# --------------------------------------------------------------------------- hashing


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def weights_sha256(generator: Generator) -> str:
    """A digest of the architecture, its args and every tensor: what the generator *is*.

    Independent of where (or whether) the weights live on disk, so an in-memory
    generator gets a cache key too.
    """
    h = hashlib.sha256()
    h.update(json.dumps({"arch": generator.arch, "args": generator.arch_args}, sort_keys=True).encode())
    for name, t in sorted(generator.state_dict().items()):
        t = t.detach().to("cpu", torch.float32).contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def _atomic_write_bytes(path: Path, data: bytes, *, replace: bool = True) -> None:
    """Engines, sidecars and timing caches are named by what they were built from, so a
    file already under the name is the same thing (or a --force rebuild): replaced.
    An exported ONNX passes ``replace`` = its --overwrite."""
    write_atomic(path, data, replace=replace)


# --------------------------------------------------------------------------- ONNX export


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


def onnx_bytes(generator: Generator, precision: str = "fp32", opset: int = OPSET) -> bytes:
    """The generator as an ONNX model (dynamic batch, height, width) in memory.

    ``fp16``: weights, activations and I/O are half, normalisation layers float32 between
    explicit casts (see :class:`_Fp32Norm`); a strongly typed TensorRT network (the only
    kind TensorRT 11 builds; 10.x too) runs it so with no builder flag.
    """
    import onnx

    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}", f"choose one of: {', '.join(PRECISIONS)}")
    if opset < 17:
        raise InputError(f"opset {opset} is too old", "use opset 17 or newer")
    dtype = torch.float16 if precision == "fp16" else torch.float32
    model = copy.deepcopy(generator).to("cpu", torch.float32).eval()
    if precision == "fp16":
        model = _to_half(model)
    side = max(model.size_multiple * 2, model.min_size)
    side = -(-side // model.size_multiple) * model.size_multiple
    example = torch.rand(1, 3, side, side, dtype=dtype)
    dyn = {0: "batch", 2: "height", 3: "width"}
    import io

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


def export_onnx(generator: Generator, path: str | os.PathLike, precision: str = "fp32", opset: int = OPSET, *, overwrite: bool = True) -> Path:
    """Write the generator as ONNX to ``path`` (temporary name, then rename); with
    ``overwrite=False`` a file that appeared there meanwhile is not replaced."""
    path = Path(path)
    try:
        _atomic_write_bytes(path, onnx_bytes(generator, precision, opset), replace=overwrite)
    except FileExistsError:
        raise OutputExistsError(f"{path} appeared while the ONNX was being exported and was left as it is", "pass --overwrite to replace it") from None
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}", "check the folder exists and is writable") from None
    return path


def onnx_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The streamdeblur facts stored in an exported ONNX (empty for a foreign ONNX)."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except FileNotFoundError:
        raise InputNotFoundError(f"ONNX file not found: {path}") from None
    except Exception as e:  # protobuf raises its own DecodeError
        raise InputError(f"{path} is not a readable ONNX model ({e.__class__.__name__})", "export one with `streamdeblur export --format onnx`") from None
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
    path = d / f"{generator.arch}-{precision}-{weights_sha256(generator)[:16]}-opset{OPSET}.onnx"
    if not path.exists():
        log.info("exporting %s (%s) to %s", generator.arch, precision, path)
        export_onnx(generator, path, precision)
    return path


# --------------------------------------------------------------------------- shapes and profile


def parse_hw(text: str) -> tuple[int, int]:
    """'720x1280' (HxW) -> (720, 1280)."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX*,]\s*(\d+)\s*", text or "")
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise InputError(f"bad shape {text!r}", "write height x width, e.g. 720x1280")
    return int(m.group(1)), int(m.group(2))


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


@dataclass(frozen=True)
class Profile:
    """A TensorRT optimization profile in frame pixels (H, W) and batch sizes.

    The defaults cover 360p to 1080p in landscape and portrait-ish crops down to 256;
    larger frames go through tiling.
    """

    min_hw: tuple[int, int] = (256, 256)
    opt_hw: tuple[int, int] = (720, 1280)
    max_hw: tuple[int, int] = (1080, 1920)
    batch: int = 1  # opt and max batch; min batch is 1

    def __post_init__(self) -> None:
        if self.batch < 1:
            raise InputError(f"--batch must be at least 1, got {self.batch}")
        for i, axis in enumerate(("height", "width")):
            lo, opt, hi = self.min_hw[i], self.opt_hw[i], self.max_hw[i]
            if not lo <= opt <= hi:
                raise InputError(
                    f"shape range is not ordered on {axis}: min {lo}, opt {opt}, max {hi}",
                    "pass --min-shape <= --opt-shape <= --max-shape",
                )

    def padded(self, multiple: int, min_size: int = 1) -> Profile:
        """The same profile in the padded sizes the network really sees."""

        def r(hw: tuple[int, int]) -> tuple[int, int]:
            return (round_up(max(hw[0], min_size), multiple), round_up(max(hw[1], min_size), multiple))

        return Profile(r(self.min_hw), r(self.opt_hw), r(self.max_hw), self.batch)

    def nchw(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        return (
            (1, 3, *self.min_hw),
            (self.batch, 3, *self.opt_hw),
            (self.batch, 3, *self.max_hw),
        )


def _fmt_hw(hw: tuple[int, int] | list[int]) -> str:
    return f"{hw[-2]}x{hw[-1]}"


# --------------------------------------------------------------------------- sidecar


@dataclass(frozen=True)
class GpuInfo:
    name: str
    compute_capability: str


def current_gpu(index: int = 0) -> GpuInfo | None:
    if not torch.cuda.is_available():
        return None
    p = torch.cuda.get_device_properties(index)
    return GpuInfo(p.name, f"{p.major}.{p.minor}")


def tensorrt_version() -> str | None:
    try:
        import tensorrt as trt  # type: ignore[import-not-found]
    except Exception:
        return None
    return str(trt.__version__)


@dataclass(frozen=True)
class EngineSidecar:
    """Everything an engine depends on; written beside it as ``X.engine.json``."""

    compiler: str  # "tensorrt" | "torch-tensorrt"
    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: str
    input_name: str
    output_name: str
    min_shape: tuple[int, ...]  # padded NCHW
    opt_shape: tuple[int, ...]
    max_shape: tuple[int, ...]
    onnx_sha256: str
    arch: str
    args: dict[str, Any]
    size_multiple: int
    min_size: int
    weights_sha256: str
    model_source: str = ""  # what to pass to --model/--weights to rebuild
    workspace_gib: float = 4.0
    opt_level: int = 3
    torch_tensorrt_version: str | None = None
    build_seconds: float | None = None
    built_at: str = ""
    format_version: int = SIDECAR_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str = "sidecar") -> EngineSidecar:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise EngineMismatchError(f"{source} is not valid JSON ({e})", "rebuild the engine with `streamdeblur build-engine`") from None
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, dict):
            data = {}
        missing = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in data]  # type: ignore[misc]
        if missing:
            raise EngineMismatchError(f"{source} lacks {', '.join(missing) or 'its fields'}", "rebuild the engine with `streamdeblur build-engine`")
        data = {k: v for k, v in data.items() if k in names}
        for k in ("min_shape", "opt_shape", "max_shape"):
            data[k] = tuple(int(v) for v in data[k])
        return cls(**data)

    @classmethod
    def read(cls, engine_path: str | os.PathLike) -> EngineSidecar:
        p = sidecar_path(engine_path)
        if not p.exists():
            raise EngineMismatchError(
                f"engine {engine_path} has no sidecar {p.name} beside it, so what it was built for is unknown",
                "rebuild it with `streamdeblur build-engine`",
            )
        return cls.from_json(p.read_text(), str(p))

    def hw_range(self) -> tuple[tuple[int, int], tuple[int, int]]:
        return (self.min_shape[2], self.min_shape[3]), (self.max_shape[2], self.max_shape[3])

    def rebuild_command(self, engines_dir: str | os.PathLike = DEFAULT_ENGINES_DIR) -> str:
        """The `build-engine` command that builds this engine on the machine it runs on."""
        src = self.model_source or self.arch
        model = f"--weights {src}" if ("/" in src or src.endswith(".safetensors")) else f"--model {src}"
        mn, mx = (self.min_shape[2], self.min_shape[3]), (self.max_shape[2], self.max_shape[3])
        opt = (min(max(self.opt_shape[2], mn[0]), mx[0]), min(max(self.opt_shape[3], mn[1]), mx[1]))
        parts = [
            "streamdeblur build-engine",
            model,
            f"--min-shape {_fmt_hw(mn)}",
            f"--opt-shape {_fmt_hw(opt)}",
            f"--max-shape {_fmt_hw(mx)}",
            f"--batch {self.max_shape[0]}",
        ]
        if self.compiler != "tensorrt":
            parts.append(f"--compiler {self.compiler}")
        parts.append(f"-o {engines_dir}")
        return " ".join(parts)


def sidecar_path(engine_path: str | os.PathLike) -> Path:
    p = Path(engine_path)
    return p.with_name(p.name + ".json")


@dataclass(frozen=True)
class Expected:
    """What the running machine and model need an engine to have been built for."""

    tensorrt_version: str | None = None
    gpu: GpuInfo | None = None
    arch: str | None = None
    args: dict[str, Any] | None = None
    weights_sha256: str | None = None
    onnx_sha256: str | None = None
    frame_hw: tuple[int, int] | None = None  # None: no shape check
    tiling: bool = False  # frames above max_shape may be tiled
    source: str | None = None  # the running generator's --model name or --weights path, for the fix


def sidecar_mismatches(side: EngineSidecar, exp: Expected) -> list[str]:
    """Each way ``side`` does not fit ``exp``, as short phrases (empty: it fits)."""
    out: list[str] = []
    if exp.gpu is not None:
        if side.gpu_name != exp.gpu.name:
            out.append(f"built for GPU {side.gpu_name!r}, this is {exp.gpu.name!r}")
        elif side.compute_capability != exp.gpu.compute_capability:
            out.append(f"built for compute capability {side.compute_capability}, this GPU has {exp.gpu.compute_capability}")
    if exp.tensorrt_version is not None and side.tensorrt_version != exp.tensorrt_version:
        out.append(f"built with TensorRT {side.tensorrt_version}, this is TensorRT {exp.tensorrt_version}")
    if exp.arch is not None and side.arch != exp.arch:
        out.append(f"built for model {side.arch!r}, running {exp.arch!r}")
    elif exp.args is not None and side.args != exp.args:
        out.append(f"built for {side.arch} args {side.args}, running {exp.args}")
    elif exp.weights_sha256 is not None and side.weights_sha256 != exp.weights_sha256:
        out.append(f"built from other weights (sha256 {side.weights_sha256[:12]}, running {exp.weights_sha256[:12]})")
    if exp.onnx_sha256 is not None and side.onnx_sha256 != exp.onnx_sha256:
        out.append(f"built from another ONNX (sha256 {side.onnx_sha256[:12]}, expected {exp.onnx_sha256[:12]})")
    if exp.frame_hw is not None:
        h = max(round_up(max(exp.frame_hw[0], side.min_size), side.size_multiple), 1)
        w = max(round_up(max(exp.frame_hw[1], side.min_size), side.size_multiple), 1)
        (lo_h, lo_w), (hi_h, hi_w) = side.hw_range()
        if h < lo_h or w < lo_w:
            out.append(f"frame {_fmt_hw(exp.frame_hw)} is below the profile's min {lo_h}x{lo_w}")
        elif (h > hi_h or w > hi_w) and not exp.tiling:
            out.append(f"frame {_fmt_hw(exp.frame_hw)} is above the profile's max {hi_h}x{hi_w}")
    return out


def validate_sidecar(
    side: EngineSidecar,
    exp: Expected,
    engine_path: str | os.PathLike = "the engine",
    engines_dir: str | os.PathLike = DEFAULT_ENGINES_DIR,
) -> None:
    """Raise :class:`EngineMismatchError` naming every difference and the fixing command."""
    diffs = sidecar_mismatches(side, exp)
    if not diffs:
        return
    fixed = _profile_for(side, exp.frame_hw) if exp.frame_hw is not None else side
    if exp.source:  # build for the generator being run, not the one the engine came from
        fixed = dataclasses.replace(fixed, model_source=exp.source)
    raise EngineMismatchError(
        f"engine {Path(engine_path).name} does not fit: " + "; ".join(diffs),
        f"rebuild it here with: {fixed.rebuild_command(engines_dir)}",
    )


def _profile_for(side: EngineSidecar, frame_hw: tuple[int, int]) -> EngineSidecar:
    """``side`` with its shape range widened to take a ``frame_hw`` frame (for the fix command)."""
    m = side.size_multiple
    h, w = round_up(max(frame_hw[0], side.min_size), m), round_up(max(frame_hw[1], side.min_size), m)
    mn = (1, 3, min(side.min_shape[2], h), min(side.min_shape[3], w))
    mx = (side.max_shape[0], 3, max(side.max_shape[2], h), max(side.max_shape[3], w))
    return dataclasses.replace(side, min_shape=mn, max_shape=mx)


# --------------------------------------------------------------------------- naming


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def engine_key(
    onnx_sha256: str,
    precision: str,
    profile: Profile,
    tensorrt_version: str,
    gpu: GpuInfo,
    workspace_gib: float,
    opt_level: int,
    compiler: str = "tensorrt",
) -> str:
    """A digest of everything the built engine depends on."""
    payload = {
        "onnx": onnx_sha256,
        "precision": precision,
        "profile": [list(s) for s in profile.nchw()],
        "tensorrt": tensorrt_version,
        "gpu": gpu.name,
        "cc": gpu.compute_capability,
        "workspace_gib": float(workspace_gib),
        "opt_level": int(opt_level),
        "compiler": compiler,
        "sidecar": SIDECAR_VERSION,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def engine_filename(arch: str, precision: str, gpu: GpuInfo, tensorrt_version: str, key: str, compiler: str = "tensorrt") -> str:
    """``deblurgan-lite-fp16-nvidia-h100-80gb-hbm3-sm90-trt10.9.0-1a2b3c4d5e6f.engine``."""
    ext = ".engine" if compiler == "tensorrt" else ".ep"
    sm = gpu.compute_capability.replace(".", "")
    return f"{arch}-{precision}-{_slug(gpu.name)}-sm{sm}-trt{_slug(tensorrt_version).replace('-', '.')}-{key[:12]}{ext}"


def timing_cache_path(engines_dir: str | os.PathLike, gpu: GpuInfo, tensorrt_version: str) -> Path:
    """One timing cache per GPU model and TensorRT version, shared by every build there."""
    sm = gpu.compute_capability.replace(".", "")
    return Path(engines_dir) / f"{_slug(gpu.name)}-sm{sm}-trt{tensorrt_version}.timing.cache"


def find_engines(engines_dir: str | os.PathLike = DEFAULT_ENGINES_DIR) -> list[tuple[Path, EngineSidecar]]:
    """Every engine in ``engines_dir`` with a readable sidecar (newest first)."""
    d = Path(engines_dir)
    found = []
    if not d.is_dir():
        return found
    for side_p in d.glob("*.json"):
        eng = side_p.with_name(side_p.name[: -len(".json")])
        if eng.suffix not in (".engine", ".ep") or not eng.exists():
            continue
        try:
            found.append((eng, EngineSidecar.from_json(side_p.read_text(), str(side_p))))
        except (EngineMismatchError, OSError, TypeError, ValueError, KeyError):
            log.warning("ignoring unreadable sidecar %s", side_p)
    found.sort(key=lambda t: t[0].stat().st_mtime, reverse=True)
    return found


def find_engine(
    generator: Generator,
    engines_dir: str | os.PathLike = DEFAULT_ENGINES_DIR,
    gpu: GpuInfo | None = None,
    tensorrt_ver: str | None = None,
) -> tuple[Path, EngineSidecar] | None:
    """The newest engine in ``engines_dir`` built for this generator, GPU and TensorRT."""
    gpu = gpu or current_gpu()
    tensorrt_ver = tensorrt_ver or tensorrt_version()
    if gpu is None or tensorrt_ver is None:
        return None
    exp = Expected(tensorrt_ver, gpu, generator.arch, generator.arch_args, weights_sha256(generator))
    for eng, side in find_engines(engines_dir):
        if not sidecar_mismatches(side, exp):
            return eng, side
    return None


def require_engine(
    generator: Generator,
    engines_dir: str | os.PathLike = DEFAULT_ENGINES_DIR,
    gpu: GpuInfo | None = None,
    tensorrt_ver: str | None = None,
) -> tuple[Path, EngineSidecar]:
    """:func:`find_engine`, or an error that says why none fits and how to build one.

    If engines of this architecture are there but were built for another GPU, TensorRT
    or weights, the newest one's differences are named (EngineMismatchError); if none is
    there at all, InputNotFoundError.
    """
    gpu = gpu or current_gpu()
    tensorrt_ver = tensorrt_ver or tensorrt_version()
    hit = find_engine(generator, engines_dir, gpu, tensorrt_ver)
    if hit is not None:
        return hit
    info = ModelInfo.of(generator)
    exp = Expected(tensorrt_ver, gpu, info.arch, info.args, info.weights_sha256, source=info.source)
    for eng, side in find_engines(engines_dir):
        if side.arch == generator.arch:
            validate_sidecar(side, exp, eng, engines_dir)  # raises, naming what differs
    model = f"--weights {info.source}" if "/" in info.source else f"--model {info.source}"
    raise InputNotFoundError(
        f"no TensorRT engine for {generator.arch} in {engines_dir}/",
        f"build one for this GPU with: streamdeblur build-engine {model} -o {engines_dir}",
    )


# --------------------------------------------------------------------------- build


def tensorrt_requirements() -> str | None:
    """None if TensorRT engines can be built and run here; else one line saying what lacks."""
    missing = []
    if tensorrt_version() is None:
        missing.append(f"TensorRT is not installed ({PIP_TENSORRT})")
    if not torch.cuda.is_available():
        build = "this PyTorch is a CPU-only build" if torch.version.cuda is None else "no CUDA GPU is visible"
        missing.append(f"no NVIDIA GPU usable ({build}; TensorRT needs an NVIDIA GPU with a CUDA build of torch)")
    if not missing:
        return None
    return "TensorRT engines need TensorRT and an NVIDIA GPU: " + "; ".join(missing)


@dataclass(frozen=True)
class BuildOptions:
    """One field per `build-engine` option."""

    profile: Profile = Profile()
    precision: str = "fp16"
    workspace_gib: float = 4.0
    opt_level: int = 3
    compiler: str = "tensorrt"  # or "torch-tensorrt"
    engines_dir: Path = DEFAULT_ENGINES_DIR
    force: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.opt_level <= 5:
            raise InputError(f"--opt-level must be 0 to 5, got {self.opt_level}")
        if self.workspace_gib <= 0:
            raise InputError(f"--workspace must be positive, got {self.workspace_gib}")
        if self.precision not in PRECISIONS:
            raise InputError(f"unknown precision {self.precision!r}", f"choose one of: {', '.join(PRECISIONS)}")
        if self.compiler not in ("tensorrt", "torch-tensorrt"):
            raise InputError(f"unknown compiler {self.compiler!r}", "choose tensorrt or torch-tensorrt")


@dataclass(frozen=True)
class BuildResult:
    engine: Path
    sidecar: EngineSidecar
    reused: bool  # True: an engine for the same inputs was already there


class _Ticker:
    """Calls ``progress`` with the elapsed time once a second while a build runs."""

    def __init__(self, progress: ProgressCallback | None, stage: str) -> None:
        self.progress, self.stage = progress, stage
        self.t0 = time.monotonic()
        self.fraction: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Ticker:
        if self.progress is not None:
            self._thread = threading.Thread(target=self._run, name="engine-build-progress", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.emit()

    def emit(self, stage: str | None = None) -> None:
        if stage:
            self.stage = stage
        if self.progress is not None:
            self.progress(self.stage, self.fraction, time.monotonic() - self.t0)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


@dataclass(frozen=True)
class ModelInfo:
    """What an engine needs to know of its generator (from the generator or an ONNX's metadata)."""

    arch: str
    args: dict[str, Any]
    size_multiple: int
    min_size: int
    weights_sha256: str
    source: str  # what to pass to --model / --weights to rebuild

    @classmethod
    def of(cls, generator: Generator) -> ModelInfo:
        return cls(generator.arch, dict(generator.arch_args), generator.size_multiple, generator.min_size, weights_sha256(generator), _model_source(generator))

    @classmethod
    def from_onnx(cls, path: str | os.PathLike) -> ModelInfo:
        meta = onnx_metadata(path)
        need = ("arch", "args", "size_multiple", "min_size", "weights_sha256")
        if any(f"streamdeblur.{k}" not in meta for k in need):
            raise InputError(
                f"{path} is not a streamdeblur export (its metadata lacks the generator's arch, args and padding)",
                "export it with `streamdeblur export --format onnx`, or pass --model / --weights",
            )
        return cls(
            meta["streamdeblur.arch"],
            json.loads(meta["streamdeblur.args"]),
            int(meta["streamdeblur.size_multiple"]),
            int(meta["streamdeblur.min_size"]),
            meta["streamdeblur.weights_sha256"],
            meta["streamdeblur.arch"],
        )


def _model_source(generator: Generator) -> str:
    src = getattr(generator, "source", None)
    if not src:
        return generator.arch
    from .models import shipped_weights

    if Path(src).resolve() == shipped_weights(generator.arch).resolve():
        return generator.arch
    return str(src)


def build_engine(
    generator: Generator | None,
    options: BuildOptions = BuildOptions(),
    onnx_path: str | os.PathLike | None = None,
    progress: ProgressCallback | None = None,
) -> BuildResult:
    """Build (or reuse) a TensorRT engine on this GPU, from ``generator`` or ``onnx_path``.

    ``onnx_path`` must be a streamdeblur export (its metadata carries the generator's
    arch, args and padding). Raises :class:`BackendUnavailableError` at once where
    TensorRT or a GPU is missing, before any export.
    """
    reason = tensorrt_requirements()
    if reason:
        raise BackendUnavailableError(reason)
    if options.compiler == "torch-tensorrt":
        if generator is None:
            raise InputError("--compiler torch-tensorrt compiles the PyTorch generator, not an ONNX", "pass --model or --weights instead of --onnx")
        try:
            import torch_tensorrt  # type: ignore[import-not-found]  # noqa: F401
        except Exception:
            raise BackendUnavailableError(f"--compiler torch-tensorrt needs torch-tensorrt, which is not installed ({PIP_TENSORRT})") from None
    if generator is None and onnx_path is None:
        raise InputError("nothing to build from", "pass --model, --weights or --onnx")
    gpu = current_gpu()
    trt_ver = tensorrt_version()
    assert gpu is not None and trt_ver is not None
    engines_dir = Path(options.engines_dir)
    try:
        engines_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {engines_dir}: {e.strerror or e}") from None

    if onnx_path is None:
        assert generator is not None
        onnx_path = cached_onnx(generator, options.precision)
    onnx_path = Path(onnx_path)
    info = ModelInfo.from_onnx(onnx_path)
    if generator is not None:
        info = dataclasses.replace(info, source=_model_source(generator))
    meta = onnx_metadata(onnx_path)
    if meta.get("streamdeblur.precision", options.precision) != options.precision:
        raise InputError(f"{onnx_path} was exported as {meta['streamdeblur.precision']}, but --precision is {options.precision}", "export it again with --precision " + options.precision)
    onnx_sha = sha256_file(onnx_path)
    profile = options.profile.padded(info.size_multiple, info.min_size)
    key = engine_key(onnx_sha, options.precision, profile, trt_ver, gpu, options.workspace_gib, options.opt_level, options.compiler)
    engine_path = engines_dir / engine_filename(info.arch, options.precision, gpu, trt_ver, key, options.compiler)
    if engine_path.exists() and sidecar_path(engine_path).exists() and not options.force:
        return BuildResult(engine_path, EngineSidecar.read(engine_path), True)

    mn, opt, mx = profile.nchw()
    side = EngineSidecar(
        compiler=options.compiler,
        tensorrt_version=trt_ver,
        gpu_name=gpu.name,
        compute_capability=gpu.compute_capability,
        precision=options.precision,
        input_name=INPUT_NAME,
        output_name=OUTPUT_NAME,
        min_shape=mn,
        opt_shape=opt,
        max_shape=mx,
        onnx_sha256=onnx_sha,
        arch=info.arch,
        args=info.args,
        size_multiple=info.size_multiple,
        min_size=info.min_size,
        weights_sha256=info.weights_sha256,
        model_source=info.source,
        workspace_gib=options.workspace_gib,
        opt_level=options.opt_level,
    )
    with _Ticker(progress, "building TensorRT engine") as tick:
        if options.compiler == "tensorrt":
            data = _build_with_tensorrt(onnx_path, side, options, engines_dir, gpu, trt_ver, tick)
        else:
            assert generator is not None
            data, side = _build_with_torch_tensorrt(generator, side, options, tick)
        tick.fraction = 1.0
        tick.emit("writing engine")
        elapsed = tick.elapsed
    side = dataclasses.replace(side, build_seconds=round(elapsed, 1), built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    # engine first, sidecar last: an engine without a sidecar is never picked up
    _atomic_write_bytes(engine_path, data)
    _atomic_write_bytes(sidecar_path(engine_path), side.to_json().encode())
    return BuildResult(engine_path, side, False)


def _trt_logger(trt: Any) -> Any:
    """A TensorRT ILogger that forwards to :mod:`logging` (TensorRT never prints on its own)."""
    sev = trt.ILogger.Severity
    levels = {
        sev.INTERNAL_ERROR: logging.ERROR,
        sev.ERROR: logging.ERROR,
        sev.WARNING: logging.WARNING,
        sev.INFO: logging.DEBUG,
        sev.VERBOSE: logging.DEBUG,
    }

    class _Log(trt.ILogger):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            log.log(levels.get(severity, logging.DEBUG), "TensorRT: %s", msg)

    return _Log()


def parser_errors(parser: Any) -> list[str]:
    """Every error the ONNX parser recorded, one readable line each."""
    lines = []
    for i in range(parser.num_errors):
        err = parser.get_error(i)
        parts = [str(err.desc()) if hasattr(err, "desc") else str(err)]
        for attr in ("node_name", "node_operator"):
            fn = getattr(err, attr, None)
            if callable(fn):
                with contextlib.suppress(Exception):
                    if v := fn():
                        parts.append(f"{attr.replace('_', ' ')} {v}")
        if hasattr(err, "node"):
            with contextlib.suppress(Exception):
                parts.append(f"node #{err.node()}")
        if hasattr(err, "code"):
            with contextlib.suppress(Exception):
                parts.append(f"code {err.code()}")
        lines.append(f"[{i + 1}] " + ", ".join(parts))
    return lines


def _build_with_tensorrt(onnx_path: Path, side: EngineSidecar, options: BuildOptions, engines_dir: Path, gpu: GpuInfo, trt_ver: str, tick: _Ticker) -> bytes:
    """The TensorRT Python API build: strongly typed network, one profile, timing cache."""
    import tensorrt as trt  # type: ignore[import-not-found]

    logger = _trt_logger(trt)
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    tick.emit("parsing ONNX")
    if not parser.parse_from_file(str(onnx_path)):
        errors = parser_errors(parser)
        raise InputError(f"TensorRT cannot parse {onnx_path} ({len(errors)} error(s)): " + " | ".join(errors), "report it with the ONNX attached")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(options.workspace_gib * (1 << 30)))
    config.builder_optimization_level = int(options.opt_level)
    profile = builder.create_optimization_profile()
    profile.set_shape(side.input_name, side.min_shape, side.opt_shape, side.max_shape)
    config.add_optimization_profile(profile)

    cache_path = timing_cache_path(engines_dir, gpu, trt_ver)
    cache_bytes = cache_path.read_bytes() if cache_path.exists() else b""
    timing_cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(timing_cache, ignore_mismatch=False)

    class _Monitor(trt.IProgressMonitor):  # type: ignore[misc,name-defined]
        """Maps TensorRT's phases onto the progress callback (top-level phases only)."""

        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.steps: dict[str, int] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            if parent_phase is None:
                self.steps[phase_name] = max(1, num_steps)
                tick.fraction = 0.0
                tick.emit(f"TensorRT: {phase_name}")

        def step_complete(self, phase_name: str, step: int) -> bool:
            if phase_name in self.steps:
                tick.fraction = min(1.0, (step + 1) / self.steps[phase_name])
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            self.steps.pop(phase_name, None)

    monitor = _Monitor()
    with contextlib.suppress(AttributeError):  # progress_monitor: TensorRT 10+
        config.progress_monitor = monitor
    tick.emit("building (this takes minutes)")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise InputError("TensorRT failed to build the engine (its log above says why)", "rerun with --debug, or lower --opt-level / raise --workspace")
    _atomic_write_bytes(cache_path, bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


def _build_with_torch_tensorrt(generator: Generator, side: EngineSidecar, options: BuildOptions, tick: _Ticker) -> tuple[bytes, EngineSidecar]:
    """torch_tensorrt.compile(ir="dynamo") on the core network, saved as an ExportedProgram."""
    import torch_tensorrt  # type: ignore[import-not-found]

    dtype = torch.float16 if options.precision == "fp16" else torch.float32
    core = copy.deepcopy(generator).to("cuda", torch.float32).eval()
    model = _Padded(_to_half(core) if options.precision == "fp16" else core)  # same typing as the FP16 ONNX
    spec = torch_tensorrt.Input(min_shape=side.min_shape, opt_shape=side.opt_shape, max_shape=side.max_shape, dtype=dtype)
    tick.emit("torch-tensorrt: compiling (this takes minutes)")
    trt_gm = torch_tensorrt.compile(
        model,
        ir="dynamo",
        inputs=[spec],
        enabled_precisions={dtype},
        workspace_size=int(options.workspace_gib * (1 << 30)),
        optimization_level=int(options.opt_level),
    )
    example = [torch.rand(side.opt_shape, device="cuda", dtype=dtype)]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "engine.ep"
        try:
            torch_tensorrt.save(trt_gm, str(out), arg_inputs=example)
        except TypeError:  # torch-tensorrt < 2.5 names it `inputs`
            torch_tensorrt.save(trt_gm, str(out), inputs=example)
        data = out.read_bytes()
    side = dataclasses.replace(side, torch_tensorrt_version=str(torch_tensorrt.__version__))
    return data, side


def check_frame(side: EngineSidecar, frame_hw: tuple[int, int], tiling: bool = False, engine_path: str | os.PathLike = "the engine") -> None:
    """Raise :class:`ShapeError` for a frame the engine's profile cannot take."""
    if sidecar_mismatches(side, Expected(frame_hw=frame_hw, tiling=tiling)):
        (lo_h, lo_w), (hi_h, hi_w) = side.hw_range()
        raise ShapeError(
            f"input size {_fmt_hw(frame_hw)} is outside the TensorRT optimization profile of {Path(engine_path).name} "
            f"(min {lo_h}x{lo_w}, max {hi_h}x{hi_w} after padding to a multiple of {side.size_multiple})",
            f"rebuild with: {_profile_for(side, frame_hw).rebuild_command()}",
        )
