"""`streamdeblur doctor`: what this machine can run (the facts: :mod:`streamdeblur.machine`)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .common import app, user_errors


@app.command()
@user_errors
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Report what this machine can run: GPU, CUDA, TensorRT, ONNX Runtime, OpenVINO, codecs, backends.

    Example: streamdeblur doctor --json
    """
    from ..machine import machine_report

    info = machine_report()
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    typer.echo(f"python      {info['python']} on {info['platform']}")
    typer.echo(f"cpu         {info['cpu']} ({info['cpu_cores']} cores)")
    typer.echo(f"torch       {info['torch']} (CUDA build: {info['torch_cuda_build'] or 'no'})")
    if info["gpus"]:
        for g in info["gpus"]:
            typer.echo(f"gpu         {g['name']} (compute {g['compute_capability']}, {g['memory_gib']} GiB)")
    else:
        typer.echo("gpu         none visible to PyTorch")
    trt = info["tensorrt"] or info["tensorrt_problem"]
    typer.echo(f"tensorrt    {trt}")
    if info["onnxruntime"]:
        providers = ", ".join(info.get("onnxruntime_providers") or []) or "none"
        typer.echo(f"onnxruntime {info['onnxruntime']} (execution providers: {providers})")
    else:
        typer.echo("onnxruntime not installed (pip install onnxruntime; onnxruntime-gpu for CUDA)")
    if info["openvino"]:
        devs = ", ".join(f"{k}: {v}" for k, v in info["openvino_devices"].items()) or "no devices"
        bf16 = "bf16 native" if info["openvino_cpu_bf16"] else "no native bf16: fp32"
        typer.echo(f"openvino    {info['openvino']} ({devs}; {bf16})")
    else:
        typer.echo("openvino    not installed (pip install 'streamdeblur[openvino]': the fastest CPU backend)")
    typer.echo(f"pyav        {info['pyav']} (libavcodec {info['ffmpeg'].get('libavcodec', '?')})")

    def encoder(name: str, built: bool) -> str:
        if built and name.endswith("_nvenc") and not info["gpus"]:  # in FFmpeg, but it needs an NVIDIA GPU's NVENC
            return f"{name}: built in (no NVIDIA GPU here)"
        return f"{name}: {'yes' if built else 'no'}"

    typer.echo("encoders    " + ", ".join(encoder(k, v) for k, v in info["encoders"].items()))
    st = info["streams"]
    missing = f"; not in this FFmpeg build: {', '.join(st['missing'])}" if st["missing"] else ""
    typer.echo(f"streams     in: {', '.join(st['in'])}; out (run -o URL): {', '.join(st['out'])}{missing}")
    width = max((len(name) for name in info["backends"]), default=0)  # torch-compile: 13
    for name, devs in info["backends"].items():
        for d, r in devs.items():
            typer.echo(f"backend     {name:<{width}} {d:<5} {r}")
