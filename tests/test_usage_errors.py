"""A usage mistake (a value not among an option's choices, a missing option, an unknown
option, a number that is not one) is one line naming it and the help to read, exit 2, in
both command lines; the help itself is unchanged."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from streamdeblur.cli import app
from trainer.cli import app as train_app

runner = CliRunner()


@pytest.mark.parametrize(
    ("cli", "args", "line"),
    [
        (
            app,
            ["bench", "--precision", "fp8"],
            "streamdeblur: error: Invalid value for '--precision': 'fp8' is not one of 'fp16', 'fp32', 'bf16'; "
            "see streamdeblur bench --help",
        ),
        (
            app,
            ["run", "a.mp4", "-o", "b.mp4", "--backend", "foo"],
            "streamdeblur: error: Invalid value for '--backend': 'foo' is not one of 'auto', 'tensorrt', 'torch', "
            "'torch-compile', 'onnxruntime', 'openvino'; see streamdeblur run --help",
        ),
        (app, ["run", "a.mp4"], "streamdeblur: error: Missing option '--output' / '-o'; see streamdeblur run --help"),
        (  # --help offered bf16, which an ONNX file or engine never is
            app,
            ["export", "--precision", "bf16"],
            "streamdeblur: error: Invalid value for '--precision' / '-p': 'bf16' is not one of 'fp16', 'fp32'; "
            "see streamdeblur export --help",
        ),
        (  # was taken for a weights path: "generator weights not found: foo.safetensors"
            app,
            ["export", "-m", "foo", "-o", "x.onnx"],
            "streamdeblur: error: unknown model 'foo'; choose one of: deblurgan, deblurgan-lite, "
            "or pass --weights FILE",
        ),
        (  # FFmpeg's order without its -o: the fix, spelled out
            app,
            ["--debug", "run", "a.mp4", "--backend", "torch", "my clips/b.mp4"],
            "streamdeblur: error: Missing option '--output' / '-o'; to write my clips/b.mp4, put -o before it: "
            "streamdeblur run a.mp4 --backend torch -o 'my clips/b.mp4'",
        ),
        (
            app,
            ["run", "a.mp4", "rtmp://host/live/key"],
            "streamdeblur: error: Missing option '--output' / '-o'; to write rtmp://host/live/key, put -o before it: "
            "streamdeblur run a.mp4 -o rtmp://host/live/key",
        ),
        (  # two inputs, no output: nothing to guess
            app,
            ["run", "a.mp4", "clips"],
            "streamdeblur: error: Missing option '--output' / '-o'; see streamdeblur run --help",
        ),
        (app, ["--bogus"], "streamdeblur: error: No such option: --bogus; see streamdeblur --help"),
        (
            app,
            ["run", "a.mp4", "-o", "b.mp4", "--openvino-hnt", "latency"],
            "streamdeblur: error: No such option: --openvino-hnt (Possible options: --openvino-hint, "
            "--openvino-precision); see streamdeblur run --help",
        ),
        (
            app,
            ["preview", "--device", "gpu"],
            "streamdeblur: error: Invalid value for '--device': 'gpu' is not one of 'cuda', 'cpu'; "
            "see streamdeblur preview --help",
        ),
        (  # a range option's example is one it takes
            train_app,
            ["train", "--scene-zoom", "2"],
            "streamdeblur-train: error: Invalid value: --scene-zoom '2' is not LO,HI (e.g. 1,3)",
        ),
        (
            train_app,
            ["train", "--pixel-loss", "l3"],
            "streamdeblur-train: error: Invalid value for '--pixel-loss': 'l3' is not one of 'l1', 'charbonnier', "
            "'psnr'; see streamdeblur-train train --help",
        ),
    ],
)
def test_usage_errors_are_one_line(cli, args, line):
    res = runner.invoke(cli, args)
    assert res.exit_code == 2, res.output
    assert res.stderr.splitlines() == [line]
    assert res.stdout == ""


def test_a_bad_backend_setting_in_the_environment_is_one_line_naming_it():
    """STREAMDEBLUR_OPENVINO_HINT / _PRECISION are --openvino-hint / --openvino-precision: checked
    as the options are, before any input is opened."""
    res = runner.invoke(app, ["run", "missing.mp4", "-o", "b.mp4"], env={"STREAMDEBLUR_OPENVINO_HINT": "fast"})
    assert res.exit_code == 2 and res.stderr.splitlines() == [
        "streamdeblur: error: Invalid value for '--openvino-hint' (env var: 'STREAMDEBLUR_OPENVINO_HINT'): "
        "'fast' is not one of 'auto', 'latency', 'throughput'; see streamdeblur run --help"
    ]
    help_text = runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"}).stdout
    assert "STREAMDEBLUR_OPENVINO_PRECISION" in help_text and "STREAMDEBLUR_OPENVINO_HINT" in help_text


def test_help_still_shows():
    res = runner.invoke(app, ["run", "--help"])
    assert res.exit_code == 0 and "--backend" in res.stdout and "openvino" in res.stdout
    res = runner.invoke(app, [])
    assert "Usage: streamdeblur" in res.output and "bench" in res.output


@pytest.mark.parametrize(
    ("cli", "words"),
    [
        (app, "  bench         Measure decode, pre-processing, inference, post-processing and\n"),
        (train_app, "  export        Write a checkpoint's generator as NAME.safetensors + NAME.json\n"),
    ],
)
def test_the_command_list_says_each_command_in_one_paragraph(cli, words):
    """A docstring's line breaks cut the command list's lines short ("... encode FPS, the" then the rest on
    a line of its own): each command's summary is one paragraph, wrapped to the terminal."""
    res = runner.invoke(cli, ["--help"], env={"COLUMNS": "80"})
    assert res.exit_code == 0 and words in res.stdout


