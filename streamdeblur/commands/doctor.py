"""`streamdeblur doctor`: what this machine can run."""

from __future__ import annotations

import json
import platform
from typing import Annotated

import typer

from .common import app, user_errors


def machine_report() -> dict:
    """Facts about this machine that decide what streamdeblur can run here."""
    import av
    import numpy as np
    import torch

    from ..backends import BACKENDS

    info: dict = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_cuda_build": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "gpus": [],
        "pyav": av.__version__,
        "ffmpeg": {k: ".".join(map(str, v)) if isinstance(v, tuple) else str(v) for k, v in av.library_versions.items()},
    }
    try:
        import os

        info["cpu_cores"] = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        import os

        info["cpu_cores"] = os.cpu_count()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            info["gpus"].append({"name": p.name, "compute_capability": f"{p.major}.{p.minor}", "memory_gib": round(p.total_memory / 2**30, 1)})
    for mod in ("tensorrt", "torch_tensorrt", "onnxruntime", "onnx"):
        try:
            m = __import__(mod)
            info[mod] = getattr(m, "__version__", "installed")
        except Exception:
            info[mod] = None
    if info["onnxruntime"]:
        import onnxruntime as ort

        info["onnxruntime_providers"] = ort.get_available_providers()
    from ..backends.openvino_backend import cpu_has_bf16, openvino_devices, openvino_version

    info["openvino"] = openvino_version()
    info["openvino_devices"] = openvino_devices() if info["openvino"] else {}
    info["openvino_cpu_bf16"] = cpu_has_bf16() if info["openvino"] else None
    codecs = sorted(av.codecs_available)
    wanted = ["libx264", "libx265", "libx264rgb", "ffv1", "h264_nvenc", "hevc_nvenc", "aac", "libopus"]
    info["encoders"] = {c: (c in codecs) for c in wanted}
    backends = {}
    for name, cls in BACKENDS.items():
        backends[name] = {d: (cls.unavailable_reason(d) or "ok") for d in cls.devices}
    info["backends"] = backends
    return info


@app.command()
@user_errors
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
) -> None:
    """Report what this machine can run: GPU, CUDA, TensorRT, ONNX Runtime, OpenVINO, codecs, backends.

    Example: streamdeblur doctor --json
    """
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
    trt = info["tensorrt"] or "not installed (pip install 'streamdeblur[tensorrt]')"
    typer.echo(f"tensorrt    {trt}")
    typer.echo(f"onnxruntime {info['onnxruntime'] or 'not installed'} {info.get('onnxruntime_providers', '')}")
    if info["openvino"]:
        devs = ", ".join(f"{k}: {v}" for k, v in info["openvino_devices"].items()) or "no devices"
        bf16 = "bf16 native" if info["openvino_cpu_bf16"] else "no native bf16: fp32"
        typer.echo(f"openvino    {info['openvino']} ({devs}; {bf16})")
    else:
        typer.echo("openvino    not installed (pip install 'streamdeblur[openvino]': the fastest CPU backend)")
    typer.echo(f"pyav        {info['pyav']} (libavcodec {info['ffmpeg'].get('libavcodec', '?')})")
    typer.echo("encoders    " + ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in info["encoders"].items()))
    for name, devs in info["backends"].items():
        for d, r in devs.items():
            typer.echo(f"backend     {name:<12} {d:<5} {r}")
