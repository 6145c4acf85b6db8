"""Building a TensorRT engine on this GPU: ``build-engine``'s options, the build with the
TensorRT Python API (strongly typed network, one optimization profile, timing cache) and
its progress.

An engine is built from the generator's cached ONNX export (:mod:`streamdeblur.onnx_export`)
or a given one, named and described by :mod:`streamdeblur.engine_cache`; the engine is
written first, its sidecar last, so an engine without a sidecar is never picked up.
TensorRT itself is imported lazily: the base install has none.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .engine_cache import (
    DEFAULT_ENGINES_DIR,
    EngineSidecar,
    Profile,
    engine_filename,
    engine_key,
    sidecar_path,
    timing_cache_path,
)
from .errors import BackendUnavailableError, InputError, OutputError
from .fileio import cannot_create_in, write_atomic, write_fix
from .identity import ModelInfo, model_source
from .machine import GpuInfo, current_gpu, tensorrt_requirements, tensorrt_version
from .models import Generator
from .onnx_export import INPUT_NAME, OUTPUT_NAME, PRECISIONS, cached_onnx, onnx_metadata, sha256_file

log = logging.getLogger(__name__)

#: (stage, fraction done or None, seconds elapsed) -> None
ProgressCallback = Callable[[str, "float | None", float], None]


@dataclass(frozen=True)
class BuildOptions:
    """One field per `build-engine` option."""

    profile: Profile = Profile()
    precision: str = "fp16"
    workspace_gib: float = 4.0
    opt_level: int = 3
    engines_dir: Path = DEFAULT_ENGINES_DIR
    force: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.opt_level <= 5:
            raise InputError(f"--opt-level must be 0 to 5, got {self.opt_level}")
        if not 0 < self.workspace_gib < 1e6:  # nan and inf too: TensorRT takes the pool's size in bytes
            raise InputError(f"--workspace must be a positive number of GiB, got {self.workspace_gib:g}")
        if self.precision not in PRECISIONS:
            raise InputError(f"unknown precision {self.precision!r}", f"choose one of: {', '.join(PRECISIONS)}")


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


def build_engine(
    generator: Generator | None,
    options: BuildOptions = BuildOptions(),
    onnx_path: str | os.PathLike[str] | None = None,
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
    if generator is None and onnx_path is None:
        raise InputError("nothing to build from", "pass --model, --weights or --onnx")
    gpu, trt_ver = current_gpu(), tensorrt_version()
    assert gpu is not None and trt_ver is not None
    engines_dir = _made(Path(options.engines_dir))
    onnx, info = _onnx_to_build(generator, onnx_path, options.precision)
    onnx_sha = sha256_file(onnx)
    profile = options.profile.padded(info.size_multiple, info.min_size)
    key = engine_key(onnx_sha, options.precision, profile, trt_ver, gpu, options.workspace_gib, options.opt_level)
    engine_path = engines_dir / engine_filename(info.arch, options.precision, gpu, trt_ver, key)
    if engine_path.exists() and sidecar_path(engine_path).exists() and not options.force:
        return BuildResult(engine_path, EngineSidecar.read(engine_path), True)

    side = _sidecar(info, onnx_sha, profile, options, gpu, trt_ver)
    with _Ticker(progress, "building TensorRT engine") as tick:
        data = _build_with_tensorrt(onnx, side, options, engines_dir, gpu, trt_ver, tick)
        tick.fraction = 1.0
        tick.emit("writing engine")
        elapsed = tick.elapsed
    side = dataclasses.replace(
        side, build_seconds=round(elapsed, 1), built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    )
    # engine first, sidecar last: an engine without a sidecar is never picked up. Both are
    # named by what they were built from, so a file already there is the same thing (or a
    # --force rebuild): replaced
    try:
        write_atomic(engine_path, data, replace=True)
        write_atomic(sidecar_path(engine_path), side.to_json().encode(), replace=True)
    except OSError as e:  # the disk filled during the build: one line, not a traceback after minutes
        raise OutputError(f"cannot write {engine_path} ({e.strerror or e})", write_fix(e)) from None
    return BuildResult(engine_path, side, False)


def _made(engines_dir: Path) -> Path:
    """``engines_dir``, made, and known to take files: a read-only folder fails here, in a second, not after
    the minutes of a build whose engine it then could not hold."""
    try:
        engines_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {engines_dir}: {e.strerror or e}", "choose another -o folder") from None
    refused = cannot_create_in(engines_dir)
    if refused is not None:
        raise OutputError(
            f"cannot write engines into {engines_dir} ({refused.strerror or refused})", write_fix(refused)
        ) from None
    return engines_dir


def _onnx_to_build(
    generator: Generator | None, onnx_path: str | os.PathLike[str] | None, precision: str
) -> tuple[Path, ModelInfo]:
    """The ONNX to build from (the generator's cached export, or the one given, which must
    hold ``precision``) and the generator it records."""
    if onnx_path is None:
        assert generator is not None
        onnx_path = cached_onnx(generator, precision)
    onnx = Path(onnx_path)
    meta = onnx_metadata(onnx)
    info = ModelInfo.from_metadata(meta, onnx)
    if generator is not None:
        info = dataclasses.replace(info, source=model_source(generator))
    if meta.get("streamdeblur.precision", precision) != precision:
        raise InputError(
            f"{onnx} was exported as {meta['streamdeblur.precision']}, but --precision is {precision}",
            "export it again with --precision " + precision,
        )
    return onnx, info


def _sidecar(
    info: ModelInfo, onnx_sha: str, profile: Profile, options: BuildOptions, gpu: GpuInfo, trt_ver: str
) -> EngineSidecar:
    """What the engine about to be built depends on (build time and date come after)."""
    mn, opt, mx = profile.nchw()
    return EngineSidecar(
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


def trt_logger() -> Any:
    """A TensorRT ILogger that forwards to :mod:`logging` (TensorRT never prints on its own)."""
    import tensorrt as trt  # type: ignore[import-not-found]

    sev = trt.ILogger.Severity
    levels = {
        sev.INTERNAL_ERROR: logging.ERROR,
        sev.ERROR: logging.ERROR,
        sev.WARNING: logging.WARNING,
        sev.INFO: logging.DEBUG,
        sev.VERBOSE: logging.DEBUG,
    }

    class _Log(trt.ILogger):
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


def network_flags(trt_version: str) -> int:
    """``create_network``'s flags: STRONGLY_TYPED before TensorRT 11 (11 deprecates and ignores it: its
    networks are always strongly typed), so the ONNX's own types decide the precision either way."""
    if int(trt_version.split(".")[0]) >= 11:
        return 0
    import tensorrt as trt  # type: ignore[import-not-found]

    return 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)


