"""The OpenVINO backend: shapes compile once (videos, odd sizes, tiles), both performance
hints agree, its precision is stated, and without OpenVINO every path says how to install it.

(Agreement with the PyTorch reference is the shared conformance test's job:
test_conformance.py runs openvino at its default precision, at fp32 and with the
throughput hint.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from backendfiles import read_clip, write_clip
from typer.testing import CliRunner

import streamdeblur.backends.openvino_backend as ovb
from streamdeblur.backends import CPU_ORDER, BackendOptions, OpenVINOBackend, choose_backend, create_backend
from streamdeblur.cli import app
from streamdeblur.errors import BackendUnavailableError, InputError
from streamdeblur.models import save_generator

needs_openvino = pytest.mark.skipif(
    ovb.openvino_version() is None, reason="openvino is not installed (pip install 'streamdeblur[openvino]')"
)
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is visible here: auto picks it")


@pytest.fixture
def no_openvino(monkeypatch):
    """As if the 'openvino' extra were not installed."""
    monkeypatch.setattr(ovb, "openvino_version", lambda: None)


def _crops(photo_batch, n, h, w):
    return torch.cat([photo_batch[..., 5 * i : 5 * i + h, 7 * i : 7 * i + w] for i in range(n)])


@needs_openvino
def test_each_padded_shape_compiles_once(lite, photo_batch):
    be = OpenVINOBackend(lite, "cpu", BackendOptions(precision="fp32"))
    x = _crops(photo_batch, 2, 97, 131)  # odd size: padded to the model's multiple
    for _ in range(3):  # a video: the same size frame after frame
        be.infer(x)
    assert be.compiles == 1
    be.infer(x[:1])  # the shorter last batch: one more shape
    be.infer(_crops(photo_batch, 2, 99, 129))  # another odd size that pads to the same shape: no compile
    assert be.compiles == 2
    be.close()


@needs_openvino
def test_tiles_do_not_recompile_per_frame_or_tile(lite, photo):
    """A frame larger than --max-tile: its tile shapes (full ones and the shorter edge
    ones) compile on the first frame; the next frames compile nothing."""
    be = OpenVINOBackend(lite, "cpu", BackendOptions(precision="fp32", max_tile=96))
    frames = np.ascontiguousarray(photo[None, :237, :311])  # odd size: shorter edge tiles
    ref = OpenVINOBackend(lite, "cpu", BackendOptions(precision="fp32")).process(frames)
    out = be.process(frames)
    first = be.compiles
    assert 1 <= first <= 4  # at most full, right-edge, bottom-edge and corner tile shapes
    for _ in range(2):
        out = be.process(frames)
    assert be.compiles == first
    assert out.shape == frames.shape
    assert np.abs(out.astype(int) - ref.astype(int)).mean() < 1  # seamless: close to the untiled frame
    be.close()


@needs_openvino
def test_shape_cache_is_bounded(lite, photo_batch):
    be = OpenVINOBackend(lite, "cpu", BackendOptions(precision="fp32", openvino_max_shapes=2))
    for h in (32, 48, 64, 80):
        be.infer(photo_batch[..., :h, :64])
    assert be.compiles == 4 and len(be._compiled) == 2
    be.infer(photo_batch[..., :80, :64])  # the most recent stays
    assert be.compiles == 4
    be.close()


@needs_openvino
def test_auto_hint_latency_for_one_frame_throughput_for_a_batch(lite, photo_batch):
    be = OpenVINOBackend(lite, "cpu", BackendOptions(precision="fp32"))
    assert be.hint == "auto"
    x = _crops(photo_batch, 4, 64, 80)
    be.infer(x)  # a batch: single frames over the throughput streams
    assert [k[0] for k in be._compiled] == ["throughput"] and list(be._compiled)[0][1] == 1
    be.infer(x[:3])  # the shorter last batch reuses that batch-1 model
    assert be.compiles == 1
    be.infer(x[:1])  # one frame (preview, --batch 1): every core on it
    assert [k[0] for k in be._compiled] == ["throughput", "latency"] and be.compiles == 2
    be.close()


@needs_openvino
def test_throughput_hint_matches_latency_hint_at_batch_4(lite, photo_batch):
    x = _crops(photo_batch, 4, 120, 160)
    lat = OpenVINOBackend(lite, "cpu", BackendOptions(precision="fp32", openvino_hint="latency"))
    thr = OpenVINOBackend(lite, "cpu", BackendOptions(precision="fp32", openvino_hint="throughput"))
    a, b = lat.infer(x), thr.infer(x)
    assert b.shape == x.shape
    assert (a - b).abs().max().item() <= 1e-5
    assert thr.describe() == "openvino (cpu, fp32, throughput)"
    for be in (lat, thr):
        be.close()
        be.close()  # safe twice
    with pytest.raises(RuntimeError, match="closed"):
        lat.infer(x)


@needs_openvino
@pytest.mark.parametrize("batch", [1, 3])  # the latency hint's one request; the throughput hint's queue
def test_one_backend_shared_by_threads_gives_each_its_own_frames(lite, photo, batch):
    """Two cameras' loops (deblur_frames with backend=) sharing one backend call process at once: each
    gets its own frames deblurred; OpenVINO's one infer request per shape was "busy" for all but one."""
    import threading

    be = OpenVINOBackend(lite, "cpu", BackendOptions(precision="fp32"))
    inputs = [
        np.ascontiguousarray(photo[None, 9 * k : 9 * k + 48, 11 * k : 11 * k + 64].repeat(batch, 0)) for k in range(4)
    ]
    want = [be.process(x) for x in inputs]
    got: dict[int, list] = {k: [] for k in range(4)}

    def loop(k: int) -> None:
        for _ in range(3):
            try:
                got[k].append(be.process(inputs[k]))
            except Exception as e:  # noqa: BLE001 - the assertion below names it
                got[k].append(e)

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    be.close()
    for k in range(4):
        assert all(isinstance(y, np.ndarray) and np.array_equal(y, want[k]) for y in got[k]), got[k]


