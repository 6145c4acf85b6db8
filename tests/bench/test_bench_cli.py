"""`streamdeblur bench` as a user meets it: every figure present and sane (never a speed
asserted), the machine in the header, JSON and a chart written, bad options refused in
one line."""

from __future__ import annotations

import json
import sys
from fractions import Fraction

import av
import pytest
from benchfiles import assert_one_line_error, check_report
from typer.testing import CliRunner

from streamdeblur.bench.frames import synthetic_frames
from streamdeblur.cli import app

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py; so is tiny_weights


def test_cli_file_input_json_and_plot(tmp_path, tiny_weights):
    clip = tmp_path / "clip.mp4"
    frames = synthetic_frames(64, 48, 5, seed=1)
    with av.open(str(clip), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(25))
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for img in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    out, chart = tmp_path / "bench.json", tmp_path / "bench.png"
    res = runner.invoke(
        app,
        ["bench", str(clip), "--backend", "torch", "--device", "cpu", "--weights", str(tiny_weights),
         "--resolutions", "64x48,32x24", "--batch", "2", "--frames", "4", "--warmup", "2", "--json", str(out),
         "--plot", str(chart)],
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr + res.stdout
    data = json.loads(out.read_text())
    # 8 frames needed from a 5-frame clip: the decoder loops it
    check_report(data, sizes=["64x48", "32x24"], batches=[2], decode=True, weights=tiny_weights)
    assert data["input"] == {**data["input"], "kind": "file", "width": 64, "height": 48}
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = res.stdout
    assert "AMD" in text or "Intel" in text or data["machine"]["cpu"] in text  # the machine header
    assert "efficiency" in text and "end to end" in text and "deblurgan-lite" in text
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


@pytest.mark.parametrize("value", ["640x", "1280by720", "0x360", "641x360", "640x360,abc", "8194x16"])
def test_bad_resolutions_one_line_error(value):
    res = runner.invoke(app, ["bench", "--backend", "torch", "--device", "cpu", "--resolutions", value])
    assert_one_line_error(res, "resolution")


def test_bad_synthetic_size_names_the_option():
    assert_one_line_error(
        runner.invoke(app, ["bench", "--synthetic", "65x48", "--device", "cpu"]), "--synthetic", "odd"
    )


def test_bad_batch_device_and_missing_input(tmp_path):
    assert_one_line_error(runner.invoke(app, ["bench", "--batch", "0,4"]), "--batch")
    assert_one_line_error(runner.invoke(app, ["bench", str(tmp_path / "nope.mp4"), "--backend", "torch"]), "not found")
    assert_one_line_error(runner.invoke(app, ["bench", str(tmp_path / "nope.mp4"), "--synthetic", "64x48"]), "not both")
    res = runner.invoke(app, ["bench", "--device", "gpu"])  # typer checks the choice
    assert res.exit_code == 2 and "gpu" in res.stderr


def test_plot_without_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the 'plot' extra were not installed
    res = runner.invoke(app, ["bench", "--synthetic", "64x48", "--plot", str(tmp_path / "b.png")])
    assert_one_line_error(res, "matplotlib", "streamdeblur[plot]")


def test_plot_name_without_a_format_is_refused_before_measuring(tmp_path):
    assert_one_line_error(
        runner.invoke(app, ["bench", "--synthetic", "64x48", "--plot", str(tmp_path / "b.txt")]), "b.txt", ".png"
    )


def test_precision_choice_is_honoured_or_refused(tiny_weights):
    """--precision fp16 on the CPU is refused (never silently run in fp32); bad values are
    one-line errors; --threads reaches PyTorch and the report."""
    base = ["bench", "--synthetic", "64x48", "--backend", "torch", "--device", "cpu", "--weights", str(tiny_weights),
            "--frames", "2", "--warmup", "1", "--batch", "1", "-q"]  # fmt: skip
    assert_one_line_error(runner.invoke(app, [*base, "--precision", "fp16"]), "fp16", "cpu")
    assert_one_line_error(runner.invoke(app, [*base, "--precision", "int8"]), "--precision")
    res = runner.invoke(app, [*base, "--precision", "fp32", "--threads", "1", "--json", "-"])
    assert res.exit_code == 0, res.output
    assert '"precision": "fp32"' in res.output
    data = json.loads(res.stdout)
    assert data["config"]["threads"] == 1 and data["machine"]["torch_threads"] == 1


def test_several_backends_one_table_side_by_side_and_tiles(tiny_weights):
    """`--backend auto,torch`: both rows in one table, auto's choice named, the end-to-end
    ratio printed; --max-tile reaches the backend (a 64x48 frame through 32-px tiles)."""
    res = runner.invoke(
        app,
        ["bench", "--synthetic", "64x48", "--backend", "auto,torch", "--device", "cpu", "--weights", str(tiny_weights),
         "--batch", "1", "--frames", "2", "--warmup", "2", "--max-tile", "32", "--json", "-"],
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr + res.stdout
    data = json.loads(res.stdout)
    rows = data["results"]
    assert [r["requested"] for r in rows] == ["auto", "torch"]
    assert rows[0]["choice"].startswith("auto: ") and rows[1]["choice"].endswith("(asked for)")
    assert all(r["max_tile"] == 32 for r in rows) and data["config"]["max_tile"] == 32
    assert "openvino" in data["machine"]
    res = runner.invoke(
        app,
        ["bench", "--synthetic", "64x48", "--backend", "auto,torch", "--device", "cpu", "--weights", str(tiny_weights),
         "--batch", "1", "--frames", "1", "--warmup", "1", "-q"],
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr + res.stdout
    assert "end to end side by side: deblurgan-lite 64x48 batch 1: auto=" in res.stdout
    assert "auto: " in res.stdout and "on the CPU" in res.stdout  # what auto chose and why


def test_bf16_is_refused_by_backends_without_it(tiny_weights):
    base = [
        "bench",
        "--synthetic",
        "64x48",
        "--device",
        "cpu",
        "--weights",
        str(tiny_weights),
        "--frames",
        "1",
        "--warmup",
        "1",
        "--batch",
        "1",
        "-q",
    ]
    assert_one_line_error(runner.invoke(app, [*base, "--backend", "onnxruntime", "--precision", "bf16"]), "bf16")
    assert_one_line_error(runner.invoke(app, [*base, "--backend", "torch", "--precision", "bf16"]), "bf16")


def test_openvino_settings_reach_the_backend_options(monkeypatch):
    """--openvino-precision / --openvino-hint, or STREAMDEBLUR_OPENVINO_* as docs/BENCHMARKS.md
    sets them, reach the BackendOptions every measured backend opens with; --help shows both."""
    import streamdeblur.bench
    from streamdeblur.errors import InputError

    seen = []

    def fake_run_bench(config, on_progress=None):
        seen.append(config.backend_options)
        raise InputError("stopped before measuring")

    monkeypatch.setattr(streamdeblur.bench, "run_bench", fake_run_bench)
    base = ["bench", "--synthetic", "64x48", "--backend", "openvino", "--device", "cpu", "-q"]
    env = {"STREAMDEBLUR_OPENVINO_PRECISION": "fp32", "STREAMDEBLUR_OPENVINO_HINT": "throughput"}
    assert_one_line_error(runner.invoke(app, base, env=env), "stopped before measuring")
    assert_one_line_error(runner.invoke(app, [*base, "--openvino-hint", "latency"], env=env), "stopped")
    unset = dict.fromkeys(env)  # None: unset for the call
    assert_one_line_error(runner.invoke(app, base, env=unset), "stopped")
    assert [(o.openvino_precision, o.openvino_hint) for o in seen] == [
        ("fp32", "throughput"),
        ("fp32", "latency"),
        (None, "auto"),
    ]
    res = runner.invoke(app, [*base, "--openvino-hint", "fast"])  # typer checks the choice
    assert res.exit_code == 2 and "--openvino-hint" in res.stderr
    text = runner.invoke(app, ["bench", "--help"], env={"COLUMNS": "200"}).stdout
    assert "STREAMDEBLUR_OPENVINO_PRECISION" in text and "STREAMDEBLUR_OPENVINO_HINT" in text


def test_header_says_threads_and_the_frames_each_batch_counted(tiny_weights):
    """The header said '3 measured frames after 1 warm-up' when batch 2 counted 4 after 2, and
    never said how many threads ran: a --threads 1 table read like one with every core."""
    base = ["bench", "--synthetic", "32x24", "--backend", "torch", "--device", "cpu", "--weights", str(tiny_weights),
            "--frames", "3", "--warmup", "1", "-q"]  # fmt: skip
    res = runner.invoke(app, [*base, "--batch", "1,2", "--threads", "1"])
    assert res.exit_code == 0, res.stderr + res.stdout
    line = next(x for x in res.stdout.splitlines() if x.startswith("input "))
    assert "3 measured frames after 1 warm-up (batch 2: 4 after 2, whole batches)" in line, line
    assert "1 intra-op threads (--threads)" in line, line
    res = runner.invoke(app, [*base, "--batch", "1"])
    assert res.exit_code == 0, res.stderr + res.stdout
    line = next(x for x in res.stdout.splitlines() if x.startswith("input "))
    assert "whole batches" not in line and "intra-op threads: each library's default, PyTorch 1" in line, line


def test_openvino_hint_and_precision_in_json_table_and_chart(tmp_path, tiny_weights):
    """An OpenVINO figure is only comparable with the hint and precision it ran with: the JSON's
    config and each result carry them, and the table's and chart's row name them."""
    pytest.importorskip("openvino")
    pytest.importorskip("matplotlib")
    out, chart = tmp_path / "bench.json", tmp_path / "bench.svg"
    res = runner.invoke(
        app,
        ["bench", "--synthetic", "32x24", "--backend", "openvino", "--device", "cpu", "--weights", str(tiny_weights),
         "--batch", "1", "--frames", "2", "--warmup", "1", "--openvino-precision", "fp32", "--openvino-hint",
         "latency", "--json", str(out), "--plot", str(chart)],
    )  # fmt: skip
    assert res.exit_code == 0, res.stderr + res.stdout
    data = json.loads(out.read_text())
    assert data["config"]["openvino_precision"] == "fp32" and data["config"]["openvino_hint"] == "latency"
    (row,) = data["results"]
    assert (row["backend"], row["precision"], row["hint"]) == ("openvino", "fp32", "latency")
    assert "openvino cpu fp32 (hint latency)" in res.stdout
    assert chart.stat().st_size > 0
