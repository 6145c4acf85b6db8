"""What `run` chooses for itself and says in its start line: ``--batch auto`` per device, the
encoder's threads, and ``--preset auto`` (the slowest x264 preset that keeps up with the model).

The output's own x264 settings (the options string x264 writes into the stream) show that the
preset and thread count stated are the ones the file was encoded with."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner
from videofiles import random_frames, read_video, write_video

from streamdeblur.cli import app
from streamdeblur.encoding import AUTO_PRESETS, choose_preset, resolve_batch

runner = CliRunner()

#: x264's subpixel refinement level per preset (x264's own preset table): what identifies the preset in a file
SUBME = {"ultrafast": 0, "superfast": 1, "veryfast": 2, "faster": 4, "fast": 6, "medium": 7, "slow": 8,
         "slower": 9, "veryslow": 10}  # fmt: skip


def x264_settings(path: Path) -> dict[str, str]:
    """The ``options:`` string x264 writes into its first packet, as a dict."""
    data = path.read_bytes()
    i = data.index(b"options: ")
    text = data[i + 9 : data.index(b"\x00", i)].decode("ascii")
    return dict(kv.split("=", 1) for kv in text.split() if "=" in kv)


def start_line(output: str) -> str:
    return next(line for line in output.splitlines() if " -> " in line and "batch" in line)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    p = tmp_path / "clip.mp4"
    write_video(p, random_frames(10, 96, 64), codec="libx264", pix_fmt="yuv420p")
    return p


def run(*args) -> object:
    return runner.invoke(app, ["run", *map(str, args)])


@pytest.mark.parametrize(
    ("args", "said", "x264"),
    [
        ([], "crf 18", {"crf": "18.0"}),
        (["--crf", "22", "--bitrate", "500k"], "crf 22 capped at 500 kb/s", {"crf": "22.0", "vbv_maxrate": "500"}),
        (["--bitrate", "2M"], "2 Mb/s", {"bitrate": "2000", "vbv_maxrate": "2000"}),
    ],
)
def test_the_start_line_says_the_quality_the_file_is_encoded_at(tmp_path, clip, tiny_weights, args, said, x264):
    out = tmp_path / "out.mp4"
    r = run(clip, "-o", out, "--weights", tiny_weights, "--backend", "torch", *args)
    assert r.exit_code == 0, r.output
    assert re.search(rf"encoder libx264 preset fast, \d+ threads?, {said}\)?$", start_line(r.output)), r.output
    settings = x264_settings(out)
    assert {k: settings.get(k) for k in x264} == x264, settings


def test_defaults_on_the_cpu_are_stated_and_used(tmp_path, clip, tiny_weights):
    out = tmp_path / "out.mp4"
    r = run(clip, "-o", out, "--weights", tiny_weights, "--backend", "torch")
    assert r.exit_code == 0, r.output
    line = start_line(r.output)
    assert "batch 1 (auto: fastest for torch on the CPU in bench, up to 960x540)" in line, line
    threads = max(1, (os.cpu_count() or 1) // 4)  # the model shares the CPU: one encoder thread per four cores
    assert f"encoder libx264 preset fast, {threads} thread" in line, line
    settings = x264_settings(out)
    assert settings["threads"] == str(threads) and settings["subme"] == str(SUBME["fast"]), settings
    assert len(read_video(out)) == 10


def test_given_batch_and_encoder_threads_are_used(tmp_path, clip, tiny_weights):
    out = tmp_path / "out.mp4"
    r = run(clip, "-o", out, "--weights", tiny_weights, "--backend", "torch", "--batch", "3", "--encoder-threads", "2")
    assert r.exit_code == 0, r.output
    line = start_line(r.output)
    assert "batch 3;" in line and "preset fast, 2 threads" in line, line
    assert x264_settings(out)["threads"] == "2"
    assert len(read_video(out)) == 10


def test_preset_auto_says_what_it_measured_and_encodes_with_it(tmp_path, clip, tiny_weights):
    out = tmp_path / "out.mp4"
    r = run(clip, "-o", out, "--weights", tiny_weights, "--backend", "torch", "--preset", "auto")
    assert r.exit_code == 0, r.output
    line = start_line(r.output)
    m = re.search(r"encoder libx264 preset (\w+), .*--preset auto: model ([\d.]+) fps at 96x64; encode fps (.*?); "
                  r"needs >= 10x \(the CPU is shared\) the model's rate; (.*)\)\)", line)  # fmt: skip
    assert m, line
    chosen, model_fps, figures, verdict = m.group(1), float(m.group(2)), m.group(3), m.group(4)
    measured = {p: float(f) for p, f in (x.split() for x in figures.split(", "))}
    assert chosen in measured and model_fps > 0
    # the rule it states holds for the figures it states
    need = 10 * model_fps
    if verdict == "the slowest that keeps up":
        assert measured[chosen] >= need * 0.99  # the line rounds to whole fps
        slower = [p for p in measured if AUTO_PRESETS.index(p) > AUTO_PRESETS.index(chosen)]
        assert all(measured[p] < need * 1.01 + 1 for p in slower), (chosen, measured)
    else:
        assert chosen == "ultrafast"
    assert x264_settings(out)["subme"] == str(SUBME[chosen])
    assert len(read_video(out)) == 10


def test_choose_preset_finds_the_slowest_that_keeps_up_by_bisection():
    fps = dict(zip(AUTO_PRESETS, (400, 300, 200, 150, 120, 90, 60, 40, 20)))
    tried = []

    def encode(p):
        tried.append(p)
        return fps[p]

    assert choose_preset(100, encode)[0] == "fast" and len(tried) <= 5, tried
    assert choose_preset(10, lambda p: fps[p])[0] == "veryslow"
    chosen, _, kept = choose_preset(1000, lambda p: fps[p])
    assert chosen == "ultrafast" and not kept


@pytest.mark.parametrize(
    "args,words",
    [
        (["--preset", "auto", "--codec", "ffv1"], "--preset auto chooses among x264/x265 presets"),
        (["--batch", "0"], "--batch '0' is not auto or a number of frames from 1 to 256"),
        (["--batch", "many"], "--batch 'many' is not auto"),
        (["--encoder-threads", "-1"], "--encoder-threads"),
    ],
)
def test_bad_batch_preset_threads_are_one_line_errors(tmp_path, clip, tiny_weights, args, words):
    out = tmp_path / ("out.mkv" if "ffv1" in args else "out.mp4")
    r = run(clip, "-o", out, "--weights", tiny_weights, *args)
    assert r.exit_code == 2, r.output
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and words in lines[0], r.output
    assert not out.exists()


def test_torch_compile_says_how_long_it_compiled(tmp_path, clip, tiny_weights, monkeypatch):
    """The compiled backend's one-off cost is stated in the final line, apart from the frame rate."""
    monkeypatch.setenv("STREAMDEBLUR_CACHE_DIR", str(tmp_path / "cache"))  # not the user's ~/.cache
    out = tmp_path / "out.mp4"
    r = run(clip, "-o", out, "--weights", tiny_weights, "--backend", "torch-compile", "--device", "cpu")
    if r.exit_code != 0 and "needs a C++ compiler" in r.output:
        pytest.skip("torch.compile on the CPU needs a C++ compiler")
    assert r.exit_code == 0, r.output
    done = next(line for line in r.output.splitlines() if line.startswith("done:"))
    assert re.search(r"backend torch-compile on cpu \(fp32; compiled in \d+\.\d s\) -> ", done), done
    assert len(read_video(out)) == 10


@pytest.mark.parametrize(
    "backend,device,size,batch",
    [
        ("torch", "cpu", (1280, 720), 1),  # PyTorch on the CPU: batch 1 about 2x faster at both sizes
        ("openvino", "cpu", (640, 360), 1),
        ("openvino", "cpu", (1280, 720), 4),  # OpenVINO's throughput streams win at 720p
        ("openvino", "cpu", (960, 540), 1),  # the start line's "up to 960x540" is where the cut is
        ("openvino", "cpu", (1024, 576), 4),  # (it was at 691,200 pixels: 1024x576 said "up to 960x540" at 1)
        ("onnxruntime", "cpu", (640, 360), 4),
        ("torch", "cuda", (1920, 1080), 4),
    ],
)
def test_batch_auto_per_backend_device_and_size(backend, device, size, batch):
    got, why = resolve_batch(None, backend, device, *size)
    assert got == batch and why.startswith("auto: "), why
    assert resolve_batch(3, backend, device, *size) == (3, "")  # a given batch is used as it is
