"""The machine, stated: the facts that decide what streamdeblur can run here (CPU, GPU,
CUDA, TensorRT, ONNX Runtime, OpenVINO, codecs, backends), as ``streamdeblur doctor``
prints them, and the extra facts a benchmark states beside its figures (driver, cuDNN,
threads, load). Plain dicts; the commands print them.

The probes the backends ask before they run (:func:`current_gpu`,
:func:`tensorrt_requirements`, :func:`openvino_version`, :func:`cpu_has_bf16` ...) live
here too: each answers without raising, None or empty where the thing is missing.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

#: the encoders `doctor` reports as present or not
ENCODERS = (
    "libx264",
    "libx265",
    "libx264rgb",
    "ffv1",
    "h264_nvenc",
    "hevc_nvenc",
    "aac",
    "libopus",
    "libmp3lame",
    "flac",
)
#: NVIDIA's package index: the TensorRT wheels on PyPI are placeholders that fetch the libraries from it
NVIDIA_INDEX = "https://pypi.nvidia.com"
PIP_OPENVINO = "pip install 'streamdeblur[openvino]'"


# --------------------------------------------------------------------------- probes


@dataclass(frozen=True)
class GpuInfo:
    name: str
    compute_capability: str


def current_gpu(index: int = 0) -> GpuInfo | None:
    """The CUDA GPU ``index`` as PyTorch sees it, or None without one."""
    import torch

    if not torch.cuda.is_available():
        return None
    p = torch.cuda.get_device_properties(index)
    return GpuInfo(p.name, f"{p.major}.{p.minor}")


def pip_tensorrt() -> str:
    """The command that installs the TensorRT matching this PyTorch's CUDA (12 or 13; 12 without CUDA)."""
    import torch

    major = (torch.version.cuda or "12").split(".")[0]
    cu = "cu13" if major == "13" else "cu12"
    return f"pip install 'streamdeblur[tensorrt-{cu}]' --extra-index-url {NVIDIA_INDEX}"


def tensorrt_status() -> tuple[str | None, str | None]:
    """(TensorRT's version, None) where ``import tensorrt`` works; else (None, why not, one line):
    not installed, its Python bindings without its libraries, or only its type stubs."""
    import importlib
    import importlib.util

    try:
        trt = importlib.import_module("tensorrt")
    except ModuleNotFoundError as e:
        if e.name != "tensorrt" or importlib.util.find_spec("tensorrt_bindings") is None:
            return None, _trt_without_libraries(e)
        try:  # the bindings wheel alone (tensorrt-cuXX-bindings) holds tensorrt_bindings, not tensorrt
            importlib.import_module("tensorrt_bindings")
        except Exception as e2:
            return None, _trt_without_libraries(e2)
        return None, f"TensorRT's bindings are installed without its tensorrt package ({pip_tensorrt()})"
    except Exception as e:  # ImportError/OSError: libnvinfer / libnvonnxparser missing
        return None, _trt_without_libraries(e)
    version = getattr(trt, "__version__", None)
    if version is None:  # a namespace package: tensorrt-stubs' .pyi files, nothing to run
        return None, f"only TensorRT's type stubs are installed, not TensorRT ({pip_tensorrt()})"
    return str(version), None


def _trt_without_libraries(e: BaseException) -> str:
    if isinstance(e, ModuleNotFoundError) and e.name in ("tensorrt", "tensorrt_bindings"):
        return f"TensorRT is not installed ({pip_tensorrt()})"
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    return (
        f"TensorRT's Python bindings are installed but not its libraries ({first}); "
        f"install them from NVIDIA's index: {pip_tensorrt()}"
    )


def tensorrt_version() -> str | None:
    """The installed TensorRT's version, or None (:func:`tensorrt_status` says why)."""
    return tensorrt_status()[0]


def tensorrt_major() -> int | None:
    """TensorRT's major version (10, 11 ...), or None without TensorRT."""
    v = tensorrt_version()
    return int(v.split(".")[0]) if v and v.split(".")[0].isdigit() else None


