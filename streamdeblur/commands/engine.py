"""`streamdeblur export` (ONNX) and `streamdeblur build-engine` (TensorRT)."""

from __future__ import annotations

import sys
import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .common import FilePrecision, WeightsOption, app, user_errors

if TYPE_CHECKING:
    from ..models import Generator


class ExportFormat(str, Enum):
    onnx = "onnx"


ModelOpt = Annotated[str | None, typer.Option("--model", "-m", help="A registered model name; its shipped weights.")]


def _generator(model: str | None, weights: Path | None) -> Generator:
    from ..errors import InputError, ModelNotFoundError
    from ..models import MODELS, load_generator

    if model and weights:
        raise InputError("pass --model or --weights, not both")
    if model and model not in MODELS:  # else it was taken for a weights path: "weights not found: foo.safetensors"
        raise ModelNotFoundError(
            f"unknown model {model!r}", f"choose one of: {', '.join(sorted(MODELS))}, or pass --weights FILE"
        )
    return load_generator(str(weights) if weights else model)


@app.command()
@user_errors
def export(
    format: Annotated[ExportFormat, typer.Option("--format", "-f", help="Export format.")] = ExportFormat.onnx,
    precision: Annotated[
        FilePrecision,
        typer.Option(
            "--precision", "-p", help="fp32, or fp16: weights and I/O in half, for a strongly typed TensorRT build."
        ),
    ] = FilePrecision.fp32,
    model: ModelOpt = None,
    weights: WeightsOption = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Output file (default: ARCH-PRECISION.onnx here).", dir_okay=False),
    ] = None,
    opset: Annotated[
        int,
        typer.Option("--opset", help="ONNX opset: 17 up to the newest the installed torch exports (20 in torch 2.13)."),
    ] = 17,
    overwrite: Annotated[bool, typer.Option("--overwrite", "-y", help="Replace an existing output file.")] = False,
) -> None:
    """Export the generator as ONNX: dynamic batch, height and width (multiples of the model's size multiple).

    Input "input" and output "output": N x 3 x H x W RGB in [0, 1] (float32; float16 with --precision
    fp16); pad H and W up to the size multiple in the file's metadata first (docs/ENGINES.md).

    Example: streamdeblur export --format onnx --precision fp16 -o deblur-fp16.onnx
    """
    from ..errors import OutputError, OutputExistsError
    from ..fileio import check_writable
    from ..onnx_export import check_opset, export_onnx

    check_opset(opset)  # before the model loads
    fp = precision.value
    if output is not None and str(output) in ("-", "pipe:1", "/dev/stdout"):  # else a file named "-"
        raise OutputError("export writes an ONNX file, not to stdout", f"give -o a file name such as model-{fp}.onnx")
    gen = _generator(model, weights)
    out = output or Path(f"{gen.arch}-{fp}.onnx")
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists", "pass --overwrite to replace it")
    # a file where a folder should be, a read-only place: one line now, not "appeared meanwhile" after the export
    check_writable(out, "--output", f"{gen.arch}-{fp}.onnx")
    t0 = time.monotonic()
    export_onnx(gen, out, fp, opset, overwrite=overwrite)
    typer.echo(
        f"wrote {out} ({gen.arch}, {fp}, opset {opset}, {out.stat().st_size / 1e6:.1f} MB, "
        f"{time.monotonic() - t0:.1f} s); "
        f"input 'input' N x 3 x H x W with H and W multiples of {gen.size_multiple} (pad, run, crop)"
    )


@app.command("build-engine")
@user_errors
def build_engine_cmd(
    model: ModelOpt = None,
    weights: WeightsOption = None,
    onnx: Annotated[
        Path | None,
        typer.Option(
            "--onnx", help="Build from this ONNX (a `streamdeblur export`) instead.", exists=True, dir_okay=False
        ),
    ] = None,
    min_shape: Annotated[str, typer.Option("--min-shape", help="Smallest frame WxH.")] = "256x256",
    opt_shape: Annotated[str, typer.Option("--opt-shape", help="The frame size to tune for, WxH.")] = "1280x720",
    max_shape: Annotated[
        str, typer.Option("--max-shape", help="Largest frame WxH (larger frames are tiled).")
    ] = "1920x1080",
    batch: Annotated[int, typer.Option("--batch", min=1, help="Largest batch (and the one tuned for).")] = 1,
    workspace: Annotated[float, typer.Option("--workspace", help="Builder workspace limit, GiB.")] = 4.0,
    opt_level: Annotated[
        int, typer.Option("--opt-level", min=0, max=5, help="TensorRT builder optimization level, 0-5.")
    ] = 3,
    precision: Annotated[
        FilePrecision,
        typer.Option("--precision", "-p", help="Engine precision, fp16 or fp32 (from an ONNX exported in it)."),
    ] = FilePrecision.fp16,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Engines folder (engine, sidecar, timing cache).", file_okay=False)
    ] = Path("engines"),
    force: Annotated[
        bool, typer.Option("--force", help="Rebuild even if an engine for the same inputs exists.")
    ] = False,
) -> None:
    """Build a TensorRT engine for this GPU (FP16, strongly typed) with a JSON sidecar.

    Needs an NVIDIA GPU and TensorRT: pip install 'streamdeblur[tensorrt-cu12]' --extra-index-url
    https://pypi.nvidia.com (tensorrt-cu13 for a CUDA 13 torch; streamdeblur doctor says which).

    Example: streamdeblur build-engine --model deblurgan-lite --max-shape 1920x1080 -o engines/
    """
    from ..engine_build import BuildOptions, build_engine
    from ..engine_cache import Profile
    from ..errors import BackendUnavailableError, InputError
    from ..machine import tensorrt_requirements
    from ..sizes import parse_size_hw

    shapes = [
        parse_size_hw(text, option)
        for text, option in ((min_shape, "--min-shape"), (opt_shape, "--opt-shape"), (max_shape, "--max-shape"))
    ]
    options = BuildOptions(Profile(*shapes, batch), precision.value, workspace, opt_level, output, force)
    # fail in a second, before exporting anything, where TensorRT or a GPU is missing
    reason = tensorrt_requirements()
    if reason:
        raise BackendUnavailableError(reason)
    if onnx is not None and (model or weights):
        raise InputError("pass --onnx, or --model / --weights, not both")
    gen = None if onnx is not None else _generator(model, weights)

    last = [0.0]

    def progress(stage: str, fraction: float | None, elapsed: float) -> None:
        if elapsed - last[0] < 0.9 and fraction not in (None, 1.0):
            return
        last[0] = elapsed
        pct = f" {fraction * 100:3.0f}%" if fraction is not None else ""
        sys.stderr.write(f"\r[{int(elapsed) // 60:02d}:{int(elapsed) % 60:02d}]{pct} {stage[:60]:<60}")
        sys.stderr.flush()

    res = build_engine(gen, options, onnx_path=onnx, progress=progress)
    sys.stderr.write("\n")
    s = res.sidecar
    if res.reused:
        typer.echo(f"up to date: {res.engine} (same ONNX, shapes, settings, GPU and TensorRT; --force rebuilds)")
    else:
        typer.echo(f"built {res.engine} in {s.build_seconds:.0f} s")
    typer.echo(
        f"  {s.arch} {s.precision} for {s.gpu_name} (compute {s.compute_capability}), TensorRT {s.tensorrt_version}; "
        f"frames {s.min_shape[3]}x{s.min_shape[2]} .. {s.max_shape[3]}x{s.max_shape[2]} "
        f"(tuned for {s.opt_shape[3]}x{s.opt_shape[2]}), batch <= {s.max_shape[0]}"
    )
