"""TensorRT engines on disk: the optimization profile, the JSON sidecar beside each engine,
the cache naming, finding an engine that fits this GPU and generator, and the checks that
refuse one that does not (before TensorRT deserializes anything).

An engine depends on: the ONNX bytes, the precision, the optimization profile, the
builder settings, the TensorRT version and the GPU. All of them go into the sidecar, and
a hash of them into the file name, so the same inputs find the existing engine and
different ones never collide (the vs-mlrt habit). Building is :mod:`streamdeblur.engine_build`.
Sizes in messages and in the ``build-engine`` commands they suggest are WIDTHxHEIGHT, as the
options take them; inside, shapes are (H, W) and the sidecar stores padded NCHW. TensorRT
itself is imported lazily: the base install has none.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import EngineMismatchError, InputError, InputNotFoundError, ShapeError
from .identity import ModelInfo, weights_sha256
from .machine import GpuInfo, current_gpu, tensorrt_version
from .models import Generator
from .sizes import padded_size

log = logging.getLogger(__name__)

SIDECAR_VERSION = 1
DEFAULT_ENGINES_DIR = Path("engines")


# --------------------------------------------------------------------------- profile


@dataclass(frozen=True)
class Profile:
    """A TensorRT optimization profile in frame pixels (H, W) and batch sizes
    (``build-engine`` takes the sizes as WIDTHxHEIGHT).

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
        mn, opt, mx = (padded_size(*hw, multiple, min_size) for hw in (self.min_hw, self.opt_hw, self.max_hw))
        return Profile(mn, opt, mx, self.batch)

    def nchw(self) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        return (
            (1, 3, *self.min_hw),
            (self.batch, 3, *self.opt_hw),
            (self.batch, 3, *self.max_hw),
        )


def _wxh(hw: tuple[int, ...] | list[int]) -> str:
    """An (..., H, W) shape as the WIDTHxHEIGHT every size option takes."""
    return f"{hw[-1]}x{hw[-2]}"


def _model_option(source: str) -> str:
    """``--weights PATH`` or ``--model NAME``: how ``build-engine`` is told the generator."""
    return f"--weights {source}" if ("/" in source or source.endswith(".safetensors")) else f"--model {source}"


# --------------------------------------------------------------------------- sidecar


@dataclass(frozen=True)
class EngineSidecar:
    """Everything an engine depends on; written beside it as ``X.engine.json``.

    Older sidecars also hold ``compiler`` (always ``tensorrt``); reading skips it, as it
    skips any field it does not know."""

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
            raise EngineMismatchError(
                f"{source} is not valid JSON ({e})", "rebuild the engine with `streamdeblur build-engine`"
            ) from None
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, dict):
            data = {}
        missing = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and f.name not in data
        ]  # type: ignore[misc]
        if missing:
            raise EngineMismatchError(
                f"{source} lacks {', '.join(missing) or 'its fields'}",
                "rebuild the engine with `streamdeblur build-engine`",
            )
        if data.get("compiler", "tensorrt") != "tensorrt":  # torch-tensorrt's, a compiler since removed (issue 20)
            raise EngineMismatchError(
                f"{source} is of an engine built by {data['compiler']}, which this version no longer runs",
                "rebuild the engine with `streamdeblur build-engine`",
            )
        data = {k: v for k, v in data.items() if k in names}
        try:
            for k in ("min_shape", "opt_shape", "max_shape"):
                data[k] = tuple(int(v) for v in data[k])
                if len(data[k]) != 4:
                    raise ValueError(f"{k} has {len(data[k])} dimensions")
            for k in ("size_multiple", "min_size"):
                data[k] = int(data[k])
        except (TypeError, ValueError) as e:  # an edited or damaged sidecar: else an internal error at --engine
            raise EngineMismatchError(
                f"{source} is damaged ({e})", "rebuild the engine with `streamdeblur build-engine`"
            ) from None
        return cls(**data)

    @classmethod
    def read(cls, engine_path: str | os.PathLike) -> EngineSidecar:
        p = sidecar_path(engine_path)
        if not p.exists():
            raise EngineMismatchError(
                f"engine {engine_path} has no sidecar {p.name} beside it, so what it was built for is unknown",
                "rebuild it with `streamdeblur build-engine`",
            )
        try:
            text = p.read_text()
        except (OSError, UnicodeDecodeError) as e:  # binary garbage, a folder, unreadable: else an internal error
            raise EngineMismatchError(
                f"cannot read {p} ({e.__class__.__name__})", "rebuild the engine with `streamdeblur build-engine`"
            ) from None
        return cls.from_json(text, str(p))

    def hw_range(self) -> tuple[tuple[int, int], tuple[int, int]]:
        return (self.min_shape[2], self.min_shape[3]), (self.max_shape[2], self.max_shape[3])

    def padded(self, frame_hw: tuple[int, int]) -> tuple[int, int]:
        """The (H, W) the engine sees for a ``frame_hw`` frame."""
        return padded_size(*frame_hw, self.size_multiple, self.min_size)

    def fits(self, frame_hw: tuple[int, int]) -> bool:
        """Whether a ``frame_hw`` frame runs in one piece (within the profile's max)."""
        h, w = self.padded(frame_hw)
        return h <= self.max_shape[2] and w <= self.max_shape[3]

    def rebuild_command(self, engines_dir: str | os.PathLike = DEFAULT_ENGINES_DIR) -> str:
        """The `build-engine` command that builds this engine on the machine it runs on."""
        mn, mx = self.hw_range()
        opt = (min(max(self.opt_shape[2], mn[0]), mx[0]), min(max(self.opt_shape[3], mn[1]), mx[1]))
        parts = [
            "streamdeblur build-engine",
            _model_option(self.model_source or self.arch),
            f"--min-shape {_wxh(mn)}",
            f"--opt-shape {_wxh(opt)}",
            f"--max-shape {_wxh(mx)}",
            f"--batch {self.max_shape[0]}",
            f"-o {engines_dir}",
        ]
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
            out.append(
                f"built for compute capability {side.compute_capability}, this GPU has {exp.gpu.compute_capability}"
            )
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
        h, w = side.padded(exp.frame_hw)
        if h < side.min_shape[2] or w < side.min_shape[3]:
            out.append(f"frame {_wxh(exp.frame_hw)} is below the profile's min {_wxh(side.min_shape)}")
        elif not side.fits(exp.frame_hw) and not exp.tiling:
            out.append(f"frame {_wxh(exp.frame_hw)} is above the profile's max {_wxh(side.max_shape)}")
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
    h, w = side.padded(frame_hw)
    mn = (1, 3, min(side.min_shape[2], h), min(side.min_shape[3], w))
    mx = (side.max_shape[0], 3, max(side.max_shape[2], h), max(side.max_shape[3], w))
    return dataclasses.replace(side, min_shape=mn, max_shape=mx)


