"""TensorRT checked without TensorRT: every TensorRT call of the build, the engine cache and the
backend type-checked (mypy) against the published API (``tensorrt-stubs``), and shown to fail on
a misspelled API name; and what ``doctor`` and the backend say for a TensorRT that cannot run.

``scripts/setup.sh`` installs the stubs and the bindings wheel alone into folders of their own
(``.venv/tensorrt-stubs``, ``.venv/tensorrt-bindings-only``), never onto ``sys.path``: the stubs'
``tensorrt/`` folder would import as an empty namespace package, and the bindings need
libraries that only NVIDIA's index serves.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUBS = Path(os.environ.get("STREAMDEBLUR_TRT_STUBS", ROOT / ".venv" / "tensorrt-stubs"))
BINDINGS = Path(os.environ.get("STREAMDEBLUR_TRT_BINDINGS", ROOT / ".venv" / "tensorrt-bindings-only"))
CHECKED = ("streamdeblur/engine_build.py", "streamdeblur/engine_cache.py", "streamdeblur/backends/tensorrt_backend.py")
SETUP = "run scripts/setup.sh (it installs them)"


def _installed(folder: Path, what: str) -> Path:
    if not folder.is_dir():
        pytest.fail(f"{what} missing at {folder}: {SETUP}")
    return folder


@pytest.fixture(scope="module")
def stubs(tmp_path_factory) -> Path:
    """tensorrt-stubs 10.13.0.35.1 with its three syntax slips mended (a parameter named ``in``,
    a non-default parameter after defaults): mypy stops at the first syntax error in a stub."""
    dst = tmp_path_factory.mktemp("trt-stubs")
    shutil.copytree(_installed(STUBS, "tensorrt-stubs"), dst, dirs_exist_ok=True)
    pyi = dst / "tensorrt_bindings" / "tensorrt.pyi"
    text = re.sub(r"(?m)^(\s*def .*?[(,] ?)in: ", r"\1in_: ", pyi.read_text())
    text = re.sub(r"(?m)^(\s*def .*?[(,] ?)in: ", r"\1in_: ", text)  # a second `in` on a line
    text = text.replace("power: Weights = None, channel_axis: int)", "power: Weights = None, channel_axis: int = ...)")
    pyi.write_text(text)
    return dst


def _mypy(root: Path, stubs: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("mypy", reason=f"mypy is in the dev extra: {SETUP}")
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "tests" / "tensorrt_mypy.ini")]
    cmd += ["--cache-dir", str(cache), *CHECKED]
    env = {**os.environ, "MYPYPATH": str(stubs)}
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_tensorrt_calls_match_the_published_api(stubs, tmp_path_factory):
    res = _mypy(ROOT, stubs, tmp_path_factory.getbasetemp() / "mypy-cache")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Success" in res.stdout


def test_a_renamed_tensorrt_api_fails_the_check(stubs, tmp_path, tmp_path_factory):
    """The same check on a copy of the package with one TensorRT name misspelled in the build and
    one in the backend: both are reported, so the check above can fail."""
    copy = tmp_path / "src"
    skip = shutil.ignore_patterns("weights", "__pycache__")
    shutil.copytree(ROOT / "streamdeblur", copy / "streamdeblur", ignore=skip)
    for rel, old, new in [
        (CHECKED[0], "builder.create_optimization_profile()", "builder.create_optimisation_profile()"),
        (CHECKED[2], "self.context.set_tensor_address(", "self.context.set_tensor_adress("),
    ]:
        f = copy / rel
        assert old in f.read_text(), f"{old} is no longer in {rel}: pick another name to misspell"
        f.write_text(f.read_text().replace(old, new))
    res = _mypy(copy, stubs, tmp_path_factory.getbasetemp() / "mypy-cache")
    assert res.returncode == 1, res.stdout + res.stderr
    assert '"Builder" has no attribute "create_optimisation_profile"' in res.stdout, res.stdout
    assert 'has no attribute "set_tensor_adress"' in res.stdout, res.stdout


def _probe(path: Path) -> str:
    """What machine.tensorrt_status and the backend say with ``path`` on sys.path (a fresh process)."""
    code = (
        "from streamdeblur.machine import tensorrt_status; from streamdeblur.backends import TensorRTBackend; "
        "print(tensorrt_status()); print(TensorRTBackend.unavailable_reason('cuda'))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(path), str(ROOT)])}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_bindings_without_libraries_are_told_apart_from_not_installed():
    """The real tensorrt-cu12-bindings wheel, whose import fails without NVIDIA's libraries."""
    out = _probe(_installed(BINDINGS, "tensorrt-cu12-bindings"))
    status, backend = out.splitlines()
    assert status.startswith("(None, ") and "bindings are installed but not its libraries" in status
    assert "libnvonnxparser" in status or "libnvinfer" in status  # the library it lacked, named
    assert "bindings are installed but not its libraries" in backend and "pypi.nvidia.com" in backend
    assert "not installed (" not in backend


def test_stubs_alone_are_not_tensorrt(tmp_path):
    out = _probe(_installed(STUBS, "tensorrt-stubs"))
    assert "only TensorRT's type stubs are installed" in out
    out = _probe(tmp_path)  # nothing: not installed, with the command for this torch's CUDA
    assert "TensorRT is not installed (pip install 'streamdeblur[tensorrt-cu" in out


def test_tensorrt_11_networks_take_no_strongly_typed_flag():
    from streamdeblur.engine_build import network_flags

    assert network_flags("11.4.0.106") == 0  # deprecated and ignored there: always strongly typed
