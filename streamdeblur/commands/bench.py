"""`streamdeblur bench`: FPS of every stage and of the whole pipeline, with the machine stated."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from .common import (
    DeviceOption,
    MaxTileOption,
    OpenVINOHint,
    OpenVINOHintOption,
    OpenVINOPrecisionOption,
    PrecisionName,
    WeightsOption,
    app,
    user_errors,
    value,
)

if TYPE_CHECKING:
    from rich.table import Table

#: --batch when not given (bench --encoders refuses any other)
DEFAULT_BATCHES = "1,4"


def _fmt(v: float | None, digits: int = 1) -> str:
    if v is None:
        return "-"
    if v >= 1e5:
        return f"{v:.1e}"
    return f"{v:,.{digits}f}"


def _machine_lines(m: dict[str, Any]) -> list[str]:
    gpus = ", ".join(f"{g['name']} ({g['memory_gib']} GiB)" for g in m.get("gpus", [])) or "none"
    load = m.get("load_average")
    load_text = ", ".join(map(str, load)) if load else "?"
    return [
        f"cpu    {m.get('cpu')} ({m.get('cpu_cores')} cores; load average {load_text} at the start)",
        f"gpu    {gpus}; NVIDIA driver {m.get('nvidia_driver') or '-'}; CUDA {m.get('cuda_runtime') or '-'}",
        f"soft   torch {m.get('torch')}, TensorRT {m.get('tensorrt') or '-'}, "
        f"ONNX Runtime {m.get('onnxruntime') or '-'}, OpenVINO {m.get('openvino') or '-'}, PyAV {m.get('pyav')}",
    ]


def _header(report: dict[str, Any]) -> list[str]:
    lines = _machine_lines(report["machine"])
    i = report["input"]
    what = (
        f"{i['spec']} ({i['width']}x{i['height']}, {i['codec']})" if i["kind"] == "file" else f"synthetic {i['spec']}"
    )
    c = report["config"]
    tiles = f"; tiles of at most {c['max_tile']} px" if c.get("max_tile") else ""
    depth = f"; {c['depth']}-bit frames" if c.get("depth") else ""
    rounded = {  # --frames and --warmup rounded up to whole batches: what each batch size really counted
        r["batch"]: f"batch {r['batch']}: {r['frames']} after {r['warmup']}"
        for r in report["results"]
        if (r["frames"], r["warmup"]) != (c["frames"], c["warmup"])
    }
    counted = f" ({'; '.join(rounded.values())}, whole batches)" if rounded else ""
    if c.get("threads"):
        threads = f"; {c['threads']} intra-op threads (--threads)"
    else:
        n = report["machine"].get("torch_threads")
        torch_threads = f", PyTorch {n}" if n else ""
        threads = f"; intra-op threads: each library's default{torch_threads}"
    lines.append(
        f"input  {what}; {c['frames']} measured frames after {c['warmup']} warm-up{counted}; encode with {c['codec']}"
        f"{tiles}{depth}{threads}"
    )
    return lines


def _table(report: dict[str, Any]) -> Table:
    from rich.table import Table

    from ..bench.report import backend_label

    t = Table(title="streamdeblur bench (FPS per stage; latency end to end)", show_lines=False)
    for name, just in [
        ("backend", "left"), ("model", "left"), ("size", "left"), ("batch", "right"), ("decode", "right"),
        ("pre", "right"), ("infer", "right"), ("post", "right"), ("encode", "right"), ("end to end", "right"),
        ("effic.", "right"), ("p50 ms", "right"), ("p99 ms", "right"), ("host MiB", "right"), ("GPU MiB", "right"),
    ]:  # fmt: skip
        t.add_column(name, justify=just)  # type: ignore[arg-type]
    for r in report["results"]:
        f = r["fps"]
        t.add_row(
            backend_label(r), r["model"], r["resolution"], str(r["batch"]),
            _fmt(f["decode"]), _fmt(f["pre"]), _fmt(f["infer"], 2), _fmt(f["post"]), _fmt(f["encode"]),
            _fmt(f["end_to_end"], 2), f"{r['efficiency']:.2f} ({r['slowest_stage']})",
            _fmt(r["latency_ms"]["p50"]), _fmt(r["latency_ms"]["p99"]),
            _fmt(r["host_peak_mib"], 0), _fmt(r["gpu_peak_mib"], 0),
        )  # fmt: skip
    return t


def _write_json(data: dict[str, Any], path: Path) -> None:
    from ..fileio import write_atomic

    write_atomic(path, (json.dumps(data, indent=2) + "\n").encode(), replace=True)


def _print_report(data: dict[str, Any], json_out: Path | None) -> None:
    """The header, the table, one efficiency line per result, the side-by-side ratios and
    what ``auto`` chose, on stdout."""
    from rich.console import Console

    from ..bench.report import ratio_lines

    console = Console()
    if not console.is_terminal:  # logs and pipes: the whole table, not an 80-column squeeze
        console = Console(width=220)
    for line in _header(data):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    console.print(_table(data))
    for r in data["results"]:
        slowest = {"source": "source", "inference": "inference_stage", "encode": "encode"}[r["slowest_stage"]]
        console.print(
            f"efficiency {r['efficiency']:.2f}: {r['backend']} {r['model']} {r['resolution']} batch {r['batch']} "
            f"runs at {r['fps']['end_to_end']:.2f} fps end to end; its slowest stage alone ({r['slowest_stage']}) at "
            f"{r['fps'][slowest]:.2f} fps",
            highlight=False, markup=False,
        )  # fmt: skip
    for line in ratio_lines(data):
        console.print(f"end to end side by side: {line}", highlight=False, markup=False, soft_wrap=True)
    for choice in dict.fromkeys(r["choice"] for r in data["results"] if r.get("requested") == "auto"):
        console.print(choice, highlight=False, markup=False)
    if json_out is not None:
        console.print(f"results written to {json_out}", highlight=False, markup=False)


@app.command()
@user_errors
def bench(
    input: Annotated[
        Optional[str],
        typer.Argument(
            help="A video file to decode (frames are resized to each resolution); default: synthetic frames.",
            show_default=False,
        ),
    ] = None,
    synthetic: Annotated[
        Optional[str],
        typer.Option(
            "--synthetic",
            help="Synthetic moving-texture frames of WIDTHxHEIGHT (alone, it is also the only resolution measured).",
            show_default=False,
        ),
    ] = None,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help=(
                "Backends, comma-separated: auto, torch, torch-compile, onnxruntime, openvino, tensorrt (e.g. "
                "openvino,onnxruntime,torch: one table, ratios below it)."
            ),
        ),
    ] = "auto",
    device: DeviceOption = None,
    model: Annotated[
        Optional[str],
        typer.Option(
            "--model",
            help=(
                "Models, comma-separated (deblurgan-lite, deblurgan); default deblurgan-lite. Without shipped weights "
                "a freshly initialised model is timed (speed does not depend on the weights)."
            ),
            show_default=False,
        ),
    ] = None,
    weights: WeightsOption = None,
    resolutions: Annotated[
        str, typer.Option("--resolutions", help="Frame sizes WIDTHxHEIGHT, comma-separated.")
    ] = "640x360,1280x720,1920x1080",
    batch: Annotated[str, typer.Option("--batch", help="Batch sizes, comma-separated.")] = DEFAULT_BATCHES,
    frames: Annotated[
        int, typer.Option("--frames", min=1, help="Measured frames per stage (rounded up to whole batches).")
    ] = 32,
    warmup: Annotated[
        int, typer.Option("--warmup", min=0, help="Warm-up frames before each measurement (not counted).")
    ] = 4,
    precision: Annotated[
        Optional[PrecisionName],
        typer.Option(
            "--precision",
            help=(
                "Default: each backend's own (fp16 on CUDA; fp32 on the CPU, OpenVINO bf16 where the CPU has it); e.g."
                " compare PyTorch CUDA FP16 with FP32."
            ),
            show_default=False,
        ),
    ] = None,
    max_tile: MaxTileOption = None,
    openvino_precision: OpenVINOPrecisionOption = None,
    openvino_hint: OpenVINOHintOption = OpenVINOHint.auto,
    threads: Annotated[
        Optional[int],
        typer.Option(
            "--threads",
            min=1,
            help=(
                "Intra-op threads of PyTorch, ONNX Runtime and OpenVINO (default: each library's own); e.g. --threads "
                "1 on a crowded machine."
            ),
            show_default=False,
        ),
    ] = None,
    depth: Annotated[
        Optional[int],
        typer.Option(
            "--depth",
            help=(
                "Bits of the frames fed: 16 measures deep colour (uint16 frames, as `run` decodes 10-16-bit video, "
                "encoded 10-bit 4:2:0), 8 the usual (default: the input's own; synthetic frames are 8-bit)."
            ),
            show_default=False,
        ),
    ] = None,
    codec: Annotated[
        Optional[str],
        typer.Option(
            "--codec",
            help="Encoder for the encode and end-to-end stages (default: libx264, as `run -o out.mp4`).",
            show_default=False,
        ),
    ] = None,
    encoders: Annotated[
        bool,
        typer.Option(
            "--encoders",
            help=(
                "Time the encoder alone per --presets x --encoder-threads x size (no model): what a GPU without "
                "NVENC leaves to the CPU; `run --preset auto` chooses from the same measurement."
            ),
        ),
    ] = False,
    presets: Annotated[
        str, typer.Option("--presets", help="With --encoders: presets, comma-separated.")
    ] = "ultrafast,superfast,veryfast,faster,fast,medium,slow",
    encoder_threads: Annotated[
        str,
        typer.Option("--encoder-threads", help="With --encoders: thread counts, comma-separated; auto: the encoder's."),
    ] = "1,2,4,auto",
    json_out: Annotated[
        Optional[Path],
        typer.Option(
            "--json",
            help="Write the full results (machine, method, every figure) as JSON to FILE ('-' for stdout).",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    plot: Annotated[
        Optional[Path],
        typer.Option(
            "--plot",
            help="Draw a bar chart to FILE.png (needs matplotlib: pip install 'streamdeblur[plot]').",
            dir_okay=False,
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
) -> None:
    """Measure decode, pre-processing, inference, post-processing and encode FPS, the
    end-to-end pipeline FPS, latency p50/p99 and peak memory, per backend x model x
    resolution x batch, with the machine in the header.

    Efficiency is end-to-end FPS divided by the slowest single stage's FPS: near 1, the
    pipeline overlaps its stages. Warm-up is excluded; CUDA timings are synchronised.

    Examples: streamdeblur bench --synthetic 1280x720 --backend torch,onnxruntime --device cpu |
    streamdeblur bench clip.mp4 --resolutions 640x360,1280x720 --batch 1,4 --json bench.json --plot bench.png |
    streamdeblur bench --encoders --resolutions 1280x720,1920x1080 --encoder-threads 1,4,16,auto
    """
    from ..fileio import check_writable

    if json_out is not None and str(json_out) != "-":  # before the measuring, not after
        check_writable(json_out, "--json", "bench.json", kind="json", not_these=[input] if input else [])
    if encoders:  # the encoder alone: refuse what it would not do rather than ignore it
        ignored = {
            "INPUT": input, "--synthetic": synthetic, "--plot": plot, "--device": device, "--model": model,
            "--weights": weights, "--precision": precision, "--max-tile": max_tile, "--threads": threads,
            "--depth": depth, "--backend": None if backend == "auto" else backend,
            "--batch": None if batch == DEFAULT_BATCHES else batch,
        }  # fmt: skip
        given = [name for name, v in ignored.items() if v is not None]
        if given:
            from ..errors import InputError

            raise InputError(
                f"{', '.join(given)} cannot be used with --encoders (it times the encoder alone, on synthetic frames,"
                " with no model and no chart)",
                "drop " + ", ".join(given) + ", or run bench without --encoders",
            )
        return _bench_encoders(resolutions, codec, presets, encoder_threads, frames, warmup, json_out, quiet)
    from ..bench import run_bench
    from ..bench.config import SIZE_LIMITS, BenchConfig, parse_ints, parse_names
    from ..bench.report import check_plot_path, plot_report
    from ..errors import InputError
    from ..sizes import parse_size, parse_sizes

    if plot is not None:
        check_plot_path(plot)
        others = [p for p in (input, json_out) if p and str(p) != "-"]
        check_writable(plot, "--plot", "bench.png", kind="picture", not_these=others)
    backends = parse_names(backend)
    if not backends:
        raise InputError("no backend given", "write e.g. --backend torch,onnxruntime")
    config = BenchConfig(
        input=input, synthetic=parse_size(synthetic, "--synthetic", **SIZE_LIMITS) if synthetic is not None else None,
        backends=backends, device=value(device),
        models=parse_names(model) or None if model is not None else None,
        weights=str(weights) if weights is not None else None,
        resolutions=parse_sizes(resolutions, "--resolutions", **SIZE_LIMITS), batches=parse_ints(batch),
        frames=frames, warmup=warmup, codec=codec, precision=value(precision), max_tile=max_tile, threads=threads,
        openvino_precision=value(openvino_precision), openvino_hint=openvino_hint.value, depth=depth,
    )  # fmt: skip

    def progress(msg: str) -> None:
        if not quiet:
            sys.stderr.write(f"streamdeblur: {msg}\n")
            sys.stderr.flush()

    report = run_bench(config, on_progress=progress)
    data = report.as_dict()
    to_stdout = json_out is not None and str(json_out) == "-"
    if json_out is not None:
        if to_stdout:
            typer.echo(json.dumps(data, indent=2))
        else:
            _write_json(data, json_out)
    if not to_stdout:
        _print_report(data, json_out)
    if plot is not None:
        written = plot_report(data, plot)
        if not to_stdout:
            typer.echo(f"chart written to {written}")


def _bench_encoders(
    resolutions: str, codec: str | None, presets: str, threads: str, frames: int, warmup: int,
    json_out: Path | None, quiet: bool,
) -> None:  # fmt: skip
    """``bench --encoders``: :func:`streamdeblur.bench.encoders.run_encoder_bench`, its tables and JSON."""
    from ..bench.config import SIZE_LIMITS
    from ..bench.encoders import encoder_table_lines, parse_presets, parse_threads, run_encoder_bench
    from ..sizes import parse_sizes
    from ..video.containers import video_encoder

    enc = video_encoder(codec or "libx264")
    sizes = parse_sizes(resolutions, "--resolutions", **SIZE_LIMITS)
    report = run_encoder_bench(
        enc, sizes, parse_presets(presets, enc), parse_threads(threads), frames, warmup,
        on_progress=None if quiet else lambda m: print(f"streamdeblur: {m}", file=sys.stderr, flush=True),
    )  # fmt: skip
    data = report.as_dict()
    if json_out is not None and str(json_out) == "-":
        typer.echo(json.dumps(data, indent=2))
        return
    if json_out is not None:
        _write_json(data, json_out)
    lines = _machine_lines(data["machine"])
    lines.append(f"input  synthetic frames; {frames} measured after {warmup} warm-up; the final flush counted")
    for line in [*lines, *encoder_table_lines(data)]:
        typer.echo(line)
    if json_out is not None:
        typer.echo(f"results written to {json_out}")