def _build_with_tensorrt(
    onnx_path: Path,
    side: EngineSidecar,
    options: BuildOptions,
    engines_dir: Path,
    gpu: GpuInfo,
    trt_ver: str,
    tick: _Ticker,
) -> bytes:
    """The TensorRT Python API build: strongly typed network, one profile, timing cache.

    Longer than the rest on purpose: it runs only where TensorRT and a GPU are
    (tests/backends/test_tensorrt_backend.py), so it stays as it was run there rather
    than being split where it cannot be run."""
    import tensorrt as trt  # type: ignore[import-not-found]

    logger = trt_logger()
    builder = trt.Builder(logger)
    network = builder.create_network(network_flags(trt_ver))
    parser = trt.OnnxParser(network, logger)
    tick.emit("parsing ONNX")
    if not parser.parse_from_file(str(onnx_path)):
        errors = parser_errors(parser)
        raise InputError(
            f"TensorRT cannot parse {onnx_path} ({len(errors)} error(s)): " + " | ".join(errors),
            "report it with the ONNX attached",
        )
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(options.workspace_gib * (1 << 30)))
    config.builder_optimization_level = int(options.opt_level)
    profile = builder.create_optimization_profile()
    # the bindings take a tuple where the API says Dims (pybind converts it)
    profile.set_shape(side.input_name, side.min_shape, side.opt_shape, side.max_shape)  # type: ignore[arg-type]
    config.add_optimization_profile(profile)
    if options.precision == "fp32":  # TF32 is on by default: an "fp32" engine would run its FP32 math in TF32
        config.clear_flag(trt.BuilderFlag.TF32)

    cache_path = timing_cache_path(engines_dir, gpu, trt_ver)
    cache_bytes = cache_path.read_bytes() if cache_path.exists() else b""
    if not config.set_timing_cache(config.create_timing_cache(cache_bytes), ignore_mismatch=False):
        # a cache from another TensorRT or GPU (or a damaged file): build without it; it is replaced after
        log.warning("timing cache %s does not fit this TensorRT and GPU: building without it", cache_path)
        if not config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False):
            raise BackendUnavailableError("TensorRT refused an empty timing cache", "rerun with --debug")

    class _Monitor(trt.IProgressMonitor):
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
        raise InputError(
            "TensorRT failed to build the engine (its log above says why)",
            "rerun with --debug, or lower --opt-level / raise --workspace",
        )
    try:  # the cache, grown; it only speeds up later builds: a disk that filled must not lose this engine
        write_atomic(cache_path, bytes(config.get_timing_cache().serialize()), replace=True)
    except OSError as e:
        log.warning("could not save the timing cache %s (%s): later builds start without it", cache_path, e)
    return bytes(serialized)