@needs_openvino
def test_precision_default_follows_the_cpu_and_bad_choices_are_refused(lite, monkeypatch):
    be = OpenVINOBackend(lite, "cpu")
    assert be.precision == ("bf16" if ovb.cpu_has_bf16() else "fp32")
    be.close()
    monkeypatch.setattr(ovb, "cpu_has_bf16", lambda: False)
    be = OpenVINOBackend(lite, "cpu")
    assert be.precision == "fp32"
    be.close()
    with pytest.raises(BackendUnavailableError, match="AVX512_BF16"):
        OpenVINOBackend(lite, "cpu", BackendOptions(precision="bf16"))
    with pytest.raises(BackendUnavailableError, match="fp32 or bf16"):
        OpenVINOBackend(lite, "cpu", BackendOptions(precision="fp16"))
    with pytest.raises(InputError, match="auto, latency, throughput"):
        BackendOptions(openvino_hint="fast")  # refused when the options are built, before any backend opens
    be = OpenVINOBackend(lite, "cpu", BackendOptions(openvino_precision="fp32", openvino_hint="throughput"))
    assert (be.precision, be.hint) == ("fp32", "throughput")
    be.close()
    be = OpenVINOBackend(
        lite, "cpu", BackendOptions(precision="fp32", openvino_precision="bf16")
    )  # every backend's precision wins
    assert be.precision == "fp32"
    be.close()


@needs_openvino
@no_cuda
def test_auto_picks_openvino_first_and_says_why(lite):
    assert CPU_ORDER[0] == "openvino"
    name, device, why = choose_backend("auto", None, generator=lite)
    assert (name, device) == ("openvino", "cpu")
    assert "OpenVINO" in why and "no CUDA GPU" in why and "BENCHMARKS" in why
    be = create_backend("auto", lite)
    assert isinstance(be, OpenVINOBackend) and be.choice_reason == why
    be.close()


