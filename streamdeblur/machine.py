"""The machine, stated: the facts that decide what streamdeblur can run here (CPU, GPU,
CUDA, TensorRT, ONNX Runtime, OpenVINO, codecs, backends), as ``streamdeblur doctor``
prints them, and the extra facts a benchmark states beside its figures (driver, cuDNN,
threads, load). Plain dicts; the commands print them.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from typing import Any

#: the encoders `doctor` reports as present or not
ENCODERS = ("libx264", "libx265", "libx264rgb", "ffv1", "h264_nvenc", "hevc_nvenc", "aac", "libopus")


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_cores() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count()


def machine_report() -> dict[str, Any]:
    """Facts about this machine that decide what streamdeblur can run here (``doctor``)."""
    import av
    import numpy as np
    import torch

    from .backends import BACKENDS
    from .backends.openvino_backend import cpu_has_bf16, openvino_devices, openvino_version

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_cuda_build": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "gpus": [],
        "pyav": av.__version__,
        "ffmpeg": {k: ".".join(map(str, v)) if isinstance(v, tuple) else str(v) for k, v in av.library_versions.items()},
        "cpu_cores": _cpu_cores(),
    }
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            info["gpus"].append({"name": p.name, "compute_capability": f"{p.major}.{p.minor}", "memory_gib": round(p.total_memory / 2**30, 1)})
    for mod in ("tensorrt", "onnxruntime", "onnx"):
        try:
            m = __import__(mod)
            info[mod] = getattr(m, "__version__", "installed")
        except Exception:
            info[mod] = None
    if info["onnxruntime"]:
        import onnxruntime as ort

        info["onnxruntime_providers"] = ort.get_available_providers()
    info["openvino"] = openvino_version()
    info["openvino_devices"] = openvino_devices() if info["openvino"] else {}
    info["openvino_cpu_bf16"] = cpu_has_bf16() if info["openvino"] else None
    codecs = set(av.codecs_available)
    info["encoders"] = {c: (c in codecs) for c in ENCODERS}
    info["backends"] = {name: {d: (cls.unavailable_reason(d) or "ok") for d in cls.devices} for name, cls in BACKENDS.items()}
    return info


def nvidia_driver() -> str | None:
    """The NVIDIA driver version (NVML, else ``nvidia-smi``), or None without one."""
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        v = pynvml.nvmlSystemGetDriverVersion()
        return v.decode() if isinstance(v, bytes) else str(v)
    except Exception:
        pass
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    line = out.stdout.strip().splitlines()[0].strip() if out.returncode == 0 and out.stdout.strip() else ""
    return line or None


def machine_info() -> dict[str, Any]:
    """A benchmark's machine header: :func:`machine_report`, plus the NVIDIA driver, the
    CUDA runtime, cuDNN, PyTorch's intra-op threads and the load average right now."""
    import torch

    info = machine_report()
    info["nvidia_driver"] = nvidia_driver() if torch.cuda.is_available() or torch.version.cuda else None
    info["cuda_runtime"] = info["torch_cuda_build"]  # the CUDA runtime is the one PyTorch was built with
    try:
        info["cudnn"] = torch.backends.cudnn.version() if torch.cuda.is_available() else None
    except Exception:  # pragma: no cover
        info["cudnn"] = None
    info["torch_threads"] = torch.get_num_threads()
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        info["load_average"] = None
    return info