def tensorrt_requirements() -> str | None:
    """None if TensorRT engines can be built and run here; else one line saying what lacks."""
    import torch

    missing = []
    trt_problem = tensorrt_status()[1]
    if trt_problem is not None:
        missing.append(trt_problem)
    if not torch.cuda.is_available():
        build = "this PyTorch is a CPU-only build" if torch.version.cuda is None else "no CUDA GPU is visible"
        missing.append(f"no NVIDIA GPU usable ({build}; TensorRT needs an NVIDIA GPU with a CUDA build of torch)")
    if not missing:
        return None
    return "TensorRT engines need TensorRT and an NVIDIA GPU: " + "; ".join(missing)


def onnxruntime_providers() -> list[str]:
    """ONNX Runtime's execution providers here (empty without ONNX Runtime)."""
    try:
        import onnxruntime as ort
    except Exception:
        return []
    return list(ort.get_available_providers())


def openvino_version() -> str | None:
    """The installed OpenVINO's version, or None when it is not installed (or broken)."""
    try:
        import openvino as ov
    except Exception:
        return None
    try:
        from importlib.metadata import version

        return version("openvino")  # "2026.4.1"; ov.get_version() adds the build
    except Exception:
        return str(getattr(ov, "__version__", "installed")).split("-")[0]


def openvino_devices() -> dict[str, str]:
    """OpenVINO's devices here, name -> full name (e.g. {"CPU": "AMD EPYC"}); empty without OpenVINO."""
    try:
        import openvino as ov

        core = ov.Core()
        out = {}
        for d in core.available_devices:
            try:
                out[d] = str(core.get_property(d, "FULL_DEVICE_NAME"))
            except Exception:
                out[d] = d
        return out
    except Exception:
        return {}


def cpu_has_bf16() -> bool:
    """Whether OpenVINO's CPU plugin runs bfloat16 natively here (AVX512_BF16 or AMX)."""
    try:
        import openvino as ov

        return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:
        return False


# --------------------------------------------------------------------------- reports


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
        "ffmpeg": {
            k: ".".join(map(str, v)) if isinstance(v, tuple) else str(v) for k, v in av.library_versions.items()
        },
        "cpu_cores": _cpu_cores(),
    }
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            info["gpus"].append(
                {
                    "name": p.name,
                    "compute_capability": f"{p.major}.{p.minor}",
                    "memory_gib": round(p.total_memory / 2**30, 1),
                }
            )
    info["tensorrt"], info["tensorrt_problem"] = tensorrt_status()
    for mod in ("onnxruntime", "onnx"):
        try:
            m = __import__(mod)
            info[mod] = getattr(m, "__version__", "installed")
        except Exception:
            info[mod] = None
    if info["onnxruntime"]:
        info["onnxruntime_providers"] = onnxruntime_providers()
    info["openvino"] = openvino_version()
    info["openvino_devices"] = openvino_devices() if info["openvino"] else {}
    info["openvino_cpu_bf16"] = cpu_has_bf16() if info["openvino"] else None
    codecs = set(av.codecs_available)
    info["encoders"] = {c: (c in codecs) for c in ENCODERS}
    info["streams"] = stream_protocols()
    info["backends"] = {
        name: {d: (cls.unavailable_reason(d) or "ok") for d in cls.devices} for name, cls in BACKENDS.items()
    }
    return info


def stream_protocols() -> dict[str, list[str]]:
    """The stream URLs this FFmpeg build reads (``in``) and ``run -o`` sends to (``out``)."""
    from .video.urls import STREAM_OUTPUTS, stream_schemes

    have = stream_schemes()
    usual = ("rtsp", "rtsps", "rtmp", "rtmps", "srt", "udp", "tcp", "http", "https", "hls")
    return {
        "in": [p for p in usual if p in have],
        "out": [p for p in STREAM_OUTPUTS if p in have],
        "missing": [p for p in ("srt", "rtmps", "rtsps", "https") if p not in have],
    }


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
        out = subprocess.run(
            [exe, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True, timeout=10
        )
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