@no_cuda
def test_auto_without_openvino_falls_to_onnxruntime_and_names_the_extra(lite, no_openvino):
    name, _, why = choose_backend("auto", None, generator=lite)
    assert name == "onnxruntime"
    assert "pip install 'streamdeblur[openvino]'" in why


def test_explicit_openvino_without_it_is_an_error_naming_the_extra(lite, no_openvino):
    with pytest.raises(BackendUnavailableError) as ei:
        choose_backend("openvino")
    assert "pip install 'streamdeblur[openvino]'" in str(ei.value) and "\n" not in str(ei.value)
    with pytest.raises(BackendUnavailableError, match="streamdeblur\\[openvino\\]"):
        OpenVINOBackend(lite, "cpu")
    with pytest.raises(BackendUnavailableError, match="does not run on 'cuda'"):
        choose_backend("openvino", "cuda")


def _one_line_error(res, *words):
    assert res.exit_code == 2, res.output
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in res.output, err
    for w in words:
        assert w in err, err


def test_cli_openvino_without_it_exits_2_naming_the_fix(tmp_path, photo, lite, no_openvino):
    src = tmp_path / "in.mkv"
    write_clip(src, np.stack([photo[:96, :128]] * 2))
    weights, _ = save_generator(lite, tmp_path / "g")
    res = CliRunner().invoke(
        app, ["run", str(src), "-o", str(tmp_path / "o.mkv"), "--weights", str(weights), "--backend", "openvino"]
    )
    _one_line_error(res, "pip install 'streamdeblur[openvino]'")
    assert not (tmp_path / "o.mkv").exists()
    res = CliRunner().invoke(app, ["bench", "--synthetic", "64x48", "--backend", "openvino,onnxruntime", "-q"])
    _one_line_error(res, "pip install 'streamdeblur[openvino]'")


@needs_openvino
def test_run_with_openvino_matches_torch(tmp_path, photo, lite, monkeypatch):
    """`streamdeblur run --backend openvino`: every frame out, fp32 within a level of PyTorch, bf16 close."""
    weights, _ = save_generator(lite, tmp_path / "g")
    frames = np.stack(
        [photo[i * 8 : i * 8 + 96, i * 12 : i * 12 + 131] for i in range(5)]
    )  # odd width, a short last batch
    src = tmp_path / "in.mkv"
    write_clip(src, frames)
    outs = {}
    for label, backend, env in (("torch", "torch", None), ("ov32", "openvino", "fp32"), ("ov", "openvino", None)):
        if env:
            monkeypatch.setenv("STREAMDEBLUR_OPENVINO_PRECISION", env)
        else:
            monkeypatch.delenv("STREAMDEBLUR_OPENVINO_PRECISION", raising=False)
        out = tmp_path / f"{label}.mkv"
        r = CliRunner().invoke(
            app,
            [
                "run",
                str(src),
                "-o",
                str(out),
                "--weights",
                str(weights),
                "--backend",
                backend,
                "--codec",
                "ffv1",
                "--batch",
                "2",
            ],
        )
        assert r.exit_code == 0, r.output
        outs[label] = read_clip(out).astype(int)
        assert outs[label].shape == frames.shape
    assert np.abs(outs["ov32"] - outs["torch"]).max() <= 1
    assert np.abs(outs["ov"] - outs["torch"]).max() <= 3
    assert np.abs(outs["ov32"] - frames.astype(int)).mean() > 1  # and the model did something


def test_doctor_lists_openvino():
    res = CliRunner().invoke(app, ["doctor"])
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("openvino "))
    if ovb.openvino_version() is None:
        assert "streamdeblur[openvino]" in line
    else:
        assert ovb.openvino_version() in line and "CPU" in line
    assert any(ln.split()[:2] == ["backend", "openvino"] for ln in res.stdout.splitlines())
    import json

    info = json.loads(CliRunner().invoke(app, ["doctor", "--json"]).stdout)
    assert "openvino" in info and "openvino_devices" in info