def check_frame(
    side: EngineSidecar, frame_hw: tuple[int, int], tiling: bool = False, engine_path: str | os.PathLike = "the engine"
) -> None:
    """Raise :class:`ShapeError` for a frame the engine's profile cannot take."""
    if sidecar_mismatches(side, Expected(frame_hw=frame_hw, tiling=tiling)):
        raise ShapeError(
            f"input size {_wxh(frame_hw)} is outside the TensorRT optimization profile of {Path(engine_path).name} "
            f"(min {_wxh(side.min_shape)}, max {_wxh(side.max_shape)} "
            f"after padding to a multiple of {side.size_multiple})",
            f"rebuild with: {_profile_for(side, frame_hw).rebuild_command()}",
        )


# --------------------------------------------------------------------------- naming and finding


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
        "compiler": "tensorrt",  # in every key so far: kept so that the engines already built keep their names
        "sidecar": SIDECAR_VERSION,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def engine_filename(arch: str, precision: str, gpu: GpuInfo, tensorrt_version: str, key: str) -> str:
    """``deblurgan-lite-fp16-nvidia-h100-80gb-hbm3-sm90-trt10.9.0-1a2b3c4d5e6f.engine``."""
    sm = gpu.compute_capability.replace(".", "")
    return (
        f"{arch}-{precision}-{_slug(gpu.name)}-sm{sm}-trt{_slug(tensorrt_version).replace('-', '.')}-{key[:12]}.engine"
    )


def timing_cache_path(engines_dir: str | os.PathLike, gpu: GpuInfo, tensorrt_version: str) -> Path:
    """One timing cache per GPU model and TensorRT version, shared by every build there."""
    sm = gpu.compute_capability.replace(".", "")
    return Path(engines_dir) / f"{_slug(gpu.name)}-sm{sm}-trt{tensorrt_version}.timing.cache"


def find_engines(engines_dir: str | os.PathLike = DEFAULT_ENGINES_DIR) -> list[tuple[Path, EngineSidecar]]:
    """Every engine in ``engines_dir`` with a readable sidecar (newest first)."""
    d = Path(engines_dir)
    found: list[tuple[Path, EngineSidecar]] = []
    if not d.is_dir():
        return found
    for side_p in d.glob("*.json"):
        eng = side_p.with_name(side_p.name[: -len(".json")])
        if eng.suffix != ".engine" or not eng.exists():
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
    """The newest engine in ``engines_dir`` built for this generator, GPU and TensorRT
    (``gpu``/``tensorrt_ver`` default to this machine's)."""
    gpu, tensorrt_ver = gpu or current_gpu(), tensorrt_ver or tensorrt_version()
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
    gpu, tensorrt_ver = gpu or current_gpu(), tensorrt_ver or tensorrt_version()
    hit = find_engine(generator, engines_dir, gpu, tensorrt_ver)
    if hit is not None:
        return hit
    info = ModelInfo.of(generator)
    exp = Expected(tensorrt_ver, gpu, info.arch, info.args, info.weights_sha256, source=info.source)
    for eng, side in find_engines(engines_dir):
        if side.arch == generator.arch:
            validate_sidecar(side, exp, eng, engines_dir)  # raises, naming what differs
    raise InputNotFoundError(
        f"no TensorRT engine for {generator.arch} in {engines_dir}/",
        f"build one for this GPU with: streamdeblur build-engine {_model_option(info.source)} -o {engines_dir}",
    )