@pytest.mark.parametrize(("cli", "command"), [(app, "run"), (app, "bench"), (train_app, "train")])
def test_options_help_has_room_in_an_80_column_terminal(cli, command):
    """typer's boxes gave `run --help`'s option help a 17-column strip in an 80-column terminal, the
    default of most terminals: one or two words a line over some 400 lines. In click's plain layout every
    line fits the terminal and an option's help starts beside it and runs on 46 columns."""
    res = runner.invoke(cli, [command, "--help"], env={"COLUMNS": "80"})
    lines = res.stdout.splitlines()
    prose = [line for line in lines if not line.lstrip().startswith(("streamdeblur ", "python "))]  # examples
    assert res.exit_code == 0 and max(len(line) for line in prose) <= 80
    assert not any(box in res.stdout for box in "│╭╰")
    runs_on = [len(line) - 34 for line in lines if line.startswith(" " * 34) and line[34] != " "]
    assert len(runs_on) >= 10 and max(runs_on) >= 44, runs_on


@pytest.mark.parametrize(
    ("cli", "command", "words", "example"),
    [
        (app, "run", "progress shows frames done / total, FPS and ETA", "streamdeblur run photo.jpg -o sharp.png"),
        (app, "preview", None, "streamdeblur preview clip.mp4 --loop --view split"),
        (train_app, "export", "load it with streamdeblur.models.load_generator(PATH) or", None),
    ],
)
def test_a_commands_help_is_wrapped_by_the_terminal_not_by_the_docstring(cli, command, words, example):
    """A docstring's line breaks showed in --help as they were written ("progress shows frames" / "done /
    total"), ragged half lines in an 80-column terminal: each paragraph is wrapped to the terminal, and the
    examples are one a line, as they are typed."""
    res = runner.invoke(cli, [command, "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    lines = [line.strip() for line in res.stdout.splitlines()]
    assert res.exit_code == 0
    if words:  # click wraps each paragraph to the terminal (at most 100 columns)
        assert words in " ".join(res.stdout.split())
    if example:
        assert example in lines and "Examples:" in lines


@pytest.mark.parametrize("command", [["run", "missing.mp4", "-o", "b.mp4"], ["preview", "missing.mp4", "--serve", "0"]])
def test_openvino_settings_with_another_backend_are_refused_unless_they_come_from_the_environment(command, tmp_path):
    """--openvino-precision fp32 with --backend torch would run in float32 PyTorch as if it had never been
    typed; said in one line, before any input is opened. The environment variables stay preferences."""
    res = runner.invoke(app, [*command, "--backend", "torch", "--openvino-precision", "fp32"])
    assert res.exit_code == 2 and res.stderr.splitlines() == [
        "streamdeblur: error: --openvino-precision is an OpenVINO setting; --backend torch does not use it; "
        "drop --openvino-precision, or pass --backend openvino"
    ]
    res = runner.invoke(app, [*command, "--backend", "onnxruntime", "--openvino-hint", "latency",
                              "--openvino-precision", "bf16"])  # fmt: skip
    assert res.exit_code == 2 and "--openvino-precision and --openvino-hint are OpenVINO settings" in res.stderr
    env = {"STREAMDEBLUR_OPENVINO_PRECISION": "fp32", "STREAMDEBLUR_OPENVINO_HINT": "latency"}
    for backend in ("torch", "openvino", "auto"):  # past the check: the missing input is what stops it
        res = runner.invoke(app, [*command, "--backend", backend], env=env)
        assert res.exit_code != 0 and "missing.mp4" in res.stderr and "OpenVINO setting" not in res.stderr
    res = runner.invoke(app, [*command, "--backend", "openvino", "--openvino-precision", "fp32"])
    assert "missing.mp4" in res.stderr and "OpenVINO setting" not in res.stderr


@pytest.mark.parametrize(
    ("inputs", "output", "words"),
    [
        (["shot.png"], "sharp.mp4", "input not found: {tmp}/shot.png; check the path"),  # not "is a picture"
        (["shot.png"], "sharp.png", "input not found: {tmp}/shot.png; check the path"),
        (["frames/f_%04d.png"], "sharp.mp4", "no picture matches the image-sequence pattern {tmp}/frames/f_%04d.png"),
        (["frames/f_%04d.png"], "sharp.png", "streamdeblur run {tmp}/frames -o OUT_FOLDER/"),
        (
            ["frames/f_%04d.png", "clip.mp4"],
            "out",
            "an image sequence is read or written as a video by a run of its own",
        ),
    ],
)
def test_a_missing_input_is_not_found_and_a_sequence_pattern_says_how(tmp_path, inputs, output, words):
    """A typo'd picture name with a video output was answered "is a picture and X is not a picture
    name"; an FFmpeg image-sequence pattern that matches nothing says so, and one where a picture or
    several inputs are expected gets the ways to deblur the frames."""
    (tmp_path / "frames").mkdir()
    (tmp_path / "clip.mp4").write_bytes(b"")
    res = runner.invoke(app, ["run", *(str(tmp_path / i) for i in inputs), "-o", str(tmp_path / output)])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and words.format(tmp=tmp_path) in lines[0], lines


@pytest.mark.parametrize(
    ("inputs", "output", "words"),
    [
        (["frames"], "clip.mp4", "with folder {tmp}/frames as the input -o names a folder (an output each), and"),
        (["a.png", "b.png"], "sharp.png", "looks like a picture file name; give a folder, such as {tmp}/sharp/"),
        (["a.mp4", "b.mp4"], "both.mkv", "with several inputs -o names a folder"),
    ],
)
def test_a_file_name_for_what_goes_into_a_folder_is_one_line(tmp_path, inputs, output, words):
    """`run frames/ -o clip.mp4` made a folder named clip.mp4 full of pictures; a video of the pictures
    was meant (or one file of several), so it is refused, and nothing is made."""
    (tmp_path / "frames").mkdir()
    for name in ("a.png", "b.png", "frames/f_0001.png"):
        (tmp_path / name).write_bytes(b"")
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(b"")
    res = runner.invoke(app, ["run", *(str(tmp_path / i) for i in inputs), "-o", str(tmp_path / output)])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and words.format(tmp=tmp_path) in lines[0], lines
    assert not (tmp_path / output).exists()


def test_run_alone_shows_its_help_and_help_shows_no_markup_escapes():
    """`streamdeblur run` with nothing after it answered "Missing option '--output'"; it shows run's help
    (and exits 2, as click does). Help text written for typer's markup showed its escapes as typed
    (pip install 'streamdeblur\\[ray]')."""
    res = runner.invoke(app, ["run"], env={"COLUMNS": "80"})
    assert res.exit_code == 2 and "Usage: streamdeblur run [OPTIONS] [INPUT]..." in res.output
    assert "Examples:" in res.output and "Missing option" not in res.output
    for command in ("run", "build-engine", "bench", "preview", "export"):
        res = runner.invoke(app, [command, "--help"], env={"COLUMNS": "80"})
        assert res.exit_code == 0 and "\\[" not in res.stdout, command
    res = runner.invoke(app, ["build-engine", "--help"], env={"COLUMNS": "200"})
    install = "pip install 'streamdeblur[tensorrt-cu12]' --extra-index-url https://pypi.nvidia.com"
    assert install in " ".join(res.stdout.split())


WINE = str(Path(__file__).resolve().parents[1] / "samples" / "wine.mp4")


@pytest.mark.parametrize(
    ("cli", "args", "option"),
    [
        (app, ["run", WINE, "-o", "{tmp}/out/", "--report", "{bad}/r.json"], "--report"),
        (app, ["bench", "--synthetic", "64x48", "--frames", "2", "--batch", "1", "--json", "{bad}/b.json"], "--json"),
        (app, ["bench", "--synthetic", "64x48", "--frames", "2", "--batch", "1", "--plot", "{bad}/b.png"], "--plot"),
        (app, ["bench", "--encoders", "--json", "{bad}/b.json"], "--json"),
        (train_app, ["video-psnr", WINE, WINE, "--json", "{bad}/v.json"], "--json"),
    ],
)
@pytest.mark.parametrize("bad", ["/proc", "{tmp}/a_file"])
def test_a_result_that_cannot_be_written_is_refused_before_the_work(tmp_path, cli, args, option, bad):
    """A --report, --json or --plot path in /proc or /sys, or under a file, was found out after the whole
    batch or benchmark had run, as "internal error: PermissionError" and exit 1: now one line naming the
    option, exit 2, before any work (nothing measured, no output folder made)."""
    (tmp_path / "a_file").write_text("x")
    bad = bad.format(tmp=tmp_path)
    res = runner.invoke(cli, [a.format(tmp=tmp_path, bad=bad) for a in args])
    assert res.exit_code == 2 and len(res.stderr.splitlines()) == 1, res.output
    assert f"give {option} a writable place" in res.stderr and "internal error" not in res.stderr
    assert not (tmp_path / "out").exists() and "fps" not in res.output.lower()


@pytest.mark.parametrize("output", ["/proc/out.mp4", "/sys/out.mkv", "/sys/f_%03d.png", "/sys/sharp.png"])
def test_an_output_folder_no_file_can_be_made_in_is_said_to_be(tmp_path, output):
    """Permission bits allow root everywhere, so /proc, /sys (or a read-only mount) passed the folder check,
    and the failure to create the file read "the mp4 format cannot hold libx264 video: Permission denied;
    write .mkv instead", or "internal error" for a picture sequence: the folder is tried by making a file."""
    still = tmp_path / "shot.png"
    cv2.imwrite(str(still), np.zeros((16, 16, 3), np.uint8))
    source = still if output.endswith("sharp.png") else WINE
    res = runner.invoke(app, ["run", str(source), "-o", output, "--backend", "torch"])
    folder = output.rsplit("/", 1)[0]
    said = f"streamdeblur: error: output folder {folder} is not writable"  # (its reason, where root tried)
    assert res.exit_code == 2 and res.stderr.startswith(said), res.stderr
    assert res.stderr.rstrip().endswith("; choose another folder or fix its permissions")
    assert len(res.stderr.splitlines()) == 1


def test_bf16_on_a_cpu_without_it_names_the_option_of_the_command_typed(tmp_path):
    """`run --openvino-precision bf16` on a CPU without bf16 said "use --precision fp32", an option run
    does not have (only bench does): the fix named is the one the command takes."""
    pytest.importorskip("openvino")
    from streamdeblur.machine import cpu_has_bf16

    if cpu_has_bf16():
        pytest.skip("this CPU runs bf16: there is nothing to refuse")
    clip = str(Path(__file__).parents[1] / "samples" / "wine.mp4")
    res = runner.invoke(
        app, ["run", clip, "-o", str(tmp_path / "x.mp4"), "--backend", "openvino", "--openvino-precision", "bf16"]
    )
    assert res.exit_code == 2 and res.stderr.rstrip().endswith("use --openvino-precision fp32"), res.stderr
    assert not (tmp_path / "x.mp4").exists()
    res = runner.invoke(app, ["bench", "--backend", "openvino", "--precision", "bf16", "--frames", "2"])
    assert res.exit_code == 2 and res.stderr.rstrip().endswith("use --precision fp32"), res.stderr
